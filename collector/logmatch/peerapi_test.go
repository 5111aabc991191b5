package logmatch

import (
	"hash/crc32"
	"net/netip"
	"testing"
)

// TestInferPeerAPIPort: rows from real lines where the port is known, the
// others computed by the rule of ipn/ipnlocal/peerapi.go
// ((*peerAPIServer).listen, first try) with the standard library's CRC-32.
func TestInferPeerAPIPort(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want uint16
		why  string
	}{
		// REFERENCE §2, the real v1.98.10 capture: a Drop to this address at
		// port 36311, the peer API port tailscaled picked for it.
		{"fd7a:115c:a1e0::5501:7c39", 36311, "real capture"},
		// Tailscale-assigned IPv4 and IPv6 addresses share their last three
		// bytes, so both get the same port.
		{"100.101.102.103", 59395, "rule"},
		{"fd7a:115c:a1e0:ab12:4843:cd96:6265:6667", 59395, "rule, same low bytes as 100.101.102.103"},
		// headscale's defaults: the IPv6 address does not share the IPv4
		// one's low bytes, so the ports differ (in userspace mode both
		// listeners then use the first address's port; see InferPeerAPIPort).
		{"100.64.0.2", 46590, "rule"},
		{"fd7a:115c:a1e0::2", 47166, "rule"},
	} {
		a := netip.MustParseAddr(tc.addr)
		a16 := a.As16()
		rule := 32768 | uint16(crc32.ChecksumIEEE(a16[13:]))
		if rule != tc.want {
			t.Fatalf("%s: the table says %d, the rule %d (%s)", tc.addr, tc.want, rule, tc.why)
		}
		if got := InferPeerAPIPort(a); got != tc.want {
			t.Errorf("InferPeerAPIPort(%s) = %d, want %d (%s)", tc.addr, got, tc.want, tc.why)
		}
	}
}

// FuzzPeerAPIPort checks the hand-written CRC-32 against hash/crc32.
func FuzzPeerAPIPort(f *testing.F) {
	f.Add(uint32(0x017c39))
	f.Add(uint32(0xffffff))
	f.Fuzz(func(t *testing.T, low24 uint32) {
		low24 &= 0xffffff
		b := []byte{byte(low24 >> 16), byte(low24 >> 8), byte(low24)}
		if got, want := peerAPIPortOf(low24), 32768|uint16(crc32.ChecksumIEEE(b)); got != want {
			t.Fatalf("peerAPIPortOf(%06x) = %d, want %d", low24, got, want)
		}
	})
}

// classifyCases are the drop line shapes of REFERENCE §2 and §8, each
// with the peer API ports learned so far.
var classifyCases = []struct {
	name    string
	line    string
	learned PeerAPIPorts
	class   DropClass
	source  PortSource
}{
	// The real capture (REFERENCE §2, tailscaled v1.98.10): an ordinary
	// peer's SYN to the node's peer API port, logged and let through.
	{"real capture peer api drop inferred",
		"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched",
		PeerAPIPorts{}, DropClassPeerAPI, PortSourceInferred},
	{"real capture peer api drop learned",
		"2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched",
		PeerAPIPorts{IPv4: 36311, IPv6: 36311}, DropClassPeerAPI, PortSourceLearned},
	// Funnel relays (§8 row 1): long and short relay address forms, to a
	// userspace proxy whose IPv6 listener took the IPv4 address's port.
	{"relay long form learned",
		"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:6268:d02b]:36338 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched",
		PeerAPIPorts{IPv4: 46590, IPv6: 46590}, DropClassPeerAPI, PortSourceLearned},
	{"relay short form learned",
		"Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched",
		PeerAPIPorts{IPv4: 46590, IPv6: 46590}, DropClassPeerAPI, PortSourceLearned},
	{"relay short form, inference misses userspace port sharing",
		"Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched",
		PeerAPIPorts{}, DropClassOther, PortSourceInferred},
	{"relay long form inferred, shared low bytes",
		"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:6268:d02b]:36338 > [fd7a:115c:a1e0:ab12:4843:cd96:6265:6667]:59395} 80 no rules matched",
		PeerAPIPorts{}, DropClassPeerAPI, PortSourceInferred},
	{"learned ipv4 port does not stand for ipv6",
		"Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched",
		PeerAPIPorts{IPv4: 46590}, DropClassOther, PortSourceInferred},
	{"learned port wins over inferred",
		"Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched",
		PeerAPIPorts{IPv6: 40000}, DropClassOther, PortSourceLearned},
	// Tailnet clients refused at a served port (§8): real drops.
	{"ipv4 tailnet client at 443",
		"2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		PeerAPIPorts{}, DropClassServed, PortSourceNone},
	{"ipv6 tailnet client at 443",
		"Drop: TCP{[fd7a:115c:a1e0::1]:65076 > [fd7a:115c:a1e0::2]:443} 80 no rules matched",
		PeerAPIPorts{IPv6: 46590}, DropClassServed, PortSourceNone},
	{"ipv4 tailnet client at 80",
		"Drop: TCP{100.101.102.104:50123 > 100.101.102.103:80} 60 no rules matched",
		PeerAPIPorts{}, DropClassServed, PortSourceNone},
	{"udp at 443 is served", "2026/11/24 09:32:41 Drop: UDP{[fd7a:115c:a1e0::1]:23426 > [fd7a:115c:a1e0::2]:443} 60 no rules matched",
		PeerAPIPorts{}, DropClassServed, PortSourceNone},
	// Other ports.
	{"ipv4 client at the peer api port", "Drop: TCP{100.64.0.1:40000 > 100.64.0.2:46590} 60 no rules matched",
		PeerAPIPorts{}, DropClassPeerAPI, PortSourceInferred},
	{"ssh with learned port", "Drop: TCP{100.64.0.1:40000 > 100.64.0.2:22} 60 no rules matched",
		PeerAPIPorts{IPv4: 46590}, DropClassOther, PortSourceLearned},
	{"ssh with inferred port", "Drop: TCP{100.64.0.1:40000 > 100.64.0.2:22} 60 no rules matched",
		PeerAPIPorts{}, DropClassOther, PortSourceInferred},
	{"udp at the peer api port is a real drop", "Drop: UDP{100.64.0.1:40000 > 100.64.0.2:46590} 60 no rules matched",
		PeerAPIPorts{IPv4: 46590}, DropClassOther, PortSourceLearned},
	{"icmp", "Drop: ICMPv4{100.64.0.1:0 > 100.64.0.2:0} 84 no rules matched",
		PeerAPIPorts{}, DropClassOther, PortSourceInferred},
	// Destinations that are no tailnet address: nothing to infer from.
	{"subnet route destination unknown", "Drop: TCP{100.64.0.1:1 > 10.0.0.1:8080} 60 destination not allowed",
		PeerAPIPorts{}, DropClassUnknown, PortSourceUnknown},
	{"custom headscale prefix unknown", "Drop: TCP{[fd00:1::1]:1 > [fd00:1::2]:46590} 80 no rules matched",
		PeerAPIPorts{}, DropClassUnknown, PortSourceUnknown},
	{"custom headscale prefix learned", "Drop: TCP{[fd00:1::1]:1 > [fd00:1::2]:46590} 80 no rules matched",
		PeerAPIPorts{IPv6: 46590}, DropClassPeerAPI, PortSourceLearned},
	{"udp unknown is other", "Drop: UDP{100.64.0.1:1 > 10.0.0.1:53} 60 destination not allowed",
		PeerAPIPorts{}, DropClassOther, PortSourceUnknown},
	{"zoned link-local", "Drop: UDP{[fe80::1%eth0]:546 > [fe80::2%eth0]:547} 90 link-local-unicast",
		PeerAPIPorts{}, DropClassOther, PortSourceUnknown},
	// Accepts classify the same way.
	{"accept at the peer api port", "Accept: TCP{[fd7a:115c:a1e0::9]:1 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 tcp ok",
		PeerAPIPorts{}, DropClassPeerAPI, PortSourceInferred},
	// Lines that are no packets.
	{"tls error", "http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF",
		PeerAPIPorts{IPv6: 46590}, DropClassNone, PortSourceNone},
	{"tls nil address cert", "http: TLS handshake error from %!s(<nil>): 500 Internal Server Error: your Tailscale account does not support getting TLS certs",
		PeerAPIPorts{}, DropClassNone, PortSourceNone},
	{"serving line", "peerapi: serving on http://100.64.0.2:46590", PeerAPIPorts{}, DropClassNone, PortSourceNone},
}

func TestClassify(t *testing.T) {
	var m *Matcher
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := m.Match([]byte(tc.line))
			if !ok {
				t.Fatalf("Match(%q): no event", tc.line)
			}
			class, source := Classify(ev, tc.learned)
			if class != tc.class || source != tc.source {
				t.Errorf("Classify(%q, %+v) = %v, %v; want %v, %v", tc.line, tc.learned, class, source, tc.class, tc.source)
			}
		})
	}
}

// TestClassifyFollowsTheLog reads a proxy log as the follower will: the
// serving lines teach the port, later drops are classified with it.
func TestClassifyFollowsTheLog(t *testing.T) {
	log := []struct {
		line string
		want DropClass
	}{
		{"2026/11/24 09:32:00 Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched", DropClassOther},
		{`2026/11/24 09:32:01 Program starting: v1.98.10-t36550d57f, Go 1.26.5: []string{"tailscaled"}`, DropClassNone},
		{"2026/11/24 09:32:10 peerapi: serving on http://100.64.0.2:46590", DropClassNone},
		{"2026/11/24 09:32:10 peerapi: serving on http://[fd7a:115c:a1e0::2]:46590", DropClassNone},
		{"2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0::a2:1f0c]:51200 > [fd7a:115c:a1e0::2]:46590} 80 no rules matched", DropClassPeerAPI},
		{"2026/11/24 09:32:17 http: TLS handshake error from [fd7a:115c:a1e0::a2:1f0c]:51200: EOF", DropClassNone},
		{"2026/11/24 09:32:18 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched", DropClassServed},
	}
	var m *Matcher
	var ports PeerAPIPorts
	var learned int
	for _, l := range log {
		ev, _ := m.Match([]byte(l.line))
		if ports.Learn(ev) {
			learned++
		}
		if got, _ := Classify(ev, ports); got != l.want {
			t.Errorf("%q: class %v, want %v", l.line, got, l.want)
		}
	}
	if learned != 2 || ports != (PeerAPIPorts{IPv4: 46590, IPv6: 46590}) {
		t.Errorf("learned %d lines, ports %+v", learned, ports)
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		v                     Version
		unstable, prerelease  bool
		older102_2, newer98_9 bool
	}{
		{Version{1, 98, 10, false}, false, false, true, true},
		{Version{1, 102, 1, false}, false, false, true, true},
		{Version{1, 102, 2, false}, false, false, false, true},
		{Version{1, 102, 2, true}, false, true, false, true},
		{Version{1, 103, 4, false}, true, true, false, true},
		{Version{1, 98, 9, false}, false, false, true, false},
		{Version{2, 0, 0, false}, false, false, false, true},
	} {
		if tc.v.Unstable() != tc.unstable || tc.v.Prerelease() != tc.prerelease {
			t.Errorf("%+v: unstable %v prerelease %v", tc.v, tc.v.Unstable(), tc.v.Prerelease())
		}
		if got := tc.v.Compare(Version{1, 102, 2, false}) < 0; got != tc.older102_2 {
			t.Errorf("%+v older than 1.102.2: %v", tc.v, got)
		}
		if got := tc.v.Compare(Version{1, 98, 9, false}) > 0; got != tc.newer98_9 {
			t.Errorf("%+v newer than 1.98.9: %v", tc.v, got)
		}
	}
}

// TestKeyIsBounded: the per-line numbers never reach a counter's key.
func TestKeyIsBounded(t *testing.T) {
	var m *Matcher
	a, _ := m.Match([]byte("Drop: TCP{[fd7a:115c:a1e0::1]:1 > [fd7a:115c:a1e0::2]:40000} 80 no rules matched"))
	b, _ := m.Match([]byte("Drop: TCP{[fd7a:115c:a1e0::1]:2 > [fd7a:115c:a1e0::3]:50000} 60 no rules matched"))
	if a == b || a.Key() != b.Key() {
		t.Errorf("keys %+v and %+v differ", a.Key(), b.Key())
	}
	if k := a.Key(); k.DstPort != 0 || k.InferredPeerAPIPort != 0 || k.Length != 0 || k.DstFamily != FamilyNone || k.Port != PortOther {
		t.Errorf("key %+v", k)
	}
	s, _ := m.Match([]byte("peerapi: serving on http://[fd7a:115c:a1e0::2]:46590"))
	if k := s.Key(); k != (Event{Kind: KindPeerAPIServing, DstFamily: FamilyIPv6}) {
		t.Errorf("serving key %+v", k)
	}
	v, _ := m.Match([]byte(`Program starting: v1.102.1-t0123456789, Go 1.26.3: []string{"tailscaled"}`))
	if k := v.Key(); k != v || k.Version != (Version{1, 102, 1, false}) {
		t.Errorf("version key %+v", k)
	}
}
