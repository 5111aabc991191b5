package logmatch

import "bytes"

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
	anchorServing   = []byte("peerapi: serving on http://")
	anchorStarting  = []byte("Program starting: v")
)

// An anchor is looked for at the message start and after each of up to
// maxComponents "component: " prefixes (a word of at most maxComponentLen
// bytes ending in ':', then a space). Looking only there instead of
// searching whole lines is what makes ordinary lines cheap, and it keeps
// anchors quoted inside other messages from counting.
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
// "component: " prefixes such as "peerapi: " or "http: ". A line whose
// anchor ("Drop: ", "TLS handshake error from ", ...) is followed by
// something that does not parse, such as a truncated line or garbage inside
// the braces, is not an event: a counter should never count what it cannot
// label. An unrecognised drop reason is ReasonOther, an unrecognised
// protocol name ProtocolOther.
//
// A nil or zero Matcher matches the built-in events only.
func (m *Matcher) Match(line []byte) (Event, bool) {
	msg := message(trimEOL(line))
	ev := builtin(msg)
	if m != nil && len(m.sigs) > 0 {
		ev.Custom = m.matchCustom(msg)
		if ev.Kind == KindNone && ev.Custom != 0 {
			ev.Kind = KindCustom
		}
	}
	return ev, ev.Kind != KindNone
}

// builtin looks for an anchor at the start of msg and after each of up to
// maxComponents "component: " prefixes, and parses what follows it.
func builtin(msg []byte) Event {
	for i, n := 0, 0; i < len(msg); n++ {
		if mayStartAnchor(msg[i]) {
			if ev, ok := anchored(msg[i:]); ok {
				return ev
			}
		}
		if n == maxComponents {
			break
		}
		// Skip one "component: " prefix, or stop at the first word that is
		// none. Words are short: a loop beats calling bytes.IndexByte.
		end := min(len(msg), i+maxComponentLen+2)
		sp := i
		for sp < end && msg[sp] != ' ' {
			sp++
		}
		if sp == end || sp-i < 2 || msg[sp-1] != ':' {
			break
		}
		i = sp + 1
	}
	return Event{}
}

// mayStartAnchor reports whether c is the first byte of an anchor.
func mayStartAnchor(c byte) bool {
	return c == 'D' || c == 'A' || c == 'T' || c == 'i' || c == '[' || c == 'p' || c == 'P'
}

// anchored recognises an event that starts at b[0]. Its first byte picks
// the one anchor that can start there.
func anchored(b []byte) (Event, bool) {
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
			if fam, _, _, _, ok := parseAddrPort(rest); ok {
				return Event{Kind: KindIngressDenied, Family: fam}, true
			}
		}
	case '[':
		if rest, ok := bytes.CutPrefix(b, anchorRateLimit); ok {
			return parseRateLimit(rest)
		}
	case 'p':
		if rest, ok := bytes.CutPrefix(b, anchorServing); ok {
			return parseServing(rest)
		}
	case 'P':
		if rest, ok := bytes.CutPrefix(b, anchorStarting); ok {
			return parseProgramStarting(rest)
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
	fam, _, _, n, ok := parseAddrPort(b)
	if !ok || !bytes.HasPrefix(b[n:], []byte(" > ")) {
		return Event{}, nil, false
	}
	b = b[n+3:]
	dstFam, port, dst, n, ok := parseAddrPort(b)
	if !ok || !bytes.HasPrefix(b[n:], []byte("} ")) {
		return Event{}, nil, false
	}
	var inferred uint16
	if low24, ok := tailnetLow24(dstFam, dst); ok {
		inferred = peerAPIPortOf(low24)
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
		Protocol:            proto,
		Family:              fam,
		Port:                portClass(port),
		Length:              uint32(length),
		DstFamily:           dstFam,
		DstPort:             uint16(port),
		InferredPeerAPIPort: inferred,
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
	causeRateLimited     = []byte("acme:error:rateLimited")
	causeEOF             = []byte("EOF")
	causeWrappedEOF      = []byte(": EOF")
)

// nilAddr is how Go's HTTP server prints a nil remote address
// (logf("http: TLS handshake error from %s: %v", c.rwc.RemoteAddr(), err)),
// seen in public reports of the certificate error (#12079, #15963).
var nilAddr = []byte("%!s(<nil>)")

// parseTLSError parses what follows "TLS handshake error from ":
// "<addr>: <cause>", where addr may be nilAddr (FamilyUnknown).
func parseTLSError(b []byte) (Event, bool) {
	fam, _, _, n, ok := parseAddrPort(b)
	if !ok && bytes.HasPrefix(b, nilAddr) {
		fam, n, ok = FamilyUnknown, len(nilAddr), true
	}
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
	case bytes.Contains(cause, causeRateLimited):
		ev.TLSCause = TLSCauseRateLimited
	default:
		ev.TLSCause = TLSCauseOther
	}
	return ev, true
}

// parseServing parses what follows "peerapi: serving on http://":
// "<addr>:<port>" and nothing else (ipn/ipnlocal/local.go,
// initPeerAPIListenerLocked).
func parseServing(b []byte) (Event, bool) {
	fam, port, _, n, ok := parseAddrPort(b)
	if !ok || port == 0 || len(bytes.TrimRight(b[n:], " \t")) != 0 {
		return Event{}, false
	}
	return Event{Kind: KindPeerAPIServing, DstFamily: fam, DstPort: uint16(port)}, true
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
