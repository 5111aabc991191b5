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
// handshake, the expired certificate named, the Funnel endpoint up.
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
		regexp.MustCompile(regexp.QuoteMeta(sim.Cluster) + `\s+no_rules_matched\s+tcp\s+ipv6\s+443\s+[1-9]`),
		// diagnose: the findings, from the probes and the proxy log file.
		regexp.MustCompile(`\$ tailscale-tunnel-exporter diagnose ` + regexp.QuoteMeta(sim.Cluster)),
		regexp.MustCompile(`CRITICAL \(\d+%\) The proxy drops IPv6 connections to its HTTPS port with no rules matched`),
		regexp.MustCompile(`rule drops-funnel-relays-ipv6`),
		regexp.MustCompile(`rule tls-handshake-stalls`),
		regexp.MustCompile(`endpoint ` + regexp.QuoteMeta(sim.Expired) + `, rule certificate-invalid`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("demo output does not match %s:\n%s", want, out.String())
		}
	}
}
