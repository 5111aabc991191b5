package logmatch

import "bytes"

// Version is a tailscaled version as logpolicy logs it at start
// ("Program starting: v1.98.10-t36550d57f, Go 1.26.5: [...]"), reduced to
// numbers: what a table of known version bugs needs, and no free text.
type Version struct {
	Major, Minor, Patch uint16
	// Dev reports a build that is not a tagged release: its version has a
	// suffix other than the commit hashes of a release ("-t<hash>",
	// "-g<hash>"), such as "-dev20260101-t<hash>" (plain go build),
	// "-ERR-BuildInfo" (go run), "-3-t<hash>" (an untagged commit on a
	// release branch) or "-dirty".
	Dev bool
}

// Unstable reports a version of tailscale's unstable track: an odd minor
// number (version.IsUnstableBuild, version/mkversion).
func (v Version) Unstable() bool { return v.Minor%2 == 1 }

// Prerelease reports a version that is not a stable release.
func (v Version) Prerelease() bool { return v.Dev || v.Unstable() }

// Compare returns -1, 0 or +1 as v is older than, the same as or newer
// than w, by number only (Dev is not ordered).
func (v Version) Compare(w Version) int {
	for _, d := range [3][2]uint16{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		switch {
		case d[0] < d[1]:
			return -1
		case d[0] > d[1]:
			return 1
		}
	}
	return 0
}

// maxVersionLen bounds the version token ("1.98.10-dev20260101-t0123456789-dirty"
// is 37 bytes).
const maxVersionLen = 64

// parseProgramStarting parses what follows "Program starting: v":
// "X.Y.Z[-suffix], Go GOVERSION: ARGS" (logpolicy.Options.init) or, from
// tailscaled's Windows service, "X.Y.Z[-suffix]: ARGS". The Go version and
// the arguments are not kept.
func parseProgramStarting(b []byte) (Event, bool) {
	end := 0
	for end < len(b) && end <= maxVersionLen && b[end] != ',' && b[end] != ':' {
		end++
	}
	if end == 0 || end > maxVersionLen || end == len(b) {
		return Event{}, false
	}
	if !bytes.HasPrefix(b[end:], []byte(", Go ")) && !bytes.HasPrefix(b[end:], []byte(": ")) {
		return Event{}, false
	}
	v, ok := parseVersion(b[:end])
	if !ok {
		return Event{}, false
	}
	return Event{Kind: KindProgramStarting, Version: v}, true
}

// parseVersion parses "X.Y.Z" and an optional "-suffix" (version.Long,
// version/mkversion).
func parseVersion(b []byte) (Version, bool) {
	var nums [3]uint16
	for i := range nums {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return Version{}, false
			}
			b = b[1:]
		}
		n, m := 0, 0
		for m < len(b) && isDigit(b[m]) && m < 5 {
			n = n*10 + int(b[m]-'0')
			m++
		}
		if m == 0 || n > 65535 || (m < len(b) && isDigit(b[m])) {
			return Version{}, false
		}
		nums[i], b = uint16(n), b[m:]
	}
	v := Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}
	if len(b) == 0 {
		return v, true
	}
	if b[0] != '-' || len(b) == 1 {
		return Version{}, false
	}
	for rest := b[1:]; ; {
		tok, after, more := bytes.Cut(rest, []byte("-"))
		if len(tok) == 0 {
			return Version{}, false
		}
		for _, c := range tok {
			if !(isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c == '.' || c == '_' || c == '+') {
				return Version{}, false
			}
		}
		if !releaseHash(tok) {
			v.Dev = true
		}
		if !more {
			break
		}
		rest = after
	}
	return v, true
}

// releaseHash reports a "t<hex>" or "g<hex>" commit hash token.
func releaseHash(tok []byte) bool {
	if len(tok) < 2 || (tok[0] != 't' && tok[0] != 'g') {
		return false
	}
	for _, c := range tok[1:] {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// ParseVersion parses a version as tailscale names its releases and
// images: "1.102.1" or "v1.102.1", with an optional "-suffix" that makes
// it Dev unless it is a release's commit hash ("1.102.1-t36550d57f").
func ParseVersion(s string) (Version, bool) {
	if len(s) > maxVersionLen {
		return Version{}, false
	}
	if len(s) > 0 && s[0] == 'v' {
		s = s[1:]
	}
	return parseVersion([]byte(s))
}
