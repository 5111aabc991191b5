package logmatch

import (
	"bytes"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch/logmatchtest"
)

func corpusBytes(lines [][]byte) int64 {
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	return n
}

// runLines benchmarks f on every corpus line against ref (see
// logmatchtest.Compare).
func runLines(b *testing.B, lines [][]byte, f, ref func([]byte), refName string) {
	pass := func(f func([]byte)) func() {
		if f == nil {
			return nil
		}
		return func() {
			for _, l := range lines {
				f(l)
			}
		}
	}
	logmatchtest.Compare(b, len(lines), corpusBytes(lines), pass(f), pass(ref), refName)
}

// BenchmarkMatch runs Match on lines exactly as logs.Reader hands them
// over (Kubernetes timestamp removed, Go log or journald prefix kept; one
// line in a hundred an event), against one regular expression per
// built-in event measured in the same run (x_regexp: how many times
// faster).
func BenchmarkMatch(b *testing.B) {
	lines := logmatchtest.Lines(benchLines, 1)
	re := logmatchtest.NewRegexps()
	hits := 0
	regexps := func(l []byte) {
		if re.Match(l) >= 0 {
			hits++
		}
	}
	b.Run("regexp", func(b *testing.B) {
		runLines(b, lines, regexps, nil, "")
	})
	b.Run("builtin", func(b *testing.B) {
		var m *Matcher
		runLines(b, lines, func(l []byte) {
			if _, ok := m.Match(l); ok {
				hits++
			}
		}, regexps, "x_regexp")
	})

	m, err := New(benchSignatures)
	if err != nil {
		b.Fatal(err)
	}
	noPrefilter, _ := New(benchSignatures)
	for i := range noPrefilter.sigs {
		noPrefilter.sigs[i].literal = literal{}
	}
	b.Run("custom5", func(b *testing.B) {
		runLines(b, lines, func(l []byte) { m.Match(l) }, func(l []byte) { noPrefilter.Match(l) }, "x_no_prefilter")
	})
	if hits < 0 {
		b.Log(hits) // keeps the work observable
	}
}

// benchLines is how many lines the benchmarks' corpus has.
const benchLines = 10000

// benchSignatures are user signatures of the kind a configuration holds.
var benchSignatures = []Signature{
	{Name: "backend_refused", Pattern: `proxy: dial tcp [^ ]+: connect: connection refused`},
	{Name: "cert_renewal_failed", Pattern: `cert\([^)]*\): renew(al)? failed`},
	{Name: "serve_config_missing", Pattern: `got ingress conn w/o serveConfig`},
	{Name: "derp_home_lost", Pattern: `magicsock: home DERP region \d+ is gone`},
	{Name: "boot_error", Pattern: `^boot: .*error`},
}

// kubeLines returns the corpus lines as the Kubernetes API sends them
// with timestamps=true, without line ends.
func kubeLines(lines [][]byte) [][]byte {
	stream := logmatchtest.KubeStream(lines, time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC))
	return bytes.Split(bytes.TrimSuffix(stream, []byte("\n")), []byte("\n"))
}

// BenchmarkSplitKubeTimestamp compares the per-stream cache of
// KubeTimestamps with the stateless split, in the same run.
func BenchmarkSplitKubeTimestamp(b *testing.B) {
	lines := kubeLines(logmatchtest.Lines(benchLines, 1))
	var k KubeTimestamps
	runLines(b, lines, func(l []byte) { k.Split(l) }, func(l []byte) { SplitKubeTimestamp(l) }, "x_vs_stateless")
}

func BenchmarkLineReader(b *testing.B) {
	lines := logmatchtest.Lines(benchLines, 1)
	data := logmatchtest.KubeStream(lines, time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	for b.Loop() {
		r.Reset(data)
		lr := NewLineReader(r, 0)
		n := 0
		for {
			if _, _, err := lr.Next(); err != nil {
				break
			}
			n++
		}
		if n != len(lines) {
			b.Fatalf("read %d lines, want %d", n, len(lines))
		}
	}
}

// TestBenchCorpus keeps the benchmark honest: lines of realistic length
// and prefixes, one in a hundred an event, each event recognised by both
// matchers.
func TestBenchCorpus(t *testing.T) {
	lines := logmatchtest.Lines(benchLines, 1)
	re := logmatchtest.NewRegexps()
	var m *Matcher
	events, regexpHits, journald, goLog := 0, 0, 0, 0
	for _, l := range lines {
		ev, ok := m.Match(l)
		if ok {
			events++
			if ev.Kind == KindCustom {
				t.Errorf("custom event without signatures: %q", l)
			}
		}
		if re.Match(l) >= 0 {
			regexpHits++
			if !ok {
				t.Errorf("regexp matches, matcher does not: %q", l)
			}
		} else if ok {
			t.Errorf("matcher matches, regexp does not: %q", l)
		}
		if kubeTimestampLen(l) > 0 {
			t.Errorf("line with a Kubernetes timestamp, which logs.Reader removes: %q", l)
		}
		if n, _ := journaldLen(l); n > 0 {
			journald++
		} else if goLogTimeLen(l) > 0 {
			goLog++
		}
	}
	if want := len(lines) / logmatchtest.EventEvery; events != want || regexpHits != events {
		t.Errorf("%d events, %d regexp hits in %d lines, want %d", events, regexpHits, len(lines), want)
	}
	if goLog < len(lines)*8/10 || journald < len(lines)/50 || journald > len(lines)/10 {
		t.Errorf("%d lines with a Go log timestamp, %d with a journald prefix, of %d", goLog, journald, len(lines))
	}
	avg := corpusBytes(lines) / int64(len(lines))
	if avg < 80 || avg > 200 {
		t.Errorf("average line length %d, want 80..200", avg)
	}
}

// TestMatchDoesNotAllocatePerLine runs Match over the benchmarks' corpus,
// production-shaped lines, with and without user signatures.
func TestMatchDoesNotAllocatePerLine(t *testing.T) {
	lines := logmatchtest.Lines(benchLines, 1)
	var builtinOnly *Matcher
	if allocs := testing.AllocsPerRun(5, func() {
		for _, l := range lines {
			builtinOnly.Match(l)
		}
	}); allocs != 0 {
		t.Errorf("built-in events: %v allocations per %d lines, want 0", allocs, len(lines))
	}

	custom, err := New(benchSignatures)
	if err != nil {
		t.Fatal(err)
	}
	// Under the race detector, sync.Pool drops items at random, so the
	// regexp package may allocate a machine on a line where it runs; it
	// must still not allocate anywhere else.
	want := 0
	if raceDetector() {
		for _, l := range lines {
			for _, c := range custom.sigs {
				if c.literal.lit == nil || c.literal.in(message(l)) {
					want++
				}
			}
		}
	}
	if allocs := testing.AllocsPerRun(5, func() {
		for _, l := range lines {
			custom.Match(l)
		}
	}); allocs > float64(want) {
		t.Errorf("%d signatures: %v allocations per %d lines, want at most %d", len(custom.sigs), allocs, len(lines), want)
	}
}

// raceDetector reports whether the test runs with -race.
func raceDetector() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
