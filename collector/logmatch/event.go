package logmatch

// Kind is what a log line is. Its String is a label value.
type Kind uint8

const (
	KindNone Kind = iota
	// KindDrop is a packet filter drop: "Drop: TCP{src > dst} 60 no rules matched".
	KindDrop
	// KindAccept is a logged filter accept. It is recognised so that it is
	// never mistaken for a drop; it is not a failure.
	KindAccept
	// KindTLSHandshakeError is Go's "http: TLS handshake error from ADDR: CAUSE".
	KindTLSHandshakeError
	// KindIngressDenied is peerapi's "ingress: denied; no ingress cap from ADDR":
	// a Funnel relay was refused by the proxy.
	KindIngressDenied
	// KindRateLimit is the logger's "[RATELIMIT] format(...)" notice.
	KindRateLimit
	// KindCustom is a line that matched only user-defined signatures.
	KindCustom
	// KindPeerAPIServing is "peerapi: serving on http://ADDR:PORT": the
	// port the node's peer API listens on for one of its tailnet
	// addresses (DstFamily, DstPort). Logged when the first netmap
	// arrives and whenever the node's addresses change.
	KindPeerAPIServing
	// KindProgramStarting is logpolicy's "Program starting: vVERSION, Go
	// ...": tailscaled's version (Version) at process start.
	KindProgramStarting
	numKinds
)

var kindNames = [numKinds]string{"none", "drop", "accept", "tls_handshake_error", "ingress_denied", "ratelimit", "custom", "peerapi_serving", "program_starting"}

func (k Kind) String() string { return enumName(kindNames[:], k) }

// Reason is why the filter dropped a packet, normalised to a closed set.
type Reason uint8

const (
	ReasonNone Reason = iota // not a drop
	ReasonNoRulesMatched
	ReasonDestinationNotAllowed
	ReasonTooShort
	ReasonUnknownProto
	ReasonMulticast
	ReasonLinkLocalUnicast
	// ReasonUnknownProtocol is "unknown-protocol-N"; N is not kept.
	ReasonUnknownProtocol
	// ReasonOther is any other text, including an empty one.
	ReasonOther
	numReasons
)

var reasonNames = [numReasons]string{"none", "no_rules_matched", "destination_not_allowed", "too_short", "unknown_proto", "multicast", "link_local_unicast", "unknown_protocol", "other"}

func (r Reason) String() string { return enumName(reasonNames[:], r) }

// Protocol is the IP protocol of a logged packet. ICMPv4 and ICMPv6 are both
// ProtocolICMP: the version is already in Family (ICMPv4 travels only in
// IPv4, ICMPv6 only in IPv6), so one value keeps the label set smaller
// without losing anything.
type Protocol uint8

const (
	ProtocolNone Protocol = iota // not a packet line
	ProtocolTCP
	ProtocolUDP
	ProtocolICMP
	ProtocolSCTP
	ProtocolTSMP
	ProtocolIGMP
	ProtocolFragment
	// ProtocolOther covers "IPProto-N", "Unknown" and any future name.
	ProtocolOther
	numProtocols
)

var protocolNames = [numProtocols]string{"none", "tcp", "udp", "icmp", "sctp", "tsmp", "igmp", "fragment", "other"}

func (p Protocol) String() string { return enumName(protocolNames[:], p) }

// Family is the address family of the source (the peer) of a packet or
// connection. Funnel relays reach a proxy over IPv6 only, so a split by
// family shows that failure mode.
type Family uint8

const (
	FamilyNone Family = iota
	FamilyIPv4
	FamilyIPv6
	// FamilyUnknown is a line that names no address where one belongs:
	// Go's HTTP server prints a nil remote address as "%!s(<nil>)".
	FamilyUnknown
	numFamilies
)

var familyNames = [numFamilies]string{"none", "ipv4", "ipv6", "unknown"}

func (f Family) String() string { return enumName(familyNames[:], f) }

// PortClass is the destination port of a packet, reduced to the ports an
// ingress serves. Drops to other ports (such as the peer API's high port)
// are often harmless, so they are kept apart.
type PortClass uint8

const (
	PortNone PortClass = iota
	Port443
	Port80
	PortOther
	numPortClasses
)

var portClassNames = [numPortClasses]string{"none", "443", "80", "other"}

func (p PortClass) String() string { return enumName(portClassNames[:], p) }

// TLSCause is why a TLS handshake with the proxy failed.
type TLSCause uint8

const (
	TLSCauseNone TLSCause = iota
	// TLSCauseEOF: the client went away mid-handshake (timeouts, probes, relays giving up).
	TLSCauseEOF
	// TLSCauseCertUnavailable: no certificate can be issued, HTTPS is not enabled on the tailnet.
	TLSCauseCertUnavailable
	// TLSCausePlainHTTP: the client spoke plain HTTP to the HTTPS port.
	TLSCausePlainHTTP
	// TLSCauseRateLimited: the certificate could not be issued because
	// Let's Encrypt refused the order (acme:error:rateLimited, from
	// golang.org/x/crypto/acme's Error through the serve config's
	// GetCertificate, ipn/ipnlocal/serve.go).
	TLSCauseRateLimited
	TLSCauseOther
	numTLSCauses
)

var tlsCauseNames = [numTLSCauses]string{"none", "eof", "cert_unavailable", "plain_http", "rate_limited", "other"}

func (c TLSCause) String() string { return enumName(tlsCauseNames[:], c) }

func enumName[E ~uint8](names []string, v E) string {
	if int(v) < len(names) {
		return names[v]
	}
	return "invalid"
}

// Event is what one log line says. Fields that do not apply to its Kind are
// zero (the "none" values). It holds no pointers, so it is cheap to copy and
// can be a map key.
type Event struct {
	Kind Kind

	// Drop and accept lines.
	Reason   Reason // drops only
	Protocol Protocol
	Port     PortClass // destination port
	Length   uint32    // packet length in bytes as logged

	// Family of the source address: drop, accept, TLS and ingress lines.
	Family Family

	// DstFamily and DstPort are the destination of a drop or accept line,
	// or the address a KindPeerAPIServing line says the peer API serves
	// on. DstPort is a number for classifying (see Classify), never a
	// label value.
	DstFamily Family
	DstPort   uint16
	// InferredPeerAPIPort is, for drop and accept lines whose destination
	// is a tailnet address (100.64.0.0/10, fd7a:115c:a1e0::/48), the port
	// tailscaled first tries for its peer API on that address
	// (InferPeerAPIPort); 0 for any other destination.
	InferredPeerAPIPort uint16

	// Version is tailscaled's version on KindProgramStarting lines.
	Version Version

	TLSCause TLSCause

	// RateLimit lines. Suppressed is the "(N dropped)" count: log lines, not
	// packets; 0 on the notice that starts suppression. FilterFormat reports
	// that the suppressed format is the filter's drop/accept format.
	Suppressed   uint32
	FilterFormat bool

	// Custom is the set of user-defined signatures the line matched, by
	// their index in the Matcher's signature list. It may be non-empty for
	// any Kind.
	Custom SignatureSet
}

// Key returns e without its per-line numbers (Length, Suppressed, Custom,
// DstPort, InferredPeerAPIPort) and, on drop and accept lines, without
// DstFamily (in a real packet always the source's family): the fields
// that remain are small enumerations and the version, so counts keyed by
// Key stay bounded and map to today's label sets one to one.
func (e Event) Key() Event {
	e.Length, e.Suppressed, e.Custom = 0, 0, 0
	e.DstPort, e.InferredPeerAPIPort = 0, 0
	if e.Kind == KindDrop || e.Kind == KindAccept {
		e.DstFamily = FamilyNone
	}
	return e
}

// SignatureSet is a set of signature indexes (at most MaxSignatures).
type SignatureSet uint64

// Has reports whether signature i is in the set.
func (s SignatureSet) Has(i int) bool { return i >= 0 && i < MaxSignatures && s&(1<<uint(i)) != 0 }

// Kinds, Reasons, Protocols, Families, PortClasses and TLSCauses list every
// value but "none", in order: label values to initialise series with.
func Kinds() []Kind            { return values[Kind](numKinds) }
func Reasons() []Reason        { return values[Reason](numReasons) }
func Protocols() []Protocol    { return values[Protocol](numProtocols) }
func Families() []Family       { return values[Family](numFamilies) }
func PortClasses() []PortClass { return values[PortClass](numPortClasses) }
func TLSCauses() []TLSCause    { return values[TLSCause](numTLSCauses) }

func values[E ~uint8](n E) []E {
	out := make([]E, 0, n-1)
	for v := E(1); v < n; v++ {
		out = append(out, v)
	}
	return out
}
