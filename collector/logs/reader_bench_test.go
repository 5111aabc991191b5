package logs

import (
	"bufio"
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch/logmatchtest"
)

// readerCorpus is a proxy's log as the Kubernetes API streams it with
// timestamps=true (kube) and as a file or standard input carries it
// (plain), with its line count and the events Counters keep: every line
// one of the baseline's regexps matches.
type readerCorpus struct {
	kube, plain   []byte
	lines, events int
}

func newReaderCorpus(n int) readerCorpus {
	lines := logmatchtest.Lines(n, 1)
	re := logmatchtest.NewRegexps()
	events := 0
	for _, l := range lines {
		if re.Match(l) >= 0 {
			events++
		}
	}
	return readerCorpus{
		kube:   logmatchtest.KubeStream(lines, time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC)),
		plain:  logmatchtest.PlainStream(lines),
		lines:  n,
		events: events,
	}
}

// BenchmarkReader runs the whole Reader, stream bytes to Counters, on a
// pod log (ReadKube, timestamps=true) and on plain lines (ReadPlain, the
// path of --logs.stdin and --logs.file). The baseline, measured in the
// same run, is the straightforward reader: bufio.Scanner, the timestamp
// cut off at the first space, one regular expression per event, an atomic
// counter (x_scanner_regexp: how many times faster Reader is).
func BenchmarkReader(b *testing.B) {
	c := newReaderCorpus(10000)
	b.Run("ReadKube", func(b *testing.B) {
		r, counters := newReader(b)
		read := func() {
			var pos Position
			if err := r.ReadKube(bytes.NewReader(c.kube), &pos); err != nil {
				b.Fatal(err)
			}
		}
		logmatchtest.Compare(b, c.lines, int64(len(c.kube)), read, naiveReader(b, c.kube, true), "x_scanner_regexp")
		checkCounted(b, counters, c)
	})
	b.Run("ReadPlain", func(b *testing.B) {
		r, counters := newReader(b)
		read := func() {
			if err := r.ReadPlain(bytes.NewReader(c.plain)); err != nil {
				b.Fatal(err)
			}
		}
		logmatchtest.Compare(b, c.lines, int64(len(c.plain)), read, naiveReader(b, c.plain, false), "x_scanner_regexp")
		checkCounted(b, counters, c)
	})
}

// naiveReader returns one pass of the straightforward reader over stream.
func naiveReader(b *testing.B, stream []byte, kube bool) func() {
	re := logmatchtest.NewRegexps()
	var lines, events atomic.Uint64
	return func() {
		sc := bufio.NewScanner(bytes.NewReader(stream))
		for sc.Scan() {
			line := sc.Bytes()
			if kube {
				_, line, _ = bytes.Cut(line, []byte(" "))
			}
			lines.Add(1)
			if re.Match(line) >= 0 {
				events.Add(1)
			}
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// checkCounted fails if the counters do not hold whole passes over c.
func checkCounted(b *testing.B, counters *Counters, c readerCorpus) {
	b.Helper()
	t := counters.Totals(key)
	var events uint64
	for _, n := range t.Events {
		events += n
	}
	passes := t.Lines / uint64(c.lines)
	if passes == 0 || t.Lines != passes*uint64(c.lines) || events != passes*uint64(c.events) {
		b.Fatalf("counted %d lines and %d events, want a multiple of %d lines and %d events", t.Lines, events, c.lines, c.events)
	}
}

// TestReaderDoesNotAllocatePerLine: a pass of the Reader over the corpus
// allocates what it allocates per stream (the line buffer), however many
// lines the stream has.
func TestReaderDoesNotAllocatePerLine(t *testing.T) {
	small, large := newReaderCorpus(100), newReaderCorpus(10000)
	cases := []struct {
		name string
		read func(r *Reader, c readerCorpus) error
	}{
		{"ReadKube", func(r *Reader, c readerCorpus) error {
			var pos Position
			return r.ReadKube(bytes.NewReader(c.kube), &pos)
		}},
		{"ReadPlain", func(r *Reader, c readerCorpus) error {
			return r.ReadPlain(bytes.NewReader(c.plain))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newReader(t)
			allocs := func(c readerCorpus) float64 {
				return testing.AllocsPerRun(5, func() {
					if err := tc.read(r, c); err != nil {
						t.Fatal(err)
					}
				})
			}
			perStream := allocs(small)
			if got := allocs(large); got > perStream {
				t.Errorf("%v allocations for %d lines, %v for %d: the Reader allocates per line", got, large.lines, perStream, small.lines)
			}
		})
	}
}
