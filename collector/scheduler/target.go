// Package probes runs the prober on a schedule and on demand: the scheduler
// keeps the last result of every (hostname, vantage) and serves it as
// metrics, and the /probe handler runs one probe into a fresh registry (the
// blackbox_exporter multi-target pattern), refusing targets that are neither
// known nor allowed so that it is not an open proxy.
package scheduler

import (
	"fmt"
	"sort"
	"strings"

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

// Request is the one way the configuration turns into a probe request: the
// scheduler, /probe and diagnose all build theirs here. hostname is probed
// from vantage v with module (when "", the module of hostname's configured
// target, else the default) and with the resolve override of its configured
// target, else of the config's resolve map (a target's own override already
// falls back to that map at load). The error names an unknown module.
func (n Network) Request(cfg *config.Config, hostname, module string, v Vantage) (prober.Request, error) {
	t, ok := configuredTarget(cfg, hostname)
	if !ok {
		t = config.Target{Hostname: hostname, Resolve: cfg.Override(normalHostname(hostname))}
	}
	t.Hostname = hostname
	if module != "" {
		t.Module = module
	}
	return n.request(cfg, t, v)
}

// request builds the request of one target (its module and override as
// given) from a vantage.
func (n Network) request(cfg *config.Config, t config.Target, v Vantage) (prober.Request, error) {
	m, ok := cfg.Module(t.Module)
	if !ok {
		return prober.Request{}, fmt.Errorf("unknown module %q", t.Module)
	}
	return prober.Request{
		Hostname:           t.Hostname,
		Port:               m.Port,
		Override:           t.Resolve,
		ResolveRemotely:    v.ResolveRemotely && t.Resolve == "",
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
	}, nil
}

// configuredTarget finds hostname among the configured targets, whose
// names are lower-case without a trailing dot.
func configuredTarget(cfg *config.Config, hostname string) (config.Target, bool) {
	h := normalHostname(hostname)
	for _, t := range cfg.Targets {
		if t.Hostname == h {
			return t, true
		}
	}
	return config.Target{}, false
}

func normalHostname(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// StaticTargets turns the configured targets into scheduled probes, one per
// target and vantage, sorted by key.
func (n Network) StaticTargets(cfg *config.Config, vantages map[string]Vantage) []Target {
	var out []Target
	for _, t := range cfg.Targets {
		for _, vname := range cfg.TargetVantages(t) {
			req, _ := n.request(cfg, t, vantages[vname]) // modules validated at load
			out = append(out, Target{
				Key:     Key{Hostname: t.Hostname, Vantage: vname},
				Module:  moduleName(t.Module),
				Source:  SourceStatic,
				Request: req,
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
