package logmatch

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch/logmatchtest"
)

func TestSplitKubeTimestamp(t *testing.T) {
	cases := []struct {
		name, line string
		want       string // RFC3339Nano in UTC, "" when there is no timestamp
		rest       string
	}{
		{"nanoseconds", "2026-11-24T09:32:16.123456789Z Drop: x", "2026-11-24T09:32:16.123456789Z", "Drop: x"},
		{"no fraction", "2026-11-24T09:32:16Z boot: ok", "2026-11-24T09:32:16Z", "boot: ok"},
		{"short fraction", "2026-11-24T09:32:16.5Z a", "2026-11-24T09:32:16.5Z", "a"},
		{"positive offset", "2026-11-24T09:32:16.5+01:30 a", "2026-11-24T08:02:16.5Z", "a"},
		{"negative offset", "2026-11-24T23:32:16-05:00 a", "2026-11-25T04:32:16Z", "a"},
		{"empty rest", "2026-11-24T09:32:16Z ", "2026-11-24T09:32:16Z", ""},
		{"leap day", "2028-02-29T00:00:00Z a", "2028-02-29T00:00:00Z", "a"},
		{"no timestamp", "2026/11/24 09:32:16 Drop: x", "", "2026/11/24 09:32:16 Drop: x"},
		{"not a date", "2026-02-30T00:00:00Z a", "", "2026-02-30T00:00:00Z a"},
		{"bad month", "2026-13-01T00:00:00Z a", "", "2026-13-01T00:00:00Z a"},
		{"no zone", "2026-11-24T09:32:16 a", "", "2026-11-24T09:32:16 a"},
		{"too many fraction digits", "2026-11-24T09:32:16.1234567890Z a", "", "2026-11-24T09:32:16.1234567890Z a"},
		{"no space", "2026-11-24T09:32:16Z", "", "2026-11-24T09:32:16Z"},
		{"empty", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, rest, ok := SplitKubeTimestamp([]byte(tc.line))
			if ok != (tc.want != "") {
				t.Fatalf("ok = %v, want %v", ok, !ok)
			}
			if string(rest) != tc.rest {
				t.Errorf("rest = %q, want %q", rest, tc.rest)
			}
			if ok {
				if got := ts.Format(time.RFC3339Nano); got != tc.want {
					t.Errorf("timestamp = %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestSplitKubeTimestampAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-01-01T00:00:00Z", "1999-12-31T23:59:59.999999999Z", "2026-06-15T12:00:00.000001+14:00",
		"2026-06-15T12:00:00-23:59", "0001-01-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-06-15T24:00:00Z",
	} {
		want, werr := time.Parse(time.RFC3339Nano, s)
		got, _, ok := SplitKubeTimestamp([]byte(s + " x"))
		if ok != (werr == nil) || (ok && !got.Equal(want)) {
			t.Errorf("%s: got %v %v, time.Parse %v %v", s, got, ok, want, werr)
		}
	}
	line := []byte("2026-11-24T09:32:16.123456789Z x")
	if n := testing.AllocsPerRun(100, func() { SplitKubeTimestamp(line) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

func TestTrimLogPrefix(t *testing.T) {
	cases := []struct {
		name, line, msg string
		src             Source
	}{
		{"go log timestamp", "2026/02/22 10:11:12 magicsock: ok", "magicsock: ok", SourceTailscaled},
		{"go log microseconds", "2026/02/22 10:11:12.123456 magicsock: ok", "magicsock: ok", SourceTailscaled},
		{"journald", "Feb 22 10:11:12 host tailscaled[812]: magicsock: ok", "magicsock: ok", SourceTailscaled},
		{"journald padded day", "Feb  2 10:11:12 host tailscaled[812]: magicsock: ok", "magicsock: ok", SourceTailscaled},
		{"journald then go log", "Feb 22 10:11:12 host tailscaled[812]: 2026/02/22 10:11:12 x: y", "x: y", SourceTailscaled},
		{"journald other ident", "Feb 22 10:11:12 host sshd[9]: x: y", "x: y", SourceUnknown},
		{"journald ident without pid", "Feb 22 10:11:12 host tailscaled: x", "x", SourceTailscaled},
		{"boot", "boot: 2026/02/22 10:11:12 Starting", "boot: 2026/02/22 10:11:12 Starting", SourceContainerboot},
		{"boot after go log", "2026/02/22 10:11:12 boot: x", "boot: x", SourceContainerboot},
		{"continuation line", "\tgoroutine 1 [running]:", "\tgoroutine 1 [running]:", SourceUnknown},
		{"bad pid", "Feb 22 10:11:12 host tailscaled[x]: a: b", "Feb 22 10:11:12 host tailscaled[x]: a: b", SourceUnknown},
		{"timestamp only", "2026/02/22 10:11:12", "2026/02/22 10:11:12", SourceUnknown},
		{"empty", "", "", SourceUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, src := TrimLogPrefix([]byte(tc.line))
			if string(msg) != tc.msg || src != tc.src {
				t.Errorf("TrimLogPrefix(%q) = %q, %v; want %q, %v", tc.line, msg, src, tc.msg, tc.src)
			}
		})
	}
}

// TestParseAddrPortAgreesWithNetip checks the hand-written address parser
// against the standard library on valid and invalid forms.
func TestParseAddrPortAgreesWithNetip(t *testing.T) {
	for _, s := range addrSamples {
		checkAddrPort(t, s)
	}
}

var addrSamples = []string{
	"100.64.0.1:443", "0.0.0.0:0", "255.255.255.255:65535", "1.2.3.4:65536", "1.2.3.04:1", "1.2.3:1",
	"1.2.3.4.5:1", "256.1.1.1:1", "1.2.3.4:", "1.2.3.4:0443", "[::]:1", "[::1]:80", "[1::]:80", "[1:2:3:4:5:6:7:8]:1",
	"[1:2:3:4:5:6:7:8:9]:1", "[1:2:3:4:5:6:7::]:1", "[1::2::3]:1", "[:1]:1", "[1:]:1", "[12345::]:1",
	"[::ffff:1.2.3.4]:1", "[::ffff:1.2.3]:1", "[1:2:3:4:5:6:1.2.3.4]:1", "[1:2:3:4:5:6:7:1.2.3.4]:1",
	"[fe80::1%eth0]:1", "[fe80::1%]:1", "[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650", "[]:1",
	"[::1.2.3.4]:1", "[FD7A::A]:1", "[fe80::1%eth0%1]:1", "[g::]:1", "[::1]", "100.64.0.1",
	"100.127.255.255:1", "100.128.0.1:1", "100.63.0.1:1", "[fd7a:115c:a1e0::5501:7c39]:36311",
	"[fd7a:115c:a1e0::1]:1", "[fd7a:115c:a1e0::]:1", "[fd7a:115c:a1e0:1::]:1", "[fd7a:115c:a1e0::1.2.3.4]:1",
	"[fd7a:115c:a1e0::1%eth0]:1", "[fd7a:115c:a1e1::1]:1", "[fd7a:115c:a1e0:ab12:4843:cd96:6265:6667]:59395",
}

func checkAddrPort(t *testing.T, s string) {
	t.Helper()
	want, err := netip.ParseAddrPort(s)
	fam, port, addr, n, ok := parseAddrPort([]byte(s))
	if ok && n != len(s) {
		ok = false // netip parses whole strings only
	}
	// What we accept netip must accept; and every address as tailscaled
	// prints it (netip's canonical String form) we must accept. Odd forms
	// netip tolerates (a zone with brackets: no interface is named so) never
	// appear in logs.
	canonical := err == nil && want.String() == s && !strings.ContainsAny(want.Addr().Zone(), "[]")
	if ok && err != nil || canonical && !ok {
		t.Errorf("parseAddrPort(%q) ok = %v; netip: %v (canonical %v)", s, ok, err, canonical)
		return
	}
	if !ok {
		return
	}
	wantFam := FamilyIPv4
	if want.Addr().Is6() {
		wantFam = FamilyIPv6
	}
	if fam != wantFam || port != int(want.Port()) {
		t.Errorf("parseAddrPort(%q) = %v %d; netip %v %d", s, fam, port, wantFam, want.Port())
	}
	if string(addr) != strings.Trim(s[:strings.LastIndexByte(s, ':')], "[]") {
		t.Errorf("parseAddrPort(%q) address %q", s, addr)
	}

	// The low bytes of a tailnet address, as netip sees them.
	a := want.Addr()
	tailnet := (a.Is4() && tailnetV4.Contains(a)) ||
		(a.Is6() && a.Zone() == "" && tailnetV6.Contains(a) && strings.HasPrefix(s, "[fd7a:115c:a1e0:"))
	low, isTailnet := tailnetLow24(fam, addr)
	a16 := a.As16()
	if wantLow := uint32(a16[13])<<16 | uint32(a16[14])<<8 | uint32(a16[15]); isTailnet != tailnet || tailnet && low != wantLow {
		t.Errorf("tailnetLow24(%q) = %06x %v; netip %06x %v", s, low, isTailnet, wantLow, tailnet)
	}
}

var (
	tailnetV4 = netip.MustParsePrefix("100.64.0.0/10")
	tailnetV6 = netip.MustParsePrefix("fd7a:115c:a1e0::/48")
)

// KubeTimestamps must agree with SplitKubeTimestamp on every line, in any
// order: the cache may never leak one line's second into another's.
func TestKubeTimestampsAgree(t *testing.T) {
	lines := kubeLines(logmatchtest.Lines(2000, 2))
	for _, s := range []string{
		"2026-11-24T09:32:16.000000001Z a", "2026-11-24T09:32:16Z b", "2026-11-24T09:32:16.5+02:00 c",
		"2026-11-24T09:32:16.123456789-01:30 d", "2026-11-24T09:32:17.1Z e", "2026-02-30T09:32:16Z f",
		"2026-11-24T09:32:16.Z g", "2026-11-24T09:32:16.1234567891Z h", "2026-11-24T09:32:16 i", "no timestamp",
		"2026-11-24T09:32:16.000000001Z", "2026-11-24T09:32:16+25:00 j",
	} {
		lines = append(lines, []byte(s))
	}
	var k KubeTimestamps
	for round := range 2 { // in order, then reversed
		for i := range lines {
			l := lines[i]
			if round == 1 {
				l = lines[len(lines)-1-i]
			}
			wt, wr, wok := SplitKubeTimestamp(l)
			gt, gr, gok := k.Split(l)
			if wok != gok || !wt.Equal(gt) || string(wr) != string(gr) {
				t.Fatalf("Split(%q) = %v %q %v; SplitKubeTimestamp = %v %q %v", l, gt, gr, gok, wt, wr, wok)
			}
		}
	}
}

func FuzzKubeTimestamps(f *testing.F) {
	f.Add([]byte("2026-11-24T09:32:16.5Z x"), []byte("2026-11-24T09:32:16.000000001+02:00 y"))
	f.Add([]byte("2026-11-24T09:32:16Z x"), []byte("2026-11-24T09:32:17Z y"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var k KubeTimestamps
		for _, l := range [][]byte{a, b, a} {
			wt, wr, wok := SplitKubeTimestamp(l)
			gt, gr, gok := k.Split(l)
			if wok != gok || !wt.Equal(gt) || string(wr) != string(gr) {
				t.Fatalf("Split(%q) = %v %q %v; SplitKubeTimestamp = %v %q %v", l, gt, gr, gok, wt, wr, wok)
			}
		}
	})
}
