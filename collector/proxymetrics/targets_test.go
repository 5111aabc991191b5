package proxymetrics

import (
	"slices"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
)

func TestTargetsFromPods(t *testing.T) {
	eps := []discovery.Endpoint{
		{Kind: discovery.KindIngress, Namespace: "default", Name: "web", Hostname: "web.ts.net", Provisioned: true},
		{Kind: discovery.KindProxyGroup, Namespace: "default", Name: "a", ProxyGroup: "pg", Hostname: "a.ts.net", Provisioned: true},
		{Kind: discovery.KindProxyGroup, Namespace: "default", Name: "b", ProxyGroup: "pg", Hostname: "b.ts.net", Provisioned: true},
	}
	web := discovery.Parent{Type: discovery.ParentIngress, Namespace: "default", Name: "web"}
	pg := discovery.Parent{Type: discovery.ParentProxyGroup, Name: "pg"}
	pods := []discovery.ProxyPod{
		{Name: "ts-web-0", Parent: web, IP: "10.0.0.5", MetricsPort: 9002},
		{Name: "pg-0", Parent: pg, IP: "fd00::7", MetricsPort: 9002},
		{Name: "ts-old-0", Parent: web, IP: "10.0.0.6"},
		{Name: "ts-pending-0", Parent: web, MetricsPort: 9002},
	}
	want := []Target{
		{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: "http://10.0.0.5:9002/metrics"},
		// A ProxyGroup pod serves several: empty hostname, joined through
		// tailscale_tunnel_proxy_pod_info as the log counts are.
		{Hostname: "", Pod: "pg-0", Enabled: true, URL: "http://[fd00::7]:9002/metrics"},
		{Hostname: "web.ts.net", Pod: "ts-old-0", Enabled: false},
		{Hostname: "web.ts.net", Pod: "ts-pending-0", Enabled: true},
	}
	if got := TargetsFromPods(pods, eps); !slices.Equal(got, want) {
		t.Errorf("TargetsFromPods() =\n%+v\nwant\n%+v", got, want)
	}
}
