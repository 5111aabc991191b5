package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

const (
	// DefaultTimeout bounds a probe whose Request has no Timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultPort is the port of ts.net HTTPS endpoints.
	DefaultPort = 443
	// MaxBodyBytes is how much of a response body a probe reads before it
	// closes the connection.
	MaxBodyBytes = 64 << 10

	userAgent = "tailscale-tunnel-exporter"
)

var defaultDialer Dialer = &net.Dialer{}

// aLongTimeAgo unblocks every pending read and write of a connection.
var aLongTimeAgo = time.Unix(1, 0)

// target is a Request checked and completed with its defaults.
type target struct {
	host       string // Hostname
	port       int
	serverName string
	override   netip.AddrPort // valid when Override is set
	ipProto    string         // "", "ip4" or "ip6"
	httpReq    *http.Request
}

// probe is the state of one running probe.
type probe struct {
	req   Request
	res   *Result
	phase Phase // the phase running now, "" before the first
	since time.Time
}

// Probe runs one probe described by req and reports what it saw. It never
// panics and returns within req.Timeout (DefaultTimeout if zero) or when ctx
// ends, having closed its connection; no goroutine of it outlives the call.
//
// Address family: with IPProtocol "" the probe prefers IPv4 and falls back
// to IPv6; with "ip4" or "ip6" it falls back only if IPProtocolFallback.
// An Override wins over ResolveRemotely.
func Probe(ctx context.Context, req Request) (res Result) {
	res.Start = time.Now()
	res.Phases = make(map[Phase]time.Duration, len(Phases))
	p := &probe{req: req, res: &res, since: res.Start}
	defer func() {
		if r := recover(); r != nil {
			p.recovered(r)
		}
		res.Duration = time.Since(res.Start)
	}()
	p.run(ctx)
	return res
}

// recovered turns a panic (a bug in the prober, a Dialer or a Resolver)
// into a failed probe so that one bad target cannot stop the exporter.
func (p *probe) recovered(r any) {
	err := fmt.Errorf("panic in %s phase: %v", phaseName(p.phase), r)
	p.res.Success = false
	p.res.Reason = panicReason(p.phase)
	p.res.FailedPhase = p.phase
	p.res.Err = err
	p.logf("%v", err)
	for line := range strings.SplitSeq(strings.TrimSpace(string(debug.Stack())), "\n") {
		p.logf("  %s", line)
	}
}

// panicReason is the generic failure of the phase a panic happened in.
func panicReason(ph Phase) Reason {
	switch ph {
	case PhaseResolve:
		return ReasonDNS
	case PhaseConnect:
		return ReasonConnectError
	case PhaseTLS:
		return ReasonTLSHandshakeError
	case PhaseHTTP:
		return ReasonHTTPError
	}
	return ReasonConfig
}

func phaseName(ph Phase) string {
	if ph == "" {
		return "setup"
	}
	return string(ph)
}

// logf appends one event to the debug log, stamped with the time since the
// probe started.
func (p *probe) logf(format string, args ...any) {
	p.res.Log = append(p.res.Log, "+"+fmtDur(time.Since(p.res.Start))+" "+fmt.Sprintf(format, args...))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// begin starts timing phase ph.
func (p *probe) begin(ph Phase) {
	p.phase = ph
	p.since = time.Now()
}

// end records the duration of the running phase and returns it. A phase
// that ran is never recorded as zero, since zero means "did not run".
func (p *probe) end() time.Duration {
	d := max(time.Since(p.since), 1)
	p.res.Phases[p.phase] = d
	return d
}

// fail ends the running phase (if any) as failed with err.
func (p *probe) fail(ctx context.Context, err error) {
	p.res.Success = false
	p.res.FailedPhase = p.phase
	p.res.Reason = classify(p.phase, err, ctx.Err())
	p.res.Err = err
	if p.phase == "" {
		p.logf("probe not run: %v", err)
	} else {
		d, done := p.res.Phases[p.phase]
		if !done {
			d = p.end()
		}
		p.logf("%s failed after %s: %v", phaseTitle[p.phase], fmtDur(d), err)
	}
	if c := p.res.Reason.Cause(); c != causes.EndpointDown {
		cause := causes.Get(c)
		p.logf("probe failed: %s (%s: %s See %s)", p.res.Reason, cause.Title, cause.Meaning, cause.Runbook())
	} else {
		p.logf("probe failed: %s", p.res.Reason)
	}
}

var phaseTitle = map[Phase]string{
	PhaseResolve: "resolve",
	PhaseConnect: "connect",
	PhaseTLS:     "TLS handshake",
	PhaseHTTP:    "HTTP request",
}

func (p *probe) run(parent context.Context) {
	t, err := p.prepare()
	if err != nil {
		p.fail(parent, err)
		return
	}
	timeout := p.req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		p.fail(ctx, fmt.Errorf("probe of %s not started: %w", t.host, err))
		return
	}

	addr, ok := p.resolve(ctx, t)
	if !ok {
		return
	}

	p.begin(PhaseConnect)
	dialer := p.req.Dialer
	if dialer == nil {
		dialer = defaultDialer
	}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		p.fail(ctx, fmt.Errorf("connect to %s: %w", addr, err))
		return
	}
	defer conn.Close()
	p.logf("connected to %s in %s", addr, fmtDur(p.end()))
	// The deadline bounds every read and write; AfterFunc covers a parent
	// context cancelled before the deadline.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()

	tc, ok := p.handshake(ctx, t, conn)
	if !ok {
		return
	}
	if t.httpReq != nil && !p.roundTrip(ctx, t, tc) {
		return
	}
	p.res.Success = true
	p.logf("probe succeeded in %s", fmtDur(time.Since(p.res.Start)))
}

// prepare checks the request before anything touches the network, so a
// mistake in the configuration is ReasonConfig and never a network reason.
func (p *probe) prepare() (target, error) {
	r := p.req
	t := target{host: r.Hostname, port: r.Port, serverName: r.ServerName, ipProto: r.IPProtocol}
	if t.host == "" {
		return t, &configError{errors.New("no hostname to probe")}
	}
	if t.port == 0 {
		t.port = DefaultPort
	}
	if t.port < 0 || t.port > 65535 {
		return t, &configError{fmt.Errorf("port %d of %s out of range", t.port, t.host)}
	}
	if t.serverName == "" {
		t.serverName = t.host
	}
	switch t.ipProto {
	case "", "ip4", "ip6":
	default:
		return t, &configError{fmt.Errorf("IP protocol %q of %s: want ip4 or ip6", t.ipProto, t.host)}
	}
	if r.Override != "" {
		ap, err := parseOverride(r.Override, t.port)
		if err != nil {
			return t, &configError{fmt.Errorf("override of %s: %w", t.host, err)}
		}
		t.override = ap
	}
	if r.HTTP {
		hr, err := newHTTPRequest(r, t)
		if err != nil {
			return t, &configError{err}
		}
		t.httpReq = hr
	}
	return t, nil
}

// parseOverride reads "IP" or "IP:port" (IPv6 as "::1", "[::1]" or
// "[::1]:443"); a missing port is port.
func parseOverride(s string, port int) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("%q: port 0", s)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is neither IP nor IP:port", s)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

func newHTTPRequest(r Request, t target) (*http.Request, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	path := r.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("HTTP path %q of %s does not start with /", path, t.host)
	}
	host := t.host
	if t.port != DefaultPort {
		host = net.JoinHostPort(t.host, strconv.Itoa(t.port))
	}
	hr, err := http.NewRequest(method, "https://"+host+path, nil)
	if err != nil {
		return nil, fmt.Errorf("HTTP request %s %s to %s: %w", method, path, t.host, err)
	}
	hr.Header.Set("User-Agent", userAgent)
	hr.Close = true // one request per connection
	return hr, nil
}

// resolve picks the address to dial and returns it as host:port.
func (p *probe) resolve(ctx context.Context, t target) (string, bool) {
	port := strconv.Itoa(t.port)
	switch {
	case t.override.IsValid():
		p.begin(PhaseResolve)
		p.res.IP = net.IP(t.override.Addr().AsSlice())
		p.logf("resolved %s to %s (override) in %s", t.host, t.override.Addr(), fmtDur(p.end()))
		return t.override.String(), true
	case p.req.ResolveRemotely:
		p.logf("leaving resolution of %s to the dialer", t.host)
		return net.JoinHostPort(t.host, port), true
	}
	p.begin(PhaseResolve)
	res := p.req.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupIPAddr(ctx, t.host)
	if err != nil {
		p.fail(ctx, fmt.Errorf("resolve %s: %w", t.host, err))
		return "", false
	}
	ip, err := chooseIP(addrs, t.ipProto, t.ipProto == "" || p.req.IPProtocolFallback)
	if err != nil {
		p.fail(ctx, fmt.Errorf("resolve %s: %w", t.host, err))
		return "", false
	}
	p.res.IP = ip.IP
	host := ip.IP.String()
	if ip.Zone != "" {
		host += "%" + ip.Zone
	}
	p.logf("resolved %s to %s in %s", t.host, host, fmtDur(p.end()))
	return net.JoinHostPort(host, port), true
}

// errNoAddress is a name that resolved, but not to a usable family.
var errNoAddress = errors.New("no address of the wanted IP family")

// chooseIP returns the first address of the preferred family ("" is ip4),
// or of the other family when fallback is set.
func chooseIP(addrs []net.IPAddr, proto string, fallback bool) (net.IPAddr, error) {
	want4 := proto != "ip6"
	var other *net.IPAddr
	for i, a := range addrs {
		is4 := a.IP.To4() != nil
		if is4 == want4 {
			return a, nil
		}
		if other == nil {
			other = &addrs[i]
		}
	}
	if fallback && other != nil {
		return *other, nil
	}
	if len(addrs) == 0 {
		return net.IPAddr{}, errors.New("no addresses")
	}
	return net.IPAddr{}, errNoAddress
}

// handshake runs the TLS handshake. Verification is done in
// VerifyConnection rather than by crypto/tls so that the chain's expiry is
// recorded even for a certificate that fails, and the failure is named.
func (p *probe) handshake(ctx context.Context, t target, conn net.Conn) (*tls.Conn, bool) {
	p.begin(PhaseTLS)
	cfg := &tls.Config{
		ServerName:         t.serverName,
		InsecureSkipVerify: true, // verified below, in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.verify(cs, t.serverName)
		},
	}
	if t.httpReq != nil {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tc := tls.Client(conn, cfg)
	// The connection's deadline bounds the handshake; HandshakeContext
	// would add a goroutine per probe for the same effect.
	if err := tc.Handshake(); err != nil {
		p.fail(ctx, fmt.Errorf("TLS handshake with %s: %w", t.serverName, err))
		return nil, false
	}
	cs := tc.ConnectionState()
	p.res.TLSVersion = tls.VersionName(cs.Version)
	p.logf("TLS handshake done in %s: %s, %s", fmtDur(p.end()), p.res.TLSVersion, tls.CipherSuiteName(cs.CipherSuite))
	return tc, true
}

func (p *probe) verify(cs tls.ConnectionState, serverName string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		p.res.CertProb = CertOther
		return &certError{problem: CertOther, err: errors.New("server sent no certificate")}
	}
	for _, c := range certs {
		if p.res.CertExpiry.IsZero() || c.NotAfter.Before(p.res.CertExpiry) {
			p.res.CertExpiry = c.NotAfter
		}
	}
	opts := x509.VerifyOptions{Roots: p.req.RootCAs, DNSName: serverName}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	now := time.Now()
	opts.CurrentTime = now
	_, err := certs[0].Verify(opts)
	if err == nil {
		p.logf("certificate of %s verified, chain expires %s", serverName, p.res.CertExpiry.UTC().Format(time.RFC3339))
		return nil
	}
	p.res.CertProb = certProblem(err, now)
	if p.req.InsecureSkipVerify {
		p.logf("certificate problem ignored (insecure_skip_verify): %s: %v", p.res.CertProb, err)
		return nil
	}
	return &certError{problem: p.res.CertProb, err: err}
}

// roundTrip sends one HTTP/1.1 request on the handshaken connection and
// checks the status. A hand-driven request avoids an http.Transport (and its
// two goroutines) per probe; redirects are never followed.
func (p *probe) roundTrip(ctx context.Context, t target, tc *tls.Conn) bool {
	p.begin(PhaseHTTP)
	hr := t.httpReq
	if err := hr.Write(tc); err != nil {
		p.fail(ctx, fmt.Errorf("write %s %s: %w", hr.Method, hr.URL.Path, err))
		return false
	}
	br := bufio.NewReader(tc)
	if _, err := br.Peek(1); err != nil {
		p.fail(ctx, fmt.Errorf("read response to %s %s: %w", hr.Method, hr.URL.Path, err))
		return false
	}
	d := p.end()
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		p.fail(ctx, fmt.Errorf("read response to %s %s: %w", hr.Method, hr.URL.Path, err))
		return false
	}
	defer resp.Body.Close()
	p.res.HTTPStatus = resp.StatusCode
	p.logf("%s %s answered %q after %s", hr.Method, hr.URL.Path, resp.Status, fmtDur(d))
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes)); err != nil {
		p.fail(ctx, fmt.Errorf("read body of %s %s: %w", hr.Method, hr.URL.Path, err))
		return false
	}
	if !validStatus(resp.StatusCode, p.req.ValidStatusCodes) {
		p.fail(ctx, &statusError{code: resp.StatusCode})
		return false
	}
	return true
}

func validStatus(code int, valid []int) bool {
	if len(valid) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(valid, code)
}
