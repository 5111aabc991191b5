package diagnose

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// TestFunnelStory: one scenario per row of REFERENCE.md §8. The right rule
// ranks first, no finding of another cause is critical above it, and the
// relay traffic finding, when there, is never above a warning or critical.
func TestFunnelStory(t *testing.T) {
	funnelDown := func(lines ...string) func(a *EndpointEvidence) {
		return func(a *EndpointEvidence) {
			a.Endpoint.Funnel = true
			down(a)
			a.Probes[config.VantageTailnet] = okProbe()
			withLog(a, lines...)
		}
	}
	for _, tc := range []struct {
		name   string
		change func(a *EndpointEvidence)
		first  string // "" : no problem at all
		absent []string
		want   []string // in the first finding's title or evidence
	}{
		{"relay drops at the peer API of a working endpoint", func(a *EndpointEvidence) {
			a.Endpoint.Funnel = true
			withLog(a, append([]string{peerAPIServing}, relayDrop(relayLong, 46650), relayDrop(relayShort, 46651))...)
		}, "", nil, nil},
		{"case c: relay drops, then EOFs from the same relays", funnelDown(append([]string{peerAPIServing}, relayStory()...)...),
			"funnel-relay-handshake-failing", []string{"drops-no-rules-matched", "funnel-no-relay-traffic"},
			[]string{"no configuration change fixes this", "from the same relay"}},
		{"ingress denied to an IPv4 tailnet peer on 1.102.1 (the real capture's shape): not Funnel, no version bug", func(a *EndpointEvidence) {
			a.Endpoint.Funnel = true
			withLog(a, programStarting("v1.102.1"), "2026/12/05 15:17:31 peerapi: ingress: denied; no ingress cap from 100.64.0.2:45130")
		}, "", nil, nil},
		{"case a: no relay traffic", funnelDown(peerAPIServing),
			"funnel-no-relay-traffic", []string{"funnel-relay-traffic"}, []string{"no Funnel relay line"}},
		{"case a: funnel annotation on a ProxyGroup Ingress", func(a *EndpointEvidence) {
			funnelDown()(a)
			a.Endpoint.Kind, a.Endpoint.ProxyGroup, a.Endpoint.FunnelIgnored = discovery.KindProxyGroup, "ingress-pg", true
		}, "funnel-no-relay-traffic", nil, []string{"ProxyGroup Ingress"}},
		{"case b: 1.102.1 denies ingress", funnelDown(programStarting("v1.102.1"), relayDrop(relayLong, 46650), sampleDenied),
			"proxy-version-bug", []string{"funnel-relay-handshake-failing"},
			[]string{"v1.102.1 has the no-ingress-cap regression", "upgrade the proxy image to 1.102.2 or later", "tailscale/tailscale#20739"}},
		{"case b: 1.102.1 from the image tag", func(a *EndpointEvidence) {
			a.Pods[0].Version = "v1.102.1"
			funnelDown(sampleDenied)(a)
		}, "proxy-version-bug", nil, []string{"from its image tag"}},
		{"case b: 1.100.x denies ingress: the capability", funnelDown(programStarting("v1.100.4"), sampleDenied),
			"funnel-ingress-denied", []string{"proxy-version-bug"}, []string{"the node lacks the capability", "nodeAttrs"}},
		{"case d: HTTPS off, address %!s(<nil>)", funnelDown(relayDrop(relayLong, 46650), certNil, certNil),
			"certificate-not-issued", nil, []string{"your Tailscale account does not support getting TLS certs"}},
		{"case d: Let's Encrypt rate limit", funnelDown(certRateLimited),
			"certificate-rate-limited", nil, []string{"acme:error:rateLimited"}},
		{"tailnet clients refused at 443 (IPv4)", func(a *EndpointEvidence) {
			a.Probes[config.VantageTailnet] = failedProbe(prober.ReasonTLSHandshakeTimeout, prober.PhaseTLS, 10e9)
			withLog(a, sampleDropIPv4, sampleDropIPv4, "2026/11/24 09:32:41 Drop: TCP{[fd7a:115c:a1e0::1]:23426 > [fd7a:115c:a1e0::2]:443} 60 no rules matched")
		}, "drops-no-rules-matched", []string{"funnel-relay-traffic"}, []string{"2 from IPv4 and 1 from IPv6 tailnet clients", "policy does not allow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := healthy(func(a, w *EndpointEvidence, _ *Evidence) {
				tc.change(a)
				w.Endpoint.Funnel = a.Endpoint.Funnel // compared like with like
			})()
			r := Diagnose(ev)
			if tc.first == "" {
				if r.Problems() {
					t.Fatalf("problems found: %v", ruleIDs(r.Findings))
				}
				checkRelayLast(t, r)
				return
			}
			if len(r.Findings) == 0 || r.Findings[0].Rule != tc.first {
				t.Fatalf("findings %v, want %s first", ruleIDs(r.Findings), tc.first)
			}
			top := r.Findings[0]
			for _, f := range r.Findings[1:] {
				if f.Cause != top.Cause && f.Likelihood >= top.Likelihood {
					t.Errorf("%s (likelihood %d) ties with or outranks %s (%d)", f.Rule, f.Likelihood, top.Rule, top.Likelihood)
				}
			}
			for _, f := range r.Findings {
				for _, id := range tc.absent {
					if f.Rule == id {
						t.Errorf("rule %s fired: %s", id, f.Title)
					}
				}
			}
			text := top.Title + "\n" + strings.Join(top.Evidence, "\n") + "\n" + strings.Join(top.Next, "\n")
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("first finding lacks %q:\n%s", s, text)
				}
			}
			checkRelayLast(t, r)
		})
	}
}

// checkRelayLast fails when the relay traffic finding ranks above a
// warning or a critical finding.
func checkRelayLast(t *testing.T, r Report) {
	t.Helper()
	relay := false
	for _, f := range r.Findings {
		if f.Rule == "funnel-relay-traffic" {
			relay = true
			continue
		}
		if relay && f.Severity != SeverityInfo {
			t.Errorf("funnel-relay-traffic ranks above %s (%s): %v", f.Rule, f.Severity, ruleIDs(r.Findings))
		}
	}
}

// TestRealPeerAPIDrop: the real capture of a peer-API drop from an
// ordinary peer (REFERENCE.md §2) is classified by the port tailscaled
// logged, else by its rule, else not at all; as a peer-API drop it is
// relay traffic, never a real drop.
func TestRealPeerAPIDrop(t *testing.T) {
	otherPort := "2026/11/24 09:30:00 peerapi: serving on http://[" + selfIPv6 + "]:45678"
	outside := strings.Replace(realPeerAPIDrop, "[fd7a:115c:a1e0::5501:7c39]", "[2001:db8::1]", 1)
	for _, tc := range []struct {
		name   string
		lines  []string
		key    DropKey
		relays int
	}{
		{"port learned", []string{peerAPIServing, realPeerAPIDrop}, DropKey{logmatch.ReasonNoRulesMatched, logmatch.FamilyIPv6, logmatch.DropClassPeerAPI, logmatch.PortSourceLearned}, 1},
		{"another port learned: the log wins over the rule", []string{otherPort, realPeerAPIDrop}, DropKey{logmatch.ReasonNoRulesMatched, logmatch.FamilyIPv6, logmatch.DropClassOther, logmatch.PortSourceLearned}, 0},
		{"port inferred", []string{realPeerAPIDrop}, DropKey{logmatch.ReasonNoRulesMatched, logmatch.FamilyIPv6, logmatch.DropClassPeerAPI, logmatch.PortSourceInferred}, 1},
		{"port unknown: not a tailnet destination", []string{outside}, DropKey{logmatch.ReasonNoRulesMatched, logmatch.FamilyIPv6, logmatch.DropClassUnknown, logmatch.PortSourceUnknown}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := healthy(func(a, _ *EndpointEvidence, _ *Evidence) { withLog(a, tc.lines...) })()
			a := &ev.Endpoints[0]
			if len(a.Logs.Drops) != 1 || a.Logs.Drops[tc.key] != 1 {
				t.Errorf("drops = %v, want one %+v", a.Logs.Drops, tc.key)
			}
			if got := relayConnections(a.Logs); got != tc.relays {
				t.Errorf("%d relay connections, want %d", got, tc.relays)
			}
			if p := a.Logs.Proxies[0]; p.PeerAPIFrom != tc.key.Source {
				t.Errorf("proxy's peer API port %s, want %s", p.PeerAPIFrom, tc.key.Source)
			}
			r := Diagnose(ev)
			for _, f := range r.Findings {
				if f.Severity != SeverityInfo || f.Cause == causes.ProxyDroppingTraffic {
					t.Errorf("finding %s (%s) on a working endpoint's peer-API drop", f.Rule, f.Severity)
				}
			}
		})
	}
}

// TestProxyFactsVersion: the version comes from the log, else from the
// image tag in every shape operators use, else it is unknown.
func TestProxyFactsVersion(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		log  string
		want string // versionString, "" for unknown
		from VersionSource
	}{
		{"v1.102.1", "", "v1.102.1", VersionFromImage},
		{"1.102.1", "", "v1.102.1", VersionFromImage},
		{"unstable-v1.103.5", "", "v1.103.5", VersionFromImage},
		{"v1.103.5-pre", "", "v1.103.5 (a development build)", VersionFromImage},
		{"stable", "", "", VersionUnknown},
		{"latest", "", "", VersionUnknown},
		{discovery.VersionUnknown, "", "", VersionUnknown}, // a digest
		{"stable", programStarting("v1.102.0"), "v1.102.0", VersionFromLog},
		{"v1.98.0", programStarting("v1.102.0"), "v1.102.0", VersionFromLog},
	} {
		t.Run(fmt.Sprintf("%s/%t", tc.tag, tc.log != ""), func(t *testing.T) {
			a := endpoint("default", "app", "app", "app")
			a.Pods[0].Version = tc.tag
			var lines []string
			if tc.log != "" {
				lines = append(lines, tc.log)
			}
			p := withLog(a, lines...).Logs.Proxies[0]
			got := ""
			if p.VersionFrom != VersionUnknown {
				got = versionString(p.Version)
			}
			if got != tc.want || p.VersionFrom != tc.from {
				t.Errorf("version %q from %q, want %q from %q", got, p.VersionFrom, tc.want, tc.from)
			}
		})
	}
}
