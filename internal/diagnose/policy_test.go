package diagnose

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// Tailnet policies of the scenarios: the operator's documented setup and
// one fact changed each. tag:web is the working endpoint's tag where the
// two must differ.
const (
	// policyOK gives both tags everything.
	policyOK = `{
	"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]},
	"nodeAttrs": [{"target": ["tag:k8s", "tag:web"], "attr": ["funnel"]}],
	"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s", "tag:web"], "ip": ["tcp:443", "tcp:80"]}],
}`
	// policyNoFunnel gives Funnel to members only, which leaves tagged proxies out.
	policyNoFunnel = `{
	"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]},
	// Funnel for people's own devices
	"nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}],
	"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s", "tag:web"], "ip": ["tcp:443"]}],
}`
	// policyNoAccess lets members reach tag:web only.
	policyNoAccess = `{
	"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]},
	"nodeAttrs": [{"target": ["tag:k8s", "tag:web"], "attr": ["funnel"]}],
	"grants": [{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
}`
	// policyUnowned does not define tag:k8s.
	policyUnowned = `{
	"tagOwners": {"tag:k8s-operator": [], "tag:web": ["tag:k8s-operator"]},
	"nodeAttrs": [{"target": ["tag:k8s", "tag:web"], "attr": ["funnel"]}],
	"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s", "tag:web"], "ip": ["tcp:443"]}],
}`
	// policyPosture lets members in only from devices that pass a posture
	// check, which the file cannot tell.
	policyPosture = `{
	"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]},
	"nodeAttrs": [{"target": ["tag:k8s", "tag:web"], "attr": ["funnel"]}],
	"postures": {"posture:latest": ["node:tsReleaseTrack == 'stable'"]},
	"grants": [
		{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"], "srcPosture": ["posture:latest"]},
		{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]},
	],
}`
	// policyBroken misses a comma on line 3, column 19.
	policyBroken = "{\n  \"acls\": [\n    {\"src\": [\"*\"] \"dst\": []},\n  ],\n}"
)

// memSource is a policy source in memory: the text, or a read error.
type memSource struct {
	text string
	err  *source.Error
}

func (m memSource) String() string { return "file /etc/tailnet/policy.hujson" }

func (m memSource) Read(context.Context) ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	return []byte(m.text), nil
}

// unauthorized is the API source's answer to a credential it refuses.
var unauthorized = &source.Error{Source: "Tailscale API, the credential's default tailnet, API key from file /run/secrets/key", Kind: source.KindUnauthorized,
	Err: errors.New("401 Unauthorized: the credential is not valid (wrong, expired or revoked)")}

// withPolicy reads the policy as Gather does and checks the endpoints
// with it (the default clients and tags unless o says otherwise).
func withPolicy(text string, eps ...*EndpointEvidence) *PolicyEvidence {
	return withPolicyOptions(PolicyOptions{Source: memSource{text: text}}, eps...)
}

func withPolicyOptions(o PolicyOptions, eps ...*EndpointEvidence) *PolicyEvidence {
	if o.DefaultTags == nil {
		o.DefaultTags = []string{"tag:k8s"}
	}
	ev, p := readPolicy(context.Background(), o)
	checkAll(p, o, eps)
	return ev
}

func init() {
	ruleCases = append(ruleCases, []struct {
		name string
		rule string
		ev   func() Evidence
		want Severity
	}{
		{"funnel attribute missing, no relay traffic", "policy-funnel-attribute-missing", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Endpoint.Funnel = true
			down(a)
			withLog(a, peerAPIServing)
			ev.Policy = withPolicy(policyNoFunnel, a, w)
		}), SeverityCritical},
		{"funnel attribute missing, the endpoint works", "policy-funnel-attribute-missing", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Endpoint.Funnel = true
			ev.Policy = withPolicy(policyNoFunnel, a, w)
		}), SeverityWarning},
		{"funnel attribute given", "policy-funnel-attribute-missing", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Endpoint.Funnel = true
			down(a)
			withLog(a, peerAPIServing)
			ev.Policy = withPolicy(policyOK, a, w)
		}), ""},
		{"funnel attribute missing, not a Funnel endpoint", "policy-funnel-attribute-missing", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			ev.Policy = withPolicy(policyNoFunnel, a, w)
		}), ""},

		{"access denied, tailnet vantage refused", "policy-tailnet-access-denied", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
			w.Endpoint.Tags = "tag:web"
			ev.Policy = withPolicy(policyNoAccess, a, w)
		}), SeverityCritical},
		{"access denied, nothing fails yet", "policy-tailnet-access-denied", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			w.Endpoint.Tags = "tag:web"
			ev.Policy = withPolicy(policyNoAccess, a, w)
		}), SeverityWarning},
		{"access allowed", "policy-tailnet-access-denied", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
			ev.Policy = withPolicy(policyOK, a, w)
		}), ""},

		{"tag unowned, not provisioned", "policy-tag-unowned", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Endpoint.Provisioned = false
			w.Endpoint.Tags = "tag:web"
			ev.Policy = withPolicy(policyUnowned, a, w)
		}), SeverityCritical},
		{"tag unowned, logged in before", "policy-tag-unowned", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			w.Endpoint.Tags = "tag:web"
			ev.Policy = withPolicy(policyUnowned, a, w)
		}), SeverityWarning},
		{"tags owned", "policy-tag-unowned", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Endpoint.Provisioned = false
			ev.Policy = withPolicy(policyOK, a, w)
		}), ""},

		{"access depends on device posture", "policy-cannot-tell", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
			w.Endpoint.Tags = "tag:web"
			ev.Policy = withPolicy(policyPosture, a, w)
		}), SeverityInfo},
		{"every verdict certain", "policy-cannot-tell", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			ev.Policy = withPolicy(policyOK, a, w)
		}), ""},

		{"API refuses the credential", "policy-unreadable", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			ev.Policy = withPolicyOptions(PolicyOptions{Source: memSource{err: unauthorized}}, a, w)
		}), SeverityInfo},
		{"policy read", "policy-unreadable", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			ev.Policy = withPolicy(policyOK, a, w)
		}), ""},

		{"policy does not parse", "policy-invalid", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
			ev.Policy = withPolicy(policyBroken, a, w)
		}), SeverityWarning},
		{"no policy asked for", "policy-invalid", healthy(nil), ""},
	}...)
}

// findingOf returns the first finding of rule about hostname (any
// hostname when ""), or nil.
func findingOf(r Report, rule, hostname string) *Finding {
	for i, f := range r.Findings {
		if f.Rule == rule && (hostname == "" || f.Hostname == hostname) {
			return &r.Findings[i]
		}
	}
	return nil
}

func findingText(f *Finding) string {
	return f.Title + "\n" + strings.Join(f.Evidence, "\n") + "\n" + strings.Join(f.Next, "\n")
}

// TestPolicyOrdering: the policy's verdicts ranked with the rest of the
// evidence, most likely first.
func TestPolicyOrdering(t *testing.T) {
	tailnetRefusedProbe := failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
	funnelDown := func(a *EndpointEvidence, lines ...string) {
		a.Endpoint.Funnel = true
		down(a)
		a.Probes[config.VantageTailnet] = okProbe()
		withLog(a, lines...)
	}
	for _, tc := range []struct {
		name   string
		policy string
		change func(a *EndpointEvidence)
		first  string   // the first finding's rule
		sev    Severity // and severity
		// want are in the finding of rule wantIn (the first when "").
		wantIn string
		want   []string
		absent []string // rules that must not fire for the endpoint
	}{
		{"funnel attribute missing and no relay traffic: the top finding", policyNoFunnel, func(a *EndpointEvidence) { funnelDown(a, peerAPIServing) },
			"policy-funnel-attribute-missing", SeverityCritical, "",
			[]string{"policy line 4: \"nodeAttrs\": [{\"target\": [\"autogroup:member\"], \"attr\": [\"funnel\"]}],", `"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}]`, "autogroup:member does not cover tagged devices"}, nil},
		{"the relay finding says the policy confirms it", policyNoFunnel, func(a *EndpointEvidence) { funnelDown(a, peerAPIServing) },
			"policy-funnel-attribute-missing", SeverityCritical, "funnel-no-relay-traffic",
			[]string{"the policy confirms (line 4)"}, nil},
		{"funnel attribute given, no relay traffic: look elsewhere", policyOK, func(a *EndpointEvidence) { funnelDown(a, peerAPIServing) },
			"funnel-no-relay-traffic", SeverityCritical, "",
			[]string{"funnel attribute (line 3): look elsewhere"}, []string{"policy-funnel-attribute-missing"}},
		{"funnel attribute missing, yet relays arrive: a warning", policyNoFunnel, func(a *EndpointEvidence) {
			funnelDown(a, append([]string{peerAPIServing}, relayStory()...)...)
		}, "funnel-relay-handshake-failing", SeverityCritical, "policy-funnel-attribute-missing",
			[]string{"likely not the one in force"}, nil},
		{"relay handshakes fail and the policy gives the attribute: no policy change fixes it", policyOK, func(a *EndpointEvidence) {
			funnelDown(a, append([]string{peerAPIServing}, relayStory()...)...)
		}, "funnel-relay-handshake-failing", SeverityCritical, "",
			[]string{"no policy change fixes this one", "funnel attribute (line 3)"}, []string{"policy-funnel-attribute-missing"}},
		{"1.102.1 denies the relays and the policy gives the attribute: no policy change fixes it", policyOK, func(a *EndpointEvidence) {
			funnelDown(a, programStarting("v1.102.1"), relayDrop(relayLong, 46650), sampleDenied)
		}, "proxy-version-bug", SeverityCritical, "",
			[]string{"no policy change fixes this one"}, nil},
		{"the ingress regression's own finding says it too", policyOK, func(a *EndpointEvidence) {
			funnelDown(a, programStarting("v1.102.1"), relayDrop(relayLong, 46650), sampleDenied)
		}, "proxy-version-bug", SeverityCritical, "funnel-ingress-denied",
			[]string{"no policy change fixes this one"}, nil},
		{"tailnet access denied and the tailnet vantage refused: high", policyNoAccess, func(a *EndpointEvidence) {
			a.Probes[config.VantageTailnet] = tailnetRefusedProbe
		}, "policy-tailnet-access-denied", SeverityCritical, "",
			[]string{"tailnet probe failed: connect_timeout", `"grants": [{"src": ["autogroup:member"], "dst": ["tag:k8s"], "ip": ["tcp:443"]}]`, "policy line 4:"}, nil},
		{"tailnet access denied and drops logged at 443: above the drops", policyNoAccess, func(a *EndpointEvidence) {
			withLog(a, sampleDropIPv4, sampleDropIPv4)
		}, "policy-tailnet-access-denied", SeverityCritical, "",
			[]string{"2 drop(s) \"no rules matched\" at port 443"}, nil},
		{"tailnet access denied, nothing failing: it will fail", policyNoAccess, func(*EndpointEvidence) {},
			"policy-tailnet-access-denied", SeverityWarning, "",
			[]string{"nothing fails yet: the proxy will drop connections from autogroup:member"}, nil},
		{"access that depends on posture: a note, never above a warning", policyPosture, func(a *EndpointEvidence) {
			a.Probes[config.VantageTailnet] = tailnetRefusedProbe
		}, "probe-failed", SeverityCritical, "policy-cannot-tell",
			[]string{"srcPosture", "whether the tailnet clients may reach it on port 443"}, []string{"policy-tailnet-access-denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := healthy(func(a, w *EndpointEvidence, ev *Evidence) {
				tc.change(a)
				// The working endpoint must not share the verdict, or
				// the finding is ranked down (TestPolicySharedWithWorking):
				// it is tailnet-only beside a Funnel endpoint, else it has
				// tag:web, which every policy here allows.
				if !a.Endpoint.Funnel {
					w.Endpoint.Tags = "tag:web"
				}
				ev.Policy = withPolicy(tc.policy, a, w)
			})()
			r := Diagnose(ev)
			if len(r.Findings) == 0 || r.Findings[0].Rule != tc.first || r.Findings[0].Severity != tc.sev {
				t.Fatalf("findings %v, want %s (%s) first", ruleIDs(r.Findings), tc.first, tc.sev)
			}
			f := &r.Findings[0]
			if tc.wantIn != "" {
				if f = findingOf(r, tc.wantIn, ""); f == nil {
					t.Fatalf("no %s finding: %v", tc.wantIn, ruleIDs(r.Findings))
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(findingText(f), w) {
					t.Errorf("%s lacks %q:\n%s", f.Rule, w, findingText(f))
				}
			}
			for _, id := range tc.absent {
				if g := findingOf(r, id, ""); g != nil {
					t.Errorf("%s fired: %s", id, findingText(g))
				}
			}
			for _, g := range r.Findings {
				if g.Rule == "policy-cannot-tell" && g.Severity != SeverityInfo {
					t.Errorf("policy-cannot-tell is %s", g.Severity)
				}
			}
			checkRelayLast(t, r)
		})
	}
}

// TestPolicyQuiet: a policy that gives everything adds no finding to a
// healthy endpoint, nor to the incident's.
func TestPolicyQuiet(t *testing.T) {
	ev := healthy(func(a, w *EndpointEvidence, ev *Evidence) {
		a.Endpoint.Funnel, w.Endpoint.Funnel, a.Endpoint.HTTPRedirect = true, true, true
		ev.Policy = withPolicy(policyOK, a, w)
	})()
	if r := Diagnose(ev); len(r.Findings) != 0 {
		t.Errorf("findings on a healthy endpoint the policy allows: %v", ruleIDs(r.Findings))
	}
	inc := incidentEvidence()
	inc.Policy = withPolicy(policyOK, &inc.Endpoints[0], inc.Compare)
	r := Diagnose(inc)
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Rule, "policy-") {
			t.Errorf("policy finding %s on the incident with a policy that allows it: %s", f.Rule, findingText(&f))
		}
	}
	if r.Findings[0].Rule != "funnel-relay-handshake-failing" || !strings.Contains(findingText(&r.Findings[0]), "no policy change fixes this one") {
		t.Errorf("the incident's top finding does not say that no policy change fixes it: %s", findingText(&r.Findings[0]))
	}
}

// TestPolicySharedWithWorking: a verdict the working endpoint shares
// cannot explain the failure.
func TestPolicySharedWithWorking(t *testing.T) {
	ev := healthy(func(a, w *EndpointEvidence, ev *Evidence) {
		a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
		ev.Policy = withPolicy(policyNoAccess, a, w) // both tag:k8s
	})()
	r := Diagnose(ev)
	f := findingOf(r, "policy-tailnet-access-denied", "app."+testTailnet)
	if f == nil || f.Severity != SeverityWarning || !strings.Contains(findingText(f), "which works") {
		t.Fatalf("shared verdict not ranked down: %v", ruleIDs(r.Findings))
	}
}

// TestPolicySyntaxError: a policy that does not parse is a finding naming
// the source, line and column, and quoting the line; nothing is checked.
func TestPolicySyntaxError(t *testing.T) {
	ev := healthy(func(a, w *EndpointEvidence, ev *Evidence) { ev.Policy = withPolicy(policyBroken, a, w) })()
	if ev.Endpoints[0].Policy != nil {
		t.Errorf("endpoint checked against a policy that does not parse: %+v", ev.Endpoints[0].Policy)
	}
	r := Diagnose(ev)
	f := findingOf(r, "policy-invalid", "")
	if f == nil {
		t.Fatalf("no policy-invalid finding: %v", ruleIDs(r.Findings))
	}
	for _, w := range []string{"line 3, column 19", "file /etc/tailnet/policy.hujson", "invalid character", `policy line 3: {"src": ["*"] "dst": []},`} {
		if !strings.Contains(findingText(f), w) {
			t.Errorf("policy-invalid lacks %q:\n%s", w, findingText(f))
		}
	}
}

// TestPolicyPlainHost: a name no object claims is checked with the
// default tags, as a Funnel endpoint, and says so; what rests on an
// assumption is never critical.
func TestPolicyPlainHost(t *testing.T) {
	host := &EndpointEvidence{Hostname: "node.example.ts.net", Probes: map[string]prober.Result{config.VantageDirect: stalledProbe()}}
	ev := Evidence{GatheredAt: gatheredAt, Endpoints: []EndpointEvidence{*host}}
	ev.Policy = withPolicyOptions(PolicyOptions{Source: memSource{text: policyNoFunnel}, DefaultTags: []string{"tag:server"}}, &ev.Endpoints[0])
	p := ev.Endpoints[0].Policy
	if p == nil || !p.Assumed || !p.Checked.Funnel || strings.Join(p.Checked.Tags, ",") != "tag:server" {
		t.Fatalf("plain host checked as %+v", p)
	}
	r := Diagnose(ev)
	f := findingOf(r, "policy-funnel-attribute-missing", "")
	if f == nil {
		t.Fatalf("no funnel attribute finding: %v", ruleIDs(r.Findings))
	}
	if f.Severity != SeverityWarning || !strings.Contains(findingText(f), "assumed tags") {
		t.Errorf("finding on assumed tags is %s:\n%s", f.Severity, findingText(f))
	}
	for _, g := range r.Findings {
		if strings.HasPrefix(g.Rule, "policy-") && g.Severity == SeverityCritical {
			t.Errorf("%s is critical on assumed tags", g.Rule)
		}
	}
}

// TestPolicyProxyGroup: a ProxyGroup endpoint's Tailscale Service
// approval is never "no", so it is a note saying why.
func TestPolicyProxyGroup(t *testing.T) {
	ev := healthy(func(a, w *EndpointEvidence, ev *Evidence) {
		a.Endpoint.Kind, a.Endpoint.ProxyGroup = discovery.KindProxyGroup, "ingress-pg"
		ev.Policy = withPolicy(policyOK, a, w)
	})()
	if r, ok := ev.Endpoints[0].Policy.Result(policy.ServiceApproval, 0); !ok || r.Verdict != policy.Unknown {
		t.Fatalf("service approval %+v, %v; want unknown", r, ok)
	}
	r := Diagnose(ev)
	var f *Finding
	for i, g := range r.Findings {
		if g.Rule == "policy-cannot-tell" && strings.Contains(g.Title, "Tailscale Service") {
			f = &r.Findings[i]
		}
	}
	if f == nil || f.Severity != SeverityInfo || !strings.Contains(findingText(f), `"autoApprovers": {"services": {"svc:app": ["tag:k8s"]}}`) {
		t.Errorf("service approval note: %v", f)
	}
	if r.Problems() {
		t.Errorf("an unknown verdict is a problem: %v", ruleIDs(r.Findings))
	}
}

// TestGatherPolicy: Gather reads the policy once, bounded by the run's
// context, and checks every endpoint asked about; a failed read is
// evidence, not an error of the run.
func TestGatherPolicy(t *testing.T) {
	counting := &countingSource{memSource: memSource{text: policyNoFunnel}}
	ev, err := Gather(context.Background(), GatherOptions{
		Hostnames: []string{"a.example.ts.net", "b.example.ts.net"}, Compare: "c.example.ts.net",
		Policy: PolicyOptions{Source: counting, DefaultTags: []string{"tag:k8s"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if counting.reads != 1 {
		t.Errorf("policy read %d times, want once", counting.reads)
	}
	if ev.Policy == nil || !ev.Policy.Read || ev.Policy.Source != "file /etc/tailnet/policy.hujson" || ev.Policy.Clients != policy.DefaultClients {
		t.Errorf("policy evidence %+v", ev.Policy)
	}
	for _, e := range ev.Endpoints {
		if r, ok := e.Policy.Result(policy.FunnelAttribute, 0); !ok || r.Verdict != policy.No {
			t.Errorf("%s: funnel attribute %+v, %v", e.Hostname, r, ok)
		}
	}
	// Evidence.Compare is nil without a cluster: no object claims it.

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ev, _ = Gather(ctx, GatherOptions{Hostnames: []string{"a.example.ts.net"}, Policy: PolicyOptions{Source: stallingSource{}}})
	if ev.Policy == nil || ev.Policy.Read || ev.Policy.ErrorKind != source.KindTimeout || ev.Endpoints[0].Policy != nil {
		t.Errorf("policy read past the run's deadline: %+v", ev.Policy)
	}
}

type countingSource struct {
	memSource
	reads int
}

func (c *countingSource) Read(ctx context.Context) ([]byte, error) {
	c.reads++
	return c.memSource.Read(ctx)
}

// stallingSource answers when ctx ends, as the API source does.
type stallingSource struct{}

func (stallingSource) String() string { return "Tailscale API at http://127.0.0.1:1" }

func (stallingSource) Read(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, &source.Error{Source: "Tailscale API at http://127.0.0.1:1", Kind: source.KindTimeout, Err: ctx.Err()}
}

func init() {
	goldenReports = append(goldenReports, goldenReport{"policy", sampleReportPolicy})
}

// sampleReportPolicy is diagnose with a tailnet policy read: the cluster
// tunnel k8s is a Funnel endpoint whose tags lack the funnel attribute
// (no relay reaches it); app is tailnet-only with a tag the policy neither
// owns nor lets members reach, and the tailnet vantage is refused; a
// plain host is checked with the default tags.
func sampleReportPolicy() Report {
	k8s := endpoint("kube-system", "traefik-ingress", "k8s", "traefik")
	k8s.Endpoint.Funnel = true
	down(k8s)
	withLog(k8s, programStarting("v1.80.3"), peerAPIServing)
	app := endpoint("default", "app", "app", "app")
	app.Endpoint.Tags, app.Endpoint.HTTPRedirect = "tag:internal", true
	app.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 5*time.Second)
	host := &EndpointEvidence{Hostname: "nas.tailnet-1234.ts.net", Probes: map[string]prober.Result{config.VantageDirect: okProbe()}}
	ev := Evidence{
		GatheredAt: gatheredAt,
		Endpoints:  []EndpointEvidence{*k8s, *app, *host},
		Operator:   OperatorEvidence{Found: true, Pod: "operator-0", Version: "v1.80.3", Ready: true},
	}
	ev.Policy = withPolicy(policyNoFunnel, &ev.Endpoints[0], &ev.Endpoints[1], &ev.Endpoints[2])
	return Diagnose(ev)
}
