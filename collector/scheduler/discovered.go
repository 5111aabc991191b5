package scheduler

import (
	"strconv"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
)

// DirectProbes says which discovered endpoints are probed from the direct
// vantage.
type DirectProbes string

const (
	// DirectFunnel probes only Funnel endpoints directly: the others are
	// reachable only inside the tailnet, which the tailnet vantage covers.
	DirectFunnel DirectProbes = "funnel"
	// DirectAll probes every endpoint directly, for an exporter that runs
	// on a tailnet node itself.
	DirectAll DirectProbes = "all"
)

// DiscoveredTargets turns discovered endpoints into scheduled probes with
// the default module. Funnel endpoints (or all, with DirectAll) are probed
// from the direct vantage; with a tailnet vantage configured, every endpoint
// is probed through it too. Endpoints without a hostname yet are skipped
// (discovery reports them as not provisioned), and so are keys a static
// target already has: the configured one wins.
func (n Network) DiscoveredTargets(eps []discovery.Endpoint, cfg *config.Config, vantages map[string]Vantage, direct DirectProbes, static []Target) []Target {
	taken := make(map[Key]bool, len(static))
	for _, t := range static {
		taken[t.Key] = true
	}
	var out []Target
	for _, ep := range eps {
		host, ok := ep.Target()
		if !ok {
			continue
		}
		var vs []string
		if ep.Funnel || direct == DirectAll {
			vs = append(vs, config.VantageDirect)
		}
		if _, ok := vantages[config.VantageTailnet]; ok {
			vs = append(vs, config.VantageTailnet)
		}
		for _, v := range vs {
			k := Key{Hostname: host, Vantage: v}
			if taken[k] {
				continue
			}
			taken[k] = true
			req, _ := n.Request(cfg, host, config.DefaultModule, vantages[v]) // the default module always exists
			out = append(out, Target{
				Key:     k,
				Module:  config.DefaultModule,
				Source:  SourceDiscovered,
				Request: req,
				Labels: map[string]string{
					"namespace": ep.Namespace,
					"name":      ep.Name,
					"kind":      string(ep.Kind),
					"funnel":    strconv.FormatBool(ep.Funnel),
				},
			})
		}
	}
	SortTargets(out)
	return out
}
