package logmatch

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

// exactBuiltin is what Match computed for the built-in events before the
// fast path: the timestamps validated, the whole walk done on every line.
func exactBuiltin(line []byte) Event {
	return builtin(message(trimEOL(line)))
}

// The usual prefixes, which take the fast path's fixed offsets.
const (
	kubePrefix  = "2026-11-24T09:32:16.123456789Z "
	goLogPrefix = "2026/11/24 09:32:16 "
)

// prefilterCases are lines whose timestamps only look valid, or whose
// walk ends where the fast path changes strategy: each is matched as the
// exact path matches it.
var prefilterCases = []struct {
	name string
	line string
	want Kind
}{
	{"k8s timestamp word that is a component", "2026-11-24T09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"short k8s-like component", "2026-11-2: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"k8s timestamp with bad zone", "2026-11-24T09:32:16.123456789X Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp with bad digits", "2026-11-24T09:3x:16.123456789Z 2026/11/24 09:32:16 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp with space inside", "2026-11-24 09:32:16.123456789Z Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"k8s timestamp without space", "2026-11-24T09:32:16.123456789ZDrop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log time with bad digits", kubePrefix + "2026/11/24 09:3x:16 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log date that is a component", kubePrefix + "2026/11/2: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"k8s timestamp with a loose digit", "2026-11-24T09:32:16.12345678?Z " + goLogPrefix + "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log time that is a component", kubePrefix + "2026/11/24 09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"go log date and time that are components", kubePrefix + "2026/11/2: 09:32:1: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"go log time with microseconds", kubePrefix + "2026/11/24 09:32:16.123456 Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"go log time without space", kubePrefix + "2026/11/24 09:32:16", KindNone},
	{"four prefixes", kubePrefix + goLogPrefix + "a: b: c: d: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"five prefixes", kubePrefix + goLogPrefix + "a: b: c: d: e: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"one-byte prefix", kubePrefix + goLogPrefix + ": Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"empty word", kubePrefix + goLogPrefix + "http:  TLS handshake error from 100.64.0.9:5000: EOF", KindNone},
	{"prefix past the window", kubePrefix + goLogPrefix + "health(warnable=no-derp-home): http: TLS handshake error from 100.64.0.9:5000: EOF", KindTLSHandshakeError},
	{"anchor at the window's end", kubePrefix + goLogPrefix + "abcdefghijklmnopqrstuvwxyz0123: [RATELIMIT] format(\"%s\") (3 dropped)", KindRateLimit},
	{"word as long as a prefix may be", kubePrefix + goLogPrefix + strings.Repeat("a", 32) + ": ingress: denied; no ingress cap from 100.64.0.7:1", KindIngressDenied},
	{"word longer than a prefix may be", kubePrefix + goLogPrefix + strings.Repeat("a", 33) + ": ingress: denied; no ingress cap from 100.64.0.7:1", KindNone},
	{"short message", kubePrefix + goLogPrefix + "a: Drop: x", KindNone},
	{"anchor after chatter", kubePrefix + goLogPrefix + "magicsock: disco: node [Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindNone},
	{"boot line", kubePrefix + "boot: Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", KindDrop},
	{"crlf after fast-path prefixes", kubePrefix + goLogPrefix + "http: TLS handshake error from 100.64.0.9:5000: EOF\r\n", KindTLSHandshakeError},
}

func TestPrefilterAgreesWithExactPath(t *testing.T) {
	var m *Matcher
	for _, tc := range prefilterCases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := m.Match([]byte(tc.line))
			if want := exactBuiltin([]byte(tc.line)); got != want {
				t.Errorf("Match(%q)\n got  %+v\n want %+v (exact path)", tc.line, got, want)
			}
			if got.Kind != tc.want {
				t.Errorf("Match(%q) kind %v, want %v", tc.line, got.Kind, tc.want)
			}
		})
	}
}

// TestPrefilterCorpus runs the fast path over the benchmark corpus with
// every line end and prefix variant it treats differently.
func TestPrefilterCorpus(t *testing.T) {
	var m *Matcher
	for _, l := range benchCorpus(2000) {
		msg := message(l)
		for _, line := range [][]byte{l, msg, append([]byte(goLogPrefix), msg...), append(l[:len(l):len(l)], '\r', '\n')} {
			if got, want := first(m.Match(line)), exactBuiltin(line); got != want {
				t.Fatalf("Match(%q) = %+v, exact path %+v", line, got, want)
			}
		}
	}
}

func first(ev Event, _ bool) Event { return ev }

// FuzzPrefilter checks that the fast path never drops a line the exact
// path recognises, also with the usual prefixes in front, where it takes
// its fixed-offset path (and on amd64, the kernel its usual one), and
// behind a shorter fraction.
func FuzzPrefilter(f *testing.F) {
	for _, tc := range builtinCases {
		f.Add([]byte(tc.line))
	}
	for _, tc := range prefilterCases {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var m *Matcher
		for _, l := range [][]byte{line, append([]byte(kubePrefix+goLogPrefix), line...), append([]byte(kubePrefix), line...),
			append([]byte("2026-11-24T09:32:16.1Z "+goLogPrefix), line...)} {
			want := exactBuiltin(l)
			if got := first(m.Match(l)); got != want {
				t.Fatalf("Match(%q) = %+v, exact path %+v", l, got, want)
			}
		}
	})
}

// TestSWAR compares the word-at-a-time helpers with byte loops, on text
// dense in the bytes next to ' ' (which borrow tricks get wrong).
func TestSWAR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(" !\x1f:\x00\xff\xa0a0")
	for range 20000 {
		b := make([]byte, rng.IntN(48))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		want := bytes.IndexByte(b, ' ')
		if got := indexSpace(b); got != want {
			t.Fatalf("indexSpace(%q) = %d, want %d", b, got, want)
		}
		if len(b) < 16 {
			continue
		}
		x, y := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		want16 := bytes.IndexByte(b[:16], ' ')
		if want16 < 0 {
			want16 = 16
		}
		if got := space16(x, y); got != want16 {
			t.Fatalf("space16(%q) = %d, want %d", b[:16], got, want16)
		}
		var mask uint32
		for i, c := range b[:8] {
			if c == ' ' {
				mask |= 1 << i
			}
		}
		if got := spaces8(x); got != mask {
			t.Fatalf("spaces8(%q) = %08b, want %08b", b[:8], got, mask)
		}
		if got := hasSpace(x); got != (mask != 0) {
			t.Fatalf("hasSpace(%q) = %v", b[:8], got)
		}
	}
}
