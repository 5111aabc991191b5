package prober

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// TestProbeNoLeaksUnderLoad runs many concurrent probes against peers that
// hang in every phase, then closes the peers and checks that no goroutine
// of the probes or the peers is left.
func TestProbeNoLeaksUnderLoad(t *testing.T) {
	before := goleak.IgnoreCurrent()
	f := newFixture(t)
	silent := start(t, probertest.NewSilentServer)
	closing := start(t, probertest.NewClosingServer)
	blackhole := start(t, probertest.NewBlackhole)
	hang := startHTTPS(t, probertest.HTTPSOptions{Cert: f.cert, Handler: probertest.HangHandler()})
	px := startSOCKS5(t, probertest.SOCKS5Options{})
	hangingProxy := start(t, probertest.NewSilentServer)

	viaProxy := func(proxy string, port int) Request {
		r := f.request("")
		r.Port, r.ResolveRemotely, r.Dialer = port, true, mustSOCKS5(t, proxy)
		return r
	}
	kinds := []struct {
		req  Request
		want Reason
	}{
		{f.request(silent.Addr), ReasonTLSHandshakeTimeout},
		{f.request(closing.Addr), ReasonTLSHandshakeEOF},
		{f.request(blackhole.Addr), ReasonConnectTimeout},
		{f.request(hang.Addr), ReasonHTTPTimeout},
		{viaProxy(px.Addr, silent.Port()), ReasonTLSHandshakeTimeout},
		{viaProxy(px.Addr, hang.Port()), ReasonHTTPTimeout},
		{viaProxy(hangingProxy.Addr, silent.Port()), ReasonConnectTimeout},
		{viaProxy(px.Addr, blackhole.Port()), ReasonConnectTimeout},
	}

	// The deadline must leave room for the HTTP cases' handshakes, which
	// 200 concurrent probes on two cores under -race slow down a lot.
	const probes, timeout = 200, 3 * time.Second
	results := make([]Result, probes)
	var wg sync.WaitGroup
	for i := range probes {
		req := kinds[i%len(kinds)].req
		req.Timeout = timeout
		wg.Go(func() { results[i] = Probe(context.Background(), req) })
	}
	wg.Wait()

	for i, res := range results {
		if want := kinds[i%len(kinds)].want; res.Reason != want {
			t.Errorf("probe %d: reason %q, want %q: %v", i, res.Reason, want, res.Err)
		}
		if res.Duration > timeout+5*time.Second {
			t.Errorf("probe %d took %v with a timeout of %v", i, res.Duration, timeout)
		}
	}
	for _, p := range []interface{ Close() error }{silent, closing, blackhole, hang, px, hangingProxy} {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
	goleak.VerifyNone(t, before)
}
