package logs

import (
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// MaxSampleLength cuts a kept line; a longer one ends in "…". A drop line
// is under 200 bytes; a 64 KiB dump is not evidence.
const MaxSampleLength = 1024

// Sample is one matched line kept for a report.
type Sample struct {
	Event logmatch.Event // as matched, per-line numbers included
	// Class and Source say where a drop or accept went, as Counters
	// classified it when the line was counted (zero for other lines).
	Class  logmatch.DropClass
	Source logmatch.PortSource
	Line   string // as written, without a Kubernetes timestamp; cut at MaxSampleLength
}

// SampleLine copies a line for a report, cut to MaxSampleLength bytes.
func SampleLine(b []byte) string {
	if len(b) > MaxSampleLength {
		return string(b[:MaxSampleLength]) + "…"
	}
	return string(b)
}

// Samples keeps the matched lines of a stream worth showing in a report:
// the first line of each kind of event, so that a flood of drops does not
// hide the one TLS error, then the most recent others, Max in all. Accepts
// explain no failure and are not kept, nor (until diagnose uses them) the
// peer API listener and version lines, which would take the places of
// failures. Its buffers are reused, so keeping costs no allocation per
// line once they are full.
type Samples struct {
	Max int
	// Relay is how many of the latest Funnel relay lines are kept apart
	// (RelayList): TCP drops to the peer API port and TLS handshake errors
	// from IPv6 sources, and ingress denials. A report pairs a relay's
	// drop with the handshake error from the same address and port, which
	// a flood of other lines must not push out.
	Relay int

	seen     map[logmatch.Event]bool // keyed as Counters keys events
	distinct []kept
	recent   ring // the last lines not in distinct
	relay    ring
}

type kept struct {
	ev    logmatch.Event
	class logmatch.DropClass
	src   logmatch.PortSource
	line  []byte
	cut   bool
}

func (k *kept) set(ev logmatch.Event, class logmatch.DropClass, src logmatch.PortSource, line []byte) {
	k.ev, k.class, k.src, k.cut = ev, class, src, len(line) > MaxSampleLength
	k.line = append(k.line[:0], line[:min(len(line), MaxSampleLength)]...)
}

// ring keeps the latest lines, at most n; its buffers are reused.
type ring struct {
	ks   []kept
	next int // the oldest once full
}

func (r *ring) add(n int, ev logmatch.Event, class logmatch.DropClass, src logmatch.PortSource, line []byte) {
	if len(r.ks) < n {
		r.ks = append(r.ks, kept{})
		r.ks[len(r.ks)-1].set(ev, class, src, line)
		return
	}
	r.ks[r.next].set(ev, class, src, line)
	r.next = (r.next + 1) % len(r.ks)
}

// list returns the kept lines, oldest first.
func (r *ring) list() []kept {
	return append(r.ks[r.next:len(r.ks):len(r.ks)], r.ks[:r.next]...)
}

// relayLine reports whether a line is one a Funnel relay's connection
// makes: a TCP drop to the peer API port or a TLS handshake error from an
// IPv6 source (relays come over the tailnet's IPv6 range), or an ingress
// denial.
func relayLine(ev logmatch.Event, class logmatch.DropClass) bool {
	switch ev.Kind {
	case logmatch.KindDrop:
		return class == logmatch.DropClassPeerAPI && ev.Family == logmatch.FamilyIPv6
	case logmatch.KindTLSHandshakeError:
		return ev.Family == logmatch.FamilyIPv6
	case logmatch.KindIngressDenied:
		return true
	}
	return false
}

// Keep offers one matched line with where Counters classified it; the
// Reader calls it.
func (s *Samples) Keep(ev logmatch.Event, class logmatch.DropClass, src logmatch.PortSource, line []byte) {
	switch ev.Kind {
	case logmatch.KindAccept, logmatch.KindPeerAPIServing, logmatch.KindProgramStarting:
		return
	}
	if s.Relay > 0 && relayLine(ev, class) {
		s.relay.add(s.Relay, ev, class, src, line)
	}
	if s.Max <= 0 {
		return
	}
	key := ev.Key()
	if !s.seen[key] && len(s.distinct) < s.Max {
		if s.seen == nil {
			s.seen = map[logmatch.Event]bool{}
		}
		s.seen[key] = true
		s.distinct = append(s.distinct, kept{})
		s.distinct[len(s.distinct)-1].set(ev, class, src, line)
		return
	}
	s.recent.add(s.Max, ev, class, src, line)
}

// List returns the kept lines: the first of each kind in the order they
// came, then the latest others, oldest first.
func (s *Samples) List() []Sample {
	var out []Sample
	for _, k := range s.distinct {
		out = append(out, k.sample())
	}
	recent := s.recent.list()
	for _, k := range recent[max(0, len(recent)-(s.Max-len(s.distinct))):] {
		out = append(out, k.sample())
	}
	return out
}

// RelayList returns the latest Funnel relay lines kept apart (see Relay),
// oldest first.
func (s *Samples) RelayList() []Sample {
	var out []Sample
	for _, k := range s.relay.list() {
		out = append(out, k.sample())
	}
	return out
}

func (k kept) sample() Sample {
	line := string(k.line)
	if k.cut {
		line += "…"
	}
	return Sample{Event: k.ev, Class: k.class, Source: k.src, Line: line}
}
