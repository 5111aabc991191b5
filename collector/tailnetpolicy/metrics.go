package tailnetpolicy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

const ns = collector.Namespace

// KindParse counts reads whose policy did not parse; the other error kinds
// are the source's (source.Kinds).
const KindParse = "parse"

// ErrorKinds are every value of the kind label of the read errors counter:
// the source's kinds and KindParse. All are exposed from the start.
var ErrorKinds = errorKinds()

func errorKinds() []string {
	var ks []string
	for _, k := range source.Kinds() {
		ks = append(ks, string(k))
	}
	return append(ks, KindParse)
}

// Verdicts are the values of the verdict label, in the order exposed.
var Verdicts = []policy.Verdict{policy.Yes, policy.No, policy.Unknown}

var (
	checkDesc = prometheus.NewDesc(ns+"_policy_check",
		"What the tailnet policy says about an endpoint, as a state set: 1 for the current verdict (yes, no, unknown: "+
			"depends on users or devices the policy does not list), 0 for the others. check is funnel_attribute "+
			"(a Funnel endpoint's tags have the funnel node attribute), tag_owners, tailnet_access (the tailnet "+
			"clients may reach the served port, in port) or service_approval (a ProxyGroup's Tailscale Service is "+
			"auto-approved); port is empty but for tailnet_access. From the last policy read successfully: after a "+
			"failed read these are the last good policy's verdicts (see tailscale_tunnel_policy_read_success).",
		[]string{"hostname", "check", "port", "verdict"}, nil)
	readSuccessDesc = prometheus.NewDesc(ns+"_policy_read_success",
		"Whether the last read of the tailnet policy succeeded and the policy parsed (1) or not (0).",
		nil, nil)
	lastSuccessDesc = prometheus.NewDesc(ns+"_policy_last_read_success_timestamp_seconds",
		"When the tailnet policy was last read and parsed successfully; 0 if never.",
		nil, nil)
	readErrorsDesc = prometheus.NewDesc(ns+"_policy_read_errors_total",
		"Failed reads of the tailnet policy by kind: the source's (read, unauthorized, forbidden, not_found, "+
			"rate_limited, server_error, timeout, unreachable, too_large, credential, other) or parse "+
			"(the policy is not valid HuJSON; the log names the line).",
		[]string{"kind"}, nil)
)

// CheckMetrics returns the state set of every result of one endpoint.
// The port label is bounded: the endpoint's own served ports.
func CheckMetrics(hostname string, results []policy.Result) []prometheus.Metric {
	ms := make([]prometheus.Metric, 0, len(results)*len(Verdicts))
	for _, r := range results {
		port := ""
		if r.Check == policy.TailnetAccess {
			port = strconv.Itoa(r.Port)
		}
		for _, v := range Verdicts {
			ms = append(ms, prometheus.MustNewConstMetric(checkDesc, prometheus.GaugeValue, boolValue(r.Verdict == v),
				hostname, string(r.Check), port, string(v)))
		}
	}
	return ms
}

// Status is how the reads of the policy went.
type Status struct {
	Read        bool      // a read has finished
	Success     bool      // the last read succeeded and its policy parsed
	LastSuccess time.Time // zero until a read succeeds
	// Errors counts failed reads by kind (ErrorKinds).
	Errors map[string]float64
}

// StatusMetrics returns the read status: read_success once a read has
// finished, the last success time, and every error kind, 0 included.
func StatusMetrics(s Status) []prometheus.Metric {
	ms := make([]prometheus.Metric, 0, len(ErrorKinds)+2)
	if s.Read {
		ms = append(ms, prometheus.MustNewConstMetric(readSuccessDesc, prometheus.GaugeValue, boolValue(s.Success)))
	}
	last := 0.0
	if !s.LastSuccess.IsZero() {
		last = float64(s.LastSuccess.UnixNano()) / 1e9
	}
	ms = append(ms, prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, last))
	for _, k := range ErrorKinds {
		ms = append(ms, prometheus.MustNewConstMetric(readErrorsDesc, prometheus.CounterValue, s.Errors[k], k))
	}
	return ms
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
