package proxymetrics

import (
	"net"
	"strconv"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
)

// Target is one node whose exact counts are exposed.
type Target struct {
	// Hostname and Pod are the labels of its series: as the counts from
	// logs carry them (pod is empty on a plain host).
	Hostname, Pod string
	// Enabled is false for a proxy that serves no user metrics.
	Enabled bool
	// URL is where its user metrics are read; empty for a pod without an
	// IP yet or without metrics.
	URL string
	// Socket is tailscaled's LocalAPI socket to read URL through, or "".
	Socket string
}

// TargetsFromPods maps discovered proxy pods to targets: one per pod, with
// the hostname its log counts carry (discovery.HostnameOf), read at
// http://POD_IP:PORT/metrics when its tailscale container has a port named
// metrics.
func TargetsFromPods(pods []discovery.ProxyPod, eps []discovery.Endpoint) []Target {
	out := make([]Target, 0, len(pods))
	for _, p := range pods {
		t := Target{Hostname: discovery.HostnameOf(p, eps), Pod: p.Name, Enabled: p.MetricsPort != 0}
		if t.Enabled && p.IP != "" {
			t.URL = "http://" + net.JoinHostPort(p.IP, strconv.Itoa(int(p.MetricsPort))) + "/metrics"
		}
		out = append(out, t)
	}
	return out
}
