package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// recorder is a Dialer and Resolver that records every attempt and lets
// through only loopback dials; it resolves nothing, so no name ever leaves
// the machine.
type recorder struct {
	mu      sync.Mutex
	dials   []string
	lookups []string
}

func (r *recorder) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dials = append(r.dials, addr)
	r.mu.Unlock()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("recorder: blocked dial to non-loopback %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (r *recorder) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	r.lookups = append(r.lookups, host)
	r.mu.Unlock()
	return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
}

func (r *recorder) attempts() (dials, lookups []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dials...), append([]string(nil), r.lookups...)
}

// testEnv is a config with one static target that resolves to a healthy
// loopback HTTPS server.
type testEnv struct {
	rec      *recorder
	handler  *Handler
	sched    *Scheduler
	server   *probertest.HTTPSServer
	ca       *probertest.CA
	hostname string
}

func newTestEnv(t *testing.T, allow ...string) *testEnv {
	t.Helper()
	ca, err := probertest.NewCA("probes test CA")
	if err != nil {
		t.Fatal(err)
	}
	const host = "whoami.example.ts.net"
	cert, err := ca.Leaf(host)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	cfg, err := config.Parse([]byte(fmt.Sprintf("targets:\n  - hostname: %s\n    resolve: %s\n", host, srv.Addr)), "", config.Flags{})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range cfg.Modules {
		m.TLS.RootCAs = ca.Pool
		cfg.Modules[name] = m
	}
	rec := &recorder{}
	network := Network{Dialer: rec, Resolver: rec}
	vantages, err := network.Vantages(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sched := NewScheduler(SchedulerOptions{})
	sched.SetTargets(network.StaticTargets(cfg, vantages))
	if len(allow) == 0 {
		allow = []string{DefaultAllow}
	}
	al, err := NewAllowlist(allow)
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Config: cfg, Vantages: vantages, Network: network}
	return &testEnv{
		rec: rec, sched: sched, server: srv, ca: ca, hostname: host,
		handler: &Handler{Env: func() Env { return env }, Lookup: sched.Lookup, Allow: al},
	}
}

func (e *testEnv) get(t *testing.T, query string, header http.Header) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/probe?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestProbeHandlerRefusesWithoutDialling(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name, target, want string
	}{
		{"empty", "", "empty target"},
		{"other scheme", "http://whoami.example.ts.net", `scheme "http"`},
		{"ftp scheme", "ftp://whoami.example.ts.net", `scheme "ftp"`},
		{"user info", "https://admin:pw@whoami.example.ts.net", "user info"},
		{"bare user info", "admin@whoami.example.ts.net", "want a hostname"},
		{"path", "https://whoami.example.ts.net/admin", "path or query"},
		{"query", "https://whoami.example.ts.net/?x=1", "path or query"},
		{"ipv4 literal", "127.0.0.1", "IP targets must be allowed"},
		{"ipv6 literal", "[::1]", "IP targets must be allowed"},
		{"ipv4 with port", "10.0.0.1:443", "IP targets must be allowed"},
		{"metadata address", "169.254.169.254", "IP targets must be allowed"},
		{"not allowed name", "example.com", "neither a configured or discovered target nor allowed"},
		{"suffix trick", "evil.ts.net.example.com", "neither a configured"},
		{"other port on allowed name", "x.example.ts.net:22", "port 22 is not the module's port 443"},
		{"other port on known target", "whoami.example.ts.net:8080", "port 8080"},
		{"single label", "localhost", "not a fully qualified"},
		{"bad port", "x.example.ts.net:99999", "bad port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.get(t, "target="+url.QueryEscape(tc.target), nil)
			if code != http.StatusForbidden {
				t.Errorf("status = %d, want 403; body %q", code, body)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("body %q does not contain %q", body, tc.want)
			}
		})
	}
	if dials, lookups := e.rec.attempts(); len(dials)+len(lookups) > 0 {
		t.Fatalf("refused targets caused network activity: dials %v, lookups %v", dials, lookups)
	}
}

func TestProbeHandlerBadParameters(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ name, query, want string }{
		{"unknown module", "target=whoami.example.ts.net&module=nope", `unknown module "nope"`},
		{"unconfigured vantage", "target=whoami.example.ts.net&vantage=tailnet", `vantage "tailnet" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.get(t, tc.query, nil)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want 400 containing %q", code, body, tc.want)
			}
		})
	}
	if dials, lookups := e.rec.attempts(); len(dials)+len(lookups) > 0 {
		t.Fatalf("bad requests caused network activity: dials %v, lookups %v", dials, lookups)
	}
}

func TestProbeHandlerKnownTarget(t *testing.T) {
	e := newTestEnv(t)
	for _, target := range []string{"whoami.example.ts.net", "https://WHOAMI.example.ts.net/", "whoami.example.ts.net:443"} {
		code, body := e.get(t, "target="+url.QueryEscape(target), nil)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", target, code, body)
		}
		fams := parseMetrics(t, body)
		if v := gauge(t, fams, "tailscale_tunnel_probe_success", nil); v != 1 {
			t.Errorf("%s: probe_success = %v, want 1\n%s", target, v, body)
		}
		if v := gauge(t, fams, "tailscale_tunnel_probe_http_status_code", nil); v != 200 {
			t.Errorf("%s: http_status_code = %v, want 200", target, v)
		}
		for _, p := range prober.Phases {
			if _, ok := findGauge(fams, "tailscale_tunnel_probe_phase_duration_seconds", map[string]string{"phase": string(p)}); !ok {
				t.Errorf("%s: no phase_duration_seconds{phase=%q}", target, p)
			}
		}
		if strings.Contains(body, `hostname="`) {
			t.Errorf("/probe output carries a hostname label; Prometheus target labels provide it:\n%s", body)
		}
	}
	dials, lookups := e.rec.attempts()
	if len(lookups) != 0 {
		t.Errorf("the override target was looked up: %v", lookups)
	}
	for _, d := range dials {
		if d != e.server.Addr {
			t.Errorf("dialled %s, want only the override %s", d, e.server.Addr)
		}
	}
	if n := len(e.server.Requests()); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

func TestProbeHandlerAllowedNameIsProbed(t *testing.T) {
	e := newTestEnv(t)
	code, body := e.get(t, "target=other.example.ts.net&debug=true", nil)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if _, lookups := e.rec.attempts(); len(lookups) != 1 || lookups[0] != "other.example.ts.net" {
		t.Errorf("lookups = %v, want one of other.example.ts.net", lookups)
	}
	for _, want := range []string{"Probe of other.example.ts.net", "tailscale_tunnel_probe_success 0", `tailscale_tunnel_probe_failure_reason{reason="dns"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
}

func TestProbeHandlerExplicitlyAllowedIP(t *testing.T) {
	e := newTestEnv(t, "127.0.0.0/8")
	// Nothing listens on 127.0.0.1:443 here: the probe fails, and the
	// recorded dial proves the explicitly allowed IP was tried.
	code, body := e.get(t, "target=127.0.0.1&module=tls", nil)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	dials, _ := e.rec.attempts()
	if len(dials) != 1 || dials[0] != "127.0.0.1:443" {
		t.Errorf("dials = %v, want 127.0.0.1:443", dials)
	}
	if !strings.Contains(body, "tailscale_tunnel_probe_success 0") {
		t.Errorf("probe of 127.0.0.1:443 succeeded?\n%s", body)
	}
}

func TestProbeHandlerHonoursScrapeTimeout(t *testing.T) {
	e := newTestEnv(t)
	var got time.Duration
	e.handler.Probe = func(ctx context.Context, req prober.Request) prober.Result {
		got = req.Timeout
		return prober.Result{Reason: prober.ReasonTimeout, Err: errors.New("test")}
	}
	code, body := e.get(t, "target=whoami.example.ts.net", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"3"}})
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if got != 3*time.Second-scrapeTimeoutOffset {
		t.Errorf("probe timeout = %s, want %s", got, 3*time.Second-scrapeTimeoutOffset)
	}
	code, _ = e.get(t, "target=whoami.example.ts.net", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"60"}})
	if code != http.StatusOK || got != 10*time.Second {
		t.Errorf("with a scrape timeout above the module's, timeout = %s, want the module's 10s", got)
	}
}

func TestAllowlistEntries(t *testing.T) {
	for _, bad := range []string{"", "https://x.ts.net", "x.ts.net:443", "[", "user@x.ts.net"} {
		if _, err := NewAllowlist([]string{bad}); err == nil {
			t.Errorf("NewAllowlist(%q) succeeded", bad)
		}
	}
	a, err := NewAllowlist([]string{"*.ts.net", "probe.example.com", "100.64.0.0/10", "fd7a:115c:a1e0::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"k8s.tailnet-abc.ts.net", true},
		{"a.b.c.ts.net", true},
		{"ts.net", false},
		{"xts.net", false},
		{"x.ts.net.evil.com", false},
		{"probe.example.com", true},
		{"other.example.com", false},
	} {
		if got := a.allowsName(tc.host); got != tc.want {
			t.Errorf("allowsName(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"100.64.0.1", true}, {"100.128.0.1", false}, {"fd7a:115c:a1e0::1", true}, {"fd7a:115c:a1e0::2", false}, {"127.0.0.1", false},
	} {
		pt, err := ParseProbeTarget(tc.ip)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.allowsIP(pt.IP); got != tc.want {
			t.Errorf("allowsIP(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return fams
}

// findGauge returns the value of the gauge series of name whose labels
// include want.
func findGauge(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if have[k] != v {
				match = false
			}
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := findGauge(fams, name, want)
	if !ok {
		t.Fatalf("no series %s%v", name, want)
	}
	return v
}
