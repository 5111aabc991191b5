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
	"os"
	"path/filepath"
	"strings"
	"time"

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
	// writes it: ordinary chatter and, as in the incident, packet-filter
	// drops of Funnel relays' IPv6 connections to port 443. Lines are
	// appended every ProxyLogEvery while the simulation runs.
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

// ProxyLogBurst is what the simulated proxy appends each time: the drop
// lines of the incident among ordinary chatter, plus the other failure
// signatures of REFERENCE.md §2 (a TLS handshake error, a Funnel ingress
// denial, a rate-limiter notice for the filter's format).
func ProxyLogBurst(now time.Time, n int) string {
	ts := now.Format("2006/01/02 15:04:05")
	return fmt.Sprintf(`%[1]s magicsock: derp-1 connected; connGen=1
%[1]s Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:%04[2]x]:46650 > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched
%[1]s wgengine: Reconfig: configuring userspace WireGuard config (with 1/3 peers)
%[1]s http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF
%[1]s peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::9]:36338
%[1]s [RATELIMIT] format("%%s: %%s %%d %%s\n%%s") (3 dropped)
%[1]s netcheck: report: udp=true v6=false mapvarydest=false
`, ts, n%0xffff)
}

// ProxyLogBurstLines is the number of lines in one ProxyLogBurst.
const ProxyLogBurstLines = 7

func (e *Env) startProxyLog() error {
	e.ProxyLog = filepath.Join(e.Dir, "tailscaled.log")
	f, err := os.OpenFile(e.ProxyLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
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
