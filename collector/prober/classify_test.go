package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	opErr := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	sysErr := func(errno syscall.Errno) error { return opErr("dial", os.NewSyscallError("connect", errno)) }
	proxyDial := func(err error) error { return &ProxyError{Proxy: "127.0.0.1:1080", Step: ProxyStepDial, Err: err} }
	proxyConnect := func(reply int, err error) error {
		return &ProxyError{Proxy: "127.0.0.1:1080", Target: testHost + ":443", Step: ProxyStepConnect, Reply: reply, Err: err}
	}
	// tailscaled's one failure reply, answered at once or after its dial
	// timeout (internal/tailnettest's TestSOCKS5Replies).
	tailscaledReply := func(waited time.Duration) error {
		return &ProxyError{Proxy: "127.0.0.1:1080", Target: testHost + ":443", Step: ProxyStepConnect,
			Reply: ReplyGeneralFailure, Waited: waited, Err: errors.New("unknown error general SOCKS server failure")}
	}
	deadline := context.DeadlineExceeded
	closedConn := opErr("read", net.ErrClosed)

	tests := []struct {
		name   string
		phase  Phase
		err    error
		ctxErr error
		want   Reason
	}{
		{"no error", PhaseHTTP, nil, nil, ReasonNone},
		{"config error", "", &configError{errors.New("bad override")}, nil, ReasonConfig},
		{"config error wrapped", PhaseResolve, fmt.Errorf("x: %w", &configError{errors.New("y")}), nil, ReasonConfig},
		{"unknown failure before any phase", "", errors.New("?"), nil, ReasonConfig},
		{"deadline before any phase", "", deadline, deadline, ReasonTimeout},
		{"cancelled before any phase", "", context.Canceled, context.Canceled, ReasonTimeout},

		{"name not found", PhaseResolve, &net.DNSError{Err: "no such host", IsNotFound: true}, nil, ReasonDNS},
		{"no address of the family", PhaseResolve, errNoAddress, nil, ReasonDNS},
		{"DNS server timeout", PhaseResolve, &net.DNSError{Err: "i/o timeout", IsTimeout: true}, nil, ReasonTimeout},
		{"lookup cut by the deadline", PhaseResolve, deadline, deadline, ReasonTimeout},

		{"RST", PhaseConnect, sysErr(syscall.ECONNREFUSED), nil, ReasonConnectRefused},
		{"dial deadline", PhaseConnect, opErr("dial", deadline), deadline, ReasonConnectTimeout},
		{"dial i/o timeout", PhaseConnect, opErr("dial", os.ErrDeadlineExceeded), nil, ReasonConnectTimeout},
		{"network unreachable", PhaseConnect, sysErr(syscall.ENETUNREACH), nil, ReasonConnectError},
		{"host unreachable", PhaseConnect, sysErr(syscall.EHOSTUNREACH), nil, ReasonConnectError},
		{"proxy refuses our TCP", PhaseConnect, proxyDial(sysErr(syscall.ECONNREFUSED)), nil, ReasonProxy},
		{"proxy does not answer TCP", PhaseConnect, proxyDial(opErr("dial", deadline)), deadline, ReasonProxy},
		{"proxy speaks no SOCKS", PhaseConnect, proxyConnect(0, io.EOF), nil, ReasonProxy},
		{"tailscaled: unknown name or closed port", PhaseConnect, tailscaledReply(3 * time.Millisecond), nil, ReasonConnectError},
		{"tailscaled: policy drops or peer offline", PhaseConnect, tailscaledReply(5009 * time.Millisecond), nil, ReasonConnectTimeout},
		{"tailscaled: just under its dial timeout", PhaseConnect, tailscaledReply(TailscaledDialTimeout - time.Millisecond), nil, ReasonConnectError},
		{"reply after our deadline passed", PhaseConnect, proxyConnect(ReplyConnectionRefused, errors.New("x")), deadline, ReasonConnectRefused},
		{"undefined reply code", PhaseConnect, proxyConnect(42, errors.New("x")), nil, ReasonProxy},
		{"CONNECT unanswered before the deadline", PhaseConnect, proxyConnect(0, deadline), deadline, ReasonConnectTimeout},
		{"foreign SOCKS dialer error", PhaseConnect, opErr("socks connect", errors.New("unknown error host unreachable")), nil, ReasonProxy},
		{"foreign SOCKS dialer timeout", PhaseConnect, opErr("socks connect", deadline), deadline, ReasonConnectTimeout},

		{"certificate", PhaseTLS, &certError{problem: CertExpired, err: x509.CertificateInvalidError{Reason: x509.Expired}}, nil, ReasonTLSCertInvalid},
		{"certificate wrapped", PhaseTLS, fmt.Errorf("tls: %w", &certError{problem: CertOther, err: errors.New("x")}), nil, ReasonTLSCertInvalid},
		{"handshake i/o timeout", PhaseTLS, opErr("read", os.ErrDeadlineExceeded), deadline, ReasonTLSHandshakeTimeout},
		{"handshake interrupted by the context", PhaseTLS, deadline, deadline, ReasonTLSHandshakeTimeout},
		{"handshake conn closed on cancel", PhaseTLS, closedConn, context.Canceled, ReasonTLSHandshakeTimeout},
		{"EOF", PhaseTLS, io.EOF, nil, ReasonTLSHandshakeEOF},
		{"unexpected EOF", PhaseTLS, io.ErrUnexpectedEOF, nil, ReasonTLSHandshakeEOF},
		{"reset", PhaseTLS, opErr("read", os.NewSyscallError("read", syscall.ECONNRESET)), nil, ReasonTLSHandshakeEOF},
		{"alert", PhaseTLS, tls.AlertError(70), nil, ReasonTLSHandshakeError},
		{"not TLS", PhaseTLS, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, nil, ReasonTLSHandshakeError},

		{"status", PhaseHTTP, &statusError{code: 503}, nil, ReasonHTTPStatus},
		{"EOF instead of a response", PhaseHTTP, io.EOF, nil, ReasonHTTPError},
		{"malformed response", PhaseHTTP, errors.New(`malformed HTTP response "SSH-2.0"`), nil, ReasonHTTPError},
		{"response deadline", PhaseHTTP, opErr("read", os.ErrDeadlineExceeded), deadline, ReasonHTTPTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.phase, tt.err, tt.ctxErr); got != tt.want {
				t.Errorf("classify(%q, %v, %v) = %q, want %q", tt.phase, tt.err, tt.ctxErr, got, tt.want)
			}
		})
	}
}

func TestCertProblem(t *testing.T) {
	now := time.Now()
	past := &x509.Certificate{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}
	future := &x509.Certificate{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}
	tests := []struct {
		name string
		err  error
		want CertProblem
	}{
		{"none", nil, CertOK},
		{"expired", x509.CertificateInvalidError{Cert: past, Reason: x509.Expired}, CertExpired},
		{"not yet valid", x509.CertificateInvalidError{Cert: future, Reason: x509.Expired}, CertNotYetValid},
		{"expired without a certificate", x509.CertificateInvalidError{Reason: x509.Expired}, CertExpired},
		{"not a CA", x509.CertificateInvalidError{Cert: past, Reason: x509.NotAuthorizedToSign}, CertOther},
		{"unknown authority", x509.UnknownAuthorityError{}, CertUnknownAuthority},
		{"name mismatch", x509.HostnameError{Certificate: past, Host: testHost}, CertNameMismatch},
		{"wrapped", fmt.Errorf("verify: %w", x509.HostnameError{Certificate: past, Host: testHost}), CertNameMismatch},
		{"anything else", errors.New("x509: unhandled critical extension"), CertOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := certProblem(tt.err, now); got != tt.want {
				t.Errorf("certProblem(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestChooseIP(t *testing.T) {
	v4, v6 := net.IPAddr{IP: net.ParseIP("100.64.0.1")}, net.IPAddr{IP: net.ParseIP("fd7a:115c:a1e0::1")}
	tests := []struct {
		name     string
		addrs    []net.IPAddr
		proto    string
		fallback bool
		want     net.IP
		wantErr  bool
	}{
		{"default prefers ip4", []net.IPAddr{v6, v4}, "", false, v4.IP, false},
		{"ip6 preferred", []net.IPAddr{v4, v6}, "ip6", false, v6.IP, false},
		{"ip4 only, no fallback", []net.IPAddr{v6}, "ip4", false, nil, true},
		{"ip4 with fallback", []net.IPAddr{v6}, "ip4", true, v6.IP, false},
		{"ip6 with fallback", []net.IPAddr{v4}, "ip6", true, v4.IP, false},
		{"nothing", nil, "ip4", true, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseIP(tt.addrs, tt.proto, tt.fallback)
			if (err != nil) != tt.wantErr || !got.IP.Equal(tt.want) {
				t.Errorf("chooseIP = %v, %v; want %v (error %v)", got.IP, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseOverride(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"127.0.0.1", "127.0.0.1:443", false},
		{"127.0.0.1:8443", "127.0.0.1:8443", false},
		{"::1", "[::1]:443", false},
		{"[::1]", "[::1]:443", false},
		{"[::1]:8443", "[::1]:8443", false},
		{"[::ffff:127.0.0.1]:8443", "127.0.0.1:8443", false},
		{"127.0.0.1:0", "", true},
		{"k8s.example.ts.net", "", true},
		{"127.0.0.1:http", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseOverride(tt.in, 443)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseOverride(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != netip.MustParseAddrPort(tt.want) {
				t.Errorf("parseOverride(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestReplyReasons is the reason of a CONNECT answered at once with each
// reply code. tailscaled sends only reply 1; the rest come from other
// SOCKS5 servers.
func TestReplyReasons(t *testing.T) {
	tests := []struct {
		reply int
		want  Reason
	}{
		{ReplyGeneralFailure, ReasonConnectError},
		{ReplyNotAllowed, ReasonProxy},
		{ReplyNetworkUnreachable, ReasonConnectError},
		{ReplyHostUnreachable, ReasonConnectError},
		{ReplyConnectionRefused, ReasonConnectRefused},
		{ReplyTTLExpired, ReasonConnectTimeout},
		{ReplyCommandUnsupported, ReasonProxy},
		{ReplyAddressUnsupported, ReasonProxy},
	}
	if len(tests) != len(replyReasons) {
		t.Errorf("%d reply codes tested, replyReasons has %d", len(tests), len(replyReasons))
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.reply), func(t *testing.T) {
			pe := &ProxyError{Step: ProxyStepConnect, Reply: tt.reply, Err: errors.New("x")}
			if got := classify(PhaseConnect, pe, nil); got != tt.want {
				t.Errorf("reply %d: %q, want %q", tt.reply, got, tt.want)
			}
		})
	}
}

func TestReplyCode(t *testing.T) {
	wrap := func(msg string) error { return &net.OpError{Op: "socks connect", Err: errors.New(msg)} }
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ruleset", wrap("unknown error connection not allowed by ruleset"), ReplyNotAllowed},
		{"refused", wrap("unknown error connection refused"), ReplyConnectionRefused},
		{"host unreachable", wrap("unknown error host unreachable"), ReplyHostUnreachable},
		{"general", wrap("unknown error general SOCKS server failure"), ReplyGeneralFailure},
		{"code without name", wrap("unknown error unknown code: 42"), 0},
		{"no reply", wrap("EOF"), 0},
		{"not an OpError", io.EOF, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replyCode(tt.err); got != tt.want {
				t.Errorf("replyCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestValidStatus(t *testing.T) {
	tests := []struct {
		code  int
		valid []int
		want  bool
	}{
		{200, nil, true}, {299, nil, true}, {300, nil, false}, {199, nil, false}, {503, nil, false},
		{404, []int{404}, true}, {200, []int{404}, false}, {302, []int{200, 302}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d in %v", tt.code, tt.valid), func(t *testing.T) {
			if got := validStatus(tt.code, tt.valid); got != tt.want {
				t.Errorf("validStatus(%d, %v) = %v, want %v", tt.code, tt.valid, got, tt.want)
			}
		})
	}
}

func TestRequestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"no hostname", Request{Override: "127.0.0.1"}},
		{"port out of range", Request{Hostname: testHost, Port: 70000}},
		{"unknown IP protocol", Request{Hostname: testHost, IPProtocol: "ip5"}},
		{"bad override", Request{Hostname: testHost, Override: "nowhere"}},
		{"path without slash", Request{Hostname: testHost, HTTP: true, Path: "healthz"}},
		{"bad method", Request{Hostname: testHost, HTTP: true, Method: "GE T"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A Dialer and Resolver that fail the test prove that a bad
			// request never reaches the network.
			tt.req.Resolver = forbiddenResolver(t)
			tt.req.Dialer = dialerFunc(func(_ context.Context, _, addr string) (net.Conn, error) {
				t.Errorf("dialled %s for an invalid request", addr)
				return nil, errors.New("forbidden")
			})
			res := Probe(context.Background(), tt.req)
			if res.Reason != ReasonConfig || res.Success || res.Err == nil || len(res.Phases) != 0 {
				t.Errorf("reason %q success %v err %v phases %v, want config before any phase", res.Reason, res.Success, res.Err, res.Phases)
			}
		})
	}
}

func TestSOCKS5DialerAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1", "localhost:1080:1"} {
		if _, err := SOCKS5Dialer(addr, nil); err == nil {
			t.Errorf("SOCKS5Dialer(%q) accepted an invalid address", addr)
		}
	}
	if _, err := SOCKS5Dialer("127.0.0.1:1080", nil); err != nil {
		t.Errorf("SOCKS5Dialer(127.0.0.1:1080) = %v", err)
	}
}
