package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// Namespace prefixes every metric family of the exporter.
const Namespace = collector.Namespace

// resultDescs are the gauges that describe one probe result. The scheduler
// labels them with hostname and vantage; /probe leaves those to Prometheus'
// target labels, as blackbox_exporter does.
type resultDescs struct {
	success, duration, phase, reason, certProblem, status, tlsVersion, certExpiry, lastRun *prometheus.Desc
}

func newResultDescs(target []string) resultDescs {
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "probe", name), help, append(append([]string{}, target...), extra...), nil)
	}
	return resultDescs{
		success:     d("success", "Whether the last probe succeeded (1) or failed (0)."),
		duration:    d("duration_seconds", "Wall time of the last probe."),
		phase:       d("phase_duration_seconds", "Time the last probe spent in each phase it ran (resolve, connect, tls, http until the first response byte); a failed phase counts until it failed.", "phase"),
		reason:      d("failure_reason", "Why the last probe failed: 1 for the reason, absent when it succeeded. Reasons are a closed set; see the README.", "reason"),
		certProblem: d("certificate_problem", "1 when the peer's certificate failed verification in the last probe, by problem (expired, not_yet_valid, unknown_authority, name_mismatch, other); also set when insecure_skip_verify hid it.", "problem"),
		status:      d("http_status_code", "HTTP status code of the last probe's response, 0 if none."),
		tlsVersion:  d("tls_version_info", "TLS version negotiated in the last probe.", "version"),
		certExpiry:  d("certificate_expiry_timestamp_seconds", "NotAfter of the earliest expiring certificate the peer sent in the last probe, recorded even when verification failed."),
		lastRun:     d("last_run_timestamp_seconds", "When the last probe started."),
	}
}

// emit writes the gauges of one result with the given target label values.
// It is a pure function of the result, so /probe and the scheduler agree.
func (d resultDescs) emit(ch chan<- prometheus.Metric, r prober.Result, labels ...string) {
	g := func(desc *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, append(labels[:len(labels):len(labels)], extra...)...)
	}
	g(d.success, boolFloat(r.Success))
	g(d.duration, r.Duration.Seconds())
	for _, p := range prober.Phases {
		if dur, ok := r.Phases[p]; ok {
			g(d.phase, dur.Seconds(), string(p))
		}
	}
	if !r.Success && r.Reason != prober.ReasonNone {
		g(d.reason, 1, string(r.Reason))
	}
	if r.CertProb != prober.CertOK {
		g(d.certProblem, 1, string(r.CertProb))
	}
	g(d.status, float64(r.HTTPStatus))
	if r.TLSVersion != "" {
		g(d.tlsVersion, 1, r.TLSVersion)
	}
	if !r.CertExpiry.IsZero() {
		g(d.certExpiry, float64(r.CertExpiry.Unix()))
	}
	if !r.Start.IsZero() {
		g(d.lastRun, timestamp(r.Start))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func timestamp(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// newPhaseLatency is the phase latency histogram of all targets of a
// vantage. It is not per target: with a dozen classic buckets per phase it
// would make nine in ten lines of a scrape (7.7 MB at 1,000 targets). Per
// target, phase_duration_seconds holds each probe's exact phase times, and
// quantile_over_time over it gives the percentiles the dashboards show;
// this histogram counts every probe, whatever the scrape interval.
func newPhaseLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "probe", Name: "phase_latency_seconds",
		Help:    "Latency of each probe phase over all targets of a vantage (native histogram, classic buckets as fallback); a failed phase is observed with the time until it failed, so stalls show in the upper percentiles.",
		Buckets: phaseBuckets,
		// Factor 1.1 keeps the percentile error under 5%; 1e-4 s to 60 s is
		// 19 powers of two at 8 buckets each, so 160 buckets hold the
		// whole range without lowering the resolution.
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramZeroThreshold:    1e-4, // a network phase under 0.1 ms is instant
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"vantage", "phase"})
}

// phaseBuckets are the classic buckets, for Prometheus servers that do not
// scrape native histograms. They span a phase on loopback or inside the
// cluster (1 ms) to a TLS handshake that waits for a certificate to be
// issued (tens of seconds), which only the probe timeout (10 s by default)
// cuts short.
var phaseBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
