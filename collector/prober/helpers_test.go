package prober

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testHost is the ts.net name every test probes; it only ever resolves to
// loopback, through an override or a test resolver.
const testHost = "k8s.example.ts.net"

// fixture is a CA and a valid certificate for testHost.
type fixture struct {
	ca   *probertest.CA
	cert tls.Certificate
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := probertest.NewCA("probertest CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Leaf(testHost)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ca: ca, cert: cert}
}

// request probes testHost at addr (an override) with HTTP, trusting the
// fixture's CA.
func (f *fixture) request(addr string) Request {
	return Request{
		Hostname: testHost,
		Override: addr,
		RootCAs:  f.ca.Pool,
		Timeout:  5 * time.Second,
		HTTP:     true,
	}
}

func startHTTPS(t *testing.T, opts probertest.HTTPSOptions) *probertest.HTTPSServer {
	t.Helper()
	s, err := probertest.NewHTTPSServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

type closer interface{ Close() error }

// start runs newPeer and closes the peer when the test ends, failing the
// test if that fails.
func start[C closer](t *testing.T, newPeer func() (C, error)) C {
	t.Helper()
	c, err := newPeer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func startSOCKS5(t *testing.T, opts probertest.SOCKS5Options) *probertest.SOCKS5Server {
	t.Helper()
	return start(t, func() (*probertest.SOCKS5Server, error) { return probertest.NewSOCKS5Server(opts) })
}

type resolverFunc func(ctx context.Context, host string) ([]net.IPAddr, error)

func (f resolverFunc) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return f(ctx, host)
}

type dialerFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// staticResolver answers every lookup of testHost with ips.
func staticResolver(ips ...string) Resolver {
	return resolverFunc(func(_ context.Context, host string) ([]net.IPAddr, error) {
		if host != testHost {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []net.IPAddr
		for _, s := range ips {
			out = append(out, net.IPAddr{IP: net.ParseIP(s)})
		}
		return out, nil
	})
}

// forbiddenResolver fails the test when the probe resolves locally.
func forbiddenResolver(t *testing.T) Resolver {
	return resolverFunc(func(_ context.Context, host string) ([]net.IPAddr, error) {
		t.Errorf("local resolution of %s; the vantage must resolve remotely", host)
		return nil, &net.DNSError{Err: "resolution forbidden in this test", Name: host}
	})
}

func mustSOCKS5(t *testing.T, proxyAddr string) Dialer {
	t.Helper()
	d, err := SOCKS5Dialer(proxyAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
