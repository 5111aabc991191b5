package diagnose

import (
	"fmt"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
)

// Scenario fixtures: evidence as Gather returns it, built by hand so that
// every rule can be driven on and off one fact at a time.

const testTailnet = "tailnet-1234.ts.net"

var gatheredAt = time.Date(2026, 11, 24, 9, 40, 0, 0, time.UTC)

// endpoint is a provisioned Ingress endpoint with a Service backend.
func endpoint(ns, name, host, backend string) *EndpointEvidence {
	return &EndpointEvidence{
		Hostname: host + "." + testTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: ns, Name: name,
			Hostname: host + "." + testTailnet, RequestedHostname: host, Provisioned: true,
			Tags: "tag:k8s", Backend: backend + ":80",
		},
		Pods: []discovery.ProxyPod{{
			Namespace: "tailscale", Name: "ts-" + name + "-abcde-0",
			Parent: discovery.Parent{Type: discovery.ParentIngress, Namespace: ns, Name: name},
			Ready:  true, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3", Phase: "Running",
		}},
		PodsListed: true,
		Logs:       LogSummary{Read: true, Lines: 120, Since: gatheredAt.Add(-DefaultLogSince)},
		Probes:     map[string]prober.Result{config.VantageDirect: okProbe()},
		Backend:    BackendEvidence{Service: ns + "/" + backend + ":80", Known: true, Found: true, Checked: true, ReadyAddr: 1},
	}
}

func okProbe() prober.Result {
	return prober.Result{
		Success: true, Start: gatheredAt.Add(-2 * time.Second), Duration: 62 * time.Millisecond,
		Phases: map[prober.Phase]time.Duration{
			prober.PhaseResolve: time.Millisecond, prober.PhaseConnect: 18 * time.Millisecond,
			prober.PhaseTLS: 25 * time.Millisecond, prober.PhaseHTTP: 18 * time.Millisecond,
		},
		HTTPStatus: 200, TLSVersion: "TLS 1.3", CertExpiry: gatheredAt.Add(80 * 24 * time.Hour),
	}
}

// stalledProbe connected and then waited out its 10 s in the handshake: the
// incident's symptom.
func stalledProbe() prober.Result {
	return failedProbe(prober.ReasonTLSHandshakeTimeout, prober.PhaseTLS, 10*time.Second)
}

func failedProbe(reason prober.Reason, phase prober.Phase, after time.Duration) prober.Result {
	r := prober.Result{Reason: reason, FailedPhase: phase, Start: gatheredAt.Add(-11 * time.Second), Phases: map[prober.Phase]time.Duration{}}
	for _, p := range prober.Phases {
		if p == phase {
			r.Phases[p] = after
			break
		}
		r.Phases[p] = map[prober.Phase]time.Duration{prober.PhaseResolve: time.Millisecond, prober.PhaseConnect: 2 * time.Millisecond, prober.PhaseTLS: 30 * time.Millisecond}[p]
	}
	for _, d := range r.Phases {
		r.Duration += d
	}
	return r
}

func drop(family logmatch.Family, port logmatch.PortClass) logmatch.Event {
	return logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolTCP, Port: port, Family: family}
}

func withEvents(e *EndpointEvidence, counts map[logmatch.Event]int, samples ...string) *EndpointEvidence {
	e.Logs.Events = counts
	e.Logs.Samples = samples
	e.Logs.Matched = matchedSamples(samples...)
	return e
}

// matchedSamples types kept lines as Gather keeps them: each with the
// event the built-in matcher makes of it.
func matchedSamples(lines ...string) []logs.Sample {
	m, err := logmatch.New(nil)
	if err != nil {
		panic(err)
	}
	out := make([]logs.Sample, 0, len(lines))
	for _, l := range lines {
		ev, _ := m.Match([]byte(l))
		out = append(out, logs.Sample{Event: ev, Line: l})
	}
	return out
}

const (
	sampleDropIPv6 = "2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched"
	sampleDropIPv4 = "2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched"
	sampleTLSEOF   = "2026/11/24 09:32:17 http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF"
	sampleDenied   = "2026/11/24 09:32:18 peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::9]:36338"

	// The proxy's own addresses and peer API port (36311 is also what
	// tailscaled's rule gives for its IPv6 address).
	selfIPv6       = "fd7a:115c:a1e0::5501:7c39"
	peerAPIServing = "2026/11/24 09:30:00 peerapi: serving on http://[" + selfIPv6 + "]:36311"
	// realPeerAPIDrop is REFERENCE.md §2's real capture: a peer-API drop
	// from an ordinary peer, which tailscaled lets through.
	realPeerAPIDrop = "Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched"
	certNil         = "2024/05/28 08:00:01 http: TLS handshake error from %!s(<nil>): 500 Internal Server Error: your Tailscale account does not support getting TLS certs"
	certRateLimited = "2026/03/02 10:11:12 http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: 429 urn:ietf:params:acme:error:rateLimited: Error creating new order :: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-03-04 10:11:12 UTC"
	filterRateLimit = `2026/11/24 09:32:30 [RATELIMIT] format("%s: %s %d %s\n%s") (8 dropped)`
)

// programStarting is the line tailscaled version ver logs at its start.
func programStarting(ver string) string {
	return "2026/11/24 09:30:00 Program starting: " + ver + "-t36550d57f, Go 1.26.5: []string{\"tailscaled\"}"
}

// relayDrop is a relay's connection to the proxy's peer API port, from
// the relay address relay (long or short form) and port.
func relayDrop(relay string, port int) string {
	return fmt.Sprintf("2026/11/24 09:32:%02d Drop: TCP{[%s]:%d > [%s]:36311} 80 no rules matched", port%60, relay, port, selfIPv6)
}

// relayEOF is the handshake error that follows from the same relay.
func relayEOF(relay string, port int) string {
	return fmt.Sprintf("2026/11/24 09:32:%02d http: TLS handshake error from [%s]:%d: EOF", port%60, relay, port)
}

// withLog gives e's proxy log the lines, summed up as Gather sums up a
// log it read: through the exporter's Reader and Counters, merged by
// mergeLogs (its first pod's image tag gives the version when no line
// does).
func withLog(e *EndpointEvidence, lines ...string) *EndpointEvidence {
	m, err := logmatch.New(nil)
	if err != nil {
		panic(err)
	}
	c := logs.NewCounters()
	var k logs.StreamKey
	samples := &logs.Samples{Max: MaxLogSamples, Relay: MaxRelaySamples}
	r := &logs.Reader{Matcher: logs.NewMatcherRef(m), Stream: c.Stream(k), Samples: samples}
	if err := r.ReadPlain(strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		panic(err)
	}
	counts := logs.TailCounts{Totals: c.Totals(k), Samples: samples.List(), Relay: samples.RelayList(), HeadRead: true}
	pod, tag := "host", ""
	if len(e.Pods) > 0 {
		pod, tag = e.Pods[0].Namespace+"/"+e.Pods[0].Name, e.Pods[0].Version
	}
	e.Logs = mergeLogs(LogSummary{Since: e.Logs.Since}, counts, pod, tag)
	return e
}

// withExact gives e's first proxy pod a read of its own counters: acl
// inbound drops (the family tailscaled always writes) and others.
func withExact(e *EndpointEvidence, acl float64, others ...float64) *EndpointEvidence {
	var d proxymetrics.Drops
	d.Seen[proxymetrics.Inbound][proxymetrics.ReasonACL] = true
	d.Count[proxymetrics.Inbound][proxymetrics.ReasonACL] = acl
	for i, n := range others { // from multicast on, in enumeration order
		d.Count[proxymetrics.Inbound][i+1], d.Seen[proxymetrics.Inbound][i+1] = n, true
	}
	p := e.Pods[0]
	e.Exact = []ExactDrops{{Pod: p.Namespace + "/" + p.Name, State: ExactRead, Drops: d}}
	return e
}

// repeat returns n copies of what line makes for i.
func repeat(n int, line func(i int) string) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, line(i))
	}
	return out
}

const (
	relayLong  = "fd7a:115c:a1e0:ab12:4843:cd96:625a:9516"
	relayShort = "fd7a:115c:a1e0::6c01:2a07"
)

// relayStory is case c of REFERENCE.md §8: relays reach the proxy and
// each handshake that follows ends in EOF from the same relay, while
// tailscaled rate-limits its filter log.
func relayStory() []string {
	var out []string
	for i := range 6 {
		relay := relayLong
		if i%2 == 1 {
			relay = relayShort
		}
		out = append(out, relayDrop(relay, 46650+i), relayEOF(relay, 46650+i))
	}
	return append(out, filterRateLimit)
}

// incidentEvidence is REFERENCE.md §1 as tailscaled really logs it: the
// cluster tunnel k8s (Ingress kube-system/traefik-ingress in front of
// Traefik, Funnel on) times out in the TLS handshake; its proxy logs the
// Funnel relays' connections to its peer API port, then a TLS handshake
// EOF from each same relay (case c of §8). The per-service Funnel whoami
// in default answers 200.
func incidentEvidence() Evidence {
	k8s := endpoint("kube-system", "traefik-ingress", "k8s", "traefik")
	k8s.Endpoint.Funnel = true
	k8s.Probes[config.VantageDirect] = stalledProbe()
	withLog(k8s, append([]string{programStarting("v1.80.3"), peerAPIServing}, relayStory()...)...)
	whoami := endpoint("default", "whoami", "whoami", "whoami")
	whoami.Endpoint.Funnel = true
	return Evidence{
		GatheredAt: gatheredAt,
		Endpoints:  []EndpointEvidence{*k8s},
		Compare:    whoami,
		Operator:   OperatorEvidence{Found: true, Pod: "operator-7d9f8b-x2k4q", Version: "v1.80.3", Ready: true},
	}
}
