package logmatch

import (
	"bytes"
	"time"
)

// SplitKubeTimestamp splits off the RFC 3339 timestamp and the space that
// the Kubernetes API puts in front of every line when asked for
// timestamps=true. The log follower resumes from it (sinceTime), so it is
// parsed exactly, to the nanosecond; a numeric offset is applied and the
// result is in UTC. It does not allocate. If line does not start with such
// a timestamp, ok is false and rest is line.
func SplitKubeTimestamp(line []byte) (ts time.Time, rest []byte, ok bool) {
	n := kubeTimestampLen(line)
	if n == 0 {
		return time.Time{}, line, false
	}
	ts, ok = parseRFC3339(line[:n-1])
	if !ok {
		return time.Time{}, line, false
	}
	return ts, line[n:], true
}

// kubeTimestampLen returns the length of an RFC 3339 timestamp and the
// space after it at the start of b, or 0. It checks the shape only (no
// ranges, no calendar), so the matcher can skip the prefix cheaply.
func kubeTimestampLen(b []byte) int {
	if len(b) < 21 || !dateTime(b, '-', 'T') {
		return 0
	}
	i := 19
	f := fractionLen(b[i:], 9)
	if f < 0 {
		return 0
	}
	i += f
	switch {
	case i < len(b) && b[i] == 'Z':
		i++
	case i+6 <= len(b) && (b[i] == '+' || b[i] == '-') && b[i+3] == ':' && allDigits(b[i+1:i+3]) && allDigits(b[i+4:i+6]):
		i += 6
	default:
		return 0
	}
	if i >= len(b) || b[i] != ' ' {
		return 0
	}
	return i + 1
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// parseRFC3339 parses what time.RFC3339Nano formats, without the string
// conversion that time.Parse would need.
func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) < 20 {
		return time.Time{}, false
	}
	sec, ok := parseSecond(b[:19])
	if !ok {
		return time.Time{}, false
	}
	return addTail(sec, b[19:])
}

// parseSecond parses "2006-01-02T15:04:05" as UTC.
func parseSecond(b []byte) (time.Time, bool) {
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 2026-02-30 would silently become March 2nd
		return time.Time{}, false
	}
	return t, true
}

// addTail applies the fraction and zone after the seconds ("", ".123Z",
// "+02:00", ...) to the second they follow.
func addTail(sec time.Time, b []byte) (time.Time, bool) {
	if len(b) == 0 {
		return time.Time{}, false
	}
	nsec := 0
	if b[0] == '.' {
		i := 1
		for i < len(b) && isDigit(b[i]) {
			nsec = nsec*10 + int(b[i]-'0')
			i++
		}
		if i == 1 || i > 10 {
			return time.Time{}, false
		}
		nsec *= pow10[10-i] // ".5" is 500000000 ns
		b = b[i:]
	}
	offset := 0
	switch {
	case len(b) == 1 && b[0] == 'Z':
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		oh, okh := digits(b[1:3])
		om, okm := digits(b[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	return sec.Add(time.Duration(nsec) - time.Duration(offset)*time.Second), true
}

var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// KubeTimestamps splits Kubernetes timestamps exactly as SplitKubeTimestamp
// does, remembering the last second it parsed: the lines of a log mostly
// share their second, so most lines cost a 19-byte comparison instead of a
// calendar computation. One per stream; not safe for concurrent use.
type KubeTimestamps struct {
	second [19]byte
	at     time.Time
	valid  bool
}

// Split is SplitKubeTimestamp with the cache.
func (k *KubeTimestamps) Split(line []byte) (ts time.Time, rest []byte, ok bool) {
	// The second is the cached one: only the fraction and zone are left,
	// and addTail checks them as fully as the slow path does.
	if k.valid && len(line) > 20 && bytes.Equal(line[:19], k.second[:]) {
		if sp := bytes.IndexByte(line[19:min(len(line), 19+17)], ' '); sp > 0 {
			if ts, ok := addTail(k.at, line[19:19+sp]); ok {
				return ts, line[19+sp+1:], true
			}
		}
	}
	n := kubeTimestampLen(line)
	if n == 0 {
		return time.Time{}, line, false
	}
	b := line[:n-1]
	if !k.valid || !bytes.Equal(b[:19], k.second[:]) {
		sec, ok := parseSecond(b[:19])
		if !ok {
			return time.Time{}, line, false
		}
		copy(k.second[:], b[:19])
		k.at, k.valid = sec, true
	}
	ts, ok = addTail(k.at, b[19:])
	if !ok {
		return time.Time{}, line, false
	}
	return ts, line[n:], true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// Source is which program wrote a line of the proxy container.
type Source uint8

const (
	SourceUnknown Source = iota
	// SourceTailscaled: the line had tailscaled's Go log timestamp or a
	// journald "tailscaled[PID]: " prefix.
	SourceTailscaled
	// SourceContainerboot: the line starts with "boot: ".
	SourceContainerboot
)

var sourceNames = [...]string{"unknown", "tailscaled", "containerboot"}

func (s Source) String() string { return enumName(sourceNames[:], s) }

// TrimLogPrefix removes what precedes the message in a line that has no
// Kubernetes timestamp (see SplitKubeTimestamp): a journald prefix
// "Mon DD HH:MM:SS host ident[PID]: " and then a Go log timestamp
// "2006/01/02 15:04:05 " (microseconds allowed), each optional. It also
// reports containerboot's lines, whose message starts with "boot: " (kept in
// msg). Lines without a timestamp, such as continuation lines, are returned
// unchanged.
func TrimLogPrefix(line []byte) (msg []byte, src Source) {
	n, src := logPrefixLen(line)
	msg = line[n:]
	if bytes.HasPrefix(msg, []byte("boot: ")) {
		src = SourceContainerboot
	}
	return msg, src
}

// logPrefixLen returns the length of the journald prefix and Go log
// timestamp at the start of b (see TrimLogPrefix).
func logPrefixLen(b []byte) (n int, src Source) {
	if len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z' { // only a month name starts a journald prefix
		if m, ident := journaldLen(b); m > 0 {
			n = m
			if bytes.Equal(ident, []byte("tailscaled")) {
				src = SourceTailscaled
			}
		}
	}
	if m := goLogTimeLen(b[n:]); m > 0 {
		n, src = n+m, SourceTailscaled
	}
	return n, src
}

// message returns line without its Kubernetes timestamp, journald prefix
// and Go log timestamp: where tailscaled's message text starts.
func message(line []byte) []byte {
	k := kubeTimestampLen(line)
	n, _ := logPrefixLen(line[k:])
	return line[k+n:]
}

// goLogTimeLen returns the length of "2006/01/02 15:04:05 " or
// "2006/01/02 15:04:05.000000 " at the start of b, or 0.
func goLogTimeLen(b []byte) int {
	if len(b) < 20 || !dateTime(b, '/', ' ') {
		return 0
	}
	i := 19
	f := fractionLen(b[i:], len(b))
	if f < 0 {
		return 0
	}
	i += f
	if i >= len(b) || b[i] != ' ' {
		return 0
	}
	return i + 1
}

// journaldLen returns the length of a syslog-style prefix
// "Feb 22 10:11:12 host ident[PID]: " at the start of b and the ident.
func journaldLen(b []byte) (n int, ident []byte) {
	// "Mmm DD HH:MM:SS " with the day space-padded or zero-padded.
	const layout = "Aaa 00 00:00:00 "
	if len(b) <= len(layout) || !shape(b[:4], layout[:4]) || !shape(b[6:len(layout)], layout[6:]) ||
		!(isDigit(b[4]) || b[4] == ' ') || !isDigit(b[5]) {
		return 0, nil
	}
	i := len(layout)
	host := bytes.IndexByte(b[i:], ' ')
	if host <= 0 {
		return 0, nil
	}
	i += host + 1
	end := bytes.Index(b[i:], []byte(": "))
	if end <= 0 {
		return 0, nil
	}
	ident = b[i : i+end]
	if k := bytes.IndexByte(ident, '['); k >= 0 {
		pid := ident[k+1:]
		if k == 0 || len(pid) < 2 || pid[len(pid)-1] != ']' {
			return 0, nil
		}
		if _, ok := digits(pid[:len(pid)-1]); !ok {
			return 0, nil
		}
		ident = ident[:k]
	}
	if bytes.IndexByte(ident, ' ') >= 0 {
		return 0, nil
	}
	return i + end + 2, ident
}

// dateTime reports whether b starts with a date and time of the form
// "2006-01-02T15:04:05", with date between the date's parts and mid
// between date and time: the shape only, checked on every line, so the
// separators, which tell the formats apart, come first.
func dateTime(b []byte, date, mid byte) bool {
	if len(b) < 19 || b[4] != date || b[7] != date || b[10] != mid || b[13] != ':' || b[16] != ':' {
		return false
	}
	b = b[:19]
	return isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && isDigit(b[3]) && // year
		isDigit(b[5]) && isDigit(b[6]) && isDigit(b[8]) && isDigit(b[9]) && // month, day
		isDigit(b[11]) && isDigit(b[12]) && isDigit(b[14]) && isDigit(b[15]) && // hour, minute
		isDigit(b[17]) && isDigit(b[18]) // second
}

// fractionLen returns the length of ".digits" (at most max digits) at the
// start of b, 0 if there is none and -1 if there is a '.' without digits.
func fractionLen(b []byte, max int) int {
	if len(b) == 0 || b[0] != '.' {
		return 0
	}
	i := 1
	for i < len(b) && i <= max && isDigit(b[i]) {
		i++
	}
	if i == 1 {
		return -1
	}
	return i
}

// shape reports whether b matches layout, where '0' stands for a digit,
// 'A' for an upper-case and 'a' for a lower-case letter.
func shape(b []byte, layout string) bool {
	if len(b) != len(layout) {
		return false
	}
	for i := range len(layout) {
		c, l := b[i], layout[i]
		var ok bool
		switch l {
		case '0':
			ok = isDigit(c)
		case 'A':
			ok = 'A' <= c && c <= 'Z'
		case 'a':
			ok = 'a' <= c && c <= 'z'
		default:
			ok = c == l
		}
		if !ok {
			return false
		}
	}
	return true
}
