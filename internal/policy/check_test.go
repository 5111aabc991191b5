package policy

import (
	"slices"
	"strings"
	"testing"
)

// proxy is the operator's default Ingress proxy: tag:k8s, Funnel on, 443.
var proxy = Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, DefaultTags: true, Funnel: true, Ports: []int{443}}

// service is a ProxyGroup Ingress: a Tailscale Service tagged tag:k8s.
var service = Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, Ports: []int{443}, Service: "svc:web"}

type checkCase struct {
	name     string
	policy   string
	ep       Endpoint // proxy when zero
	clients  string   // autogroup:member when ""
	check    Check
	port     int // TailnetAccess; 443 when 0
	want     Verdict
	evidence []int  // line numbers
	reason   string // a part of Reason
	noFix    bool   // no policy change can turn it into yes (say why)
}

func runChecks(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := tc.ep
			if ep.Hostname == "" {
				ep = proxy
			}
			port := tc.port
			if port == 0 {
				port = 443
			}
			clients := Selector{}
			if tc.clients != "" {
				var err error
				if clients, err = ParseSelector(tc.clients); err != nil {
					t.Fatal(err)
				}
			}
			text := dedent(tc.policy)
			p, err := Parse("policy.hujson", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			got := find(t, p.Check(ep, clients), tc.check, port)
			if got.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%s)", got.Verdict, tc.want, got.Reason)
			}
			if n := lineNumbers(got.Evidence); !slices.Equal(n, tc.evidence) {
				t.Errorf("evidence lines %v, want %v: %+v", n, tc.evidence, got.Evidence)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", got.Reason, tc.reason)
			}
			if strings.Count(got.Reason, ".") < 1 || !strings.HasSuffix(got.Reason, ".") {
				t.Errorf("reason %q is not a sentence", got.Reason)
			}
			switch {
			case got.Verdict == Yes && got.Fix != "":
				t.Errorf("a yes has a fix: %s", got.Fix)
			case got.Verdict == Yes, tc.noFix:
			case got.Fix == "":
				t.Errorf("a %s has no fix", got.Verdict)
			default:
				fixed := applyFix(t, text, got.Fix)
				p2, err := Parse("fixed.hujson", []byte(fixed))
				if err != nil {
					t.Fatalf("fixed policy does not parse: %v\n%s", err, fixed)
				}
				if after := find(t, p2.Check(ep, clients), tc.check, port); after.Verdict != Yes {
					t.Errorf("after the fix %s the verdict is %s (%s)\n%s", got.Fix, after.Verdict, after.Reason, fixed)
				}
			}
		})
	}
}

func TestFunnelAttribute(t *testing.T) {
	runChecks(t, []checkCase{{
		name: "tag target",
		policy: `
			{
				"tagOwners": {"tag:k8s": ["tag:k8s-operator"], "tag:k8s-operator": []},
				"nodeAttrs": [
					{"target": ["tag:k8s"], "attr": ["funnel"]},
				],
			}`,
		check: FunnelAttribute, want: Yes, evidence: []int{4},
		reason: "gives tag:k8s (the operator's default tags) the funnel attribute",
	}, {
		name: "entry over several lines, with comments",
		policy: `
			{
				"nodeAttrs": [
					{
						// Funnel for the cluster's proxies
						"target": ["tag:k8s", "tag:other"],
						"attr": [
							"funnel",
						],
					},
				],
			}`,
		check: FunnelAttribute, want: Yes, evidence: []int{5, 7},
	}, {
		name: "autogroup:member does not cover tagged devices",
		policy: `
			{
				"nodeAttrs": [
					{"target": ["autogroup:member"], "attr": ["funnel"]},
				],
			}`,
		check: FunnelAttribute, want: No, evidence: []int{2},
		reason: "autogroup:member does not cover tagged devices",
	}, {
		name:   "star",
		policy: `{"nodeAttrs": [{"target": ["*"], "attr": ["funnel"]}]}`,
		check:  FunnelAttribute, want: Yes, evidence: []int{1},
	}, {
		name:   "autogroup:tagged",
		policy: `{"nodeAttrs": [{"target": ["autogroup:tagged"], "attr": ["funnel"]}]}`,
		check:  FunnelAttribute, want: Yes, evidence: []int{1},
	}, {
		name: "another tag, and a group of users",
		policy: `
			{
				"groups": {"group:eng": ["alice@example.com"]},
				"nodeAttrs": [
					{"target": ["tag:other", "group:eng", "alice@example.com"], "attr": ["funnel"]},
				],
			}`,
		check: FunnelAttribute, want: No, evidence: []int{3},
	}, {
		name: "a group listing the tag",
		policy: `
			{
				"groups": {
					"group:proxies": ["tag:k8s"],
				},
				"nodeAttrs": [{"target": ["group:proxies"], "attr": ["funnel"]}],
			}`,
		check: FunnelAttribute, want: Yes, evidence: []int{3, 5},
	}, {
		name:   "an address range: the proxy's address is not in the file",
		policy: `{"nodeAttrs": [{"target": ["100.64.0.0/10"], "attr": ["funnel"]}]}`,
		check:  FunnelAttribute, want: Unknown, evidence: []int{1},
		reason: "the proxy's tailnet address is not in the policy",
	}, {
		name:   "another attribute",
		policy: `{"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel-ports", "mullvad"]}]}`,
		check:  FunnelAttribute, want: No, evidence: []int{1},
	}, {
		name:   "no nodeAttrs at all",
		policy: `{"acls": []}`,
		check:  FunnelAttribute, want: No, evidence: []int{},
		reason: "no Funnel traffic reaches the proxy",
	}, {
		name:   "tags from the annotation",
		policy: `{"nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}]}`,
		ep:     Endpoint{Hostname: "web", Tags: []string{"tag:web"}, Funnel: true},
		check:  FunnelAttribute, want: Yes, evidence: []int{1},
		reason: "gives tag:web the funnel attribute",
	}})
}

func TestTagOwners(t *testing.T) {
	runChecks(t, []checkCase{{
		name: "owned",
		policy: `
			{
				"tagOwners": {
					"tag:k8s-operator": [],
					"tag:k8s": ["tag:k8s-operator"],
				},
			}`,
		check: TagOwners, want: Yes, evidence: []int{4},
	}, {
		name: "missing",
		policy: `
			{
				"tagOwners": {
					"tag:k8s-operator": [],
				},
			}`,
		check: TagOwners, want: No, evidence: []int{2},
		reason: "tagOwners does not list tag:k8s",
	}, {
		name:   "one of two missing, and no operator tag either",
		policy: `{"tagOwners": {"tag:a": ["alice@example.com"]}}`,
		ep:     Endpoint{Hostname: "web", Tags: []string{"tag:a", "tag:b"}},
		check:  TagOwners, want: No, evidence: []int{1},
		reason: "does not list tag:b,",
	}, {
		name:   "no tagOwners section",
		policy: `{}`,
		check:  TagOwners, want: No, evidence: []int{},
	}, {
		name:   "no tags known",
		policy: `{"tagOwners": {"tag:k8s": []}}`,
		ep:     Endpoint{Hostname: "web"},
		check:  TagOwners, want: Unknown, evidence: []int{}, noFix: true, // nothing to own
	}})
}

func TestTailnetAccessACLs(t *testing.T) {
	acl := func(rule string) string {
		return "{\n\t\"acls\": [\n\t\t" + rule + ",\n\t],\n}"
	}
	runChecks(t, []checkCase{
		{name: "tag and port", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}, reason: "The acls entry at line 3 lets autogroup:member reach tag:k8s (the operator's default tags) on TCP port 443."},
		{name: "any port", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:*"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "port list, 80", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:80,443"]}`),
			ep: Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, Ports: []int{443, 80}}, port: 80,
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "range holding the port", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:400-500"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "range without the port", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:8000-9000"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}, reason: "No acls or grants entry lets autogroup:member reach"},
		{name: "proto tcp", policy: acl(`{"action": "accept", "proto": "tcp", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "proto by number", policy: acl(`{"action": "accept", "proto": "6", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "proto udp", policy: acl(`{"action": "accept", "proto": "udp", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "not accept", policy: acl(`{"action": "drop", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "star destination", policy: acl(`{"action": "accept", "src": ["*"], "dst": ["*:*"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "autogroup:member destination is not a tagged proxy", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:member:*", "autogroup:self:*"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "autogroup:tagged destination", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:tagged:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "CIDR destination", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["100.64.0.0/10:443"]}`),
			check: TailnetAccess, want: Unknown, evidence: []int{3}, reason: "the proxy's tailnet address is not in the policy"},
		{name: "IPv6 destination", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["[fd7a:115c:a1e0::1]:443"]}`),
			check: TailnetAccess, want: Unknown, evidence: []int{3}},
		{name: "port that cannot be read", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:https"]}`),
			check: TailnetAccess, want: Unknown, evidence: []int{3}, reason: `the ports "https" cannot be read`},
		{name: "legacy users and ports", policy: acl(`{"action": "accept", "users": ["autogroup:member"], "ports": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "srcPosture", policy: acl(`{"action": "accept", "src": ["autogroup:member"], "srcPosture": ["posture:ok"], "dst": ["tag:k8s:443"]}`),
			check: TailnetAccess, want: Unknown, evidence: []int{3}, reason: "srcPosture"},
		{name: "empty acls deny everything", policy: `{"acls": []}`,
			check: TailnetAccess, want: No, evidence: []int{1}},
		{name: "neither acls nor grants allow everything", policy: `{"tagOwners": {}}`,
			check: TailnetAccess, want: Yes, evidence: []int{}, reason: "lets every connection through"},
	})
}

func TestTailnetAccessGrants(t *testing.T) {
	grant := func(rule string) string {
		return "{\n\t\"grants\": [\n\t\t" + rule + ",\n\t],\n}"
	}
	runChecks(t, []checkCase{
		{name: "tcp port", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}, reason: "The grants entry at line 3 lets"},
		{name: "port without protocol", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "everything", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["*"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "range", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:80-443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "protocol number", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["6:443"]}`),
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "udp only", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["udp:443"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "another port", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:80"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "app capability only", policy: grant(`{"src": ["autogroup:member"], "dst": ["tag:k8s"], "app": {"example.com/cap/x": [{}]}}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "users' devices are not the proxy", policy: grant(`{"src": ["autogroup:member"], "dst": ["autogroup:member", "alice@example.com"], "ip": ["*"]}`),
			check: TailnetAccess, want: No, evidence: []int{2}},
		{name: "host alias destination", policy: `
			{
				"hosts": {"web": "100.100.1.2"},
				"grants": [{"src": ["autogroup:member"], "dst": ["web"], "ip": ["*"]}],
			}`,
			check: TailnetAccess, want: Unknown, evidence: []int{3}},
		{name: "entry over several lines", policy: `
			{
				"grants": [
					{
						"src": ["autogroup:member"],
						// the cluster's proxies
						"dst": ["tag:k8s"],
						"ip":  ["tcp:443", "tcp:80"],
					},
				],
			}`,
			check: TailnetAccess, want: Yes, evidence: []int{4, 6, 7}, reason: "The grants entry at line 3"},
		{name: "acls miss, grants match", policy: `
			{
				"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:db:*"]}],
				"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["443"]}],
			}`,
			check: TailnetAccess, want: Yes, evidence: []int{3}},
		{name: "no match in either", policy: `
			{
				"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:db:*"]}],
				"grants": [{"src": ["autogroup:member"], "dst": ["tag:db"], "ip": ["443"]}],
			}`,
			check: TailnetAccess, want: No, evidence: []int{2, 3}},
		{name: "a Service by name", policy: grant(`{"src": ["autogroup:member"], "dst": ["svc:web"], "ip": ["tcp:443"]}`),
			ep: service, check: TailnetAccess, want: Yes, evidence: []int{3}, reason: "reach svc:web on TCP port 443"},
		{name: "a Service and a star", policy: grant(`{"src": ["autogroup:member"], "dst": ["*"], "ip": ["*"]}`),
			ep: service, check: TailnetAccess, want: Unknown, evidence: []int{3}, reason: "is not documented"},
		{name: "another Service", policy: grant(`{"src": ["autogroup:member"], "dst": ["svc:db"], "ip": ["*"]}`),
			ep: service, check: TailnetAccess, want: No, evidence: []int{2}},
	})
}

func TestTailnetAccessSources(t *testing.T) {
	const groups = `
		{
			"groups": {
				"group:eng": ["alice@example.com", "bob@example.com"],
				"group:ops": ["alice@example.com"],
			},
			"hosts": {
				"laptop": "100.101.1.2",
			},
			"grants": [
				{"src": [%s], "dst": ["tag:k8s"], "ip": ["tcp:443"]},
			],
		}`
	with := func(src string) string { return strings.Replace(groups, "%s", src, 1) }
	runChecks(t, []checkCase{
		{name: "member from a group", policy: with(`"group:eng"`),
			check: TailnetAccess, want: Unknown, evidence: []int{3, 10}, reason: "only if that user is the tailnet's only member"},
		{name: "a user in the group", policy: with(`"group:eng"`), clients: "alice@example.com",
			check: TailnetAccess, want: Yes, evidence: []int{3, 10}},
		{name: "a user not in the group", policy: with(`"group:ops"`), clients: "bob@example.com",
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "a user, case aside", policy: with(`"Alice@Example.com"`), clients: "alice@example.com",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "headscale user", policy: with(`"alice@"`), clients: "alice@",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "a user is a member", policy: with(`"autogroup:member"`), clients: "alice@example.com",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "a group of clients, rule for the group", policy: with(`"group:eng"`), clients: "group:eng",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "a group of clients, rule for each member", policy: with(`"alice@example.com", "bob@example.com"`), clients: "group:eng",
			check: TailnetAccess, want: Yes, evidence: []int{3, 10}},
		{name: "a group of clients, rule for some", policy: with(`"group:ops"`), clients: "group:eng",
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "a group of members", policy: with(`"autogroup:member"`), clients: "group:eng",
			check: TailnetAccess, want: Yes, evidence: []int{3, 10}},
		{name: "an undefined group of clients", policy: with(`"autogroup:member"`), clients: "group:nobody",
			check: TailnetAccess, want: Unknown, evidence: []int{}, reason: "group:nobody is not defined", noFix: true},
		{name: "a tag", policy: with(`"tag:ci"`), clients: "tag:ci",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "tagged devices are not members", policy: with(`"tag:ci", "autogroup:tagged"`),
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "a tag is tagged", policy: with(`"autogroup:tagged"`), clients: "tag:ci",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "members are not a tag", policy: with(`"autogroup:member"`), clients: "tag:ci",
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "some tagged devices", policy: with(`"tag:ci"`), clients: "autogroup:tagged",
			check: TailnetAccess, want: Unknown, evidence: []int{10}},
		{name: "an admin role", policy: with(`"autogroup:admin"`),
			check: TailnetAccess, want: Unknown, evidence: []int{10}, reason: "roles the policy does not list"},
		{name: "a CIDR holding the client", policy: with(`"100.64.0.0/10"`), clients: "100.101.1.2",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "a CIDR holding part of the clients", policy: with(`"100.101.1.0/24"`), clients: "100.101.0.0/16",
			check: TailnetAccess, want: Unknown, evidence: []int{10}},
		{name: "a CIDR not holding the client", policy: with(`"10.0.0.0/8"`), clients: "100.101.1.2",
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "a user's address is not in the file", policy: with(`"alice@example.com"`), clients: "100.101.1.2",
			check: TailnetAccess, want: Unknown, evidence: []int{10}},
		{name: "a hosts alias as client", policy: with(`"100.64.0.0/10"`), clients: "laptop",
			check: TailnetAccess, want: Yes, evidence: []int{7, 10}},
		{name: "a hosts alias in the rule", policy: with(`"laptop"`), clients: "100.101.1.2",
			check: TailnetAccess, want: Yes, evidence: []int{7, 10}},
		{name: "an address for members", policy: with(`"100.64.0.0/10"`),
			check: TailnetAccess, want: Unknown, evidence: []int{10}},
		{name: "everyone", policy: with(`"*"`), clients: "*",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
		{name: "members are not everyone", policy: with(`"autogroup:member"`), clients: "*",
			check: TailnetAccess, want: No, evidence: []int{9}},
		{name: "the tailnet's range for everyone", policy: with(`"100.64.0.0/10"`), clients: "*",
			check: TailnetAccess, want: Unknown, evidence: []int{10}},
		{name: "danger-all", policy: with(`"autogroup:danger-all"`), clients: "*",
			check: TailnetAccess, want: Yes, evidence: []int{10}},
	})
}

func TestNestedGroups(t *testing.T) {
	const nested = `
		{
			"groups": {
				"group:eng": ["alice@example.com"],
				"group:all": ["group:eng", "bob@example.com"],
			},
			"grants": [{"src": ["group:all"], "dst": ["tag:k8s"], "ip": ["*"]}],
		}`
	runChecks(t, []checkCase{
		{name: "a rule's group inside a group", policy: nested, clients: "alice@example.com",
			check: TailnetAccess, want: Unknown, evidence: []int{4, 6}, reason: "groups inside groups are not allowed"},
		{name: "a rule's group, a plain member", policy: nested, clients: "bob@example.com",
			check: TailnetAccess, want: Yes, evidence: []int{4, 6}},
		{name: "a client group inside a group", policy: nested, clients: "group:all",
			check: TailnetAccess, want: Yes, evidence: []int{6}},
		{name: "a client group, expanded", policy: strings.Replace(nested, `["group:all"]`, `["autogroup:member"]`, 1), clients: "group:all",
			check: TailnetAccess, want: Unknown, evidence: []int{4}, reason: "group:all lists the group group:eng"},
	})
}

func TestServiceApproval(t *testing.T) {
	pg := service
	pg.HostTags = []string{"tag:pg"}
	runChecks(t, []checkCase{{
		name: "by name",
		policy: `
			{
				"autoApprovers": {
					"services": {"svc:web": ["tag:k8s"]},
				},
			}`,
		ep: service, check: ServiceApproval, want: Yes, evidence: []int{3},
		reason: "assuming the ProxyGroup's devices carry the Service's tags",
	}, {
		name:   "by the Service's tag",
		policy: `{"autoApprovers": {"services": {"tag:k8s": ["tag:k8s"]}}}`,
		ep:     service, check: ServiceApproval, want: Yes, evidence: []int{1},
	}, {
		name:   "no entry",
		policy: `{"autoApprovers": {"routes": {"10.0.0.0/8": ["tag:k8s"]}}}`,
		ep:     service, check: ServiceApproval, want: Unknown, evidence: []int{1},
		reason: "an admin's approval in the admin console is not in the policy",
	}, {
		name:   "an entry naming users",
		policy: `{"autoApprovers": {"services": {"svc:web": ["alice@example.com", "autogroup:member"]}}}`,
		ep:     service, check: ServiceApproval, want: Unknown, evidence: []int{1},
		reason: "entries for svc:web do not name tag:k8s",
	}, {
		name:   "the ProxyGroup's own tags",
		policy: `{"autoApprovers": {"services": {"svc:web": ["tag:k8s"]}}}`,
		ep:     pg, check: ServiceApproval, want: Unknown, evidence: []int{1},
	}, {
		name:   "the ProxyGroup's own tags approved",
		policy: `{"autoApprovers": {"services": {"tag:k8s": ["tag:pg"]}}}`,
		ep:     pg, check: ServiceApproval, want: Yes, evidence: []int{1},
	}})
}

func TestCheckOrder(t *testing.T) {
	p, err := Parse("empty", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	ep := Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, Funnel: true, Ports: []int{443, 80, 443}, Service: "svc:web"}
	var got []string
	for _, r := range p.Check(ep, Selector{}) {
		got = append(got, string(r.Check)+"/"+string(rune('0'+r.Port/100)))
	}
	want := []string{"funnel_attribute/0", "tag_owners/0", "tailnet_access/0", "tailnet_access/4", "service_approval/0"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if rs := p.Check(Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}}, Selector{}); len(rs) != 2 || rs[1].Port != 443 {
		t.Errorf("no ports should check 443 only: %+v", rs)
	}
}

func TestFixesAreStable(t *testing.T) {
	p, err := Parse("empty", []byte(`{"acls": []}`))
	if err != nil {
		t.Fatal(err)
	}
	rs := p.Check(Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, Funnel: true, Service: "svc:web"}, Selector{})
	want := map[Check]string{
		FunnelAttribute: `"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}]`,
		TagOwners:       `"tagOwners": {"tag:k8s": ["tag:k8s-operator"], "tag:k8s-operator": []}`,
		TailnetAccess:   `"grants": [{"src": ["autogroup:member"], "dst": ["svc:web"], "ip": ["tcp:443"]}]`,
		ServiceApproval: `"autoApprovers": {"services": {"svc:web": ["tag:k8s"]}}`,
	}
	for _, r := range rs {
		if r.Fix != want[r.Check] {
			t.Errorf("%s fix\n got %s\nwant %s", r.Check, r.Fix, want[r.Check])
		}
	}
}
