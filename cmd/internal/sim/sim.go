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
	Dir        string // holds ca.pem and config.yml
	ConfigFile string
	CA         *probertest.CA
	Endpoints  []Endpoint

	closers []func() error
}

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
	whoamiCert, err := e.CA.Leaf(Whoami)
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

	now := time.Now()
	expiredCert, err := e.CA.LeafValid(now.AddDate(0, -3, 0), now.Add(-24*time.Hour), Expired)
	if err != nil {
		return err
	}
	expired, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Cert: expiredCert})
	if err != nil {
		return fmt.Errorf("expired endpoint: %w", err)
	}
	e.closers = append(e.closers, expired.Close)

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
