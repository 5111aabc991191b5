package logmatch

import "bytes"

// parseAddrPort parses the address and port that netip.AddrPort.String
// writes ("100.64.0.1:443", "[fd7a:115c:a1e0::1]:443", "[fe80::1%eth0]:443")
// at the start of b. It returns the family, the port, the address as
// written (without brackets; a slice of b) and how many bytes it consumed.
// The address is validated but never leaves this package: only its family,
// the port and numbers derived from it (tailnetLow24) do.
func parseAddrPort(b []byte) (fam Family, port int, addr []byte, n int, ok bool) {
	if len(b) == 0 {
		return FamilyNone, 0, nil, 0, false
	}
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || !validIPv6(b[1:end]) {
			return FamilyNone, 0, nil, 0, false
		}
		fam, addr, n = FamilyIPv6, b[1:end], end+1
	} else {
		n = ipv4Len(b)
		if n == 0 {
			return FamilyNone, 0, nil, 0, false
		}
		fam, addr = FamilyIPv4, b[:n]
	}
	if n >= len(b) || b[n] != ':' {
		return FamilyNone, 0, nil, 0, false
	}
	port, m := parsePort(b[n+1:])
	if m == 0 {
		return FamilyNone, 0, nil, 0, false
	}
	return fam, port, addr, n + 1 + m, true
}

// tailnetIPv6Prefix is fd7a:115c:a1e0::/48 as netip writes addresses in it.
var tailnetIPv6Prefix = []byte("fd7a:115c:a1e0:")

// tailnetLow24 returns the low 24 bits of addr, an address parseAddrPort
// accepted, if it is a tailnet address: in 100.64.0.0/10 or, as netip
// writes it (lower case, no zone), in fd7a:115c:a1e0::/48.
func tailnetLow24(fam Family, addr []byte) (uint32, bool) {
	switch fam {
	case FamilyIPv4:
		v := ipv4Value(addr)
		if v>>22 != 100<<2|1 { // 100.64.0.0/10
			return 0, false
		}
		return v & 0xffffff, true
	case FamilyIPv6:
		if !bytes.HasPrefix(addr, tailnetIPv6Prefix) || bytes.IndexByte(addr, '%') >= 0 {
			return 0, false
		}
		return ipv6Low32(addr) & 0xffffff, true
	}
	return 0, false
}

// ipv6Low32 returns the last 32 bits of addr, a valid IPv6 address without
// zone: its last two groups, or its embedded IPv4 address.
func ipv6Low32(addr []byte) uint32 {
	c := bytes.LastIndexByte(addr, ':')
	last, rest := addr[c+1:], addr[:c]
	if bytes.IndexByte(last, '.') >= 0 {
		return ipv4Value(last)
	}
	// The group before the last is 0 when "::" stands between them.
	var hi []byte
	if len(rest) > 0 && rest[len(rest)-1] != ':' {
		hi = rest[bytes.LastIndexByte(rest, ':')+1:]
	}
	return hexValue(hi)<<16 | hexValue(last)
}

// ipv4Value returns the dotted quad b (valid, see ipv4Len) as a number.
func ipv4Value(b []byte) uint32 {
	var v, octet uint32
	for _, c := range b {
		if c == '.' {
			v, octet = v<<8|octet, 0
			continue
		}
		octet = octet*10 + uint32(c-'0')
	}
	return v<<8 | octet
}

func hexValue(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		switch {
		case isDigit(c):
			v = v<<4 | uint32(c-'0')
		default:
			v = v<<4 | uint32(c|0x20-'a'+10)
		}
	}
	return v
}

// parsePort parses a decimal port of at most 65535 at the start of b, with
// leading zeros allowed as netip allows them; m is 0 if there is none.
func parsePort(b []byte) (port, m int) {
	for m < len(b) && isDigit(b[m]) {
		port = port*10 + int(b[m]-'0')
		m++
		if port > 65535 {
			return 0, 0
		}
	}
	if m == 0 {
		return 0, 0
	}
	return port, m
}

// ipv4Len returns the length of the dotted-quad IPv4 address at the start
// of b, or 0 if there is none. Like netip, it rejects leading zeros.
func ipv4Len(b []byte) int {
	i := 0
	for field := 0; field < 4; field++ {
		if field > 0 {
			if i >= len(b) || b[i] != '.' {
				return 0
			}
			i++
		}
		start, v := i, 0
		for i < len(b) && isDigit(b[i]) && i-start < 3 {
			v = v*10 + int(b[i]-'0')
			i++
		}
		digits := i - start
		if digits == 0 || v > 255 || (digits > 1 && b[start] == '0') {
			return 0
		}
	}
	if i < len(b) && (isDigit(b[i]) || b[i] == '.') {
		return 0
	}
	return i
}

// validIPv6 reports whether b is an IPv6 address as netip.ParseAddr accepts
// it, optionally with a non-empty zone after '%'.
func validIPv6(b []byte) bool {
	if z := bytes.IndexByte(b, '%'); z >= 0 {
		if z == len(b)-1 {
			return false
		}
		b = b[:z]
	}
	if len(b) < 2 {
		return false
	}
	groups, ellipsis, i := 0, false, 0
	if b[0] == ':' {
		if b[1] != ':' {
			return false
		}
		ellipsis, i = true, 2
		if i == len(b) {
			return true
		}
	}
	for i < len(b) {
		start := i
		for i < len(b) && i-start < 4 && isHex(b[i]) {
			i++
		}
		if i == start {
			return false
		}
		if i < len(b) && b[i] == '.' {
			// Embedded IPv4 in the last 32 bits.
			if n := ipv4Len(b[start:]); n == 0 || start+n != len(b) || groups > 6 {
				return false
			}
			groups += 2
			i = len(b)
			break
		}
		if i < len(b) && isHex(b[i]) {
			return false // group longer than 4 digits
		}
		groups++
		if groups > 8 {
			return false
		}
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return false // trailing single colon
		}
	}
	if ellipsis {
		return groups < 8
	}
	return groups == 8
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func portClass(port int) PortClass {
	switch port {
	case 443:
		return Port443
	case 80:
		return Port80
	}
	return PortOther
}
