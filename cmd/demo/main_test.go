package main

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/internal/sim"
)

// TestDemoOnce runs the README's first command the way a newcomer does and
// checks that it shows the incident: the cluster tunnel down with a stalled
// handshake, its relays' connections counted at the peer API port, the
// expired certificate named, the Funnel endpoint up, and a diagnosis that
// tells the Funnel story first.
func TestDemoOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out strings.Builder
	if err := run(addr, true, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(sim.Cluster) + `\s+direct\s+DOWN\s+tls_handshake_timeout\s+resolve=\S+ connect=\S+ tls=`),
		regexp.MustCompile(regexp.QuoteMeta(sim.Expired) + `\s+direct\s+DOWN\s+tls_certificate_invalid \(expired\)`),
		regexp.MustCompile(regexp.QuoteMeta(sim.Whoami) + `\s+direct\s+UP\s+resolve=\S+ connect=\S+ tls=\S+ http=`),
		regexp.MustCompile(`http://` + regexp.QuoteMeta(addr) + `/probe\?target=`),
		// Relays' SYNs at the peer API port; nothing at the served ports.
		regexp.MustCompile(regexp.QuoteMeta(sim.Cluster) + `\s+no_rules_matched\s+tcp\s+ipv6\s+peerapi\s+[1-9]`),
		regexp.MustCompile(regexp.QuoteMeta(sim.Cluster) + `\s+no_rules_matched\s+tcp\s+ipv6\s+443\s+0\n`),
		// diagnose: the findings, from the probes and the proxy log file.
		regexp.MustCompile(`\$ tailscale-tunnel-exporter diagnose ` + regexp.QuoteMeta(sim.Cluster)),
		regexp.MustCompile(`CRITICAL \(\d+%\) Funnel relays reach the proxy, then their TLS handshakes fail\n\s+endpoint ` + regexp.QuoteMeta(sim.Cluster) + `, rule funnel-relay-handshake-failing`),
		regexp.MustCompile(`INFO \(\d+%\) Funnel relays reach the proxy: [1-9]\d* relay connections reached the proxy\n\s+endpoint ` + regexp.QuoteMeta(sim.Cluster) + `, rule funnel-relay-traffic`),
		regexp.MustCompile(`rule tls-handshake-stalls`),
		regexp.MustCompile(`endpoint ` + regexp.QuoteMeta(sim.Expired) + `, rule certificate-invalid`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("demo output does not match %s:\n%s", want, out.String())
		}
	}
	// The cluster tunnel's first finding is the relay handshake failure:
	// the relay drops it used to be blamed on come later, as information.
	first := regexp.MustCompile(`endpoint ` + regexp.QuoteMeta(sim.Cluster) + `, rule (\S+)`).FindStringSubmatch(out.String())
	if first == nil || first[1] != "funnel-relay-handshake-failing" {
		t.Errorf("first finding about %s = %v, want funnel-relay-handshake-failing", sim.Cluster, first)
	}
	// Relay drops at the peer API port are never a cause: no served-port
	// drop finding, and no ingress denial (the log has none).
	for _, absent := range []string{"rule drops-no-rules-matched", "rule funnel-ingress-denied"} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("demo output has %s, which the simulated log does not show:\n%s", absent, out.String())
		}
	}
}
