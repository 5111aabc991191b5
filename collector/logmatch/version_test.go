package logmatch

import "testing"

func TestParseVersion(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.102.1", Version{Major: 1, Minor: 102, Patch: 1}, true},
		{"v1.102.1", Version{Major: 1, Minor: 102, Patch: 1}, true},
		{"v1.102.1-t36550d57f", Version{Major: 1, Minor: 102, Patch: 1}, true},
		{"v1.103.5-pre", Version{Major: 1, Minor: 103, Patch: 5, Dev: true}, true},
		{"1.102", Version{}, false},
		{"stable", Version{}, false},
		{"v", Version{}, false},
		{"", Version{}, false},
		{"1.102.1-", Version{}, false},
		{"1.102.1 ", Version{}, false},
	} {
		got, ok := ParseVersion(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
