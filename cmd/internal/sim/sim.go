// Package sim starts the incident of REFERENCE.md §1 on loopback, without a
// cluster or a tailnet: a healthy per-service Funnel endpoint, a cluster
// tunnel whose TLS handshake never finishes, and an endpoint with an expired
// certificate, plus a configuration file that maps their ts.net names to
// the loopback servers. The README demo and the end-to-end tests share it.
package sim

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// Tailnet is the demo tailnet's MagicDNS suffix.
const Tailnet = "demo-tailnet.ts.net"

// Names of the simulated endpoints.
var (
	Whoami  = "whoami." + Tailnet  // per-service Funnel: answers 200
	Cluster = "k8s." + Tailnet     // cluster-wide tunnel: TLS handshake stalls
	Expired = "expired." + Tailnet // certificate expired yesterday
)

// Endpoint is one simulated ts.net endpoint.
type Endpoint struct {
	Hostname string
	Addr     string // loopback host:port
	Want     string // what a probe should find, for people reading the demo
}

// Env is a running simulation.
type Env struct {
	Dir        string // holds ca.pem, config.yml and tailscaled.log
	ConfigFile string
	CA         *probertest.CA
	Endpoints  []Endpoint
	// ProxyLog is the log of the cluster tunnel's proxy, as tailscaled
	// writes it: its version and peer API port at start (ProxyLogStart),
	// then ordinary chatter and, as in the incident, Funnel relays
	// connecting to the peer API port (a Drop line tailscaled logs and
	// lets through) whose TLS handshakes end in EOF (ProxyLogBurst). Bursts
	// are appended every ProxyLogEvery while the simulation runs.
	ProxyLog string

	closers []func() error
}

// ProxyLogEvery is how often the simulated proxy writes a burst of lines.
const ProxyLogEvery = 200 * time.Millisecond

// Start runs the endpoints and writes their configuration into dir.
func Start(dir string) (*Env, error) {
	ca, err := probertest.NewCA("tailscale-tunnel-exporter demo CA")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, CA: ca}
	if err := e.start(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Env) start() error {
	// Let's Encrypt-like lifetime, so no expiry alert fires for the healthy one.
	now := time.Now()
	whoamiCert, err := e.CA.LeafValid(now.Add(-time.Hour), now.AddDate(0, 0, 90), Whoami)
	if err != nil {
		return err
	}
	whoami, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: whoamiCert})
	if err != nil {
		return fmt.Errorf("whoami endpoint: %w", err)
	}
	e.closers = append(e.closers, whoami.Close)

	stall, err := probertest.NewSilentServer()
	if err != nil {
		return fmt.Errorf("cluster tunnel endpoint: %w", err)
	}
	e.closers = append(e.closers, stall.Close)

	expiredCert, err := e.CA.LeafValid(now.AddDate(0, -3, 0), now.Add(-24*time.Hour), Expired)
	if err != nil {
		return err
	}
	expired, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: expiredCert})
	if err != nil {
		return fmt.Errorf("expired endpoint: %w", err)
	}
	e.closers = append(e.closers, expired.Close)

	if err := e.startProxyLog(); err != nil {
		return err
	}
	e.Endpoints = []Endpoint{
		{Hostname: Cluster, Addr: stall.Addr, Want: "down: tls_handshake_timeout (TCP connects, the handshake never finishes: the incident)"},
		{Hostname: Expired, Addr: expired.Addr, Want: "down: tls_certificate_invalid (expired)"},
		{Hostname: Whoami, Addr: whoami.Addr, Want: "up: HTTP 200"},
	}
	return e.writeConfig()
}

func (e *Env) writeConfig() error {
	caFile := filepath.Join(e.Dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.CA.Cert.Raw}), 0o600); err != nil {
		return fmt.Errorf("write demo CA: %w", err)
	}
	var b strings.Builder
	b.WriteString(`# Written by the tailscale-tunnel-exporter simulation: every name resolves
# to a server on loopback, and certificates come from a throw-away CA.
modules:
  https:
    timeout: 3s
    tls:
      ca_file: ca.pem
targets:
`)
	for _, ep := range e.Endpoints {
		fmt.Fprintf(&b, "  - hostname: %s\n    resolve: %s\n", ep.Hostname, ep.Addr)
	}
	e.ConfigFile = filepath.Join(e.Dir, "config.yml")
	if err := os.WriteFile(e.ConfigFile, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write demo config: %w", err)
	}
	return nil
}

// Close stops every endpoint.
func (e *Env) Close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// The simulated cluster tunnel proxy's tailnet addresses. The IPv6 one
// embeds the IPv4 one, so the two share their last three bytes as
// Tailscale-assigned pairs do, and tailscaled's port rule gives both the
// same peer API port.
const (
	ProxyIPv4 = "100.101.124.57"
	ProxyIPv6 = "fd7a:115c:a1e0::6465:7c39"
)

// ProxyPeerAPIPort is the simulated proxy's peer API port: the one
// tailscaled first tries (logmatch.InferPeerAPIPort), so relay drops to it
// classify as peerapi whether a reader learned it from the "peerapi:
// serving on" lines or, having missed them (a file followed from its end,
// a rotated log), inferred it from the destination address.
var ProxyPeerAPIPort = logmatch.InferPeerAPIPort(proxyIPv4)

var proxyIPv4, proxyIPv6 = netip.MustParseAddr(ProxyIPv4), netip.MustParseAddr(ProxyIPv6)

// ProxyLogStart is what the simulated proxy writes once, before its first
// burst: the lines a reader learns the proxy's version and peer API port
// from (REFERENCE.md §2).
func ProxyLogStart(now time.Time) string {
	ts := now.Format("2006/01/02 15:04:05")
	// Program starting: logpolicy's first line, with version.Long() and the
	// Go version. peerapi: serving on: ipn/ipnlocal/local.go, once per
	// address of the first netmap; in userspace mode, as operator proxies
	// run, both addresses share the first one's port.
	return fmt.Sprintf(`%[1]s Program starting: v1.98.10-t36550d57f, Go 1.26.5: []string{"/usr/local/bin/tailscaled", "--tun=userspace-networking"}
%[1]s peerapi: serving on http://%[2]s
%[1]s peerapi: serving on http://%[3]s
`, ts, netip.AddrPortFrom(proxyIPv4, ProxyPeerAPIPort), netip.AddrPortFrom(proxyIPv6, ProxyPeerAPIPort))
}

// ProxyLogStartLines is the number of lines of ProxyLogStart.
const ProxyLogStartLines = 3

// ProxyLogBurst is what the simulated proxy appends each time: the
// incident as tailscaled writes it (REFERENCE.md §2, §8 row 2), among
// ordinary chatter. Two Funnel relays, one with a long and one with a
// short tailnet address, each connect to the proxy's peer API port:
// tailscaled logs a Drop for the SYN (80 bytes: an IPv6 header and a TCP
// header with options) and lets it through (net/tstun/wrap.go, peer API
// ACLs are checked at L7), and the TLS
// handshake on that connection then ends in EOF, logged by Go's HTTPS
// server with the same relay address and port (public report
// tailscale/tailscale#18421; open bug #19290). The [RATELIMIT] line is
// tailscaled's logger suppressing lines of the filter's format string
// (logger.RateLimitedFn); the other lines are ordinary chatter of
// magicsock, wgengine and netcheck.
func ProxyLogBurst(now time.Time, n int) string {
	ts := now.Format("2006/01/02 15:04:05")
	self := netip.AddrPortFrom(proxyIPv6, ProxyPeerAPIPort)
	long := fmt.Sprintf("[fd7a:115c:a1e0:ab12:4843:cd96:625a:%x]:%d", n%0xfffe+1, 40000+n%20000)
	short := fmt.Sprintf("[fd7a:115c:a1e0::e1c9:%x]:%d", n%0xfffe+1, 50000+n%10000)
	return fmt.Sprintf(`%[1]s magicsock: derp-1 connected; connGen=1
%[1]s Drop: TCP{%[3]s > %[2]s} 80 no rules matched
%[1]s http: TLS handshake error from %[3]s: EOF
%[1]s wgengine: Reconfig: configuring userspace WireGuard config (with 1/3 peers)
%[1]s Drop: TCP{%[4]s > %[2]s} 80 no rules matched
%[1]s http: TLS handshake error from %[4]s: EOF
%[1]s [RATELIMIT] format("%%s: %%s %%d %%s\n%%s") (3 dropped)
%[1]s netcheck: report: udp=true v6=false mapvarydest=false
`, ts, self, long, short)
}

// ProxyLogBurstLines is the number of lines in one ProxyLogBurst, and
// ProxyLogBurstRelays the number of relay connections (each a Drop line at
// the peer API port and a TLS handshake EOF from the same relay).
const (
	ProxyLogBurstLines  = 8
	ProxyLogBurstRelays = 2
)

func (e *Env) startProxyLog() error {
	e.ProxyLog = filepath.Join(e.Dir, "tailscaled.log")
	f, err := os.OpenFile(e.ProxyLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("simulated proxy log: %w", err)
	}
	if _, err := f.WriteString(ProxyLogStart(time.Now())); err != nil {
		f.Close()
		return fmt.Errorf("simulated proxy log: %w", err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ProxyLogEvery)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case now := <-t.C:
				f.WriteString(ProxyLogBurst(now, n))
			}
		}
	}()
	e.closers = append(e.closers, func() error {
		close(stop)
		<-done
		return f.Close()
	})
	return nil
}
