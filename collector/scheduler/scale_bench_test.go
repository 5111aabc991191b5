package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// scrapeOnce gathers and encodes the registry as a Prometheus scrape does.
func scrapeOnce(b *testing.B, reg *prometheus.Registry) time.Duration {
	start := time.Now()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkScheduler1000Targets runs the real prober against 1,000 targets
// on loopback, 20% of them hanging in the TLS handshake, and reports whether
// every target is probed once per interval, how long a scrape takes while
// probes hang, and memory. The scrape time is also given as a ratio to a
// 100-target scheduler measured in the same run.
//
//	go test -run '^$' -bench Scheduler1000Targets -benchtime 20x ./collector/probes/
func BenchmarkScheduler1000Targets(b *testing.B) {
	ca, err := probertest.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Leaf("*.bench.ts.net")
	if err != nil {
		b.Fatal(err)
	}
	healthy, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: cert})
	if err != nil {
		b.Fatal(err)
	}
	defer healthy.Close()
	hang, err := probertest.NewSilentServer()
	if err != nil {
		b.Fatal(err)
	}
	defer hang.Close()

	const interval, timeout = 5 * time.Second, 2 * time.Second
	build := func(n int) []Target {
		ts := make([]Target, n)
		for i := range ts {
			addr := healthy.Addr
			if i%5 == 0 {
				addr = hang.Addr
			}
			host := fmt.Sprintf("ep%04d.bench.ts.net", i)
			ts[i] = Target{Key: Key{Hostname: host, Vantage: "direct"}, Module: "https", Source: SourceStatic, Request: prober.Request{
				Hostname: host, Port: 443, Override: addr, Timeout: timeout, RootCAs: ca.Pool, HTTP: true, Method: "GET", Path: "/",
			}}
		}
		return ts
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()

	run := func(n int) (*Scheduler, *prometheus.Registry, context.CancelFunc, chan struct{}) {
		s := NewScheduler(SchedulerOptions{Interval: interval, FirstSpread: interval})
		s.SetTargets(build(n))
		reg := prometheus.NewRegistry()
		reg.MustRegister(updateCollector{s})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		return s, reg, cancel, done
	}
	big, bigReg, cancelBig, doneBig := run(1000)
	small, smallReg, cancelSmall, doneSmall := run(100)
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
		d := scrapeOnce(b, bigReg)
		bigTotal += d
		bigMax = max(bigMax, d)
		smallTotal += scrapeOnce(b, smallReg)
	}
	b.StopTimer()

	var runs float64
	probed := 0
	for _, st := range big.Statuses() {
		if st.Last != nil {
			probed++
		}
	}
	mfs, _ := bigReg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "tailscale_tunnel_probe_runs_total" {
			for _, m := range mf.GetMetric() {
				runs += m.GetCounter().GetValue()
			}
		}
	}
	_ = small
	b.ReportMetric(float64(bigTotal.Microseconds())/float64(b.N)/1000, "scrape_ms")
	b.ReportMetric(float64(bigMax.Microseconds())/1000, "max_scrape_ms")
	b.ReportMetric(float64(bigTotal)/float64(smallTotal), "x_vs_100_targets")
	b.ReportMetric(runs/1000/intervals, "probes/target/interval")
	b.ReportMetric(float64(probed), "targets_with_result")
	b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "heap_MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutinesBefore), "goroutines")
}
