package logmatch

import (
	"hash/crc32"
	"net/netip"
)

// Where drops went, and the peer API exception.
//
// Checked in tailscale/tailscale at v1.98.9 (6c167d40fa37) and at main
// de9ec7ee2562 (1.103.0-pre, 2026-08-22); the lines are the same in both:
//   - wgengine/filter/filter.go, (*Filter).logRateLimit:
//     f.logf("%s: %s %d %s\n%s", verdict, q.String(), len(b), why, hexdump)
//     with verdict "Drop" or "[v1] Accept"; net/packet/packet.go,
//     (*Parsed).String: PROTO{src > dst}, each netip.AddrPort.AppendTo.
//   - net/tstun/wrap.go, (*Wrapper).filterPacketInboundFromWireGuard: after
//     the filter said no ("Let peerapi through the filter; its ACLs are
//     handled at L7"), a TCP SYN whose destination port is the peer API
//     port of its destination address is accepted, so its Drop line was
//     logged but nothing was dropped and the acl drop counter is not
//     incremented. Only TCP SYNs: UDP to that port is a real drop.
//   - ipn/ipnlocal/local.go, (*LocalBackend).initPeerAPIListenerLocked:
//     b.logf("peerapi: serving on %s", "http://"+net.JoinHostPort(addr, port))
//     for each address of the netmap; in netstack (userspace) mode only the
//     first address listens and the others reuse its port.
//   - ipn/ipnlocal/peerapi.go, (*peerAPIServer).listen: the port rule of
//     InferPeerAPIPort, tried five times, then any free port.

// InferPeerAPIPort returns the port tailscaled first tries for its peer
// API on addr (ipn/ipnlocal/peerapi.go, (*peerAPIServer).listen):
// 32768 | the low 16 bits of the CRC-32 (IEEE) of the address's last three
// bytes (of its 16-byte form, so an IPv4 address's last three octets).
// The rule is the same for IPv4 and IPv6, and Tailscale-assigned IPv4 and
// IPv6 addresses share their last three bytes, so a node usually gets one
// port for both. It is a guess, never certain: when that port is taken,
// tailscaled tries four more (the first hashed byte plus 1 to 4) and
// then a random one; and in userspace mode (Kubernetes operator proxies)
// every address uses the port of the node's first address, which differs
// when the IPv6 address does not share the IPv4 one's last bytes (as with
// headscale's sequential fd7a:115c:a1e0::N). A port learned from a
// "peerapi: serving on" line (KindPeerAPIServing) is certain.
func InferPeerAPIPort(addr netip.Addr) uint16 {
	a := addr.As16()
	return peerAPIPortOf(uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15]))
}

// peerAPIPortOf is InferPeerAPIPort of an address whose last three bytes
// are low24. It computes the CRC-32 by hand over crc32.IEEETable so that
// nothing escapes to the heap on the per-line path.
func peerAPIPortOf(low24 uint32) uint16 {
	crc := ^uint32(0)
	for _, c := range [3]byte{byte(low24 >> 16), byte(low24 >> 8), byte(low24)} {
		crc = crc32.IEEETable[byte(crc)^c] ^ crc>>8
	}
	return 32768 | uint16(^crc)
}

// DropClass is where a dropped (or accepted) packet went. Its String is a
// label value.
type DropClass uint8

const (
	DropClassNone DropClass = iota // not a packet line
	// DropClassServed: a port an ingress proxy serves (443, 80). A drop
	// there is real: a peer the tailnet policy does not allow.
	DropClassServed
	// DropClassPeerAPI: a TCP packet to the node's peer API port. tailscaled
	// logs the Drop and lets it through (its ACLs are checked at L7): Funnel
	// relays and ordinary peers reaching the peer API, not a failure.
	DropClassPeerAPI
	// DropClassOther: any other port, with the peer API port known, or any
	// other protocol than TCP (the peer API exception is for TCP only).
	DropClassOther
	// DropClassUnknown: a TCP packet to a port that is not served, while
	// the node's peer API port is neither learned nor inferable.
	DropClassUnknown
	numDropClasses
)

var dropClassNames = [numDropClasses]string{"none", "served", "peerapi", "other", "unknown"}

func (c DropClass) String() string { return enumName(dropClassNames[:], c) }

// DropClasses lists every DropClass but "none": label values to
// initialise series with.
func DropClasses() []DropClass { return values[DropClass](numDropClasses) }

// PortSource is how the peer API port a classification compared with is
// known. Its String is a label value.
type PortSource uint8

const (
	PortSourceNone     PortSource = iota // not a packet line, or a served port: no peer API port was needed
	PortSourceLearned                    // from a "peerapi: serving on" line
	PortSourceInferred                   // InferPeerAPIPort of the destination address
	PortSourceUnknown                    // neither
	numPortSources
)

var portSourceNames = [numPortSources]string{"none", "learned", "inferred", "unknown"}

func (s PortSource) String() string { return enumName(portSourceNames[:], s) }

// PortSources lists every PortSource but "none".
func PortSources() []PortSource { return values[PortSource](numPortSources) }

// PeerAPIPorts are the peer API ports of one node learned from its
// "peerapi: serving on" lines, by address family; 0 is not learned. A
// node (one pod) logs them again when its addresses change, so the latest
// line wins.
type PeerAPIPorts struct {
	IPv4, IPv6 uint16
}

// Learn records the port of a KindPeerAPIServing event and reports
// whether ev was one.
func (p *PeerAPIPorts) Learn(ev Event) bool {
	if ev.Kind != KindPeerAPIServing || ev.DstPort == 0 {
		return false
	}
	switch ev.DstFamily {
	case FamilyIPv4:
		p.IPv4 = ev.DstPort
	case FamilyIPv6:
		p.IPv6 = ev.DstPort
	default:
		return false
	}
	return true
}

// port returns the learned port for family f, or 0.
func (p PeerAPIPorts) port(f Family) uint16 {
	switch f {
	case FamilyIPv4:
		return p.IPv4
	case FamilyIPv6:
		return p.IPv6
	}
	return 0
}

// Classify says where the packet of a drop or accept line went: to a
// served port, to the node's peer API port (learned for the
// destination's family, else inferred from the destination address), or
// elsewhere. For other lines it returns DropClassNone, PortSourceNone.
func Classify(ev Event, learned PeerAPIPorts) (DropClass, PortSource) {
	if ev.Kind != KindDrop && ev.Kind != KindAccept {
		return DropClassNone, PortSourceNone
	}
	if ev.DstPort == 443 || ev.DstPort == 80 {
		return DropClassServed, PortSourceNone
	}
	port, src := learned.port(ev.DstFamily), PortSourceLearned
	if port == 0 {
		port, src = ev.InferredPeerAPIPort, PortSourceInferred
	}
	if port == 0 {
		src = PortSourceUnknown
	}
	switch {
	case ev.Protocol != ProtocolTCP:
		return DropClassOther, src
	case port == 0:
		return DropClassUnknown, src
	case port == ev.DstPort:
		return DropClassPeerAPI, src
	}
	return DropClassOther, src
}
