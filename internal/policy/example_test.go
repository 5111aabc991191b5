package policy_test

import (
	"fmt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

func Example() {
	p, err := policy.Parse("policy.hujson", []byte(`{
	"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]},
	"nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}],
	"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}],
}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ep := policy.Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, DefaultTags: true, Funnel: true, Ports: []int{443}}
	for _, r := range p.Check(ep, policy.Selector{}) {
		fmt.Printf("%s %d: %s\n", r.Check, r.Port, r.Verdict)
		fmt.Println(" ", r.Reason)
		for _, l := range r.Evidence {
			fmt.Printf("  line %d: %s\n", l.N, l.Text)
		}
		if r.Fix != "" {
			fmt.Println("  fix:", r.Fix)
		}
	}
	// Output:
	// funnel_attribute 0: no
	//   No nodeAttrs entry gives tag:k8s (the operator's default tags) the funnel attribute (autogroup:member does not cover tagged devices), so no Funnel traffic reaches the proxy.
	//   line 3: "nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}],
	//   fix: "nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}]
	// tag_owners 0: yes
	//   tagOwners lists tag:k8s (the operator's default tags).
	//   line 2: "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]},
	// tailnet_access 443: yes
	//   The grants entry at line 4 lets autogroup:member reach tag:k8s (the operator's default tags) on TCP port 443.
	//   line 4: "grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}],
}

func ExampleParse_syntaxError() {
	_, err := policy.Parse("policy.hujson", []byte("{\n  \"acls\": [\n    {\"src\": [\"*\"] \"dst\": []},\n  ],\n}"))
	fmt.Println(err)
	// Output:
	// policy policy.hujson:3:19: invalid character '"' after object value (expecting ',' or '}')
}
