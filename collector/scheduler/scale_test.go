package scheduler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// The scrape budget at 1,000 targets. 2 MB of text leaves room for the
// series later changes add; the series budget is what one result can emit
// per target (target_info, success, duration, 4 phases, failure_reason,
// certificate_problem, http_status, tls_version, certificate_expiry,
// last_run, runs_total, one failures_total: 15) plus the families that do
// not grow with targets (phase histograms per vantage, scheduling lag,
// Go and process metrics). A histogram per target would break it at once:
// 3 series for a native-only one, 16 for one with 13 classic buckets.
const (
	scaleTargets        = 1000
	scaleMaxTextBytes   = 2 << 20
	scaleSeriesPerTgt   = 15
	scaleFixedSeries    = 300
	scaleMaxSeries      = scaleTargets*scaleSeriesPerTgt + scaleFixedSeries
	scaleVantage        = "direct"
	scaleHangEvery      = 5 // every fifth target stalls the TLS handshake, as in the review
	scaleServerHostname = "*.bench.ts.net"
)

// scaleEnv is the review's setup on loopback: an HTTPS server that answers
// and a server that accepts TCP and never answers the TLS handshake.
type scaleEnv struct {
	ca      *probertest.CA
	healthy *probertest.HTTPSServer
	hang    *probertest.Peer
}

func newScaleEnv(tb testing.TB) *scaleEnv {
	tb.Helper()
	ca, err := probertest.NewCA("bench CA")
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := ca.Leaf(scaleServerHostname)
	if err != nil {
		tb.Fatal(err)
	}
	healthy, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: cert})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { healthy.Close() })
	hang, err := probertest.NewSilentServer()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hang.Close() })
	return &scaleEnv{ca: ca, healthy: healthy, hang: hang}
}

// targets returns n static targets, every fifth one on the stalling server.
func (e *scaleEnv) targets(n int, timeout time.Duration) []Target {
	ts := make([]Target, n)
	for i := range ts {
		ts[i] = e.target(i, timeout)
	}
	return ts
}

func (e *scaleEnv) target(i int, timeout time.Duration) Target {
	addr := e.healthy.Addr
	if i%scaleHangEvery == 0 {
		addr = e.hang.Addr
	}
	host := fmt.Sprintf("ep%04d.bench.ts.net", i)
	return Target{Key: Key{Hostname: host, Vantage: scaleVantage}, Module: "https", Source: SourceStatic, Request: prober.Request{
		Hostname: host, Port: 443, Override: addr, Timeout: timeout, RootCAs: e.ca.Pool, HTTP: true, Method: "GET", Path: "/",
	}}
}

// probeUntil runs a scheduler over targets until every target has a result
// and probe has returned at least rounds×len(targets) times, then stops it.
// The results stay, as they do between two probes of a running exporter.
func probeUntil(tb testing.TB, targets []Target, probe ProbeFunc, interval time.Duration, rounds int, deadline time.Duration) *Scheduler {
	tb.Helper()
	probes := make(chan struct{}, len(targets))
	counted := func(ctx context.Context, req prober.Request) prober.Result {
		r := probe(ctx, req)
		select {
		case probes <- struct{}{}:
		default: // the waiter has what it needs
		}
		return r
	}
	s := NewScheduler(SchedulerOptions{Interval: interval, FirstSpread: min(interval, time.Second), Probe: counted})
	s.SetTargets(targets)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	timeout := time.After(deadline)
	want, got := rounds*len(targets), 0
	for got < want || !allProbed(s) {
		select {
		case <-probes:
			got++
		case <-time.After(100 * time.Millisecond): // allProbed may hold now
		case <-timeout:
			tb.Fatalf("after %s: %d of %d probes returned", deadline, got, want)
		}
	}
	return s
}

func allProbed(s *Scheduler) bool {
	for _, st := range s.Statuses() {
		if st.Last == nil {
			return false
		}
	}
	return true
}

// serveMetrics serves c as the exporter serves /metrics: one named part of
// a collector.Exporter, next to the Go and process collectors, through
// promhttp with OpenMetrics enabled (cmd/tailscale-tunnel-exporter/web.go).
func serveMetrics(tb testing.TB, c collector.Collector) *httptest.Server {
	tb.Helper()
	e := collector.NewExporter(log.NewNopLogger())
	e.Add("probe", c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	tb.Cleanup(srv.Close)
	return srv
}

// scrapeFormat is an Accept header a Prometheus sends.
type scrapeFormat struct {
	name, accept string
}

var scrapeFormats = []scrapeFormat{
	{"text", "text/plain;version=0.0.4"},
	// What Prometheus asks for by default.
	{"openmetrics", "application/openmetrics-text;version=1.0.0"},
	// What Prometheus asks for with native histograms enabled.
	{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
}

// scrapeStats is one scrape as Prometheus sees it.
type scrapeStats struct {
	took   time.Duration // request until the last byte of the gzip'd body
	gzip   int           // bytes on the wire
	bytes  int           // uncompressed
	series int           // series a Prometheus stores (a native histogram is one)
}

// scrape fetches url as Prometheus does (gzip accepted), and counts.
func scrape(tb testing.TB, url string, f scrapeFormat) scrapeStats {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", f.accept)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand, so the client leaves the body compressed
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	wire, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	body := wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			tb.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			tb.Fatal(err)
		}
	}
	n, err := countSeries(body, expfmt.ResponseFormat(resp.Header))
	if err != nil {
		tb.Fatalf("scrape %s as %s: %v", url, f.name, err)
	}
	return scrapeStats{took: took, gzip: len(wire), bytes: len(body), series: n}
}

// countSeries counts the samples of a text exposition, and the series a
// Prometheus with native histograms stores from a protobuf one: one per
// native histogram (its classic buckets are then not kept), buckets, +Inf,
// sum and count for a classic one.
func countSeries(body []byte, format expfmt.Format) (int, error) {
	if format.FormatType() != expfmt.TypeProtoDelim {
		n := 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if len(l) > 0 && l[0] != '#' {
				n++
			}
		}
		return n, nil
	}
	n := 0
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, err
		}
		for _, m := range mf.GetMetric() {
			switch h := m.GetHistogram(); {
			case h == nil:
				n++
			case h.GetSchema() != 0 || h.GetZeroThreshold() > 0 || len(h.GetPositiveSpan()) > 0:
				n++
			default:
				n += len(h.GetBucket()) + 3
			}
		}
	}
}

// TestScrapeBudgetAt1000Targets scrapes 1,000 targets, every fifth one
// stalling the TLS handshake, in every format a Prometheus asks for, and
// fails if the text is over 2 MB or the series over budget. The results
// are two real probes (one that answers, one that stalls) handed to each
// target: a scrape depends on what a result holds, not on how long it took
// to get.
func TestScrapeBudgetAt1000Targets(t *testing.T) {
	env := newScaleEnv(t)
	healthy := prober.Probe(context.Background(), env.target(1, time.Second).Request)
	stalled := prober.Probe(context.Background(), env.target(0, 200*time.Millisecond).Request)
	if !healthy.Success || stalled.Reason != prober.ReasonTLSHandshakeTimeout {
		t.Fatalf("templates: healthy %v (%v), stalled %q (%v)", healthy.Success, healthy.Err, stalled.Reason, stalled.Err)
	}
	probe := func(_ context.Context, req prober.Request) prober.Result {
		r := healthy
		if req.Override == env.hang.Addr {
			r = stalled
		}
		r.Start = time.Now()
		return r
	}
	s := probeUntil(t, env.targets(scaleTargets, time.Second), probe, time.Hour, 1, 30*time.Second)
	srv := serveMetrics(t, s)
	for _, f := range scrapeFormats {
		got := scrape(t, srv.URL, f)
		t.Logf("%s: %d bytes (%d gzip), %d series", f.name, got.bytes, got.gzip, got.series)
		if f.name != "protobuf" && got.bytes > scaleMaxTextBytes {
			t.Errorf("%s: %d bytes at %d targets, budget %d", f.name, got.bytes, scaleTargets, scaleMaxTextBytes)
		}
		if got.series > scaleMaxSeries {
			t.Errorf("%s: %d series at %d targets, budget %d (%d per target + %d)", f.name, got.series, scaleTargets, scaleMaxSeries, scaleSeriesPerTgt, scaleFixedSeries)
		}
		if got.series < scaleTargets*10 {
			t.Errorf("%s: only %d series at %d targets: the scrape lacks the per-target gauges", f.name, got.series, scaleTargets)
		}
	}
}
