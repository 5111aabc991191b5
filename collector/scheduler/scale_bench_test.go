package scheduler

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// BenchmarkScheduler1000Targets runs the real prober against 1,000 targets
// on loopback, 20% of them hanging in the TLS handshake, and reports whether
// every target is probed once per interval, how long a scrape takes while
// probes hang, and memory. The scrape time is also given as a ratio to a
// 100-target scheduler measured in the same run.
//
//	go test -run '^$' -bench Scheduler1000Targets -benchtime 20x ./collector/scheduler/
func BenchmarkScheduler1000Targets(b *testing.B) {
	env := newScaleEnv(b)
	const interval, timeout = 5 * time.Second, 2 * time.Second

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()

	run := func(n int) (*Scheduler, string, context.CancelFunc, chan struct{}) {
		s := NewScheduler(SchedulerOptions{Interval: interval, FirstSpread: interval})
		s.SetTargets(env.targets(n, timeout))
		srv := serveMetrics(b, s)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		return s, srv.URL, cancel, done
	}
	big, bigURL, cancelBig, doneBig := run(scaleTargets)
	_, smallURL, cancelSmall, doneSmall := run(scaleTargets / 10)
	defer func() { cancelBig(); cancelSmall(); <-doneBig; <-doneSmall }()

	// Let three intervals pass so every target has results and hanging
	// probes occupy their slots, as in a real deployment.
	const intervals = 3
	time.Sleep(intervals * interval)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	b.ResetTimer()
	var bigTotal, smallTotal, bigMax time.Duration
	for i := 0; i < b.N; i++ {
		d := scrape(b, bigURL, scrapeFormats[0]).took
		bigTotal += d
		bigMax = max(bigMax, d)
		smallTotal += scrape(b, smallURL, scrapeFormats[0]).took
	}
	b.StopTimer()

	var runs float64
	probed := 0
	for _, st := range big.Statuses() {
		if st.Last != nil {
			probed++
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(big.runs)
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			runs += m.GetCounter().GetValue()
		}
	}
	b.ReportMetric(float64(bigTotal.Microseconds())/float64(b.N)/1000, "scrape_ms")
	b.ReportMetric(float64(bigMax.Microseconds())/1000, "max_scrape_ms")
	b.ReportMetric(float64(bigTotal)/float64(smallTotal), "x_vs_100_targets")
	b.ReportMetric(runs/scaleTargets/intervals, "probes/target/interval")
	b.ReportMetric(float64(probed), "targets_with_result")
	b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "heap_MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutinesBefore), "goroutines")
}

// BenchmarkScrape1000Targets compares the scrape of 1,000 targets (every
// fifth stalling the TLS handshake, real probes on loopback) in the present
// layout with the layout before issue 12, in the same run and from the same
// probe results, in each format a Prometheus asks for. Each iteration
// scrapes both through promhttp over loopback, as Prometheus does (gzip).
//
//	go test -run '^$' -bench Scrape1000Targets -benchtime 20x ./collector/scheduler/
//
// Per format it reports, for the layout before (was_) and now (now_): ms
// per scrape, uncompressed and gzip bytes, series as Prometheus stores them,
// and the ratios now/was.
func BenchmarkScrape1000Targets(b *testing.B) {
	env := newScaleEnv(b)
	was := newPerTargetLayout()
	probe := func(ctx context.Context, req prober.Request) prober.Result {
		r := prober.Probe(ctx, req)
		was.observe(req.Hostname, scaleVantage, r)
		return r
	}
	// Three rounds, so the histograms hold more than one observation each.
	s := probeUntil(b, env.targets(scaleTargets, time.Second), probe, 2*time.Second, 3, 2*time.Minute)
	was.s = s
	nowURL, wasURL := serveMetrics(b, s).URL, serveMetrics(b, was).URL

	for _, f := range scrapeFormats {
		b.Run(f.name, func(b *testing.B) {
			var now, before scrapeStats
			for i := 0; i < b.N; i++ {
				now.add(scrape(b, nowURL, f))
				before.add(scrape(b, wasURL, f))
			}
			n := float64(b.N)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / n / 1000 }
			b.ReportMetric(ms(before.took), "was_ms")
			b.ReportMetric(ms(now.took), "now_ms")
			b.ReportMetric(float64(now.took)/float64(before.took), "ms_now/was")
			b.ReportMetric(float64(before.bytes)/n, "was_bytes")
			b.ReportMetric(float64(now.bytes)/n, "now_bytes")
			b.ReportMetric(float64(now.bytes)/float64(before.bytes), "bytes_now/was")
			b.ReportMetric(float64(before.gzip)/n, "was_gzip_bytes")
			b.ReportMetric(float64(now.gzip)/n, "now_gzip_bytes")
			b.ReportMetric(float64(before.series)/n, "was_series")
			b.ReportMetric(float64(now.series)/n, "now_series")
			b.ReportMetric(float64(now.series)/float64(before.series), "series_now/was")
		})
	}
}

func (s *scrapeStats) add(o scrapeStats) {
	s.took += o.took
	s.gzip += o.gzip
	s.bytes += o.bytes
	s.series += o.series
}

// perTargetLayout is the scheduler's metrics as they were before issue 12,
// the baseline of BenchmarkScrape1000Targets: the phase latency histogram
// per target (hostname, vantage, phase) with 11 classic buckets from 5 ms
// to 10 s and native buckets, instead of one per vantage and phase.
type perTargetLayout struct {
	s       *Scheduler
	latency *prometheus.HistogramVec
}

func newPerTargetLayout() *perTargetLayout {
	return &perTargetLayout{latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "probe", Name: "phase_latency_seconds",
		Help:                            "Latency of each probe phase (native histogram, classic buckets as fallback); a failed phase is observed with the time until it failed, so stalls show in the upper percentiles.",
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"hostname", "vantage", "phase"})}
}

// observe records a result as Scheduler.record did.
func (p *perTargetLayout) observe(hostname, vantage string, r prober.Result) {
	for ph, d := range r.Phases {
		p.latency.WithLabelValues(hostname, vantage, string(ph)).Observe(d.Seconds())
	}
}

// Update is the scheduler's Update with the per-target histogram in place
// of the per-vantage one.
func (p *perTargetLayout) Update(ch chan<- prometheus.Metric) error {
	descs := make(chan *prometheus.Desc, 1)
	p.s.latency.Describe(descs)
	perVantage := <-descs
	inner := make(chan prometheus.Metric)
	errc := make(chan error, 1)
	go func() { errc <- p.s.Update(inner); close(inner) }()
	for m := range inner {
		if m.Desc() != perVantage {
			ch <- m
		}
	}
	p.latency.Collect(ch)
	return <-errc
}
