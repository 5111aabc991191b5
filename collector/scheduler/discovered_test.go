package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
)

func TestDiscoveredTargets(t *testing.T) {
	eps := []discovery.Endpoint{
		{Kind: discovery.KindIngress, Namespace: "kube-system", Name: "traefik-ingress", Hostname: "k8s.tn.ts.net", Provisioned: true},
		{Kind: discovery.KindIngress, Namespace: "default", Name: "whoami", Hostname: "whoami.tn.ts.net", Provisioned: true, Funnel: true},
		{Kind: discovery.KindService, Namespace: "default", Name: "pending", RequestedHostname: "default-pending"},
		{Kind: discovery.KindIngress, Namespace: "default", Name: "static", Hostname: "static.tn.ts.net", Provisioned: true, Funnel: true},
	}
	for _, tc := range []struct {
		name    string
		yaml    string
		direct  DirectProbes
		want    []string // hostname/vantage
		resolve map[string]string
	}{
		{"funnel only, no tailnet vantage", "", DirectFunnel, []string{"whoami.tn.ts.net/direct"}, nil},
		{"all direct", "", DirectAll, []string{"k8s.tn.ts.net/direct", "whoami.tn.ts.net/direct"}, nil},
		{"tailnet vantage probes every endpoint", "vantages:\n  tailnet:\n    socks5_address: 127.0.0.1:1055\n", DirectFunnel,
			[]string{"k8s.tn.ts.net/tailnet", "static.tn.ts.net/tailnet", "whoami.tn.ts.net/direct", "whoami.tn.ts.net/tailnet"}, nil},
		{"resolve map applies to discovered names", "resolve:\n  whoami.tn.ts.net: 127.0.0.1:8443\n", DirectFunnel,
			[]string{"whoami.tn.ts.net/direct"}, map[string]string{"whoami.tn.ts.net": "127.0.0.1:8443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml+"targets:\n  - hostname: static.tn.ts.net\n    vantages: [direct]\n"), "", config.Flags{})
			if err != nil {
				t.Fatal(err)
			}
			n := Network{}
			vs, err := n.Vantages(cfg)
			if err != nil {
				t.Fatal(err)
			}
			static := n.StaticTargets(cfg, vs)
			got := n.DiscoveredTargets(eps, cfg, vs, tc.direct, static)
			var keys []string
			for _, tg := range got {
				keys = append(keys, tg.Hostname+"/"+tg.Vantage)
				if tg.Source != SourceDiscovered || tg.Labels["namespace"] == "" || tg.Labels["kind"] == "" {
					t.Errorf("target %v lacks its source or labels: %+v", tg.Key, tg)
				}
				if want := tc.resolve[tg.Hostname]; tg.Request.Override != want {
					t.Errorf("override of %s = %q, want %q", tg.Hostname, tg.Request.Override, want)
				}
				if tg.Vantage == config.VantageTailnet && !tg.Request.ResolveRemotely {
					t.Errorf("%v: tailnet probe resolves locally", tg.Key)
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(tc.want) {
				t.Errorf("targets = %v, want %v", keys, tc.want)
			}
			if strings.Contains(fmt.Sprint(keys), "static.tn.ts.net/direct") {
				t.Errorf("a static target was duplicated as discovered")
			}
		})
	}
}

func TestSDGroups(t *testing.T) {
	gs := SDGroups([]Status{
		{Target: Target{Key: Key{Hostname: "whoami.tn.ts.net", Vantage: "tailnet"}, Module: "https", Source: SourceDiscovered, Labels: map[string]string{"namespace": "default"}}},
		{Target: Target{Key: Key{Hostname: "k8s.tn.ts.net", Vantage: "direct"}, Module: "tls", Source: SourceStatic}},
	})
	if len(gs) != 2 || gs[0].Targets[0] != "k8s.tn.ts.net" {
		t.Fatalf("groups = %+v", gs)
	}
	want := map[string]string{"hostname": "whoami.tn.ts.net", "vantage": "tailnet", "source": "discovered", "__param_vantage": "tailnet", "__param_module": "https", "namespace": "default"}
	if fmt.Sprint(gs[1].Labels) != fmt.Sprint(want) {
		t.Errorf("labels = %v, want %v", gs[1].Labels, want)
	}
}
