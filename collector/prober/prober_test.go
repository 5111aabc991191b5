package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// shortTimeout is the probe timeout of cases that end by a deadline.
const shortTimeout = 300 * time.Millisecond

func TestProbeHealthy(t *testing.T) {
	f := newFixture(t)
	srv := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert})
	req := f.request(srv.Addr)
	req.Path = "/healthz"

	res := Probe(context.Background(), req)

	if !res.Success || res.Reason != ReasonNone || res.FailedPhase != "" {
		t.Fatalf("Probe = success %v reason %q phase %q, err %v; log:\n%s",
			res.Success, res.Reason, res.FailedPhase, res.Err, strings.Join(res.Log, "\n"))
	}
	for _, ph := range Phases {
		if d, ok := res.Phases[ph]; !ok || d <= 0 {
			t.Errorf("phase %s = %v (present %v), want > 0", ph, d, ok)
		}
	}
	if res.TLSVersion != "TLS 1.3" {
		t.Errorf("TLSVersion = %q, want TLS 1.3", res.TLSVersion)
	}
	if want := f.cert.Leaf.NotAfter; !res.CertExpiry.Equal(want) {
		t.Errorf("CertExpiry = %v, want the leaf's NotAfter %v", res.CertExpiry, want)
	}
	if res.CertProb != CertOK {
		t.Errorf("CertProb = %q, want none", res.CertProb)
	}
	if res.HTTPStatus != http.StatusOK {
		t.Errorf("HTTPStatus = %d, want 200", res.HTTPStatus)
	}
	if !res.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP = %v, want 127.0.0.1", res.IP)
	}
	if res.Duration <= 0 || res.Start.IsZero() {
		t.Errorf("Start %v Duration %v, want both set", res.Start, res.Duration)
	}
	log := strings.Join(res.Log, "\n")
	for _, want := range []string{"(override)", "connected to", "TLS handshake done", `"200 OK"`, "probe succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	got := srv.Requests()
	if len(got) != 1 || got[0].Host != testHost || got[0].Path != "/healthz" || got[0].Method != http.MethodGet {
		t.Errorf("server saw %+v, want one GET %s/healthz", got, testHost)
	}
}

func TestProbeTLSOnly(t *testing.T) {
	f := newFixture(t)
	srv := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert})
	req := f.request(srv.Addr)
	req.HTTP = false

	res := Probe(context.Background(), req)

	if !res.Success {
		t.Fatalf("Probe failed: %s: %v", res.Reason, res.Err)
	}
	if _, ok := res.Phases[PhaseHTTP]; ok {
		t.Errorf("phases %v include http for a TLS-only probe", res.Phases)
	}
	if res.Phases[PhaseTLS] <= 0 || res.TLSVersion == "" || res.HTTPStatus != 0 {
		t.Errorf("tls %v version %q status %d, want a handshake and no HTTP", res.Phases[PhaseTLS], res.TLSVersion, res.HTTPStatus)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("server saw %d HTTP requests, want none", n)
	}
}

func TestProbeStatusCodes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		handler http.Handler
		valid   []int
		want    Reason
		status  int
	}{
		{name: "204 is 2xx", handler: status(204), want: ReasonNone, status: 204},
		{name: "404 by default", handler: status(404), want: ReasonHTTPStatus, status: 404},
		{name: "404 listed as valid", handler: status(404), valid: []int{404}, want: ReasonNone, status: 404},
		{name: "200 not listed", handler: status(200), valid: []int{404}, want: ReasonHTTPStatus, status: 200},
		{name: "redirect not followed", handler: probertest.RedirectHandler("/elsewhere"), want: ReasonHTTPStatus, status: 302},
		{name: "redirect listed as valid", handler: probertest.RedirectHandler("/elsewhere"), valid: []int{302}, want: ReasonNone, status: 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, Handler: tt.handler})
			req := f.request(srv.Addr)
			req.ValidStatusCodes = tt.valid

			res := Probe(context.Background(), req)

			if res.Reason != tt.want || res.Success != (tt.want == ReasonNone) {
				t.Errorf("reason %q success %v, want %q; err %v", res.Reason, res.Success, tt.want, res.Err)
			}
			if res.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", res.HTTPStatus, tt.status)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("server saw %d requests, want exactly 1 (no redirect followed)", n)
			}
		})
	}
}

func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
}

// TestProbeReasons proves every Reason end to end through Probe, against
// real loopback peers wherever one can produce it.
func TestProbeReasons(t *testing.T) {
	f := newFixture(t)
	expiredCert, err := f.ca.LeafValid(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), testHost)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		setup func(t *testing.T) Request
		want  Reason
		phase Phase
	}{
		{
			name: "name does not resolve",
			setup: func(t *testing.T) Request {
				r := f.request("")
				r.Resolver = staticResolver() // knows no name but testHost, and that one has no address
				r.Hostname = "gone.example.ts.net"
				r.ServerName = testHost
				return r
			},
			want: ReasonDNS, phase: PhaseResolve,
		},
		{
			name: "only the unwanted family without fallback",
			setup: func(t *testing.T) Request {
				r := f.request("")
				r.Resolver = staticResolver("::1")
				r.IPProtocol = "ip4"
				return r
			},
			want: ReasonDNS, phase: PhaseResolve,
		},
		{
			name: "resolver hangs past the deadline",
			setup: func(t *testing.T) Request {
				r := f.request("")
				r.Timeout = shortTimeout
				r.Resolver = resolverFunc(func(ctx context.Context, _ string) ([]net.IPAddr, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				})
				return r
			},
			want: ReasonTimeout, phase: PhaseResolve,
		},
		{
			name:  "override is not an address",
			setup: func(t *testing.T) Request { return f.request("k8s.example") },
			want:  ReasonConfig, phase: "",
		},
		{
			name: "closed port",
			setup: func(t *testing.T) Request {
				addr, err := probertest.RefusedAddr()
				if err != nil {
					t.Fatal(err)
				}
				return f.request(addr)
			},
			want: ReasonConnectRefused, phase: PhaseConnect,
		},
		{
			name: "SYN dropped by a full accept queue",
			setup: func(t *testing.T) Request {
				bh := start(t, probertest.NewBlackhole)
				r := f.request(bh.Addr)
				r.Timeout = shortTimeout
				return r
			},
			want: ReasonConnectTimeout, phase: PhaseConnect,
		},
		{
			name: "network unreachable",
			setup: func(t *testing.T) Request {
				r := f.request("127.0.0.1:443")
				r.Dialer = dialerFunc(func(_ context.Context, network, addr string) (net.Conn, error) {
					return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
				})
				return r
			},
			want: ReasonConnectError, phase: PhaseConnect,
		},
		{
			name: "local address of the other family",
			setup: func(t *testing.T) Request {
				r := f.request("127.0.0.1:443")
				r.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv6loopback}}
				return r
			},
			want: ReasonConnectError, phase: PhaseConnect,
		},
		{
			name: "proxy unreachable",
			setup: func(t *testing.T) Request {
				addr, err := probertest.RefusedAddr()
				if err != nil {
					t.Fatal(err)
				}
				r := f.request("")
				r.ResolveRemotely, r.Dialer = true, mustSOCKS5(t, addr)
				return r
			},
			want: ReasonProxy, phase: PhaseConnect,
		},
		{
			name: "proxy refuses CONNECT by rule",
			setup: func(t *testing.T) Request {
				px := startSOCKS5(t, probertest.SOCKS5Options{RefuseConnect: true})
				r := f.request("")
				r.ResolveRemotely, r.Dialer = true, mustSOCKS5(t, px.Addr)
				return r
			},
			want: ReasonProxy, phase: PhaseConnect,
		},
		{
			name: "handshake never completes",
			setup: func(t *testing.T) Request {
				p := start(t, probertest.NewSilentServer)
				r := f.request(p.Addr)
				r.Timeout = shortTimeout
				return r
			},
			want: ReasonTLSHandshakeTimeout, phase: PhaseTLS,
		},
		{
			name: "peer closes during handshake",
			setup: func(t *testing.T) Request {
				p := start(t, probertest.NewClosingServer)
				return f.request(p.Addr)
			},
			want: ReasonTLSHandshakeEOF, phase: PhaseTLS,
		},
		{
			name: "expired certificate",
			setup: func(t *testing.T) Request {
				return f.request(startHTTPS(t, probertest.HTTPSOptions{Cert: expiredCert}).Addr)
			},
			want: ReasonTLSCertInvalid, phase: PhaseTLS,
		},
		{
			name: "server speaks only TLS 1.1",
			setup: func(t *testing.T) Request {
				s := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
				return f.request(s.Addr)
			},
			want: ReasonTLSHandshakeError, phase: PhaseTLS,
		},
		{
			name: "503",
			setup: func(t *testing.T) Request {
				return f.request(startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, Status: 503}).Addr)
			},
			want: ReasonHTTPStatus, phase: PhaseHTTP,
		},
		{
			name: "connection closed instead of a response",
			setup: func(t *testing.T) Request {
				return f.request(startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, Handler: probertest.CloseHandler()}).Addr)
			},
			want: ReasonHTTPError, phase: PhaseHTTP,
		},
		{
			name: "no response before the deadline",
			setup: func(t *testing.T) Request {
				s := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, Handler: probertest.HangHandler()})
				r := f.request(s.Addr)
				r.Timeout = time.Second // the handshake must finish first, even on a loaded machine
				return r
			},
			want: ReasonHTTPTimeout, phase: PhaseHTTP,
		},
	}

	covered := map[Reason]bool{}
	for _, tt := range tests {
		covered[tt.want] = true
		t.Run(tt.name, func(t *testing.T) {
			res := Probe(context.Background(), tt.setup(t))

			if res.Success || res.Reason != tt.want || res.FailedPhase != tt.phase {
				t.Errorf("success %v reason %q phase %q, want reason %q phase %q; err: %v\nlog:\n%s",
					res.Success, res.Reason, res.FailedPhase, tt.want, tt.phase, res.Err, strings.Join(res.Log, "\n"))
			}
			if res.Err == nil || len(res.Log) == 0 {
				t.Errorf("err %v, %d log lines: a failure must keep its error and log it", res.Err, len(res.Log))
			}
			// The debug log says what the reason means, in the catalog's words.
			if c := causes.Get(tt.want.Cause()); tt.want.Cause() != causes.EndpointDown &&
				!strings.Contains(res.Log[len(res.Log)-1], c.Meaning+" See "+c.Runbook()) {
				t.Errorf("last log line %q lacks the meaning and runbook of cause %s", res.Log[len(res.Log)-1], c.ID)
			}
			if tt.phase != "" {
				if d, ok := res.Phases[tt.phase]; !ok || d <= 0 {
					t.Errorf("failed phase %s has duration %v (present %v), want > 0", tt.phase, d, ok)
				}
			}
		})
	}
	for _, r := range Reasons {
		if !covered[r] {
			t.Errorf("reason %q has no end-to-end case", r)
		}
	}
}

// TestReasonCauses: every failure reason names a cause of the catalog, and
// only a reason without a phase to blame the generic one.
func TestReasonCauses(t *testing.T) {
	for _, r := range Reasons {
		t.Run(string(r), func(t *testing.T) {
			id := r.Cause()
			if _, ok := causes.Lookup(id); !ok {
				t.Errorf("cause %q is not in the catalog", id)
			}
			if (id == causes.EndpointDown) != (r == ReasonTimeout) {
				t.Errorf("cause %q: only %s has the generic cause", id, ReasonTimeout)
			}
		})
	}
	if got := Reason("unknown").Cause(); got != causes.EndpointDown {
		t.Errorf("an unknown reason's cause is %q, want the generic %q", got, causes.EndpointDown)
	}
}

func TestProbeCertProblems(t *testing.T) {
	f := newFixture(t)
	other, err := probertest.NewCA("someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name  string
		issue func() (tls.Certificate, error)
		want  CertProblem
	}{
		{"expired", func() (tls.Certificate, error) {
			return f.ca.LeafValid(now.Add(-48*time.Hour), now.Add(-time.Hour), testHost)
		}, CertExpired},
		{"not yet valid", func() (tls.Certificate, error) {
			return f.ca.LeafValid(now.Add(time.Hour), now.Add(48*time.Hour), testHost)
		}, CertNotYetValid},
		{"unknown authority", func() (tls.Certificate, error) { return other.Leaf(testHost) }, CertUnknownAuthority},
		{"name mismatch", func() (tls.Certificate, error) { return f.ca.Leaf("whoami.example.ts.net") }, CertNameMismatch},
	}
	for _, tt := range tests {
		cert, err := tt.issue()
		if err != nil {
			t.Fatal(err)
		}
		srv := startHTTPS(t, probertest.HTTPSOptions{Cert: cert})
		for _, insecure := range []bool{false, true} {
			name := tt.name
			if insecure {
				name += " skipped"
			}
			t.Run(name, func(t *testing.T) {
				req := f.request(srv.Addr)
				req.InsecureSkipVerify = insecure

				res := Probe(context.Background(), req)

				if res.CertProb != tt.want {
					t.Errorf("CertProb = %q, want %q (err %v)", res.CertProb, tt.want, res.Err)
				}
				if !res.CertExpiry.Equal(cert.Leaf.NotAfter) {
					t.Errorf("CertExpiry = %v, want the leaf's NotAfter %v even when invalid", res.CertExpiry, cert.Leaf.NotAfter)
				}
				switch {
				case insecure && (!res.Success || res.HTTPStatus != 200):
					t.Errorf("insecure probe: success %v status %d, reason %q: %v", res.Success, res.HTTPStatus, res.Reason, res.Err)
				case !insecure && (res.Success || res.Reason != ReasonTLSCertInvalid):
					t.Errorf("success %v reason %q, want %q", res.Success, res.Reason, ReasonTLSCertInvalid)
				}
			})
		}
	}
}

// TestProbeIPv6 needs ::1 on the loopback interface; it fails, rather than
// skips, where IPv6 is off.
func TestProbeIPv6(t *testing.T) {
	f := newFixture(t)
	srv := startHTTPS(t, probertest.HTTPSOptions{Addr: "[::1]:0", Cert: f.cert})
	port := srv.Port()
	tests := []struct {
		name string
		req  func() Request
	}{
		{"bracketed override with port", func() Request { return f.request(srv.Addr) }},
		{"bare override", func() Request { r := f.request("::1"); r.Port = port; return r }},
		{"bracketed override without port", func() Request { r := f.request("[::1]"); r.Port = port; return r }},
		{"resolved, ip6 preferred", func() Request {
			r := f.request("")
			r.Port, r.IPProtocol, r.Resolver = port, "ip6", staticResolver("127.0.0.1", "::1")
			return r
		}},
		{"resolved, ip4 preferred, falls back", func() Request {
			r := f.request("")
			r.Port, r.IPProtocol, r.IPProtocolFallback, r.Resolver = port, "ip4", true, staticResolver("::1")
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Probe(context.Background(), tt.req())
			if !res.Success {
				t.Fatalf("reason %q: %v\n%s", res.Reason, res.Err, strings.Join(res.Log, "\n"))
			}
			if !res.IP.Equal(net.IPv6loopback) {
				t.Errorf("IP = %v, want ::1", res.IP)
			}
			if res.Phases[PhaseResolve] <= 0 {
				t.Errorf("resolve phase missing: %v", res.Phases)
			}
		})
	}
}

func TestProbeResolver(t *testing.T) {
	f := newFixture(t)
	srv := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert})
	req := f.request("")
	req.Port = srv.Port()
	req.Resolver = staticResolver("::1", "127.0.0.1") // ip4 preferred by default

	res := Probe(context.Background(), req)

	if !res.Success || !res.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("success %v IP %v, want 127.0.0.1: %s %v", res.Success, res.IP, res.Reason, res.Err)
	}
	if got := srv.Requests(); len(got) != 1 || got[0].Host != net.JoinHostPort(testHost, strconv.Itoa(srv.Port())) {
		t.Errorf("server saw %+v, want Host with the non-default port", got)
	}
}

func TestProbeSOCKS5Vantage(t *testing.T) {
	f := newFixture(t)
	srv := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert})
	silent := start(t, probertest.NewSilentServer)
	px := startSOCKS5(t, probertest.SOCKS5Options{})
	refused, err := probertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}

	// The proxy answers failures as tailscaled does: reply 1 at once for
	// a refused dial and an unknown name alike.
	tests := []struct {
		name    string
		host    string
		port    int
		timeout time.Duration
		want    Reason
	}{
		{"healthy endpoint", testHost, srv.Port(), 5 * time.Second, ReasonNone},
		{"endpoint refuses", testHost, probertest.Port(refused), 5 * time.Second, ReasonConnectError},
		{"name unknown to the proxy", "nosuch.example.test", srv.Port(), 5 * time.Second, ReasonConnectError},
		{"handshake hangs behind the proxy", testHost, silent.Port(), shortTimeout, ReasonTLSHandshakeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(px.Resolved())
			req := f.request("")
			req.Hostname, req.Port, req.Timeout = tt.host, tt.port, tt.timeout
			req.ResolveRemotely = true
			req.Resolver = forbiddenResolver(t)
			req.Dialer = mustSOCKS5(t, px.Addr)

			res := Probe(context.Background(), req)

			if res.Reason != tt.want || res.Success != (tt.want == ReasonNone) {
				t.Fatalf("reason %q, want %q: %v\n%s", res.Reason, tt.want, res.Err, strings.Join(res.Log, "\n"))
			}
			if _, ok := res.Phases[PhaseResolve]; ok {
				t.Errorf("resolve phase %v present, want none when the proxy resolves", res.Phases[PhaseResolve])
			}
			if got := px.Resolved()[before:]; len(got) != 1 || got[0] != tt.host {
				t.Errorf("proxy resolved %v, want [%s]", got, tt.host)
			}
		})
	}
	got := srv.Requests()
	if len(got) != 1 || !strings.HasPrefix(got[0].Host, testHost+":") {
		t.Errorf("healthy server saw %+v, want one request for %s", got, testHost)
	}
}

// TestProbeHangingProxy: a proxy that accepts TCP and never speaks SOCKS
// must not hold the probe past its deadline.
func TestProbeHangingProxy(t *testing.T) {
	f := newFixture(t)
	silent := start(t, probertest.NewSilentServer)
	req := f.request("")
	req.ResolveRemotely, req.Dialer, req.Timeout = true, mustSOCKS5(t, silent.Addr), shortTimeout

	res := Probe(context.Background(), req)

	if res.Reason != ReasonConnectTimeout || res.FailedPhase != PhaseConnect {
		t.Errorf("reason %q phase %q, want %q in connect: %v", res.Reason, res.FailedPhase, ReasonConnectTimeout, res.Err)
	}
	var pe *ProxyError
	if !errors.As(res.Err, &pe) || pe.Step != ProxyStepConnect {
		t.Errorf("err = %v, want a *ProxyError in the connect step", res.Err)
	}
	waitIdle(t, silent)
}

// TestProbeBoundedByTimeout is a bound, not a timing assertion: the probe
// returns long before a generous margin and leaves no connection behind.
func TestProbeBoundedByTimeout(t *testing.T) {
	f := newFixture(t)
	silent := start(t, probertest.NewSilentServer)
	const timeout, margin = 200 * time.Millisecond, 5 * time.Second
	req := f.request(silent.Addr)
	req.Timeout = timeout

	done := make(chan Result, 1)
	go func() { done <- Probe(context.Background(), req) }()
	select {
	case res := <-done:
		if res.Reason != ReasonTLSHandshakeTimeout {
			t.Errorf("reason %q, want %q", res.Reason, ReasonTLSHandshakeTimeout)
		}
	case <-time.After(margin):
		t.Fatalf("probe with timeout %v still running after %v", timeout, margin)
	}
	if silent.Accepted() != 1 {
		t.Errorf("silent server accepted %d connections, want 1", silent.Accepted())
	}
	waitIdle(t, silent)
}

func TestProbeParentContext(t *testing.T) {
	f := newFixture(t)
	silent := start(t, probertest.NewSilentServer)
	t.Run("already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := Probe(ctx, f.request(silent.Addr))
		if res.Reason != ReasonTimeout || res.FailedPhase != "" || len(res.Phases) != 0 {
			t.Errorf("reason %q phase %q phases %v, want timeout before any phase", res.Reason, res.FailedPhase, res.Phases)
		}
	})
	t.Run("cancelled during the handshake", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req := f.request(silent.Addr)
		req.Timeout = time.Minute
		accepted := silent.Accepted()
		done := make(chan Result, 1)
		go func() { done <- Probe(ctx, req) }()
		waitFor(t, func() bool { return silent.Accepted() > accepted })
		cancel()
		select {
		case res := <-done:
			if res.Reason != ReasonTLSHandshakeTimeout || res.FailedPhase != PhaseTLS {
				t.Errorf("reason %q phase %q, want the handshake cut short", res.Reason, res.FailedPhase)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("probe ignored the cancelled context")
		}
		waitIdle(t, silent)
	})
}

func TestProbeRecoversPanics(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		mod   func(*Request)
		want  Reason
		phase Phase
	}{
		{"resolver", func(r *Request) {
			r.Override = ""
			r.Resolver = resolverFunc(func(context.Context, string) ([]net.IPAddr, error) { panic("resolver bug") })
		}, ReasonDNS, PhaseResolve},
		{"dialer", func(r *Request) {
			r.Dialer = dialerFunc(func(context.Context, string, string) (net.Conn, error) { panic("dialer bug") })
		}, ReasonConnectError, PhaseConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request("127.0.0.1:443")
			tt.mod(&req)

			res := Probe(context.Background(), req)

			if res.Success || res.Reason != tt.want || res.FailedPhase != tt.phase {
				t.Errorf("success %v reason %q phase %q, want %q in %s", res.Success, res.Reason, res.FailedPhase, tt.want, tt.phase)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), "bug") || !strings.Contains(strings.Join(res.Log, "\n"), "panic") {
				t.Errorf("err %v / log %q: want the panic text in both", res.Err, res.Log)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v after a panic, want it measured", res.Duration)
			}
		})
	}
}

func waitIdle(t *testing.T, p *probertest.Peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitIdle(ctx); err != nil {
		t.Errorf("probe left a connection open: %v", err)
	}
}

// waitFor polls cond until it holds, for at most five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
