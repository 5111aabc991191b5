// Package tailnetpolicy checks the tailnet policy against the endpoints
// discovery finds: whether each Funnel endpoint's tags have the funnel
// attribute and whether tailnet clients may reach each served port.
package tailnetpolicy

import (
	"fmt"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

// DefaultTags are the operator's default proxy tags (its Helm value
// proxyConfig.defaultTags) when an Ingress or Service names none.
const DefaultTags = "tag:k8s"

// EndpointOf maps a discovered endpoint onto what the policy checks need.
// defaultTags apply when the object has no tailscale.com/tags annotation.
func EndpointOf(e discovery.Endpoint, defaultTags []string) policy.Endpoint {
	ep := policy.Endpoint{
		Hostname: e.HostnameLabel(),
		// An ignored funnel annotation asks nothing of the policy: the
		// operator never turns Funnel on there (TailscaleTunnelFunnelAnnotationIgnored).
		Funnel: e.Funnel && !e.FunnelIgnored,
		Ports:  e.ServedPorts(),
	}
	if e.Tags != "" {
		ep.Tags = strings.Split(e.Tags, ",")
	} else {
		ep.Tags, ep.DefaultTags = defaultTags, true
	}
	if e.Kind == discovery.KindProxyGroup {
		// The operator names a ProxyGroup Ingress's Tailscale Service after
		// the requested hostname (ingress-for-pg.go).
		ep.Service = "svc:" + e.RequestedHostname
	}
	return ep
}

// ParseTags splits a comma-separated tag list such as the
// --tailnet.default-tags flag, refusing names without the tag: prefix.
func ParseTags(s string) ([]string, error) {
	var tags []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "tag:") || t == "tag:" {
			return nil, fmt.Errorf("tags %q: %q is not a tag (want tag:NAME)", s, t)
		}
		tags = append(tags, t)
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("tags %q: no tag", s)
	}
	return tags, nil
}
