package logmatch

import (
	"bytes"
	"math/bits"
)

// The anchors of the built-in events. tailscaled writes them at the start
// of a message, sometimes behind "component: " prefixes added by
// logger.WithPrefix ("peerapi: ", "http: ", "wgengine: "). What follows an
// anchor must parse completely or the line is no event.
var (
	anchorDrop      = []byte("Drop: ")
	anchorAccept    = []byte("Accept: ")
	anchorTLS       = []byte("TLS handshake error from ")
	anchorIngress   = []byte("ingress: denied; no ingress cap from ")
	anchorRateLimit = []byte(`[RATELIMIT] format("`)

	anchors = [...][]byte{anchorDrop, anchorAccept, anchorTLS, anchorIngress, anchorRateLimit}
)

// An anchor is looked for at the message start and after each of up to
// maxComponents "component: " prefixes (a word of at most maxComponentLen
// bytes ending in ':', then a space). Looking only
// there instead of searching whole lines is what makes ordinary lines cheap,
// and it keeps anchors quoted inside other messages from counting.
const (
	maxComponents   = 4
	maxComponentLen = 32
)

// filterFormat is the filter's log format as %q writes it into a
// [RATELIMIT] notice; drop and accept lines share it.
var filterFormat = []byte(`%s: %s %d %s\n%s`)

// Match reports what line is. line is one log line, with or without the
// Kubernetes timestamp, journald or Go log prefixes and trailing "\r\n".
// It does not retain line and, for a line that is no event and has none of
// the signatures' literals, does not allocate.
//
// The built-in events are recognised where tailscaled writes them: at the
// start of the message (after the prefixes) or after up to four
// "component: " prefixes such as "peerapi: " or "http: ". A line whose anchor ("Drop: ", "TLS handshake
// error from ", ...) is followed by something that does not parse, such as
// a truncated line or garbage inside the braces, is not an event: a counter
// should never count what it cannot label. An unrecognised drop reason is
// ReasonOther, an unrecognised protocol name ProtocolOther.
//
// A nil or zero Matcher matches the built-in events only.
func (m *Matcher) Match(line []byte) (Event, bool) {
	line = trimEOL(line)
	// On amd64, a kernel decides most lines (see scan.go).
	if haveScan && len(line) >= scanMinLen {
		switch scanUsual(line, scanK) {
		case scanNone:
			goto none
		case scanMaybe:
			goto maybe
		}
	}
	// The fast path (see prefilter.go) is written out here: on an ordinary
	// line, calling it would cost a tenth of the time.
	{
		msg := line
		// A Kubernetes timestamp with nine fraction digits and a Go log
		// timestamp without fraction, as on most lines: the message is then
		// at a fixed offset, so the walk below need not wait for the
		// timestamps' bytes. Their shapes are checked loosely, which is all
		// the argument in prefilter.go needs: where a digit may be another byte in
		// '0'..'?', neither timestamp has a space and the Kubernetes one ends
		// in 'Z'. The Go log one can turn into two prefixes ("2006/01/0:" and
		// "15:04:0:"); no anchor starts with either, and the walk from after
		// them looks at every place builtin would look.
		if len(line) >= 31+40 && kubeUsual[0].miss(line[0:])|kubeUsual[1].miss(line[8:])|
			kubeUsual[2].miss(line[16:])|kubeUsual[3].miss(line[23:]) == 0 {
			msg = line[31:]
			if len(msg) >= 20+40 && goLogUsual[0].miss(msg[0:])|goLogUsual[1].miss(msg[8:])|goLogUsual[2].miss(msg[12:]) == 0 {
				msg = msg[20:]
			} else if msg[4] == '/' || msg[0] >= 'A' && msg[0] <= 'Z' {
				msg = skipLogPrefixes(msg)
			}
		} else {
			msg = skipPrefixes(line)
		}
		if msg == nil {
			goto none
		}
		if len(msg) < 40 {
			if walkAnchors(msg, 0, 0) {
				goto maybe
			}
			goto none
		}
		// The walk of builtin over the first 32 bytes of the message. How
		// many "component: " prefixes a line has differs from line to line,
		// so the walk is computed for each number without branching on it: a
		// mispredicted branch costs more than the whole walk. Only the first
		// two bytes of an anchor are compared, and one-byte words count as
		// prefixes: both only let more lines through to the exact path.
		w := (*[40]byte)(msg)
		sp := spaces8(le64(w[0:8])) | spaces8(le64(w[8:16]))<<8 |
			spaces8(le64(w[16:24]))<<16 | spaces8(le64(w[24:32]))<<24
		// The first three spaces, 32 if there are fewer.
		s1 := bits.TrailingZeros32(sp)
		sp &= sp - 1
		s2 := bits.TrailingZeros32(sp)
		sp &= sp - 1
		s3 := bits.TrailingZeros32(sp)
		// dk is 0 if the first k words are "component: " prefixes, so that
		// builtin looks at the word after space k.
		d1 := w[(s1-1)&31] ^ ':' | byte(s1>>5)
		d2 := w[(s2-1)&31] ^ ':' | byte(s2>>5) | d1
		d3 := w[(s3-1)&31] ^ ':' | byte(s3>>5) | d2
		if mayAnchor(w, 0) == 0 || mayAnchor(w, s1+1)|d1 == 0 || mayAnchor(w, s2+1)|d2 == 0 ||
			mayAnchor(w, s3+1)|d3 == 0 {
			goto maybe
		}
		// A word that goes on past the window may be one more prefix.
		switch {
		case s1 == 32:
			if walkAnchors(msg, 0, 0) {
				goto maybe
			}
			goto none
		case d1 == 0 && s2 == 32:
			if walkAnchors(msg, s1+1, 1) {
				goto maybe
			}
			goto none
		case d2 == 0 && s3 == 32:
			if walkAnchors(msg, s2+1, 2) {
				goto maybe
			}
			goto none
		case d3 == 0: // three prefixes, and maybe more; rare
			if walkAnchors(msg, s3+1, 3) {
				goto maybe
			}
			goto none
		}
		goto none
	}
none:
	if m == nil || len(m.sigs) == 0 {
		return Event{}, false
	}
	return m.match(line, false)
maybe:
	return m.match(line, true)
}

// match is Match for a line that may hold an event or a signature.
func (m *Matcher) match(line []byte, maybe bool) (Event, bool) {
	var ev Event
	if maybe {
		ev = builtin(message(line))
	}
	if m != nil && len(m.sigs) > 0 {
		ev.Custom = m.matchCustom(line)
		if ev.Kind == KindNone && ev.Custom != 0 {
			ev.Kind = KindCustom
		}
	}
	return ev, ev.Kind != KindNone
}

func builtin(msg []byte) Event {
	for i, n := 0, 0; i < len(msg); n++ {
		if anchorStart[msg[i]] {
			if ev, ok := anchored(msg[i:]); ok {
				return ev
			}
		}
		if n == maxComponents {
			break
		}
		// Skip one "component: " prefix, or stop at the first word that is none.
		sp := bytes.IndexByte(msg[i:min(len(msg), i+maxComponentLen+2)], ' ')
		if sp < 2 || msg[i+sp-1] != ':' {
			break
		}
		i += sp + 1
	}
	return Event{}
}

var anchorStart [256]bool

func init() {
	for _, a := range anchors {
		anchorStart[a[0]] = true
	}
}

// anchored recognises an event that starts at b[0].
func anchored(b []byte) (Event, bool) {
	if len(b) == 0 {
		return Event{}, false
	}
	switch b[0] {
	case 'D':
		if rest, ok := bytes.CutPrefix(b, anchorDrop); ok {
			if ev, why, ok := parsePacket(rest); ok {
				ev.Kind, ev.Reason = KindDrop, dropReason(why)
				return ev, true
			}
		}
	case 'A':
		if rest, ok := bytes.CutPrefix(b, anchorAccept); ok {
			if ev, _, ok := parsePacket(rest); ok {
				ev.Kind = KindAccept
				return ev, true
			}
		}
	case 'T':
		if rest, ok := bytes.CutPrefix(b, anchorTLS); ok {
			return parseTLSError(rest)
		}
	case 'i':
		if rest, ok := bytes.CutPrefix(b, anchorIngress); ok {
			if fam, _, _, ok := parseAddrPort(rest); ok {
				return Event{Kind: KindIngressDenied, Family: fam}, true
			}
		}
	case '[':
		if rest, ok := bytes.CutPrefix(b, anchorRateLimit); ok {
			return parseRateLimit(rest)
		}
	}
	return Event{}, false
}

// parsePacket parses what follows "Drop: " or "Accept: ":
// "<PROTO>{<src> > <dst>} <len> <why>".
func parsePacket(b []byte) (ev Event, why []byte, ok bool) {
	brace := bytes.IndexByte(b, '{')
	if brace <= 0 || brace > 16 {
		return Event{}, nil, false
	}
	proto, ok := protocol(b[:brace])
	if !ok {
		return Event{}, nil, false
	}
	b = b[brace+1:]
	fam, _, n, ok := parseAddrPort(b)
	if !ok || !bytes.HasPrefix(b[n:], []byte(" > ")) {
		return Event{}, nil, false
	}
	b = b[n+3:]
	_, port, n, ok := parseAddrPort(b)
	if !ok || !bytes.HasPrefix(b[n:], []byte("} ")) {
		return Event{}, nil, false
	}
	b = b[n+2:]
	var length uint64
	i := 0
	for ; i < len(b) && i < 10 && isDigit(b[i]); i++ {
		length = length*10 + uint64(b[i]-'0')
	}
	// The line must go on after the length, or it was cut short.
	if i == 0 || i >= len(b) || b[i] != ' ' || length > 1<<32-1 {
		return Event{}, nil, false
	}
	return Event{
		Protocol: proto,
		Family:   fam,
		Port:     portClass(port),
		Length:   uint32(length),
	}, b[i+1:], true
}

// protocol maps tailscale's ipproto names to Protocol. Any other name made
// of letters, digits and dashes ("IPProto-47", "Unknown") is ProtocolOther.
func protocol(name []byte) (Protocol, bool) {
	switch string(name) {
	case "TCP":
		return ProtocolTCP, true
	case "UDP":
		return ProtocolUDP, true
	case "ICMPv4", "ICMPv6":
		return ProtocolICMP, true
	case "SCTP":
		return ProtocolSCTP, true
	case "TSMP":
		return ProtocolTSMP, true
	case "IGMP":
		return ProtocolIGMP, true
	case "Fragment":
		return ProtocolFragment, true
	}
	for _, c := range name {
		if !(isDigit(c) || c == '-' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			return ProtocolNone, false
		}
	}
	return ProtocolOther, true
}

func dropReason(why []byte) Reason {
	why = bytes.TrimRight(why, " \t")
	switch string(why) {
	case "no rules matched":
		return ReasonNoRulesMatched
	case "destination not allowed":
		return ReasonDestinationNotAllowed
	case "too short":
		return ReasonTooShort
	case "unknown proto", "Unknown proto": // capitalised in older releases
		return ReasonUnknownProto
	case "multicast":
		return ReasonMulticast
	case "link-local-unicast":
		return ReasonLinkLocalUnicast
	}
	if n, ok := bytes.CutPrefix(why, []byte("unknown-protocol-")); ok && len(n) > 0 {
		if _, ok := digits(n); ok {
			return ReasonUnknownProtocol
		}
	}
	return ReasonOther
}

var (
	causeCertUnavailable = []byte("does not support getting TLS certs")
	causePlainHTTP       = []byte("client sent an HTTP request to an HTTPS server")
	causeNotTLS          = []byte("first record does not look like a TLS handshake")
	causeEOF             = []byte("EOF")
	causeWrappedEOF      = []byte(": EOF")
)

// parseTLSError parses what follows "TLS handshake error from ":
// "<addr>: <cause>".
func parseTLSError(b []byte) (Event, bool) {
	fam, _, n, ok := parseAddrPort(b)
	if !ok || !bytes.HasPrefix(b[n:], []byte(": ")) {
		return Event{}, false
	}
	cause := bytes.TrimRight(b[n+2:], " \t")
	ev := Event{Kind: KindTLSHandshakeError, Family: fam}
	switch {
	case bytes.Equal(cause, causeEOF) || bytes.HasSuffix(cause, causeWrappedEOF):
		ev.TLSCause = TLSCauseEOF
	case bytes.Contains(cause, causeCertUnavailable):
		ev.TLSCause = TLSCauseCertUnavailable
	case bytes.Contains(cause, causePlainHTTP) || bytes.Contains(cause, causeNotTLS):
		ev.TLSCause = TLSCausePlainHTTP
	default:
		ev.TLSCause = TLSCauseOther
	}
	return ev, true
}

// parseRateLimit parses what follows `[RATELIMIT] format("`:
// `<quoted format>")` and an optional " (N dropped)".
func parseRateLimit(b []byte) (Event, bool) {
	i := 0
	for i < len(b) && b[i] != '"' {
		if b[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(b)-1 || b[i+1] != ')' {
		return Event{}, false
	}
	ev := Event{Kind: KindRateLimit, FilterFormat: bytes.HasSuffix(b[:i], filterFormat)}
	rest := bytes.TrimRight(b[i+2:], " \t")
	if len(rest) == 0 {
		return ev, true
	}
	num, ok := bytes.CutPrefix(rest, []byte(" ("))
	if !ok {
		return Event{}, false
	}
	num, ok = bytes.CutSuffix(num, []byte(" dropped)"))
	if !ok || len(num) == 0 || len(num) > 10 {
		return Event{}, false
	}
	n, ok := digits(num)
	if !ok || n > 1<<32-1 {
		return Event{}, false
	}
	ev.Suppressed = uint32(n)
	return ev, true
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
