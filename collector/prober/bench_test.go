package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// BenchmarkProbeOverhead compares, in one run, a full Probe against a
// loopback HTTPS endpoint with the least a client can do for the same
// answer: tls.Dial with the same verification, one GET, read the body.
// Both open a new connection per iteration; they alternate so that drift
// on a shared machine hits both alike. x_vs_bare is probe time / bare time.
func BenchmarkProbeOverhead(b *testing.B) {
	ca, err := probertest.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Leaf(testHost)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: cert})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })

	req := Request{Hostname: testHost, Override: srv.Addr, RootCAs: ca.Pool, Timeout: 5 * time.Second, HTTP: true}
	bareCfg := &tls.Config{ServerName: testHost, RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}}
	bare := func() error {
		c, err := tls.Dial("tcp", srv.Addr, bareCfg)
		if err != nil {
			return err
		}
		defer c.Close()
		hr, err := http.NewRequest(http.MethodGet, "https://"+testHost+"/", nil)
		if err != nil {
			return err
		}
		hr.Close = true
		if err := hr.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), hr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}

	var probeTime, bareTime time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := bare(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if res := Probe(ctx, req); !res.Success {
			b.Fatalf("probe failed: %s: %v", res.Reason, res.Err)
		}
		t2 := time.Now()
		bareTime += t1.Sub(t0)
		probeTime += t2.Sub(t1)
	}
	b.ReportMetric(float64(probeTime)/float64(bareTime), "x_vs_bare")
	b.ReportMetric(float64(probeTime.Nanoseconds())/float64(b.N), "probe_ns/op")
	b.ReportMetric(float64(bareTime.Nanoseconds())/float64(b.N), "bare_ns/op")
}
