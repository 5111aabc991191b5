//go:build amd64 && !purego

package logmatch

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/cpu"
)

func TestScanTableLayout(t *testing.T) {
	var k scanTable
	// The offsets scan_amd64.s reads the table at.
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"kube", unsafe.Offsetof(k.kube), 0},
		{"goLog", unsafe.Offsetof(k.goLog), 64},
		{"space", unsafe.Offsetof(k.space), 128},
		{"colon", unsafe.Offsetof(k.colon), 144},
		{"anchor", unsafe.Offsetof(k.anchor), 160},
		{"avx2", unsafe.Offsetof(k.avx2), 240},
	} {
		if f.got != f.want {
			t.Errorf("scanTable.%s at %d, scan_amd64.s reads it at %d", f.name, f.got, f.want)
		}
	}
	if len(k.anchor) != 5 {
		t.Errorf("%d anchors, scan_amd64.s compares five", len(k.anchor))
	}
}

// scanKernels are the kernel's two windows: SSE2, which every amd64 CPU
// has, and AVX2 where this CPU has it. CI machines have AVX2; a machine
// without it tests the SSE2 window only, which is all it would run.
func scanKernels() map[string]*scanTable {
	sse2 := *scanK
	sse2.avx2 = false
	ks := map[string]*scanTable{"sse2": &sse2}
	if cpu.X86.HasAVX2 {
		avx2 := *scanK
		avx2.avx2 = true
		ks["avx2"] = &avx2
	}
	return ks
}

// checkScan checks what the kernel says about line: never scanNone where
// the exact path finds an event, and the same from both windows.
func checkScan(t *testing.T, line []byte) int {
	t.Helper()
	line = trimEOL(line)
	if len(line) < scanMinLen {
		return scanUndecided
	}
	got := -1
	for name, k := range scanKernels() {
		r := scanUsual(line, k)
		if r == scanNone {
			if ev := exactBuiltin(line); ev.Kind != KindNone {
				t.Fatalf("%s kernel: no event in %q, exact path %+v", name, line, ev)
			}
		}
		if got >= 0 && r != got {
			t.Fatalf("kernels disagree on %q: %v", line, scanResults(line))
		}
		got = r
	}
	return got
}

func scanResults(line []byte) map[string]int {
	res := map[string]int{}
	for name, k := range scanKernels() {
		res[name] = scanUsual(line, k)
	}
	return res
}

// The usual prefixes and the other Kubernetes timestamps the kernel takes.
var scanPrefixes = []string{
	kubePrefix + goLogPrefix,
	kubePrefix,
	"2026-11-24T09:32:16Z " + goLogPrefix,
	"2026-11-24T09:32:16.1Z " + goLogPrefix,
	"2026-11-24T09:32:16.12345678Z ",
}

func TestScanAgreesWithExactPath(t *testing.T) {
	for _, tc := range prefilterCases {
		checkScan(t, []byte(tc.line))
	}
	for _, tc := range builtinCases {
		for _, p := range scanPrefixes {
			checkScan(t, []byte(p+tc.line))
		}
	}
	// Two prefixes, the second ending on each side of the 64-byte window's
	// edge, where builtin may still find its space.
	const drop = "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched"
	var edge [3]int
	for p := 2; p <= 40; p++ {
		for n := 1; n <= 36; n++ {
			msg := strings.Repeat("w", p-1) + ": " + strings.Repeat("v", n) + ": " + drop
			for _, pre := range scanPrefixes {
				edge[checkScan(t, []byte(pre+msg))]++
			}
		}
	}
	checkDecided(t, "window edge", edge, 5)
	// Events behind prefix chains that end on each side of the window's
	// 16-, 32- and 64-byte edges, and messages of every length around them.
	rng := rand.New(rand.NewPCG(3, 4))
	var random [3]int
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(strings.Repeat("w", 1+rng.IntN(34)))
			b.WriteString([]string{": ", " ", ":  ", ":"}[rng.IntN(4)])
		}
		b.WriteString([]string{drop,
			"ingress: denied; no ingress cap from 100.64.0.7:1", "Dr", "[R", "x"}[rng.IntN(5)])
		msg := b.String()
		for _, p := range scanPrefixes {
			random[checkScan(t, []byte(p+msg))]++
			random[checkScan(t, []byte(p+msg[:rng.IntN(len(msg)+1)]))]++
		}
	}
	checkDecided(t, "random chains", random, 2)
}

// checkDecided fails unless the kernel said both scanNone and scanMaybe,
// and scanUndecided on less than 1/frac of the lines: a kernel that gives
// everything to the Go code would pass checkScan.
func checkDecided(t *testing.T, what string, count [3]int, frac int) {
	t.Helper()
	t.Logf("%s: none %d, maybe %d, undecided %d", what, count[scanNone], count[scanMaybe], count[scanUndecided])
	if count[scanNone] == 0 || count[scanMaybe] == 0 || count[scanUndecided]*frac >= count[0]+count[1]+count[2] {
		t.Errorf("%s: the kernel decides too few lines", what)
	}
}

// TestScanDecidesTheCorpus checks that the kernel is the one deciding on a
// pod log's lines (else the Go path does the work and the speed is gone):
// it says scanMaybe on exactly the event lines and scanNone on the others.
func TestScanDecidesTheCorpus(t *testing.T) {
	for name, k := range scanKernels() {
		var count [3]int
		for _, l := range benchCorpus(5000) {
			r := scanUsual(l, k)
			count[r]++
			if event := exactBuiltin(l).Kind != KindNone; event != (r == scanMaybe) || r == scanUndecided {
				t.Fatalf("%s kernel: %d for %q (an event: %v)", name, r, l, event)
			}
		}
		t.Logf("%s kernel: none %d, maybe %d", name, count[scanNone], count[scanMaybe])
	}
}

// FuzzScan puts one of the prefixes the kernel takes in front of the
// fuzzed message, so that the fuzzer works on the window, not on getting
// past the timestamps.
func FuzzScan(f *testing.F) {
	for _, tc := range builtinCases {
		f.Add(uint8(0), []byte(tc.line))
	}
	for i, tc := range prefilterCases {
		f.Add(uint8(i), []byte(tc.line))
	}
	f.Add(uint8(1), []byte("health(warnable=no-derp-home): http: TLS handshake error from 100.64.0.9:5000: EOF"))
	f.Add(uint8(2), []byte(`control: HostInfo: {"IPNVersion":"1.98.10-t1234","BackendLogID":"5d5c3fd107bcda1f"}`))
	f.Fuzz(func(t *testing.T, prefix uint8, msg []byte) {
		checkScan(t, msg)
		checkScan(t, append([]byte(scanPrefixes[int(prefix)%len(scanPrefixes)]), msg...))
	})
}

// BenchmarkMatchKernels is BenchmarkMatch's builtin with each of the
// kernel's windows. For the Go fast path alone: -tags purego.
func BenchmarkMatchKernels(b *testing.B) {
	lines := benchCorpus(10000)
	bl := newBaseline()
	hits := 0
	saved := scanK.avx2
	defer func() { scanK.avx2 = saved }()
	ks := scanKernels()
	for _, name := range []string{"sse2", "avx2"} {
		k, ok := ks[name]
		if !ok {
			continue // no AVX2 here: sse2 is what this CPU runs
		}
		b.Run(name, func(b *testing.B) {
			ref := nsPerLine(lines, 200*time.Millisecond, func(l []byte) { hits += bl.match(l) })
			scanK.avx2 = k.avx2
			var m *Matcher
			runLines(b, lines, ref, "x_baseline", func(l []byte) {
				if _, ok := m.Match(l); ok {
					hits++
				}
			})
		})
	}
}
