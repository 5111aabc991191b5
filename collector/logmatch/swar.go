package logmatch

import (
	"encoding/binary"
	"math/bits"
)

// Timestamps are checked eight bytes at a time: on every line of a pod log,
// a byte-by-byte shape check costs more than everything else the matcher
// does on an ordinary line.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// digits8 reports whether all eight bytes of x (little-endian) are ASCII
// digits. With no high bit set, x+0x46 per byte cannot carry, and a byte
// below '0' makes the lowest such lane of x-0x30 negative (high bit set).
func digits8(x uint64) bool {
	return (x|(x+0x46*ones)|(x-0x30*ones))&highs == 0
}

// shape8 checks 8 bytes against a template where '0' is a digit and any
// other byte stands for itself.
type shape8 struct{ sep, sepVal, fill uint64 }

func newShape8(t string) shape8 {
	var s shape8
	for i := range 8 {
		if t[i] == '0' {
			continue
		}
		s.sep |= 0xff << (8 * i)
		s.sepVal |= uint64(t[i]) << (8 * i)
		s.fill |= 0x30 << (8 * i)
	}
	return s
}

func (s shape8) match(b []byte) bool {
	x := binary.LittleEndian.Uint64(b)
	return x&s.sep == s.sepVal && digits8(x&^s.sep|s.fill)
}

var (
	// "2006-01-02T15:04:05" as bytes 0-7, 8-15 and 11-18.
	kubeShape = [3]shape8{newShape8("0000-00-"), newShape8("00T00:00"), newShape8("00:00:00")}
	// "2006/01/02 15:04:05" likewise.
	goLogShape = [3]shape8{newShape8("0000/00/"), newShape8("00 00:00"), newShape8("00:00:00")}
)

// dateTime reports whether b (at least 19 bytes) starts with shapes.
func dateTime(b []byte, shapes *[3]shape8) bool {
	return shapes[0].match(b[0:8]) && shapes[1].match(b[8:16]) && shapes[2].match(b[11:19])
}

// fractionLen returns the length of ".digits" (at most max digits) at the
// start of b, 0 if there is none and -1 if there is a '.' without digits.
func fractionLen(b []byte, max int) int {
	if len(b) == 0 || b[0] != '.' {
		return 0
	}
	i := 1
	if len(b) >= 9 && max >= 8 && digits8(binary.LittleEndian.Uint64(b[1:9])) {
		i = 9
	}
	for i < len(b) && i <= max && isDigit(b[i]) {
		i++
	}
	if i == 1 {
		return -1
	}
	return i
}

// indexSpace is bytes.IndexByte(b, ' ') for the short distances the
// matcher searches, where calling the vectorised version costs more than
// the search. (x-ones)&^x&highs marks the zero bytes of x, exactly up to
// the first one, which is all that is used.
func indexSpace(b []byte) int {
	const spaces = ' ' * ones
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:]) ^ spaces
		if z := (x - ones) &^ x & highs; z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
	}
	if len(b) >= 8 {
		// The last eight bytes, overlapping bytes already known to be no space.
		i = len(b) - 8
		x := binary.LittleEndian.Uint64(b[i:]) ^ spaces
		if z := (x - ones) &^ x & highs; z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
		return -1
	}
	for ; i < len(b); i++ {
		if b[i] == ' ' {
			return i
		}
	}
	return -1
}
