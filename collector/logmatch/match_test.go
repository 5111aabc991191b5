package logmatch

import (
	"net/netip"
	"strings"
	"testing"
)

func drop(p Protocol, f Family, port PortClass, length uint32, r Reason) Event {
	return Event{Kind: KindDrop, Reason: r, Protocol: p, Family: f, Port: port, Length: length}
}

func accept(p Protocol, f Family, port PortClass, length uint32) Event {
	return Event{Kind: KindAccept, Protocol: p, Family: f, Port: port, Length: length}
}

func tlsErr(f Family, c TLSCause) Event {
	return Event{Kind: KindTLSHandshakeError, Family: f, TLSCause: c}
}

// withDst fills the destination fields of a drop or accept event from its
// line, parsed with netip: the cases below leave them out, as they follow
// from the line. Tests of Classify spell them out.
func withDst(t *testing.T, want Event, line string) Event {
	t.Helper()
	if want.Kind != KindDrop && want.Kind != KindAccept {
		return want
	}
	_, inner, _ := strings.Cut(line, "{")
	_, dst, _ := strings.Cut(inner, " > ")
	dst, _, _ = strings.Cut(dst, "}")
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		t.Fatalf("destination of %q: %v", line, err)
	}
	want.DstFamily, want.DstPort = FamilyIPv4, ap.Port()
	if ap.Addr().Is6() {
		want.DstFamily = FamilyIPv6
	}
	if a := ap.Addr(); a.Zone() == "" && (tailnetV4.Contains(a) || (tailnetV6.Contains(a) && strings.HasPrefix(dst, "[fd7a:115c:a1e0:"))) {
		want.InferredPeerAPIPort = InferPeerAPIPort(a)
	}
	return want
}

func serving(f Family, port uint16) Event {
	return Event{Kind: KindPeerAPIServing, DstFamily: f, DstPort: port}
}

func starting(major, minor, patch uint16, dev bool) Event {
	return Event{Kind: KindProgramStarting, Version: Version{major, minor, patch, dev}}
}

// builtinCases covers every format variant of REFERENCE.md §2. The fuzz
// seed corpus is generated from the same lines (see TestSeedCorpus).
var builtinCases = []struct {
	name string
	line string
	want Event
}{
	// The real example lines, verbatim.
	{"real ipv6 tcp no timestamp",
		"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched",
		drop(ProtocolTCP, FamilyIPv6, PortOther, 80, ReasonNoRulesMatched)},
	{"real ipv4 tcp go log timestamp",
		"2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port443, 60, ReasonNoRulesMatched)},
	{"real ipv6 udp go log timestamp",
		"2026/11/24 09:32:41 Drop: UDP{[fd7a:115c:a1e0::1]:23426 > [fd7a:115c:a1e0::2]:443} 60 no rules matched",
		drop(ProtocolUDP, FamilyIPv6, Port443, 60, ReasonNoRulesMatched)},
	{"real ratelimit of the filter format",
		`[RATELIMIT] format("%s: %s %d %s\n%s") (8 dropped)`,
		Event{Kind: KindRateLimit, Suppressed: 8, FilterFormat: true}},
	{"real accept",
		"Accept: TCP{100.64.0.1:50000 > 100.64.0.2:443} 60 tcp ok",
		accept(ProtocolTCP, FamilyIPv4, Port443, 60)},
	{"real tls eof",
		"http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF",
		tlsErr(FamilyIPv6, TLSCauseEOF)},
	{"real ingress denied",
		"peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0:ab12:4843:cd96:6268:d02b]:36338",
		Event{Kind: KindIngressDenied, Family: FamilyIPv6}},

	// Prefixes.
	{"k8s timestamp and go log timestamp",
		"2026-11-24T09:32:16.123456789Z 2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:80} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port80, 60, ReasonNoRulesMatched)},
	{"k8s timestamp without go log timestamp",
		"2026-11-24T09:32:16Z Drop: TCP{100.64.0.1:65076 > 100.64.0.2:80} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port80, 60, ReasonNoRulesMatched)},
	{"journald prefix",
		"Nov 24 09:32:16 node1 tailscaled[812]: Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port443, 60, ReasonNoRulesMatched)},
	{"journald prefix padded day and go log timestamp",
		"Nov  4 09:32:16 node1 tailscaled[812]: 2026/11/04 09:32:16 Drop: UDP{100.64.0.1:5000 > 100.64.0.2:53} 60 no rules matched",
		drop(ProtocolUDP, FamilyIPv4, PortOther, 60, ReasonNoRulesMatched)},
	{"go log timestamp with microseconds",
		"2026/11/24 09:32:16.000123 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 40 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port443, 40, ReasonNoRulesMatched)},
	{"crlf line ending",
		"Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 40 no rules matched\r\n",
		drop(ProtocolTCP, FamilyIPv4, Port443, 40, ReasonNoRulesMatched)},

	// Every protocol.
	{"icmpv4 carries port 0",
		"Drop: ICMPv4{100.64.0.1:0 > 100.64.0.2:0} 84 no rules matched",
		drop(ProtocolICMP, FamilyIPv4, PortOther, 84, ReasonNoRulesMatched)},
	{"icmpv6",
		"Drop: ICMPv6{[fd7a:115c:a1e0::1]:0 > [fd7a:115c:a1e0::2]:0} 104 no rules matched",
		drop(ProtocolICMP, FamilyIPv6, PortOther, 104, ReasonNoRulesMatched)},
	{"sctp", "Drop: SCTP{100.64.0.1:5000 > 100.64.0.2:443} 80 no rules matched",
		drop(ProtocolSCTP, FamilyIPv4, Port443, 80, ReasonNoRulesMatched)},
	{"tsmp", "Drop: TSMP{100.64.0.1:0 > 100.64.0.2:0} 40 destination not allowed",
		drop(ProtocolTSMP, FamilyIPv4, PortOther, 40, ReasonDestinationNotAllowed)},
	{"igmp", "Drop: IGMP{100.64.0.1:0 > 224.0.0.22:0} 40 multicast",
		drop(ProtocolIGMP, FamilyIPv4, PortOther, 40, ReasonMulticast)},
	{"fragment", "Drop: Fragment{100.64.0.1:0 > 100.64.0.2:0} 1280 too short",
		drop(ProtocolFragment, FamilyIPv4, PortOther, 1280, ReasonTooShort)},
	{"numbered protocol is other", "Drop: IPProto-47{100.64.0.1:0 > 100.64.0.2:0} 60 unknown-protocol-47",
		drop(ProtocolOther, FamilyIPv4, PortOther, 60, ReasonUnknownProtocol)},
	{"unknown protocol name is other", "Drop: Unknown{100.64.0.1:0 > 100.64.0.2:0} 60 unknown",
		drop(ProtocolOther, FamilyIPv4, PortOther, 60, ReasonOther)},

	// Every reason.
	{"destination not allowed", "Drop: TCP{100.64.0.1:1 > 10.0.0.1:443} 60 destination not allowed",
		drop(ProtocolTCP, FamilyIPv4, Port443, 60, ReasonDestinationNotAllowed)},
	{"too short", "Drop: UDP{100.64.0.1:1 > 100.64.0.2:2} 12 too short",
		drop(ProtocolUDP, FamilyIPv4, PortOther, 12, ReasonTooShort)},
	{"unknown proto", "Drop: IPProto-99{[fd7a:115c:a1e0::1]:0 > [fd7a:115c:a1e0::2]:0} 60 unknown proto",
		drop(ProtocolOther, FamilyIPv6, PortOther, 60, ReasonUnknownProto)},
	{"unknown proto capitalised", "Drop: IPProto-99{100.64.0.1:0 > 100.64.0.2:0} 60 Unknown proto",
		drop(ProtocolOther, FamilyIPv4, PortOther, 60, ReasonUnknownProto)},
	{"multicast ipv6", "Drop: UDP{[fd7a:115c:a1e0::1]:5353 > [ff02::fb]:5353} 120 multicast",
		drop(ProtocolUDP, FamilyIPv6, PortOther, 120, ReasonMulticast)},
	{"link-local-unicast with zone", "Drop: UDP{[fe80::1%eth0]:546 > [fe80::2%eth0]:547} 90 link-local-unicast",
		drop(ProtocolUDP, FamilyIPv6, PortOther, 90, ReasonLinkLocalUnicast)},
	{"unknown-protocol-N", "Drop: IPProto-132{100.64.0.1:0 > 100.64.0.2:0} 60 unknown-protocol-132",
		drop(ProtocolOther, FamilyIPv4, PortOther, 60, ReasonUnknownProtocol)},
	{"unknown-protocol without number is other", "Drop: IPProto-1{100.64.0.1:0 > 100.64.0.2:0} 60 unknown-protocol-",
		drop(ProtocolOther, FamilyIPv4, PortOther, 60, ReasonOther)},
	{"new reason is other", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:22} 60 shields up",
		drop(ProtocolTCP, FamilyIPv4, PortOther, 60, ReasonOther)},
	{"empty reason is other", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:22} 60 ",
		drop(ProtocolTCP, FamilyIPv4, PortOther, 60, ReasonOther)},
	{"reason with trailing space", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:22} 60 no rules matched  ",
		drop(ProtocolTCP, FamilyIPv4, PortOther, 60, ReasonNoRulesMatched)},
	{"not-ip reason is other", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:22} 60 not-ip",
		drop(ProtocolTCP, FamilyIPv4, PortOther, 60, ReasonOther)},

	// Addresses: family comes from the source.
	{"ipv4-mapped ipv6 is ipv6", "Drop: TCP{[::ffff:100.64.0.1]:1 > [::ffff:100.64.0.2]:443} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv6, Port443, 60, ReasonNoRulesMatched)},
	{"family of source not destination", "Drop: TCP{[fd7a:115c:a1e0::1]:1 > 100.64.0.2:443} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv6, Port443, 60, ReasonNoRulesMatched)},
	{"peerapi high port is other", "Drop: TCP{[fd7a:115c:a1e0::1]:40000 > [fd7a:115c:a1e0::2]:63245} 80 no rules matched",
		drop(ProtocolTCP, FamilyIPv6, PortOther, 80, ReasonNoRulesMatched)},
	{"wrapper prefix before Drop", "wgengine: filter: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched",
		drop(ProtocolTCP, FamilyIPv4, Port443, 60, ReasonNoRulesMatched)},

	// Accepts are recognised, never drops.
	{"accept ipv6 udp", "2026/11/24 09:32:41 Accept: UDP{[fd7a:115c:a1e0::1]:41641 > [fd7a:115c:a1e0::2]:53} 72 ok",
		accept(ProtocolUDP, FamilyIPv6, PortOther, 72)},
	{"accept icmp", "Accept: ICMPv4{100.64.0.1:0 > 100.64.0.2:0} 84 icmp ok",
		accept(ProtocolICMP, FamilyIPv4, PortOther, 84)},
	{"accept fragment", "Accept: Fragment{100.64.0.1:0 > 100.64.0.2:0} 1280 fragment",
		accept(ProtocolFragment, FamilyIPv4, PortOther, 1280)},

	// Malformed drop lines are no events.
	{"truncated after length", "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60", Event{}},
	{"truncated in braces", "Drop: TCP{100.64.0.1:65076 > 100.6", Event{}},
	{"garbage in braces", "Drop: TCP{hello world} 60 no rules matched", Event{}},
	{"invalid ipv4 octet", "Drop: TCP{100.64.0.256:1 > 100.64.0.2:443} 60 no rules matched", Event{}},
	{"port out of range", "Drop: TCP{100.64.0.1:65536 > 100.64.0.2:443} 60 no rules matched", Event{}},
	{"invalid ipv6", "Drop: TCP{[fd7a::1::2]:1 > [fd7a::2]:443} 60 no rules matched", Event{}},
	{"empty zone", "Drop: TCP{[fe80::1%]:1 > [fe80::2]:443} 60 no rules matched", Event{}},
	{"unbracketed ipv6", "Drop: TCP{fd7a::1:1 > fd7a::2:443} 60 no rules matched", Event{}},
	{"non-ip packet", "Drop: Unknown{???} 0 unknown", Event{}},
	{"no length", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} no rules matched", Event{}},
	{"length overflows", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 99999999999 no rules matched", Event{}},
	{"protocol with space", "Drop: T CP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", Event{}},
	{"prose mentioning Drop", "boot: Drop: nothing to do here", Event{}},

	// Hexdump continuation lines are no events, even when their text
	// column happens to spell an anchor.
	{"hexdump line", "00000000  45 00 00 3c 1c 46 40 00  40 06 b1 e6 64 40 00 01  |E..<.F@.@...d@..|", Event{}},
	{"hexdump line with anchor text", "00000010  44 72 6f 70 3a 20 54 43  50 7b 31 2e 32 2e 33 2e  |Drop: TCP{1.2.3.|", Event{}},
	{"k8s hexdump line", "2026-11-24T09:32:16.1Z 00000020  61 63 63 65 70 74 00 00  |Accept: ..|", Event{}},

	// TLS handshake errors, every cause.
	{"tls eof ipv4", "2026/02/22 10:11:12 http: TLS handshake error from 100.64.0.9:46098: EOF",
		tlsErr(FamilyIPv4, TLSCauseEOF)},
	{"tls wrapped eof", "http: TLS handshake error from 100.64.0.9:46098: read tcp 100.64.0.2:443->100.64.0.9:46098: EOF",
		tlsErr(FamilyIPv4, TLSCauseEOF)},
	{"tls unexpected eof is other", "http: TLS handshake error from 100.64.0.9:46098: unexpected EOF",
		tlsErr(FamilyIPv4, TLSCauseOther)},
	{"tls cert unavailable", "http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: your Tailscale account does not support getting TLS certs",
		tlsErr(FamilyIPv6, TLSCauseCertUnavailable)},
	{"tls cert unavailable wrapped", "http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: getting cert: your Tailscale account does not support getting TLS certs",
		tlsErr(FamilyIPv6, TLSCauseCertUnavailable)},
	{"tls plain http", "http: TLS handshake error from 100.64.0.9:5000: client sent an HTTP request to an HTTPS server",
		tlsErr(FamilyIPv4, TLSCausePlainHTTP)},
	{"tls first record", "http: TLS handshake error from [fd7a:115c:a1e0::9%tailscale0]:5000: tls: first record does not look like a TLS handshake",
		tlsErr(FamilyIPv6, TLSCausePlainHTTP)},
	{"tls other", "http: TLS handshake error from 100.64.0.9:5000: remote error: tls: bad certificate",
		tlsErr(FamilyIPv4, TLSCauseOther)},
	{"tls k8s and journald", "2026-02-22T10:11:12.5+01:00 Feb 22 10:11:12 proxy tailscaled[7]: http: TLS handshake error from 100.64.0.9:5000: EOF",
		tlsErr(FamilyIPv4, TLSCauseEOF)},
	{"tls cert unavailable nil address after 500",
		"2024/05/28 08:00:01 http: TLS handshake error from %!s(<nil>): 500 Internal Server Error: your Tailscale account does not support getting TLS certs",
		tlsErr(FamilyUnknown, TLSCauseCertUnavailable)},
	{"tls cert unavailable ipv4 after 500",
		"http: TLS handshake error from 100.101.102.103:51234: 500 Internal Server Error: your Tailscale account does not support getting TLS certs",
		tlsErr(FamilyIPv4, TLSCauseCertUnavailable)},
	{"tls rate limited", // x/crypto/acme's Error through GetCertificate (ipn/ipnlocal/serve.go)
		"2026/03/02 10:11:12 http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: 429 urn:ietf:params:acme:error:rateLimited: Error creating new order :: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-03-04 10:11:12 UTC",
		tlsErr(FamilyIPv6, TLSCauseRateLimited)},
	{"tls rate limited nil address", "http: TLS handshake error from %!s(<nil>): 429 urn:ietf:params:acme:error:rateLimited: too many registrations for this IP",
		tlsErr(FamilyUnknown, TLSCauseRateLimited)},
	{"tls nil address eof", "http: TLS handshake error from %!s(<nil>): EOF", tlsErr(FamilyUnknown, TLSCauseEOF)},
	{"tls nil address truncated", "http: TLS handshake error from %!s(<nil>)", Event{}},
	{"tls other bad verb", "http: TLS handshake error from %!v(<nil>): EOF", Event{}},
	{"tls without address", "http: TLS handshake error from : EOF", Event{}},
	{"tls truncated", "http: TLS handshake error from 100.64.0.9:5000", Event{}},

	// Ingress denials with varying prefixes.
	{"ingress denied bare", "ingress: denied; no ingress cap from 100.64.0.7:36338",
		Event{Kind: KindIngressDenied, Family: FamilyIPv4}},
	{"ingress denied timestamped", "2026-02-22T10:11:12Z 2026/02/22 10:11:12 peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::7]:36338",
		Event{Kind: KindIngressDenied, Family: FamilyIPv6}},
	{"ingress denied other prefix", "Feb 22 10:11:12 h tailscaled[1]: serve: peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::7]:36338",
		Event{Kind: KindIngressDenied, Family: FamilyIPv6}},
	{"ingress denied without address", "peerapi: ingress: denied; no ingress cap from ", Event{}},
	{"ingress bad request is no event", "peerapi: ingress: bad request from 100.64.0.7:1: bad method", Event{}},

	// Rate limit notices.
	{"ratelimit start of suppression", `2026/11/24 09:32:20 [RATELIMIT] format("%s: %s %d %s\n%s")`,
		Event{Kind: KindRateLimit, FilterFormat: true}},
	{"ratelimit other format", `[RATELIMIT] format("magicsock: endpoint %v: %s") (3 dropped)`,
		Event{Kind: KindRateLimit, Suppressed: 3}},
	{"ratelimit escaped quote", `[RATELIMIT] format("say \"%s\"") (12 dropped)`,
		Event{Kind: KindRateLimit, Suppressed: 12}},
	{"ratelimit prefixed filter format", `[RATELIMIT] format("wgengine: %s: %s %d %s\n%s") (2 dropped)`,
		Event{Kind: KindRateLimit, Suppressed: 2, FilterFormat: true}},
	{"ratelimit unterminated", `[RATELIMIT] format("%s: %s %d`, Event{}},
	{"ratelimit bad count", `[RATELIMIT] format("%s") (lots dropped)`, Event{}},

	// The peer API's listeners (ipn/ipnlocal/local.go).
	{"peerapi serving ipv4", "2026/11/24 09:32:10 peerapi: serving on http://100.101.102.103:59395",
		serving(FamilyIPv4, 59395)},
	{"peerapi serving ipv6 long form", "2026/11/24 09:32:10 peerapi: serving on http://[fd7a:115c:a1e0:ab12:4843:cd96:6265:6667]:59395",
		serving(FamilyIPv6, 59395)},
	{"peerapi serving ipv6 short form", "peerapi: serving on http://[fd7a:115c:a1e0::5501:7c39]:36311",
		serving(FamilyIPv6, 36311)},
	{"peerapi serving journald", "Nov 24 09:32:10 node1 tailscaled[812]: peerapi: serving on http://100.64.0.2:46590",
		serving(FamilyIPv4, 46590)},
	{"peerapi serving trailing space", "peerapi: serving on http://100.64.0.2:46590 ", serving(FamilyIPv4, 46590)},
	{"peerapi serving port 0", "peerapi: serving on http://100.64.0.2:0", Event{}},
	{"peerapi serving without port", "peerapi: serving on http://100.64.0.2", Event{}},
	{"peerapi serving with path", "peerapi: serving on http://100.64.0.2:46590/v0/ingress", Event{}},
	{"peerapi serving hostname", "peerapi: serving on http://node.example.ts.net:46590", Event{}},
	{"peerapi serving https", "peerapi: serving on https://100.64.0.2:46590", Event{}},
	{"peerapi listen error is no event", `peerapi: failed to do peerAPI listen, harmless (netstack available) but error was: listen tcp4 :46590: bind: address already in use`, Event{}},

	// tailscaled's version at start (logpolicy).
	{"program starting release",
		`2026/11/24 09:32:01 Program starting: v1.98.10-t36550d57f, Go 1.26.5: []string{"/usr/local/bin/tailscaled", "--tun=userspace-networking"}`,
		starting(1, 98, 10, false)},
	{"program starting release with other hash",
		`Program starting: v1.102.1-tb0e9ea6f8-g1f2e3d4c5, Go 1.26.3: []string{"tailscaled"}`,
		starting(1, 102, 1, false)},
	{"program starting plain", `Program starting: v1.102.2, Go 1.26.3: []string{"tailscaled"}`, starting(1, 102, 2, false)},
	{"program starting unstable", `Program starting: v1.103.45-t0123456789, Go 1.27.0: []string{"tailscaled"}`,
		starting(1, 103, 45, false)},
	{"program starting dev build", `Program starting: v1.98.10-dev20261124-t0123456789-dirty, Go 1.26.5: []string{"tailscaled"}`,
		starting(1, 98, 10, true)},
	{"program starting go run", `Program starting: v1.98.10-ERR-BuildInfo, Go 1.26.5-race: []string{"tailscaled"}`,
		starting(1, 98, 10, true)},
	{"program starting untagged release branch commit", `Program starting: v1.98.10-3-t0123456789, Go 1.26.5: []string{"tailscaled"}`,
		starting(1, 98, 10, true)},
	{"program starting windows service", `Program starting: v1.98.10-t36550d57f: []string{"tailscaled.exe"}`,
		starting(1, 98, 10, false)},
	{"program starting journald", `Nov 24 09:32:01 node1 tailscaled[812]: Program starting: v1.96.4-t1a2b3c4d5, Go 1.25.6: []string{"/usr/sbin/tailscaled"}`,
		starting(1, 96, 4, false)},
	{"program starting two-part version", `Program starting: v1.98, Go 1.26.5: []string{}`, Event{}},
	{"program starting huge number", `Program starting: v1.98.65536, Go 1.26.5: []string{}`, Event{}},
	{"program starting empty suffix", `Program starting: v1.98.10-, Go 1.26.5: []string{}`, Event{}},
	{"program starting empty token", `Program starting: v1.98.10--t0, Go 1.26.5: []string{}`, Event{}},
	{"program starting truncated", `Program starting: v1.98.10-t36550d57f`, Event{}},
	{"program starting no v", `Program starting: 1.98.10, Go 1.26.5: []string{}`, Event{}},
	{"program starting space in version", `Program starting: v1.98.10 beta, Go 1.26.5: []string{}`, Event{}},

	// Ordinary chatter.
	{"magicsock", "2026/02/22 10:11:12 magicsock: derp-1 connected; connGen=1", Event{}},
	{"boot line", "boot: 2026/02/22 10:11:12 Starting tailscaled", Event{}},
	{"empty", "", Event{}},
	{"binary", "\x00\xff\xfe{Drop: \x80}", Event{}},
}

func TestMatchBuiltin(t *testing.T) {
	var m *Matcher // built-ins only
	for _, tc := range builtinCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.Match([]byte(tc.line))
			if want := withDst(t, tc.want, tc.line); got != want {
				t.Errorf("Match(%q)\n got  %+v\n want %+v", tc.line, got, want)
			}
			if ok != (tc.want.Kind != KindNone) {
				t.Errorf("Match(%q) ok = %v, want %v", tc.line, ok, !ok)
			}
		})
	}
}

// The usual prefixes: a Kubernetes timestamp and a Go log timestamp.
const (
	kubePrefix  = "2026-11-24T09:32:16.123456789Z "
	goLogPrefix = "2026/11/24 09:32:16 "
)

// prefixCases are lines whose timestamps only look valid, and lines at the
// limits of the "component: " prefixes.
var prefixCases = []struct {
	name string
	line string
	want Kind
}{
	{"k8s timestamp word that is a component", "2026-11-24T09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"short k8s-like component", "2026-11-2: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"k8s timestamp with bad zone", "2026-11-24T09:32:16.123456789X Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp with bad digits", "2026-11-24T09:3x:16.123456789Z 2026/11/24 09:32:16 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp with space inside", "2026-11-24 09:32:16.123456789Z Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp without space", "2026-11-24T09:32:16.123456789ZDrop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log time with bad digits", kubePrefix + "2026/11/24 09:3x:16 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log date that is a component", kubePrefix + "2026/11/2: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"k8s timestamp with a loose digit", "2026-11-24T09:32:16.12345678?Z " + goLogPrefix + "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log time that is a component", kubePrefix + "2026/11/24 09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log date and time that are components", kubePrefix + "2026/11/2: 09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"go log time with microseconds", kubePrefix + "2026/11/24 09:32:16.123456 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"go log time without space", kubePrefix + "2026/11/24 09:32:16", KindNone},
	{"four prefixes", kubePrefix + goLogPrefix + "a: b: c: d: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"five prefixes", kubePrefix + goLogPrefix + "a: b: c: d: e: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"one-byte prefix", kubePrefix + goLogPrefix + ": Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"empty word", kubePrefix + goLogPrefix + "http:  TLS handshake error from 100.64.0.9:5000: EOF", KindNone},
	{"prefix past the window", kubePrefix + goLogPrefix + "health(warnable=no-derp-home): http: TLS handshake error from 100.64.0.9:5000: EOF", KindTLSHandshakeError},
	{"anchor at the window's end", kubePrefix + goLogPrefix + "abcdefghijklmnopqrstuvwxyz0123: [RATELIMIT] format(\"%s\") (3 dropped)", KindRateLimit},
	{"word as long as a prefix may be", kubePrefix + goLogPrefix + strings.Repeat("a", 32) + ": ingress: denied; no ingress cap from 100.64.0.7:1", KindIngressDenied},
	{"word longer than a prefix may be", kubePrefix + goLogPrefix + strings.Repeat("a", 33) + ": ingress: denied; no ingress cap from 100.64.0.7:1", KindNone},
	{"short message", kubePrefix + goLogPrefix + "a: Drop: x", KindNone},
	{"anchor after chatter", kubePrefix + goLogPrefix + "magicsock: disco: node [Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"boot line", kubePrefix + "boot: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"crlf after prefixes", kubePrefix + goLogPrefix + "http: TLS handshake error from 100.64.0.9:5000: EOF\r\n", KindTLSHandshakeError},
}

func TestMatchPrefixes(t *testing.T) {
	var m *Matcher
	for _, tc := range prefixCases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := m.Match([]byte(tc.line)); got.Kind != tc.want {
				t.Errorf("Match(%q) kind %v, want %v", tc.line, got.Kind, tc.want)
			}
		})
	}
}

func TestMatchIgnoresKubeTimestamp(t *testing.T) {
	var m Matcher
	for _, tc := range builtinCases {
		if kubeTimestampLen([]byte(tc.line)) > 0 {
			continue // only one Kubernetes timestamp is ever stripped
		}
		t.Run(tc.name, func(t *testing.T) {
			got, _ := m.Match([]byte("2026-11-24T09:32:16.987654321Z " + tc.line))
			if want := withDst(t, tc.want, tc.line); got != want {
				t.Errorf("with timestamp\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := New([]Signature{
		{Name: "backend_refused", Pattern: `proxy: dial .* connection refused`},
		{Name: "cert_renewal", Pattern: `cert\(.*\): renew`},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"2026-11-24T09:32:16.123456789Z 2026/11/24 09:32:16 magicsock: derp-1 connected; connGen=1",
		"2026-11-24T09:32:16.123456789Z 2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		"2026-11-24T09:32:16.123456789Z http: TLS handshake error from [fd7a:115c:a1e0::9%eth0]:46098: EOF",
		"2026-11-24T09:32:16.123456789Z proxy: dial tcp 10.0.0.1:80: connect: connection refused",
	}
	for _, line := range lines {
		b := []byte(line)
		if n := testing.AllocsPerRun(100, func() { m.Match(b) }); n != 0 {
			t.Errorf("Match(%q): %v allocations, want 0", line, n)
		}
	}
}

func TestEnumerationsAreLabelValues(t *testing.T) {
	var names []string
	for _, v := range Kinds() {
		names = append(names, v.String())
	}
	for _, v := range Reasons() {
		names = append(names, v.String())
	}
	for _, v := range Protocols() {
		names = append(names, v.String())
	}
	for _, v := range Families() {
		names = append(names, v.String())
	}
	for _, v := range PortClasses() {
		names = append(names, v.String())
	}
	for _, v := range TLSCauses() {
		names = append(names, v.String())
	}
	for _, v := range DropClasses() {
		names = append(names, v.String())
	}
	for _, v := range PortSources() {
		names = append(names, v.String())
	}
	if want := 8 + 8 + 8 + 3 + 3 + 5 + 4 + 3; len(names) != want {
		t.Errorf("got %d label values, want %d: %v", len(names), want, names)
	}
	for _, n := range names {
		if n == "" || n == "none" || n == "invalid" || strings.ToLower(n) != n {
			t.Errorf("label value %q", n)
		}
	}
	if got := Reason(200).String(); got != "invalid" {
		t.Errorf("Reason(200) = %q", got)
	}
}
