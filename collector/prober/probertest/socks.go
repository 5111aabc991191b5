package probertest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	socks5 "github.com/things-go/go-socks5"
)

// SOCKS5Options configures a SOCKS5Server.
type SOCKS5Options struct {
	// Resolve maps a name sent in a CONNECT to an address, as tailscaled
	// resolves MagicDNS names. Default: names under ts.net are 127.0.0.1,
	// every other name fails. The server never does a real lookup.
	Resolve func(name string) (net.IP, error)
	// RefuseConnect answers every CONNECT with "connection not allowed by
	// ruleset".
	RefuseConnect bool
}

// SOCKS5Server is a SOCKS5 proxy on loopback standing in for a tailnet
// vantage's tailscaled. It dials loopback destinations only.
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
	srvOpts := []socks5.Option{
		socks5.WithResolver(resolverFunc(func(name string) (net.IP, error) {
			s.mu.Lock()
			s.resolved = append(s.resolved, name)
			s.mu.Unlock()
			return resolve(name)
		})),
		socks5.WithDial(func(_ context.Context, network, addr string) (net.Conn, error) {
			return s.dial(ctx, network, addr)
		}),
		socks5.WithGPool(trackedPool{s.t}),
	}
	if opts.RefuseConnect {
		srvOpts = append(srvOpts, socks5.WithRule(socks5.NewPermitNone()))
	}
	srv := socks5.NewServer(srvOpts...)
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

type resolverFunc func(name string) (net.IP, error)

func (f resolverFunc) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	ip, err := f(name)
	return ctx, ip, err
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
