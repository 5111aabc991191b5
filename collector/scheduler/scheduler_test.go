package scheduler

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// updateCollector exposes a Scheduler's Update as a prometheus.Collector.
type updateCollector struct{ s *Scheduler }

func (u updateCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(u, ch) }
func (u updateCollector) Collect(ch chan<- prometheus.Metric) { _ = u.s.Update(ch) }

func targetsFor(hosts ...string) []Target {
	var ts []Target
	for _, h := range hosts {
		ts = append(ts, Target{Key: Key{Hostname: h, Vantage: "direct"}, Module: "https", Source: SourceStatic, Request: prober.Request{Hostname: h}})
	}
	return ts
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, cond)
}

func TestSchedulerProbesOnIntervalAndExportsResults(t *testing.T) {
	var calls sync.Map // hostname -> *atomic.Int64
	probe := func(_ context.Context, req prober.Request) prober.Result {
		n, _ := calls.LoadOrStore(req.Hostname, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if req.Hostname == "k8s.example.ts.net" {
			return prober.Result{Start: time.Now(), Reason: prober.ReasonTLSHandshakeTimeout, Phases: map[prober.Phase]time.Duration{prober.PhaseResolve: time.Millisecond, prober.PhaseConnect: time.Millisecond, prober.PhaseTLS: 5 * time.Second}}
		}
		return prober.Result{Success: true, Start: time.Now(), HTTPStatus: 200, TLSVersion: "TLS 1.3", Phases: map[prober.Phase]time.Duration{prober.PhaseTLS: 2 * time.Millisecond}}
	}
	s := NewScheduler(SchedulerOptions{Interval: 20 * time.Millisecond, FirstSpread: time.Millisecond, Probe: probe})
	s.SetTargets(targetsFor("k8s.example.ts.net", "whoami.example.ts.net"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	count := func(h string) int64 {
		n, ok := calls.Load(h)
		if !ok {
			return 0
		}
		return n.(*atomic.Int64).Load()
	}
	eventually(t, "three probes of each target", func() bool { return count("k8s.example.ts.net") >= 3 && count("whoami.example.ts.net") >= 3 })

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{s})
	want := `
# HELP tailscale_tunnel_probe_failure_reason Why the last probe failed: 1 for the reason, absent when it succeeded. Reasons are a closed set; see the README.
# TYPE tailscale_tunnel_probe_failure_reason gauge
tailscale_tunnel_probe_failure_reason{hostname="k8s.example.ts.net",reason="tls_handshake_timeout",vantage="direct"} 1
# HELP tailscale_tunnel_probe_success Whether the last probe succeeded (1) or failed (0).
# TYPE tailscale_tunnel_probe_success gauge
tailscale_tunnel_probe_success{hostname="k8s.example.ts.net",vantage="direct"} 0
tailscale_tunnel_probe_success{hostname="whoami.example.ts.net",vantage="direct"} 1
# HELP tailscale_tunnel_probe_target_info A target the scheduler probes, with its module and where it came from (static or discovered).
# TYPE tailscale_tunnel_probe_target_info gauge
tailscale_tunnel_probe_target_info{hostname="k8s.example.ts.net",module="https",source="static",vantage="direct"} 1
tailscale_tunnel_probe_target_info{hostname="whoami.example.ts.net",module="https",source="static",vantage="direct"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tailscale_tunnel_probe_success", "tailscale_tunnel_probe_failure_reason", "tailscale_tunnel_probe_target_info"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(s.failures.WithLabelValues("k8s.example.ts.net", "direct", "tls_handshake_timeout")); got < 3 {
		t.Errorf("failures_total = %v, want >= 3", got)
	}
	// The latency histogram is per vantage and phase, not per target:
	// both targets' TLS phases land in one histogram.
	if n, err := testutil.GatherAndCount(reg, "tailscale_tunnel_probe_phase_latency_seconds"); err != nil || n != 3 {
		t.Errorf("phase latency histograms = %d (%v), want 3 (resolve, connect, tls of vantage direct)", n, err)
	}
	tls := &dto.Metric{}
	if err := s.latency.WithLabelValues("direct", "tls").(prometheus.Metric).Write(tls); err != nil {
		t.Fatal(err)
	}
	if c := tls.GetHistogram().GetSampleCount(); c < 6 {
		t.Errorf("tls phase observations = %d, want >= 6 (three probes of each target)", c)
	}
	if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
		t.Errorf("metric lint: %v %v", lint, err)
	}

	// Removing a target stops it and drops its series.
	s.SetTargets(targetsFor("whoami.example.ts.net"))
	before := count("k8s.example.ts.net")
	after := count("whoami.example.ts.net")
	eventually(t, "whoami probed twice more", func() bool { return count("whoami.example.ts.net") >= after+2 })
	if c := count("k8s.example.ts.net"); c > before+1 { // one probe may have been in flight
		t.Errorf("removed target probed %d more times", c-before)
	}
	out, err := testutil.CollectAndFormat(updateCollector{s}, expfmt.TypeTextPlain, "tailscale_tunnel_probe_success", "tailscale_tunnel_probe_failures_total", "tailscale_tunnel_probe_phase_latency_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "k8s.example.ts.net") {
		t.Errorf("series of the removed target remain:\n%s", out)
	}

	// When the last target of a vantage goes, so do its histograms.
	s.SetTargets(nil)
	if n, err := testutil.GatherAndCount(reg, "tailscale_tunnel_probe_phase_latency_seconds"); err != nil || n != 0 {
		t.Errorf("phase latency histograms after removing every target = %d (%v), want 0", n, err)
	}
}

func TestSchedulerBoundsConcurrencyAndScrapesDoNotWait(t *testing.T) {
	const targets, limit = 50, 5
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	probe := func(ctx context.Context, req prober.Request) prober.Result {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select { // a hanging peer: blocks until released or cancelled
		case <-release:
		case <-ctx.Done():
		}
		inFlight.Add(-1)
		return prober.Result{Reason: prober.ReasonTLSHandshakeTimeout}
	}
	s := NewScheduler(SchedulerOptions{Interval: time.Hour, FirstSpread: time.Millisecond, Concurrency: limit, Probe: probe})
	var hosts []string
	for i := range targets {
		hosts = append(hosts, "h"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".example.ts.net")
	}
	s.SetTargets(targetsFor(hosts...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	eventually(t, "the concurrency limit to fill", func() bool { return inFlight.Load() == limit })
	// Every probe hangs; a scrape must still complete.
	scraped := make(chan int, 1)
	go func() { scraped <- testutil.CollectAndCount(updateCollector{s}) }()
	select {
	case n := <-scraped:
		if n < targets {
			t.Errorf("scrape returned %d series, want at least one target_info per target (%d)", n, targets)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a scrape blocked behind hanging probes")
	}
	if got := testutil.ToFloat64(s.inFlight); got != limit {
		t.Errorf("in_flight = %v, want %d", got, limit)
	}
	close(release)
	eventually(t, "every target probed once", func() bool {
		n := 0
		for _, st := range s.Statuses() {
			if st.Last != nil {
				n++
			}
		}
		return n == targets
	})
	if p := peak.Load(); p > limit {
		t.Errorf("peak concurrency %d exceeds the limit %d", p, limit)
	}
	cancel()
	<-done
}

func TestSchedulerStopsHangingProbesOnShutdown(t *testing.T) {
	probe := func(ctx context.Context, _ prober.Request) prober.Result {
		<-ctx.Done()
		return prober.Result{Reason: prober.ReasonTimeout}
	}
	s := NewScheduler(SchedulerOptions{Interval: time.Hour, FirstSpread: time.Millisecond, Probe: probe})
	s.SetTargets(targetsFor("a.example.ts.net", "b.example.ts.net"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	eventually(t, "both probes running", func() bool { return testutil.ToFloat64(s.inFlight) == 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, st := range s.Statuses() {
		if st.Last != nil {
			t.Errorf("a probe cancelled by shutdown was recorded as a result: %+v", st.Last)
		}
	}
}
