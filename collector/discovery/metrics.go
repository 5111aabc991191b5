package discovery

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
)

const namespace = collector.Namespace

var (
	endpointInfoDesc = prometheus.NewDesc(
		namespace+"_endpoint_info",
		"A ts.net endpoint the Tailscale operator exposes for an Ingress or Service. "+
			"hostname is the obtained FQDN, or the requested name while not provisioned; "+
			"funnel_ignored is true for a tailscale.com/funnel annotation the operator "+
			"ignores (on a Service, or on a ProxyGroup Ingress).",
		[]string{"hostname", "namespace", "name", "kind", "funnel", "funnel_ignored", "tags", "proxy_class",
			"proxy_group", "backend", "requested_hostname", "provisioned", "suffixed"}, nil)

	proxyPodInfoDesc = prometheus.NewDesc(
		namespace+"_proxy_pod_info",
		"A proxy pod managed by the Tailscale operator, once per hostname it serves "+
			"(hostname is empty for a pod serving no known endpoint).",
		[]string{"hostname", "pod", "namespace", "parent_namespace", "parent_name", "parent_kind",
			"version", "image"}, nil)

	proxyPodReadyDesc = prometheus.NewDesc(
		namespace+"_proxy_pod_ready",
		"Whether the proxy pod's Ready condition is true.",
		[]string{"hostname", "pod", "namespace"}, nil)

	proxyPodRestartsDesc = prometheus.NewDesc(
		namespace+"_proxy_pod_restarts_total",
		"Restarts of the tailscale container of the proxy pod.",
		[]string{"hostname", "pod", "namespace"}, nil)

	warningEventsDesc = prometheus.NewDesc(
		namespace+"_endpoint_warning_events_total",
		"Warning Events recorded on the endpoint's Ingress or Service, by reason "+
			"(the operator's reasons, else other). Expired Events keep counting.",
		[]string{"hostname", "namespace", "name", "kind", "reason"}, nil)
)

// EndpointMetrics returns the metrics of one endpoint.
func EndpointMetrics(e Endpoint) []prometheus.Metric {
	return []prometheus.Metric{
		prometheus.MustNewConstMetric(endpointInfoDesc, prometheus.GaugeValue, 1,
			e.HostnameLabel(), e.Namespace, e.Name, string(e.Kind),
			strconv.FormatBool(e.Funnel), strconv.FormatBool(e.FunnelIgnored), e.Tags, e.ProxyClass, e.ProxyGroup, e.Backend,
			e.RequestedHostname, strconv.FormatBool(e.Provisioned), strconv.FormatBool(e.Suffixed)),
	}
}

// ProxyPodMetrics returns the metrics of one proxy pod for one hostname it
// serves (an Endpoint's HostnameLabel, or "" when it serves none known).
func ProxyPodMetrics(p ProxyPod, hostname string) []prometheus.Metric {
	ready := 0.0
	if p.Ready {
		ready = 1
	}
	return []prometheus.Metric{
		prometheus.MustNewConstMetric(proxyPodInfoDesc, prometheus.GaugeValue, 1,
			hostname, p.Name, p.Namespace, p.Parent.Namespace, p.Parent.Name, p.Parent.Type,
			p.Version, p.Image),
		prometheus.MustNewConstMetric(proxyPodReadyDesc, prometheus.GaugeValue, ready,
			hostname, p.Name, p.Namespace),
		prometheus.MustNewConstMetric(proxyPodRestartsDesc, prometheus.CounterValue, float64(p.Restarts),
			hostname, p.Name, p.Namespace),
	}
}

// warningReasons are the reason label values, sorted: KnownReasons and
// ReasonOther, the closed set WarningFromEvent maps every reason to.
var warningReasons = func() []string {
	r := append(slices.Clone(KnownReasons), ReasonOther)
	slices.Sort(r)
	return r
}()

// WarningMetrics returns the Warning Event counters of one endpoint, one per
// reason (KnownReasons and ReasonOther, in order), at 0 until an Event of
// that reason is seen: a series born at its first Event has no earlier
// sample, and increase() over it misses that Event.
func WarningMetrics(e Endpoint, byReason map[string]float64) []prometheus.Metric {
	ms := make([]prometheus.Metric, 0, len(warningReasons))
	for _, r := range warningReasons {
		ms = append(ms, prometheus.MustNewConstMetric(warningEventsDesc, prometheus.CounterValue, byReason[r],
			e.HostnameLabel(), e.Namespace, e.Name, string(e.Kind), r))
	}
	return ms
}
