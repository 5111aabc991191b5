package tailnetpolicy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
)

// benchEndpoints are n discovered endpoints as a large cluster has them:
// a third Funnel Ingresses, a third tailnet-only Ingresses with their own
// tags and http-redirect, a third Services.
func benchEndpoints(n int) []discovery.Endpoint {
	eps := make([]discovery.Endpoint, n)
	for i := range eps {
		e := discovery.Endpoint{Kind: discovery.KindIngress, Namespace: "ns", Name: fmt.Sprintf("app%d", i),
			Hostname: fmt.Sprintf("app%d.tailnet.ts.net", i), RequestedHostname: fmt.Sprintf("app%d", i), Provisioned: true}
		switch i % 3 {
		case 0:
			e.Funnel = true
		case 1:
			e.Tags, e.HTTPRedirect = fmt.Sprintf("tag:k8s,tag:team%d", i%20), true
		case 2:
			e.Kind, e.ServicePorts = discovery.KindService, []int{5432, 8080}
		}
		eps[i] = e
	}
	return eps
}

// benchPolicy is the operator's documented policy plus 20 teams' groups,
// tags, grants and 40 acls: the size of a policy a platform team keeps in
// git.
func benchPolicy(b *testing.B) []byte {
	var p strings.Builder
	p.WriteString(`{"groups": {`)
	for t := range 20 {
		fmt.Fprintf(&p, `"group:team%d": ["u%d@example.com", "v%d@example.com"],`, t, t, t)
	}
	p.WriteString(`}, "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"],`)
	for t := range 20 {
		fmt.Fprintf(&p, `"tag:team%d": ["tag:k8s-operator"],`, t)
	}
	p.WriteString(`}, "nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}],`)
	p.WriteString(`"autoApprovers": {"services": {"tag:k8s": ["tag:k8s"]}},`)
	p.WriteString(`"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443", "tcp:80"]},`)
	for t := range 20 {
		fmt.Fprintf(&p, `{"src": ["group:team%d"], "dst": ["tag:team%d"], "ip": ["tcp:443", "tcp:80", "tcp:5432"]},`, t, t)
	}
	p.WriteString(`], "acls": [`)
	for t := range 40 {
		fmt.Fprintf(&p, `{"action": "accept", "src": ["group:team%d"], "dst": ["tag:team%d:22,8000-8999"]},`, t%20, (t+1)%20)
	}
	p.WriteString(`]}`)
	return []byte(p.String())
}

// BenchmarkScrape measures what the policy checks add to a scrape of 1000
// endpoints: Update's checks against the cost of the endpoint_info
// metrics of the same endpoints (the baseline), in the same run.
func BenchmarkScrape(b *testing.B) {
	const n = 1000
	eps := benchEndpoints(n)
	sink := make(chan prometheus.Metric, 1<<16)
	drain := func() {
		for len(sink) > 0 {
			<-sink
		}
	}
	b.Run("baseline=endpoint_info", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, e := range eps {
				for _, m := range discovery.EndpointMetrics(e) {
					sink <- m
				}
			}
			drain()
		}
	})
	b.Run("policy_check", func(b *testing.B) {
		data := benchPolicy(b)
		r := New(Options{
			Source:    sourceFunc(func(context.Context) ([]byte, error) { return data, nil }),
			Endpoints: func() []discovery.Endpoint { return eps },
		})
		r.read(context.Background())
		if !r.Status().Success {
			b.Fatalf("the benchmark's policy does not parse: %+v", r.Status())
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Update(sink); err != nil {
				b.Fatal(err)
			}
			drain()
		}
	})
}
