package diagnose

import (
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
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
)

// incidentEvidence is REFERENCE.md §1: the cluster tunnel k8s (Ingress
// kube-system/traefik-ingress in front of Traefik, no Funnel annotation)
// times out in the TLS handshake while its proxy drops the Funnel relays'
// IPv6 connections; the per-service Funnel whoami in default answers 200.
func incidentEvidence() Evidence {
	k8s := endpoint("kube-system", "traefik-ingress", "k8s", "traefik")
	k8s.Probes[config.VantageDirect] = stalledProbe()
	k8s.Logs.RateLimit = true
	withEvents(k8s, map[logmatch.Event]int{
		drop(logmatch.FamilyIPv6, logmatch.Port443):                                                         40,
		{Kind: logmatch.KindTLSHandshakeError, Family: logmatch.FamilyIPv6, TLSCause: logmatch.TLSCauseEOF}: 12,
		{Kind: logmatch.KindRateLimit, FilterFormat: true}:                                                  4,
	}, sampleDropIPv6, sampleTLSEOF)
	whoami := endpoint("default", "whoami", "whoami", "whoami")
	whoami.Endpoint.Funnel = true
	return Evidence{
		GatheredAt: gatheredAt,
		Endpoints:  []EndpointEvidence{*k8s},
		Compare:    whoami,
		Operator:   OperatorEvidence{Found: true, Pod: "operator-7d9f8b-x2k4q", Version: "v1.80.3", Ready: true},
	}
}
