package proxymetrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testwait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// updater lets a registry gather what Update sends.
type updater struct {
	s   *Scraper
	err error
}

func (u *updater) Describe(chan<- *prometheus.Desc) {}
func (u *updater) Collect(ch chan<- prometheus.Metric) {
	u.err = u.s.Update(ch)
}

// scrape returns the series Update writes as `name{label="v",...}` →
// value, and its error.
func scrape(t *testing.T, s *Scraper) (map[string]float64, error) {
	t.Helper()
	u := &updater{s: s}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(u)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			// hostname and pod first, the rest in name order.
			var ls, rest []string
			for _, l := range m.GetLabel() {
				s := fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
				if l.GetName() == "hostname" || l.GetName() == "pod" {
					ls = append(ls, s)
				} else {
					rest = append(rest, s)
				}
			}
			slices.Sort(ls)
			ls = append(ls, rest...)
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[strings.TrimPrefix(f.GetName(), ns+"_")+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out, u.err
}

// eventually polls cond until it holds, at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, cond)
}

// run runs s until the test ends.
func run(t *testing.T, s *Scraper) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
}

// proxyPage serves a user metrics page whose inbound acl count the test sets.
type proxyPage struct {
	acl   atomic.Int64
	reads atomic.Int64
}

func (p *proxyPage) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	p.reads.Add(1)
	w.Header().Set("Content-Type", tailscaledContentType)
	fmt.Fprintf(w, "%stailscaled_inbound_dropped_packets_total{reason=\"acl\"} %d\n", inboundFamily, p.acl.Load())
}

const (
	aclSeries   = `proxy_dropped_packets_total{hostname="web.ts.net",pod="ts-web-0",direction="inbound",reason="acl"}`
	upSeries    = `proxy_metrics_up{hostname="web.ts.net",pod="ts-web-0"}`
	resetSeries = `proxy_metrics_resets_total{hostname="web.ts.net",pod="ts-web-0"}`
)

func TestScraperReadsInTheBackground(t *testing.T) {
	p := &proxyPage{}
	p.acl.Store(3)
	url := serve(t, p.ServeHTTP)
	s := New(Options{Interval: time.Hour})
	s.SetTargets([]Target{
		{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: url},
		{Hostname: "", Pod: "ts-plain-0"}, // no metrics port
	})
	got, err := scrape(t, s)
	if err != nil {
		t.Errorf("Update before any read: %v", err)
	}
	before := map[string]float64{
		`proxy_metrics_enabled{hostname="web.ts.net",pod="ts-web-0"}`: 1,
		`proxy_metrics_enabled{hostname="",pod="ts-plain-0"}`:         0,
		upSeries:    0,
		resetSeries: 0,
	}
	for _, k := range ErrorKinds {
		before[`proxy_metrics_errors_total{hostname="web.ts.net",pod="ts-web-0",kind="`+string(k)+`"}`] = 0
	}
	if !mapsEqual(got, before) {
		t.Errorf("before any read:\n%s\nwant\n%s", fmtSeries(got), fmtSeries(before))
	}

	run(t, s)
	eventually(t, "the first read", func() bool { got, _ = scrape(t, s); return got[upSeries] == 1 })
	want := map[string]float64{aclSeries: 3,
		`proxy_dropped_packets_total{hostname="web.ts.net",pod="ts-web-0",direction="outbound",reason="acl"}`: 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if n := p.reads.Load(); n != 1 {
		t.Errorf("%d reads with an hour's interval, want 1: scrapes must not read", n)
	}
}

// A proxy restart resets tailscaled's counters; the exposed ones go on.
func TestScraperCountsOnOverRestarts(t *testing.T) {
	p := &proxyPage{}
	url := serve(t, p.ServeHTTP)
	s := New(Options{Interval: 20 * time.Millisecond})
	s.SetTargets([]Target{{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: url}})
	run(t, s)
	var got map[string]float64
	last := 0.0
	wait := func(what string, cond func() bool) {
		t.Helper()
		eventually(t, what, func() bool {
			got, _ = scrape(t, s)
			if v := got[aclSeries]; v < last {
				t.Fatalf("acl went down from %v to %v", last, v)
			} else {
				last = v
			}
			return cond()
		})
	}
	p.acl.Store(10)
	wait("10 drops", func() bool { return got[aclSeries] == 10 })
	p.acl.Store(2) // restarted, two new drops
	wait("the reset", func() bool { return got[resetSeries] == 1 })
	p.acl.Store(5)
	wait("10+2+3 drops", func() bool { return got[aclSeries] == 15 })
	if got[resetSeries] != 1 {
		t.Errorf("resets = %v, want 1", got[resetSeries])
	}
}

// A scrape serves the last result at once, however long a read hangs.
func TestScraperUpdateNeverWaitsForARead(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s := New(Options{Interval: time.Hour, Timeout: time.Hour})
	s.SetTargets([]Target{{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: url}})
	run(t, s)
	for range 3 {
		done := make(chan map[string]float64, 1)
		go func() { got, _ := scrape(t, s); done <- got }()
		select {
		case got := <-done:
			if got[upSeries] != 0 {
				t.Errorf("up = %v while the first read hangs, want 0", got[upSeries])
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Update blocked on a hanging read")
		}
	}
}

func TestScraperErrors(t *testing.T) {
	fail := serve(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	s := New(Options{Interval: 20 * time.Millisecond})
	s.SetTargets([]Target{{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: fail}})
	run(t, s)
	status := `proxy_metrics_errors_total{hostname="web.ts.net",pod="ts-web-0",kind="http_status"}`
	var got map[string]float64
	var err error
	eventually(t, "two failed reads", func() bool { got, err = scrape(t, s); return got[status] >= 2 })
	if !errors.Is(err, ErrAllDown) {
		t.Errorf("Update error = %v with every proxy down, want ErrAllDown", err)
	}
	if got[upSeries] != 0 {
		t.Errorf("up = %v, want 0", got[upSeries])
	}

	// One readable proxy is enough for the collector to succeed.
	s.SetTargets([]Target{
		{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: fail},
		{Hostname: "db.ts.net", Pod: "ts-db-0", Enabled: true, URL: serve(t, (&proxyPage{}).ServeHTTP)},
	})
	eventually(t, "the new proxy's read", func() bool {
		got, err = scrape(t, s)
		return got[`proxy_metrics_up{hostname="db.ts.net",pod="ts-db-0"}`] == 1
	})
	if err != nil {
		t.Errorf("Update error = %v with one proxy up", err)
	}
	if got[status] < 2 {
		t.Errorf("errors of the kept target were lost: %v", got[status])
	}
}

func TestScraperForgetsTargetsThatGo(t *testing.T) {
	url := serve(t, (&proxyPage{}).ServeHTTP)
	s := New(Options{Interval: time.Hour, Static: []Target{{Hostname: "host.ts.net", Enabled: true, URL: url}}})
	s.SetTargets([]Target{{Hostname: "web.ts.net", Pod: "ts-web-0", Enabled: true, URL: url}})
	run(t, s)
	var got map[string]float64
	eventually(t, "both reads", func() bool {
		got, _ = scrape(t, s)
		return got[upSeries] == 1 && got[`proxy_metrics_up{hostname="host.ts.net",pod=""}`] == 1
	})
	s.SetTargets(nil)
	got, _ = scrape(t, s)
	for k := range got {
		if strings.Contains(k, "ts-web-0") {
			t.Errorf("series of a target that went: %s", k)
		}
	}
	if got[`proxy_metrics_up{hostname="host.ts.net",pod=""}`] != 1 {
		t.Errorf("the static target went with the discovered ones:\n%s", fmtSeries(got))
	}
}

// The plain host's --proxy.localapi-socket target.
func TestScraperReadsTheLocalAPISocket(t *testing.T) {
	sock := serveLocalAPI(t, readFile(t, realACLDrops))
	s := New(Options{Interval: time.Hour, Static: []Target{{Hostname: "host.ts.net", Enabled: true, URL: LocalAPIURL, Socket: sock}}})
	run(t, s)
	eventually(t, "the read", func() bool {
		got, _ := scrape(t, s)
		return got[`proxy_dropped_packets_total{hostname="host.ts.net",pod="",direction="inbound",reason="acl"}`] == 3
	})
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func fmtSeries(m map[string]float64) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("  %s %v", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
