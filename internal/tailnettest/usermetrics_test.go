package tailnettest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
)

// userMetricsCaptureEnv names a directory TestExactDropsThroughLocalAPI
// writes the proxy node's raw user metrics pages to, before any drop and
// after a denied connect: how collector/proxymetrics/testdata was made.
const userMetricsCaptureEnv = "TAILNETTEST_USERMETRICS_CAPTURE"

// TestExactDropsThroughLocalAPI denies the client's connect to the proxy
// and checks that the exporter's plain-host reader (--proxy.localapi-socket)
// reads the same exact acl count from the proxy's LocalAPI socket as the
// harness does.
func TestExactDropsThroughLocalAPI(t *testing.T) {
	_, proxy, client := proxyAndClient(t, denyPolicy)
	read := func() proxymetrics.Drops {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c := proxymetrics.NewLocalAPIClient(proxy.Socket)
		defer c.CloseIdleConnections()
		d, err := proxymetrics.Read(ctx, c, proxymetrics.LocalAPIURL, proxymetrics.DefaultMaxBytes)
		if err != nil {
			t.Fatalf("exporter's LocalAPI read of %s: %v", proxy.Name, err)
		}
		return d
	}

	capture := func(name string) {
		t.Helper()
		dir := os.Getenv(userMetricsCaptureEnv)
		if dir == "" {
			return
		}
		body, err := proxy.localAPI("usermetrics")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), body, 0o644)
		}
		if err != nil {
			t.Errorf("capture %s's user metrics: %v", proxy.Name, err)
		}
	}

	// Before any drop tailscaled writes the family without a series.
	capture("usermetrics-1.98.10-before-drop.txt")
	if d := read(); !d.Seen[proxymetrics.Inbound][proxymetrics.ReasonACL] || d.Count[proxymetrics.Inbound][proxymetrics.ReasonACL] != 0 {
		t.Errorf("before any drop: inbound acl seen %v, count %v; want seen, 0", d.Seen[proxymetrics.Inbound][proxymetrics.ReasonACL], d.Count[proxymetrics.Inbound][proxymetrics.ReasonACL])
	}

	dial, err := prober.SOCKS5Dialer(client.SOCKS5, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if conn, err := dial.DialContext(ctx, "tcp", proxy.DNSName+":443"); err == nil {
		conn.Close()
		t.Fatalf("connect to %s:443 succeeded with the policy denying it", proxy.DNSName)
	}

	// The SYN's retransmissions may still arrive: compare once the
	// harness reads the same count twice around the exporter's read.
	var harness, exporter float64
	err = eventually("the exporter's acl count to equal the harness's", 20*time.Second, 500*time.Millisecond, func() (bool, error) {
		before := inboundACLDrops(t, proxy)
		exporter = read().Count[proxymetrics.Inbound][proxymetrics.ReasonACL]
		harness = inboundACLDrops(t, proxy)
		return before > 0 && before == harness && exporter == harness,
			fmt.Errorf("harness %v then %v, exporter %v", before, harness, exporter)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one denied connect: exact inbound acl drops %v (harness) = %v (exporter)", harness, exporter)

	capture("usermetrics-1.98.10-acl-drops.txt")
}
