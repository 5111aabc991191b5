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
	Line  string         // as written, without a Kubernetes timestamp; cut at MaxSampleLength
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

	seen     map[logmatch.Event]bool // keyed as Counters keys events
	distinct []kept
	recent   []kept // the last lines not in distinct, a ring once full
	next     int    // the oldest of recent once full
}

type kept struct {
	ev   logmatch.Event
	line []byte
	cut  bool
}

func (k *kept) set(ev logmatch.Event, line []byte) {
	k.ev, k.cut = ev, len(line) > MaxSampleLength
	k.line = append(k.line[:0], line[:min(len(line), MaxSampleLength)]...)
}

// Keep offers one matched line; the Reader calls it.
func (s *Samples) Keep(ev logmatch.Event, line []byte) {
	switch ev.Kind {
	case logmatch.KindAccept, logmatch.KindPeerAPIServing, logmatch.KindProgramStarting:
		return
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
		s.distinct[len(s.distinct)-1].set(ev, line)
		return
	}
	if len(s.recent) < s.Max {
		s.recent = append(s.recent, kept{})
		s.recent[len(s.recent)-1].set(ev, line)
		return
	}
	s.recent[s.next].set(ev, line)
	s.next = (s.next + 1) % len(s.recent)
}

// List returns the kept lines: the first of each kind in the order they
// came, then the latest others, oldest first.
func (s *Samples) List() []Sample {
	var out []Sample
	add := func(k kept) {
		line := string(k.line)
		if k.cut {
			line += "…"
		}
		out = append(out, Sample{Event: k.ev, Line: line})
	}
	for _, k := range s.distinct {
		add(k)
	}
	recent := append(s.recent[s.next:len(s.recent):len(s.recent)], s.recent[:s.next]...)
	for _, k := range recent[max(0, len(recent)-(s.Max-len(s.distinct))):] {
		add(k)
	}
	return out
}
