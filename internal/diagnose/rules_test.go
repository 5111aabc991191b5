package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// healthy is a working endpoint app compared with a working whoami: no
// rule may fire on it. Each case changes one fact.
func healthy(change func(app, working *EndpointEvidence, ev *Evidence)) func() Evidence {
	return func() Evidence {
		app := endpoint("default", "app", "app", "app")
		working := endpoint("default", "whoami", "whoami", "whoami")
		ev := Evidence{
			GatheredAt: gatheredAt,
			Operator:   OperatorEvidence{Found: true, Pod: "operator-0", Version: "v1.80.3", Ready: true},
		}
		if change != nil {
			change(app, working, &ev)
		}
		ev.Endpoints = []EndpointEvidence{*app}
		ev.Compare = working
		return ev
	}
}

func down(app *EndpointEvidence) { app.Probes[config.VantageDirect] = stalledProbe() }

// ruleCases drive every rule on (want is a severity) and off (want "").
var ruleCases = []struct {
	name string
	rule string
	ev   func() Evidence
	want Severity
}{
	{"funnel off here, on at the working one, failing", "funnel-annotation-differs", healthy(func(a, w *EndpointEvidence, _ *Evidence) { w.Endpoint.Funnel = true; down(a) }), SeverityCritical},
	{"funnel on here only, endpoint works", "funnel-annotation-differs", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.Funnel = true }), SeverityWarning},
	{"funnel the same", "funnel-annotation-differs", healthy(func(a, w *EndpointEvidence, _ *Evidence) { a.Endpoint.Funnel, w.Endpoint.Funnel = true, true; down(a) }), ""},
	{"funnel differs but no compare object", "funnel-annotation-differs", healthy(func(a, w *EndpointEvidence, _ *Evidence) {
		w.Endpoint = nil
		w.Endpoint = nil
		a.Endpoint.Funnel = true
	}), ""},

	{"tags differ, failing", "tags-differ", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.Tags = "tag:cluster"; down(a) }), SeverityCritical},
	{"default tags vs explicit", "tags-differ", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.Tags = "" }), SeverityWarning},
	{"same tags", "tags-differ", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { down(a) }), ""},

	{"proxy class differs", "proxy-class-differs", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.ProxyClass = "debug"; down(a) }), SeverityCritical},
	{"same proxy class", "proxy-class-differs", healthy(func(a, w *EndpointEvidence, _ *Evidence) {
		a.Endpoint.ProxyClass, w.Endpoint.ProxyClass = "prod", "prod"
	}), ""},

	{"other namespace", "namespace-differs", func() Evidence { return incidentEvidence() }, SeverityInfo},
	{"same namespace", "namespace-differs", healthy(nil), ""},

	{"service vs ingress", "kind-differs", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.Kind = discovery.KindService }), SeverityInfo},
	{"on a ProxyGroup vs own proxy", "kind-differs", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.ProxyGroup = "ingress-pg" }), SeverityInfo},
	{"both ingresses with own proxies", "kind-differs", healthy(nil), ""},

	{"older proxy than the working one", "proxy-version-older", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Version = "v1.78.1"; down(a) }), SeverityCritical},
	{"newer proxy", "proxy-version-older", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Version = "v1.82.0" }), ""},
	{"unreadable version", "proxy-version-older", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Version = discovery.VersionUnknown }), ""},

	{"working endpoint fails too", "compare-not-working", healthy(func(_, w *EndpointEvidence, _ *Evidence) {
		w.Probes[config.VantageDirect] = failedProbe(prober.ReasonDNS, prober.PhaseResolve, time.Millisecond)
	}), SeverityWarning},
	{"working endpoint works", "compare-not-working", healthy(nil), ""},

	{"handshake stalls", "tls-handshake-stalls", func() Evidence { return incidentEvidence() }, SeverityCritical},
	{"handshake stalls through the tailnet only", "tls-handshake-stalls", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Probes[config.VantageTailnet] = stalledProbe() }), SeverityCritical},
	{"handshake EOF is not a stall", "tls-handshake-stalls", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Probes[config.VantageDirect] = failedProbe(prober.ReasonTLSHandshakeEOF, prober.PhaseTLS, 20*time.Millisecond)
	}), ""},

	{"expired certificate", "certificate-invalid", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		r := failedProbe(prober.ReasonTLSCertInvalid, prober.PhaseTLS, 30*time.Millisecond)
		r.CertProb, r.CertExpiry = prober.CertExpired, gatheredAt.Add(-24*time.Hour)
		a.Probes[config.VantageDirect] = r
	}), SeverityCritical},
	{"name mismatch", "certificate-invalid", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		r := failedProbe(prober.ReasonTLSCertInvalid, prober.PhaseTLS, 30*time.Millisecond)
		r.CertProb = prober.CertNameMismatch
		a.Probes[config.VantageDirect] = r
	}), SeverityCritical},
	{"valid certificate", "certificate-invalid", healthy(nil), ""},

	{"certificate expires in 5 days", "certificate-expiring", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		r := a.Probes[config.VantageDirect]
		r.CertExpiry = gatheredAt.Add(5 * 24 * time.Hour)
		a.Probes[config.VantageDirect] = r
	}), SeverityWarning},
	{"certificate expires in 80 days", "certificate-expiring", healthy(nil), ""},

	{"connection refused", "probe-failed", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Probes[config.VantageDirect] = failedProbe(prober.ReasonConnectRefused, prober.PhaseConnect, time.Millisecond)
	}), SeverityCritical},
	{"HTTP 502 from the backend", "probe-failed", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		r := failedProbe(prober.ReasonHTTPStatus, prober.PhaseHTTP, 5*time.Millisecond)
		r.HTTPStatus = 502
		a.Probes[config.VantageDirect] = r
	}), SeverityCritical},
	{"a stall has its own rule", "probe-failed", func() Evidence { return incidentEvidence() }, ""},

	{"public path fails, tailnet works", "public-path-fails", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Probes[config.VantageTailnet] = okProbe()
	}), SeverityCritical},
	{"tailnet path fails, public works", "public-path-fails", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonConnectTimeout, prober.PhaseConnect, 10*time.Second)
	}), SeverityWarning},
	{"both fail", "public-path-fails", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Probes[config.VantageTailnet] = stalledProbe()
	}), ""},

	{"relay connections, endpoint failing", "funnel-relay-traffic", func() Evidence { return incidentEvidence() }, SeverityInfo},
	{"relay connections at the inferred port, working", "funnel-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		withLog(a, realPeerAPIDrop)
	}), SeverityInfo},
	{"IPv6 drops at 443 are tailnet clients, not relays", "funnel-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		withLog(a, sampleDropIPv6)
	}), ""},

	{"funnel on, public probe fails, no relay line", "funnel-no-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Funnel = true
		down(a)
		withLog(a, peerAPIServing, sampleDropIPv4)
	}), SeverityCritical},
	{"funnel annotation on a Service", "funnel-no-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Kind, a.Endpoint.FunnelIgnored = discovery.KindService, true
		down(a)
		withLog(a)
	}), SeverityCritical},
	{"funnel annotation on a Service that is not failing", "funnel-annotation-ignored", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Kind, a.Endpoint.FunnelIgnored = discovery.KindService, true
		withLog(a)
	}), SeverityWarning},
	{"funnel annotation on a failing Service: funnel-no-relay-traffic's", "funnel-annotation-ignored", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Kind, a.Endpoint.FunnelIgnored = discovery.KindService, true
		down(a)
		withLog(a)
	}), ""},
	{"honoured funnel annotation", "funnel-annotation-ignored", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Funnel = true
	}), ""},
	{"relays arrive", "funnel-no-relay-traffic", func() Evidence { return incidentEvidence() }, ""},
	{"no log read", "funnel-no-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Funnel = true
		down(a)
		a.Logs = LogSummary{}
	}), ""},
	{"no funnel annotation", "funnel-no-relay-traffic", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { down(a); withLog(a) }), ""},

	{"relays, then handshake EOFs from the same relays", "funnel-relay-handshake-failing", func() Evidence { return incidentEvidence() }, SeverityCritical},
	{"the same while the endpoint works", "funnel-relay-handshake-failing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		withLog(a, relayStory()...)
	}), ""},
	{"EOFs without relay connections", "funnel-relay-handshake-failing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, relayEOF(relayLong, 46650))
	}), ""},

	{"IPv4 and IPv6 drops to 443", "drops-no-rules-matched", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, sampleDropIPv6, sampleDropIPv6, sampleDropIPv6, sampleDropIPv4)
	}), SeverityCritical},
	{"drops to other ports only", "drops-no-rules-matched", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		withLog(a, "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:22} 60 no rules matched", "Drop: UDP{100.64.0.1:65076 > 100.64.0.2:36311} 60 no rules matched")
	}), SeverityInfo},
	{"peer-API drops never feed it", "drops-no-rules-matched", func() Evidence { return incidentEvidence() }, ""},

	{"exact acl drops, none logged, failing", "exact-drops-unlogged", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, filterRateLimit)
		withExact(a, 158)
	}), SeverityWarning},
	{"exact acl drops, endpoint works", "exact-drops-unlogged", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { withExact(a, 3) }), SeverityInfo},
	{"exact acl drops, served-port drops logged", "exact-drops-unlogged", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, sampleDropIPv4)
		withExact(a, 158)
	}), ""},
	{"exact counters without acl drops", "exact-drops-unlogged", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withExact(a, 0, 4) // multicast only
	}), ""},
	{"peer-API drops are never counted exactly", "exact-drops-unlogged", func() Evidence {
		ev := incidentEvidence()
		withExact(&ev.Endpoints[0], 0)
		return ev
	}, ""},

	{"ingress denied, version unknown", "funnel-ingress-denied", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Pods[0].Version = "stable"
		withLog(a, sampleDenied, sampleDenied)
	}), SeverityCritical},
	{"no denial", "funnel-ingress-denied", func() Evidence { return incidentEvidence() }, ""},

	{"1.102.1 denies ingress", "proxy-version-bug", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, programStarting("v1.102.1"), sampleDenied)
	}), SeverityCritical},
	{"1.100.2 denies ingress", "proxy-version-bug", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, programStarting("v1.100.2"), sampleDenied)
	}), ""},

	{"Let's Encrypt rate limit", "certificate-rate-limited", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, certRateLimited)
	}), SeverityCritical},
	{"no rate limit", "certificate-rate-limited", func() Evidence { return incidentEvidence() }, ""},

	{"proxy cannot get certificates", "certificate-not-issued", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		withLog(a, certNil, certNil)
	}), SeverityCritical},
	{"HTTPSNotEnabled event, no handshake seen", "certificate-not-issued", healthy(func(a, w *EndpointEvidence, _ *Evidence) {
		down(a)
		w.Probes = nil
		a.Warnings = []Warning{{Reason: "HTTPSNotEnabled", Message: "HTTPS is not enabled on the tailnet", Count: 2, Last: gatheredAt}}
	}), SeverityCritical},
	{"HTTPSNotEnabled event while a certificate was seen: stale", "certificate-not-issued", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Warnings = []Warning{{Reason: "HTTPSNotEnabled", Message: "HTTPS is not enabled on the tailnet", Count: 2, Last: gatheredAt}}
	}), SeverityInfo},
	{"handshake EOFs only", "certificate-not-issued", func() Evidence { return incidentEvidence() }, ""},

	{"no object claims the name", "endpoint-not-found", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint = nil; down(a) }), SeverityWarning},
	{"no cluster was read", "endpoint-not-found", func() Evidence {
		ev := Evidence{GatheredAt: gatheredAt, Endpoints: []EndpointEvidence{{Hostname: "k8s." + testTailnet, Probes: map[string]prober.Result{config.VantageDirect: stalledProbe()}}}}
		return ev
	}, ""},

	{"not provisioned", "not-provisioned", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Provisioned, a.Endpoint.Hostname, a.Hostname, a.Probes = false, "", "app", nil
	}), SeverityCritical},
	{"provisioned", "not-provisioned", healthy(nil), ""},

	{"suffixed", "hostname-suffixed", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Endpoint.Hostname, a.Endpoint.Suffixed = "app-1."+testTailnet, true
	}), SeverityWarning},
	{"not suffixed", "hostname-suffixed", healthy(nil), ""},

	{"funnel: yes", "annotation-invalid", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Endpoint.Invalid = []string{discovery.AnnotationFunnel} }), SeverityWarning},
	{"valid annotations", "annotation-invalid", healthy(nil), ""},

	{"NoValidBackends while failing", "operator-warning-events", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Warnings = []Warning{{Reason: "NoValidBackends", Message: "no valid backends", Count: 3, Last: gatheredAt}}
	}), SeverityCritical},
	{"only HTTPSNotEnabled, which has its own rule", "operator-warning-events", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Warnings = []Warning{{Reason: "HTTPSNotEnabled", Count: 1, Last: gatheredAt}}
	}), ""},

	{"backend Service missing", "backend-missing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Backend.Found, a.Backend.Checked, a.Backend.ReadyAddr = false, false, 0
	}), SeverityCritical},
	{"Services not readable", "backend-missing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) {
		a.Backend.Known, a.Backend.Found, a.Backend.Checked = false, false, false
	}), ""},

	{"Traefik not running", "backend-not-ready", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Backend.ReadyAddr = 0; down(a) }), SeverityCritical},
	{"EndpointSlices not readable", "backend-not-ready", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Backend.Checked, a.Backend.ReadyAddr = false, 0 }), ""},

	{"no proxy pod", "proxy-pod-missing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods = nil; down(a) }), SeverityCritical},
	{"pods not listable", "proxy-pod-missing", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods, a.PodsListed = nil, false }), ""},

	{"proxy pod not ready", "proxy-pod-not-ready", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Ready = false; down(a) }), SeverityCritical},
	{"proxy pod ready", "proxy-pod-not-ready", healthy(nil), ""},

	{"restarts while failing", "proxy-pod-restarting", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Restarts = 1; down(a) }), SeverityCritical},
	{"many restarts while working", "proxy-pod-restarting", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Restarts = RestartsWarning }), SeverityWarning},
	{"one restart while working", "proxy-pod-restarting", healthy(func(a, _ *EndpointEvidence, _ *Evidence) { a.Pods[0].Restarts = 1 }), ""},

	{"proxy older than the operator", "proxy-older-than-operator", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
		ev.Operator.Version = "v1.82.0"
		w.Pods[0].Version = "v1.82.0"
	}), SeverityWarning},
	{"operator tag unreadable", "proxy-older-than-operator", healthy(func(_, _ *EndpointEvidence, ev *Evidence) { ev.Operator.Version = "latest" }), ""},

	{"operator not ready", "operator-not-running", healthy(func(_, _ *EndpointEvidence, ev *Evidence) { ev.Operator.Ready = false }), SeverityWarning},
	{"no operator pod", "operator-not-running", healthy(func(_, _ *EndpointEvidence, ev *Evidence) { ev.Operator = OperatorEvidence{} }), SeverityWarning},
	{"operator pods not listable", "operator-not-running", healthy(func(a, w *EndpointEvidence, ev *Evidence) {
		ev.Operator = OperatorEvidence{}
		a.PodsListed, a.Pods = false, nil
	}), ""},

	{"operator warnings", "operator-log-warnings", healthy(func(_, _ *EndpointEvidence, ev *Evidence) {
		ev.Operator.WarningLines = []string{`{"level":"error","msg":"failed to provision: tags not permitted"}`}
	}), SeverityInfo},
	{"quiet operator", "operator-log-warnings", healthy(nil), ""},

	{"endpointslices forbidden", "permission-missing", healthy(func(_, _ *EndpointEvidence, ev *Evidence) {
		ev.Missing = []string{"list endpointslices.discovery.k8s.io in namespace kube-system"}
	}), SeverityInfo},
	{"all permitted", "permission-missing", healthy(nil), ""},

	{"an API error", "gather-error", healthy(func(_, _ *EndpointEvidence, ev *Evidence) {
		ev.Errors = []string{"read log of proxy pod tailscale/ts-app-0: unexpected EOF"}
	}), SeverityInfo},
	{"no error", "gather-error", healthy(nil), ""},
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			r := Diagnose(c.ev())
			var got []Finding
			for _, f := range r.Findings {
				if f.Rule == c.rule {
					got = append(got, f)
				}
			}
			if c.want == "" {
				if len(got) > 0 {
					t.Fatalf("rule fired: %+v", got[0])
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("rule did not fire; findings: %v", ruleIDs(r.Findings))
			}
			f := got[0]
			if f.Severity != c.want {
				t.Errorf("severity %s, want %s: %s", f.Severity, c.want, f.Title)
			}
			if f.Title == "" || len(f.Evidence) == 0 || len(f.Next) == 0 || f.Hostname == "" && c.rule != "operator-not-running" && c.rule != "operator-log-warnings" && c.rule != "permission-missing" && c.rule != "gather-error" && c.rule != "policy-unreadable" && c.rule != "policy-invalid" {
				t.Errorf("finding lacks a title, evidence, next steps or hostname: %+v", f)
			}
			for _, f := range got {
				c, ok := causes.Lookup(f.Cause)
				if !ok {
					t.Errorf("finding names cause %q, which is not in the catalog", f.Cause)
				} else if !strings.HasPrefix(f.Title, c.Title) || !containsAll(f.Next, c.Next) {
					t.Errorf("finding %q does not quote the title and next steps of its cause %s", f.Title, c.ID)
				}
			}
			if f.Likelihood < 1 || f.Likelihood > 100 {
				t.Errorf("likelihood %d out of 1..100", f.Likelihood)
			}
		})
	}
}

// TestEveryRuleIsTested: each rule of the table fires in a case and stays
// quiet in another.
func TestEveryRuleIsTested(t *testing.T) {
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, c := range ruleCases {
		if c.want != "" {
			fires[c.rule] = true
		} else {
			quiet[c.rule] = true
		}
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.id] {
			t.Errorf("rule %s is twice in the table", r.id)
		}
		seen[r.id] = true
		if !fires[r.id] || !quiet[r.id] {
			t.Errorf("rule %s: a case where it fires: %v, one where it does not: %v", r.id, fires[r.id], quiet[r.id])
		}
	}
	for id := range fires {
		if !seen[id] {
			t.Errorf("cases for rule %s, which is not in the table", id)
		}
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func ruleIDs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+"@"+f.Hostname)
	}
	return out
}

func TestHealthyFindsNothing(t *testing.T) {
	r := Diagnose(healthy(nil)())
	if len(r.Findings) != 0 || r.Problems() {
		t.Fatalf("findings on healthy endpoints: %v", ruleIDs(r.Findings))
	}
}

// TestIncident: the top finding is case c of REFERENCE.md §8 (relays
// reach the proxy, their handshakes end in EOF), backed by the counts and
// line pairs of the same relays; the symptom follows; the relay Drop lines
// come last, as info.
func TestIncident(t *testing.T) {
	r := Diagnose(incidentEvidence())
	if !r.Problems() {
		t.Fatal("no problem found in the incident")
	}
	want := []string{"funnel-relay-handshake-failing", "tls-handshake-stalls", "namespace-differs", "funnel-relay-traffic"}
	got := ruleIDs(r.Findings)
	if len(got) != len(want) {
		t.Fatalf("findings %v, want rules %v", got, want)
	}
	for i, id := range want {
		if f := r.Findings[i]; f.Rule != id || f.Hostname != "k8s."+testTailnet {
			t.Errorf("finding %d: %s, want %s@k8s.%s", i+1, got[i], id, testTailnet)
		}
	}
	top := r.Findings[0]
	if top.Severity != SeverityCritical || top.Likelihood != 95 {
		t.Errorf("top finding %s %d, want critical 95", top.Severity, top.Likelihood)
	}
	joined := strings.Join(top.Evidence, "\n")
	for _, s := range []string{
		"6 relay connections reached the proxy", "6 TLS handshake error(s) from IPv6 sources ended in EOF",
		"no configuration change fixes this", "tailscale/tailscale#19290",
		"from the same relay [" + relayShort + "]:46655:", "log: " + relayDrop(relayShort, 46655), "log: " + relayEOF(relayShort, 46655),
		"from the same relay [" + relayLong + "]:46654:",
	} {
		if !strings.Contains(joined, s) {
			t.Errorf("top finding's evidence lacks %q:\n%s", s, joined)
		}
	}
	next := strings.Join(top.Next, "\n")
	for _, s := range []string{"v1.80.3", "toggle Funnel off and on", "restart the proxy pod"} {
		if !strings.Contains(next, s) {
			t.Errorf("top finding's next steps lack %q: %q", s, top.Next)
		}
	}
	last := r.Findings[len(r.Findings)-1]
	if last.Severity != SeverityInfo || !strings.Contains(last.Title, "6 relay connections reached the proxy") {
		t.Errorf("relay traffic finding %s %q, want info, with the count", last.Severity, last.Title)
	}
}

// TestIncidentTagsVariant: both ask for Funnel and no relay reaches one:
// the tags that differ are the top finding, next to case a.
func TestIncidentTagsVariant(t *testing.T) {
	ev := incidentEvidence()
	withLog(&ev.Endpoints[0])
	ev.Endpoints[0].Endpoint.Tags = "tag:cluster"
	r := Diagnose(ev)
	if len(r.Findings) < 2 || r.Findings[0].Rule != "tags-differ" || r.Findings[0].Severity != SeverityCritical || r.Findings[1].Rule != "funnel-no-relay-traffic" {
		t.Fatalf("findings %v, want tags-differ first and critical, then funnel-no-relay-traffic", ruleIDs(r.Findings))
	}
}

// TestSharedConditionRankedDown: a condition the working endpoint shares
// cannot explain the failure; it stays, ranked below the differences.
func TestSharedConditionRankedDown(t *testing.T) {
	ev := healthy(func(a, w *EndpointEvidence, _ *Evidence) {
		down(a)
		a.Endpoint.Tags = "tag:cluster"
		a.Backend.ReadyAddr, w.Backend.ReadyAddr = 0, 0
	})()
	r := Diagnose(ev)
	var backend *Finding
	for i, f := range r.Findings {
		if f.Rule == "backend-not-ready" {
			backend = &r.Findings[i]
		}
	}
	if backend == nil {
		t.Fatalf("backend-not-ready did not fire: %v", ruleIDs(r.Findings))
	}
	if backend.Severity != SeverityWarning || !strings.Contains(strings.Join(backend.Evidence, " "), "whoami."+testTailnet+", which works") {
		t.Errorf("shared condition not ranked down: %+v", *backend)
	}
	if r.Findings[0].Rule == "backend-not-ready" {
		t.Errorf("shared condition ranked first: %v", ruleIDs(r.Findings))
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"v1.80.3", "v1.80.3", 0},
		{"v1.78.1", "v1.80.0", -1},
		{"v1.100.0", "v1.99.9", 1},
		{"v1.80.3-t1234", "v1.80.2", 1},
		{"1.80", "v1.80.0", 0},
		{"latest", "v1.80.0", 0},
		{"unknown", "v1.0.0", 0},
	} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
