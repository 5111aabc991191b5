package probertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	socks5 "github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// SOCKS5Options configures a SOCKS5Server.
type SOCKS5Options struct {
	// Resolve maps a name sent in a CONNECT to an address, as tailscaled
	// resolves MagicDNS names. Default: names under ts.net are 127.0.0.1,
	// every other name fails. The server never does a real lookup.
	Resolve func(name string) (net.IP, error)
	// RefuseConnect answers every CONNECT with reply 2, "connection not
	// allowed by ruleset": a proxy with rules of its own, which tailscaled
	// is not (it never sends reply 2).
	RefuseConnect bool
}

// SOCKS5Server is a SOCKS5 proxy on loopback standing in for a tailnet
// vantage's tailscaled. It dials loopback destinations only. It answers a
// CONNECT as tailscaled v1.98's SOCKS5 server does (net/socks5, measured
// in internal/tailnettest's TestSOCKS5Replies): the name is resolved as
// part of the dial, the dial gets 5 s, and every failure, an unknown name
// as well as a refused or timed out dial, is reply 1, general SOCKS server
// failure. Only RefuseConnect (reply 2) is something tailscaled never
// answers.
type SOCKS5Server struct {
	Addr string

	ln     net.Listener
	t      *tracker
	cancel context.CancelFunc
	served chan error

	mu       sync.Mutex
	resolved []string
	connects []string

	once sync.Once
	err  error
}

// NewSOCKS5Server starts a SOCKS5 proxy on 127.0.0.1 without
// authentication.
func NewSOCKS5Server(opts SOCKS5Options) (*SOCKS5Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("SOCKS5 server: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &SOCKS5Server{Addr: ln.Addr().String(), t: newTracker(), cancel: cancel, served: make(chan error, 1)}
	s.ln = &trackingListener{Listener: ln, t: s.t}
	resolve := opts.Resolve
	if resolve == nil {
		resolve = TailnetResolve
	}
	var srv *socks5.Server
	srvOpts := []socks5.Option{
		socks5.WithResolver(resolverFunc(func(name string) (net.IP, error) {
			s.mu.Lock()
			s.resolved = append(s.resolved, name)
			s.mu.Unlock()
			return resolve(name)
		})),
		socks5.WithConnectHandle(func(reqCtx context.Context, w io.Writer, req *socks5.Request) error {
			return s.connect(ctx, reqCtx, srv, w, req)
		}),
		socks5.WithGPool(trackedPool{s.t}),
	}
	if opts.RefuseConnect {
		srvOpts = append(srvOpts, socks5.WithRule(socks5.NewPermitNone()))
	}
	srv = socks5.NewServer(srvOpts...)
	go func() { s.served <- srv.Serve(s.ln) }()
	return s, nil
}

// TailnetResolve is the default name resolution of a SOCKS5Server: ts.net
// names are 127.0.0.1.
func TailnetResolve(name string) (net.IP, error) {
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	if n == "ts.net" || strings.HasSuffix(n, ".ts.net") {
		return net.IPv4(127, 0, 0, 1), nil
	}
	return nil, fmt.Errorf("resolve %s: no such host (test proxy knows only ts.net)", name)
}

// tailscaledDialTimeout is how long tailscaled's SOCKS5 server lets a
// CONNECT's dial run.
const tailscaledDialTimeout = 5 * time.Second

// connect answers a CONNECT as tailscaled does: a name that did not
// resolve and a dial that failed are both reply 1. srvCtx ends on Close.
func (s *SOCKS5Server) connect(srvCtx, reqCtx context.Context, srv *socks5.Server, w io.Writer, req *socks5.Request) error {
	if err, ok := reqCtx.Value(resolveErrKey{}).(error); ok {
		return replyFailure(w, err)
	}
	ctx, cancel := context.WithTimeout(srvCtx, tailscaledDialTimeout)
	defer cancel()
	target, err := s.dial(ctx, "tcp", req.DestAddr.String())
	if err != nil {
		return replyFailure(w, err)
	}
	defer target.Close()
	if err := socks5.SendReply(w, statute.RepSuccess, target.LocalAddr()); err != nil {
		return fmt.Errorf("SOCKS5 server: reply: %w", err)
	}
	// The server closes the client's connection when this returns, which
	// ends the other copy too.
	copied := make(chan error, 2)
	s.t.add()
	go func() {
		defer s.t.done()
		copied <- srv.Proxy(target, req.Reader)
	}()
	s.t.add()
	go func() {
		defer s.t.done()
		copied <- srv.Proxy(w, target)
	}()
	return <-copied
}

// replyFailure sends reply 1, general SOCKS server failure, tailscaled's
// answer to every CONNECT it could not complete.
func replyFailure(w io.Writer, cause error) error {
	if err := socks5.SendReply(w, statute.RepServerFailure, nil); err != nil {
		return fmt.Errorf("SOCKS5 server: reply: %w", err)
	}
	return fmt.Errorf("SOCKS5 server: CONNECT: %w", cause)
}

// dial connects to a loopback destination for the proxy. The server's
// context ends on Close, so a connect into a blackhole ends too.
func (s *SOCKS5Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	s.connects = append(s.connects, addr)
	s.mu.Unlock()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("SOCKS5 server: destination %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("SOCKS5 server: destination %s is not loopback", addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return s.t.track(c), nil
}

// Resolved lists the names the proxy resolved, in order.
func (s *SOCKS5Server) Resolved() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.resolved...)
}

// Connects lists the destinations (IP:port) the proxy dialled, in order.
func (s *SOCKS5Server) Connects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.connects...)
}

// Close stops the proxy, closes client and destination connections and
// waits for its goroutines to end.
func (s *SOCKS5Server) Close() error {
	s.once.Do(func() {
		s.ln.Close()
		s.cancel()
		s.err = s.t.stop(s.served, "SOCKS5 server "+s.Addr)
	})
	return s.err
}

// resolverFunc resolves a CONNECT's name. A name that does not resolve is
// not answered here (go-socks5 would send reply 4) but handed on in the
// context to connect, which answers it as tailscaled does.
type resolverFunc func(name string) (net.IP, error)

type resolveErrKey struct{}

func (f resolverFunc) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	ip, err := f(name)
	if err != nil {
		return context.WithValue(ctx, resolveErrKey{}, err), net.IPv4zero, nil
	}
	return ctx, ip, nil
}

// trackedPool runs the proxy's goroutines so that Close can wait for them.
type trackedPool struct{ t *tracker }

func (p trackedPool) Submit(f func()) error {
	p.t.add()
	go func() {
		defer p.t.done()
		f()
	}()
	return nil
}
