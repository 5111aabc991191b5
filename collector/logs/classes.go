package logs

import (
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// Classified is a drop or accept line (its Event.Key) with where its
// packet went, as logmatch.Classify said when the line was counted.
type Classified struct {
	Event  logmatch.Event
	Class  logmatch.DropClass
	Source logmatch.PortSource
}

// PodFacts is what a proxy's log says about the proxy itself: its peer API
// ports ("peerapi: serving on", the latest wins) and tailscaled's version
// ("Program starting"; zero when not seen).
type PodFacts struct {
	Ports   logmatch.PeerAPIPorts
	Version logmatch.Version
}

// learn takes a KindPeerAPIServing or KindProgramStarting event.
func (f *PodFacts) learn(ev logmatch.Event) {
	switch ev.Kind {
	case logmatch.KindPeerAPIServing:
		f.Ports.Learn(ev)
	case logmatch.KindProgramStarting:
		f.Version = ev.Version
	}
}

// fill takes from g what f does not know yet: f learned from later lines.
func (f *PodFacts) fill(g PodFacts) {
	if f.Ports.IPv4 == 0 {
		f.Ports.IPv4 = g.Ports.IPv4
	}
	if f.Ports.IPv6 == 0 {
		f.Ports.IPv6 = g.Ports.IPv6
	}
	if f.Version == (logmatch.Version{}) {
		f.Version = g.Version
	}
}

// portLabel is the port label of drops and accepts: the served ports by
// number, the peer API, and everything else. Served ports keep their
// numbers so that port=~"443|80" keeps selecting real drops.
type portLabel uint8

const (
	portNone portLabel = iota
	port443
	port80
	portPeerAPI
	// portOther: any other port, UDP and other protocols to the peer API
	// port (the exception is for TCP), and TCP to an unserved port of a
	// destination whose peer API port is neither learned nor inferable
	// (logmatch.DropClassUnknown: not a tailnet address).
	portOther
	numPortLabels
)

var portLabelNames = [numPortLabels]string{"none", "443", "80", "peerapi", "other"}

func (p portLabel) String() string { return portLabelNames[p] }

// portOf is the port label of a classified drop or accept.
func portOf(ev logmatch.Event, class logmatch.DropClass) portLabel {
	switch {
	case class == logmatch.DropClassServed && ev.Port == logmatch.Port443:
		return port443
	case class == logmatch.DropClassServed && ev.Port == logmatch.Port80:
		return port80
	case class == logmatch.DropClassPeerAPI:
		return portPeerAPI
	}
	return portOther
}

// series is the label set of one series of the drops, accepts, TLS error
// and ingress denial families; fields a family has no label for are zero.
type series struct {
	kind     logmatch.Kind
	reason   logmatch.Reason
	protocol logmatch.Protocol
	family   logmatch.Family
	port     portLabel
	cause    logmatch.TLSCause
}

// labelsOf is the series a classified event counts in, if any.
func labelsOf(ev logmatch.Event, class logmatch.DropClass) (series, bool) {
	switch ev.Kind {
	case logmatch.KindDrop:
		return series{kind: ev.Kind, reason: ev.Reason, protocol: ev.Protocol, family: ev.Family, port: portOf(ev, class)}, true
	case logmatch.KindAccept:
		return series{kind: ev.Kind, protocol: ev.Protocol, family: ev.Family, port: portOf(ev, class)}, true
	case logmatch.KindTLSHandshakeError:
		return series{kind: ev.Kind, family: ev.Family, cause: ev.TLSCause}, true
	case logmatch.KindIngressDenied:
		return series{kind: ev.Kind, family: ev.Family}, true
	}
	return series{}, false
}

// zeroFamilies are the source families series start at 0 for: a Funnel
// relay comes over IPv6, a tailnet client over either.
var zeroFamilies = [...]logmatch.Family{logmatch.FamilyIPv4, logmatch.FamilyIPv6}

// ZeroSeriesPerStream is how many series every stream has from the moment
// it exists, each at 0, so that increase() and rate() see the first burst
// of a family the alerts and dashboards read (a series born at its first
// event has no earlier sample and increases by nothing).
const ZeroSeriesPerStream = 2*3 + 2 + 2*5 + 2

// certCauses are the TLS handshake error causes that are about the
// certificate, not the client: tailscaled prints their client address as
// %!s(<nil>) in public reports, so they start at 0 for family unknown too.
var certCauses = [...]logmatch.TLSCause{logmatch.TLSCauseCertUnavailable, logmatch.TLSCauseRateLimited}

// zeroSeries returns the series every stream starts with: TCP drops with
// no rules matched to each served port and to the peer API, ingress
// denials, and TLS handshake errors by cause, each per family.
func zeroSeries() map[series]uint64 {
	m := make(map[series]uint64, ZeroSeriesPerStream)
	for _, f := range zeroFamilies {
		for _, p := range [...]portLabel{port443, port80, portPeerAPI} {
			m[series{kind: logmatch.KindDrop, reason: logmatch.ReasonNoRulesMatched, protocol: logmatch.ProtocolTCP, family: f, port: p}] = 0
		}
		m[series{kind: logmatch.KindIngressDenied, family: f}] = 0
		for _, c := range logmatch.TLSCauses() {
			m[series{kind: logmatch.KindTLSHandshakeError, family: f, cause: c}] = 0
		}
	}
	for _, c := range certCauses {
		m[series{kind: logmatch.KindTLSHandshakeError, family: logmatch.FamilyUnknown, cause: c}] = 0
	}
	return m
}
