// Package probes runs the prober on a schedule and on demand: the scheduler
// keeps the last result of every (hostname, vantage) and serves it as
// metrics, and the /probe handler runs one probe into a fresh registry (the
// blackbox_exporter multi-target pattern), refusing targets that are neither
// known nor allowed so that it is not an open proxy.
package scheduler

import (
	"fmt"
	"sort"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// Where a target came from; a label value of tailscale_tunnel_probe_target_info.
const (
	SourceStatic     = "static"
	SourceDiscovered = "discovered"
)

// Key identifies one scheduled probe. A hostname probed from two vantages is
// two keys, and two series.
type Key struct {
	Hostname string
	Vantage  string
}

// Target is one scheduled probe: the request to send and what to call it.
type Target struct {
	Key
	Module  string
	Source  string
	Request prober.Request
	// Labels describe where a discovered target comes from (namespace,
	// name, kind, funnel); /sd hands them to Prometheus.
	Labels map[string]string
}

// Vantage is a place probes are sent from.
type Vantage struct {
	Name   string
	Dialer prober.Dialer // nil: the prober's default dialer
	// ResolveRemotely leaves name resolution to the proxy (tailscaled
	// resolves MagicDNS names the local resolver does not know).
	ResolveRemotely bool
}

// Network is how probes reach the world: the dialer of the direct vantage and
// the resolver. Tests hand in loopback-only ones.
type Network struct {
	Dialer   prober.Dialer   // nil: net.Dialer
	Resolver prober.Resolver // nil: net.DefaultResolver
}

// Vantages builds the configured vantages. The tailnet vantage dials its
// SOCKS5 proxy through the direct dialer.
func (n Network) Vantages(cfg *config.Config) (map[string]Vantage, error) {
	vs := map[string]Vantage{config.VantageDirect: {Name: config.VantageDirect, Dialer: n.Dialer}}
	if t := cfg.Vantages.Tailnet; t != nil {
		d, err := prober.SOCKS5Dialer(t.SOCKS5Address, n.Dialer)
		if err != nil {
			return nil, fmt.Errorf("vantage %s via SOCKS5 %s: %w", config.VantageTailnet, t.SOCKS5Address, err)
		}
		vs[config.VantageTailnet] = Vantage{Name: config.VantageTailnet, Dialer: d, ResolveRemotely: true}
	}
	return vs, nil
}

// Request builds the prober request for a hostname with a module, from a
// vantage. override is a resolve override ("" for none).
func (n Network) Request(hostname, override string, m config.Module, v Vantage) prober.Request {
	return prober.Request{
		Hostname:           hostname,
		Port:               m.Port,
		Override:           override,
		ResolveRemotely:    v.ResolveRemotely && override == "",
		IPProtocol:         m.IPProtocol,
		IPProtocolFallback: m.IPProtocolFallback == nil || *m.IPProtocolFallback,
		Timeout:            m.Timeout,
		ServerName:         m.TLS.ServerName,
		InsecureSkipVerify: m.TLS.InsecureSkipVerify,
		RootCAs:            m.TLS.RootCAs,
		HTTP:               m.Prober == config.ProberHTTPS,
		Method:             m.HTTP.Method,
		Path:               m.HTTP.Path,
		ValidStatusCodes:   m.HTTP.ValidStatusCodes,
		Dialer:             v.Dialer,
		Resolver:           n.Resolver,
	}
}

// StaticTargets turns the configured targets into scheduled probes, one per
// target and vantage, sorted by key.
func (n Network) StaticTargets(cfg *config.Config, vantages map[string]Vantage) []Target {
	var out []Target
	for _, t := range cfg.Targets {
		m, _ := cfg.Module(t.Module) // validated at load
		for _, vname := range cfg.TargetVantages(t) {
			out = append(out, Target{
				Key:     Key{Hostname: t.Hostname, Vantage: vname},
				Module:  moduleName(t.Module),
				Source:  SourceStatic,
				Request: n.Request(t.Hostname, t.Resolve, m, vantages[vname]),
			})
		}
	}
	SortTargets(out)
	return out
}

// SortTargets orders targets by hostname, then vantage.
func SortTargets(ts []Target) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Key.less(ts[j].Key) })
}

func (k Key) less(o Key) bool {
	if k.Hostname != o.Hostname {
		return k.Hostname < o.Hostname
	}
	return k.Vantage < o.Vantage
}

func moduleName(m string) string {
	if m == "" {
		return config.DefaultModule
	}
	return m
}
