package logmatch

import (
	"encoding/binary"
	"math/bits"
)

// The matcher's fast path, in Match, decides that a line (without its line
// end) holds no built-in event: builtin(message(line)) is then KindNone.
// On an ordinary line, validating the timestamps in front of the message
// costs more than everything else, so it only skips them: it walks the
// message as builtin does, from where it starts if the timestamps that line
// seems to have are valid.
//
// That is enough because no anchor starts at a timestamp: if a skipped
// timestamp is invalid, the exact message starts with it, and its first
// word (which has no anchor's first bytes) ends in something other than
// ':', so it is no "component: " prefix either and builtin stops there.
// Where that does not hold, the fast path lets the exact path decide.
//
// On amd64, the kernel in scan_amd64.s decides most lines before this code
// runs (see scan.go), on the same argument.

// looseShape8 matches eight bytes against a template where '0' stands for
// a byte in '0'..'?' and any other byte for itself: two instructions where
// an exact check of the digits takes ten.
type looseShape8 struct{ mask, val uint64 }

func newLooseShape8(t string) looseShape8 {
	var s looseShape8
	for i := range 8 {
		m, v := looseByte(t[i])
		s.mask |= uint64(m) << (8 * i)
		s.val |= uint64(v) << (8 * i)
	}
	return s
}

// looseByte is the mask and value of one byte of a loose shape.
func looseByte(c byte) (mask, val byte) {
	if c == '0' {
		return 0xf0, '0'
	}
	return 0xff, c
}

// miss is 0 if b starts with the shape.
func (s looseShape8) miss(b []byte) uint64 { return le64(b)&s.mask ^ s.val }

// The usual timestamps: a Kubernetes one with nine fraction digits, a Go
// log one without fraction.
const (
	kubeUsualShape  = "0000-00-00T00:00:00.000000000Z "
	goLogUsualShape = "0000/00/00 00:00:00 "
)

var (
	// kubeUsualShape as bytes 0-7, 8-15, 16-23 and 23-30.
	kubeUsual = [4]looseShape8{newLooseShape8(kubeUsualShape[0:8]), newLooseShape8(kubeUsualShape[8:16]),
		newLooseShape8(kubeUsualShape[16:24]), newLooseShape8(kubeUsualShape[23:31])}
	// goLogUsualShape as bytes 0-7, 8-15 and 12-19.
	goLogUsual = [3]looseShape8{newLooseShape8(goLogUsualShape[0:8]), newLooseShape8(goLogUsualShape[8:16]),
		newLooseShape8(goLogUsualShape[12:20])}
)

// mayAnchor is 0 if w[i:] starts with the first two bytes of an anchor.
func mayAnchor(w *[40]byte, i int) byte {
	i = min(i, 33)
	return anchorSecond[w[i]] ^ w[i+1]
}

// spaces8 returns a mask of the spaces in x, bit i for byte i.
func spaces8(x uint64) uint32 {
	x ^= ' ' * ones
	// High bit of each byte set where the byte is zero, exactly.
	z := ^((x&^highs + (highs - ones)) | x) & highs
	// Gather the eight high bits into one byte.
	return uint32((z >> 7) * 0x0102040810204080 >> 56)
}

// skipPrefixes returns where the message of line starts if its timestamps
// are valid (see Match), or nil if line can hold no event.
func skipPrefixes(line []byte) []byte {
	msg := line
	// Kubernetes RFC 3339 timestamp: 20 to 35 bytes, no space, ending in
	// 'Z' or a digit, then a space. With '-' at byte 4, byte 0 starts no
	// anchor, journald prefix or Go log timestamp, so if it is invalid,
	// builtin stops at the first space unless a ':' is before it.
	if len(msg) >= 36 && msg[4] == '-' {
		if hasSpace(le64(msg[0:])) || hasSpace(le64(msg[8:])) || hasSpace(le64(msg[12:])) {
			return line // no timestamp; rare
		}
		sp := 20 + space16(le64(msg[20:]), le64(msg[28:]))
		if sp == 36 || msg[sp-1] == ':' {
			return line // no timestamp; rare
		}
		msg = msg[sp+1:]
	} else if len(msg) >= 21 && msg[4] == '-' {
		sp := indexSpace(msg)
		switch {
		case sp >= 1 && msg[sp-1] == ':':
			return line // a "component: " prefix, unlikely as it is
		case sp < 20:
			return nil // no timestamp, and the first word is no component
		}
		msg = msg[sp+1:]
	}
	return skipLogPrefixes(msg)
}

// skipLogPrefixes is skipPrefixes after the Kubernetes timestamp.
func skipLogPrefixes(msg []byte) []byte {
	// journald prefixes are rare in pod logs: skipped exactly.
	if len(msg) > 0 && msg[0] >= 'A' && msg[0] <= 'Z' {
		if n, _ := journaldLen(msg); n > 0 {
			msg = msg[n:]
		}
	}
	// Go log timestamp "2006/01/02 15:04:05[.000000] ". With '/' at byte 4,
	// byte 0 starts no anchor. Once its first word is "2006/01/02", which
	// is no prefix, the time is only skipped.
	if len(msg) >= 20 && msg[4] == '/' && msg[10] == ' ' && msg[9] != ':' &&
		!hasSpace(le64(msg)) && msg[8] != ' ' && msg[9] != ' ' {
		sp := 19
		if msg[sp] != ' ' {
			if sp = indexSpace(msg[11:]); sp < 0 {
				return nil // no timestamp, and "2006/01/02" is no component
			}
			sp += 11
		}
		msg = msg[sp+1:]
	}
	return msg
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// walkAnchors is builtin without parsing, from msg[i:] after n
// "component: " prefixes: whether an anchor starts where builtin looks for
// one.
func walkAnchors(msg []byte, i, n int) bool {
	for ; i < len(msg); n++ {
		if anchorStart[msg[i]] {
			if _, ok := anchored(msg[i:]); ok {
				return true
			}
		}
		if n == maxComponents {
			break
		}
		var sp int
		if i+16 <= len(msg) {
			if sp = space16(le64(msg[i:]), le64(msg[i+8:])); sp == 16 {
				sp = indexSpace(msg[i:min(len(msg), i+maxComponentLen+2)])
			}
		} else {
			sp = indexSpace(msg[i:])
		}
		if sp < 2 || msg[i+sp-1] != ':' {
			break
		}
		i += sp + 1
	}
	return false
}

// space16 returns the index of the first ' ' in the 16 bytes a, b
// (little-endian), or 16.
func space16(a, b uint64) int {
	a ^= ' ' * ones
	b ^= ' ' * ones
	ta := bits.TrailingZeros64((a - ones) &^ a & highs)
	tb := bits.TrailingZeros64((b - ones) &^ b & highs)
	// ta is 64 if a has no space: then add b's index.
	return ta>>3 + (tb>>3)&-(ta>>6)
}

// anchorSecond is the second byte of the anchor that starts with a byte,
// 0 for other bytes.
var anchorSecond [256]byte

func init() {
	for _, a := range anchors {
		anchorSecond[a[0]] = a[1]
	}
}

// hasSpace reports whether one of the eight bytes of x is ' '.
func hasSpace(x uint64) bool { return spaceBytes(x) != 0 }

// spaceBytes is non-zero if one of the eight bytes of x is ' '. Its
// lowest set bit is the high bit of the first one.
func spaceBytes(x uint64) uint64 {
	x ^= ' ' * ones
	return (x - ones) &^ x & highs
}
