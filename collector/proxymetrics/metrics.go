package proxymetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
)

const ns = collector.Namespace

var (
	targetLabels = []string{"hostname", "pod"}

	droppedDesc = prometheus.NewDesc(ns+"_proxy_dropped_packets_total",
		"Packets the proxy's tailscaled dropped, exactly, from its user metrics "+
			"(tailscaled_inbound/outbound_dropped_packets_total), summed over its restarts while the exporter runs. "+
			"reason is tailscaled's (acl: not allowed by the tailnet policy) or other. "+
			"The log counts (tailscale_tunnel_proxy_drops_total) are a sample of these.",
		append(targetLabels, "direction", "reason"), nil)
	enabledDesc = prometheus.NewDesc(ns+"_proxy_metrics_enabled",
		"Whether the proxy serves tailscaled's user metrics, the exact drop counts (1), or not (0: "+
			"set spec.metrics.enable: true in its ProxyClass).",
		targetLabels, nil)
	upDesc = prometheus.NewDesc(ns+"_proxy_metrics_up",
		"Whether the last read of the proxy's user metrics succeeded.",
		targetLabels, nil)
	errorsDesc = prometheus.NewDesc(ns+"_proxy_metrics_errors_total",
		"Failed reads of the proxy's user metrics by kind (unreachable, http_status, parse, too_large, timeout).",
		append(targetLabels, "kind"), nil)
	resetsDesc = prometheus.NewDesc(ns+"_proxy_metrics_resets_total",
		"Times the proxy's drop counters were found lower than at the read before: tailscaled started again.",
		targetLabels, nil)
)

// DropMetrics returns the drop counters of one target, those seen only.
func DropMetrics(hostname, pod string, d Drops) []prometheus.Metric {
	var ms []prometheus.Metric
	for dir := range numDirections {
		for r := range numReasons {
			if d.Seen[dir][r] {
				ms = append(ms, prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, d.Count[dir][r],
					hostname, pod, dir.String(), r.String()))
			}
		}
	}
	return ms
}

// EnabledMetric says whether a proxy has exact counts to read.
func EnabledMetric(hostname, pod string, enabled bool) prometheus.Metric {
	return prometheus.MustNewConstMetric(enabledDesc, prometheus.GaugeValue, boolValue(enabled), hostname, pod)
}

// Health is how the reads of one target went.
type Health struct {
	Up     bool
	Errors map[ErrorKind]float64
	Resets float64
}

// HealthMetrics returns the read health of one target, every error kind
// included from the start.
func HealthMetrics(hostname, pod string, h Health) []prometheus.Metric {
	ms := make([]prometheus.Metric, 0, len(ErrorKinds)+2)
	ms = append(ms, prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, boolValue(h.Up), hostname, pod))
	for _, k := range ErrorKinds {
		ms = append(ms, prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, h.Errors[k], hostname, pod, string(k)))
	}
	return append(ms, prometheus.MustNewConstMetric(resetsDesc, prometheus.CounterValue, h.Resets, hostname, pod))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
