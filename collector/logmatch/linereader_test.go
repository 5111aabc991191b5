package logmatch

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

type gotLine struct {
	text   string
	status LineStatus
}

func readAll(t testing.TB, lr *LineReader) ([]gotLine, error) {
	t.Helper()
	var out []gotLine
	for {
		line, status, err := lr.Next()
		if err != nil {
			if line != nil || status != 0 {
				t.Errorf("Next returned line %q status %v with error %v", line, status, err)
			}
			return out, err
		}
		out = append(out, gotLine{string(line), status})
	}
}

// chunkReader returns data in chunks whose sizes come from sizes, in turn.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestLineReader(t *testing.T) {
	const max = 16
	long := strings.Repeat("x", 1<<20)
	cases := []struct {
		name  string
		input string
		want  []gotLine
		stats LineStats
	}{
		{"plain lines", "a\nbb\n\nccc\n", []gotLine{{"a", 0}, {"bb", 0}, {"", 0}, {"ccc", 0}},
			LineStats{Lines: 4}},
		{"crlf", "a\r\nb\r\n", []gotLine{{"a", 0}, {"b", 0}}, LineStats{Lines: 2}},
		{"lone cr kept", "a\rb\n", []gotLine{{"a\rb", 0}}, LineStats{Lines: 1}},
		{"final partial line", "a\nbc", []gotLine{{"a", 0}, {"bc", LinePartial}}, LineStats{Lines: 2, Partial: 1}},
		{"empty stream", "", nil, LineStats{}},
		{"exactly max", strings.Repeat("m", max) + "\n", []gotLine{{strings.Repeat("m", max), 0}}, LineStats{Lines: 1}},
		{"exactly max with crlf", strings.Repeat("m", max) + "\r\nz\n", []gotLine{{strings.Repeat("m", max), 0}, {"z", 0}},
			LineStats{Lines: 2}},
		{"one over max", strings.Repeat("m", max) + "Z\nnext\n",
			[]gotLine{{strings.Repeat("m", max), LineTruncated}, {"next", 0}},
			LineStats{Lines: 2, Truncated: 1, DiscardedBytes: 1}},
		{"megabyte line does not stop the stream", "a\n" + long + "\nb\n",
			[]gotLine{{"a", 0}, {long[:max], LineTruncated}, {"b", 0}},
			LineStats{Lines: 3, Truncated: 1, DiscardedBytes: 1<<20 - max}},
		{"megabyte line at eof", "a\n" + long,
			[]gotLine{{"a", 0}, {long[:max], LineTruncated | LinePartial}},
			LineStats{Lines: 2, Truncated: 1, Partial: 1, DiscardedBytes: 1<<20 - max}},
		{"binary garbage", "\x00\xff\xfe\x80\n\xc3\x28\n", []gotLine{{"\x00\xff\xfe\x80", 0}, {"\xc3\x28", 0}},
			LineStats{Lines: 2}},
	}
	readers := map[string]func(string) io.Reader{
		"whole":         func(s string) io.Reader { return strings.NewReader(s) },
		"one byte":      func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"data with eof": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
		"odd chunks":    func(s string) io.Reader { return &chunkReader{data: []byte(s), sizes: []int{3, 17, 1, 4096, 5000, 2}} },
	}
	for _, tc := range cases {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				lr := NewLineReader(mk(tc.input), max)
				got, err := readAll(t, lr)
				if err != io.EOF {
					t.Errorf("final error %v, want io.EOF", err)
				}
				if !equalLines(got, tc.want) {
					t.Errorf("lines\n got  %q\n want %q", got, tc.want)
				}
				if lr.Stats() != tc.stats {
					t.Errorf("stats %+v, want %+v", lr.Stats(), tc.stats)
				}
			})
		}
	}
}

func equalLines(a, b []gotLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLineReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	lr := NewLineReader(io.MultiReader(strings.NewReader("a\nhalf"), iotest.ErrReader(boom)), 0)
	got, err := readAll(t, lr)
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
	want := []gotLine{{"a", 0}, {"half", LinePartial}}
	if !equalLines(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestLineReaderNoProgress(t *testing.T) {
	_, _, err := NewLineReader(stuckReader{}, 0).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("error %v, want io.ErrNoProgress", err)
	}
}

// TestLineReaderRandomChunking compares random chunkings of a random stream
// (long lines, CRLF, binary) with a reference split.
func TestLineReaderRandomChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		var in bytes.Buffer
		for range rng.IntN(30) {
			n := rng.IntN(3 * 100)
			for range n {
				in.WriteByte(byte(rng.IntN(256)) | 1) // no '\n' (0x0a) inside
			}
			switch rng.IntN(3) {
			case 0:
				in.WriteString("\n")
			case 1:
				in.WriteString("\r\n")
			case 2:
				in.WriteString("\n\n")
			}
		}
		if rng.IntN(2) == 0 {
			in.WriteString("tail")
		}
		max := 1 + rng.IntN(200)
		sizes := make([]int, 1+rng.IntN(8))
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(600)
		}
		got, err := readAll(t, NewLineReader(&chunkReader{data: in.Bytes(), sizes: sizes}, max))
		if err != io.EOF {
			t.Fatalf("iteration %d: error %v", iter, err)
		}
		if want := referenceSplit(in.Bytes(), max); !equalLines(got, want) {
			t.Fatalf("iteration %d (max %d, chunks %v):\n got  %q\n want %q", iter, max, sizes, got, want)
		}
	}
}

// referenceSplit is the obvious, unbounded implementation of LineReader.
func referenceSplit(data []byte, max int) []gotLine {
	var out []gotLine
	for len(data) > 0 {
		var line []byte
		var status LineStatus
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
			line = bytes.TrimSuffix(line, []byte("\r"))
		} else {
			line, data, status = data, nil, LinePartial
		}
		if len(line) > max {
			line, status = line[:max], status|LineTruncated
		}
		out = append(out, gotLine{string(line), status})
	}
	return out
}

// repeatReader returns data over and over, never EOF.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func TestLineReaderDoesNotAllocatePerLine(t *testing.T) {
	lr := NewLineReader(&repeatReader{data: []byte("2026-11-24T09:32:16.123456789Z 2026/11/24 09:32:16 magicsock: derp-1 connected\n")}, 0)
	n := testing.AllocsPerRun(10, func() {
		for range 1000 {
			if _, _, err := lr.Next(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per 1000 lines, want 0", n)
	}
}

// TestLineReaderMemory: a stream of short lines keeps the initial buffer;
// a long line grows it to the maximum line length plus one read, never more.
func TestLineReaderMemory(t *testing.T) {
	short := strings.Repeat("2026/11/24 09:32:16 magicsock: endpoint updated\n", 1000)
	lr := NewLineReader(strings.NewReader(short), 0)
	for {
		if _, _, err := lr.Next(); err != nil {
			break
		}
	}
	if c := cap(lr.buf); c > 2*readSize {
		t.Errorf("buffer grew to %d bytes for short lines", c)
	}
	long := strings.Repeat("x", 1<<20) + "\nafter\n"
	lr = NewLineReader(strings.NewReader(long), 0)
	var lines []string
	for {
		l, _, err := lr.Next()
		if err != nil {
			break
		}
		lines = append(lines, string(l[:min(len(l), 5)]))
	}
	if c := cap(lr.buf); c > DefaultMaxLineLength+readSize {
		t.Errorf("buffer grew to %d bytes, more than the maximum line plus one read", c)
	}
	if len(lines) != 2 || lines[1] != "after" {
		t.Errorf("lines = %q", lines)
	}
}

// readSizes records the room each Read is given.
type readSizes struct {
	rd    io.Reader
	sizes []int
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	return r.rd.Read(p)
}

// TestLineReaderSize: NewLineReaderSize reads at least its size at a time
// and returns the same lines as the default reader.
func TestLineReaderSize(t *testing.T) {
	stream := strings.Repeat("2026/11/24 09:32:16 magicsock: endpoint updated\n", 10000)
	for _, size := range []int{0, 64 << 10} {
		rd := &readSizes{rd: strings.NewReader(stream)}
		lines, err := readAll(t, NewLineReaderSize(rd, 0, size))
		if err != io.EOF || len(lines) != 10000 {
			t.Fatalf("size %d: %d lines, error %v", size, len(lines), err)
		}
		for _, n := range rd.sizes {
			if n < max(size, readSize) {
				t.Fatalf("size %d: a read of %d bytes", size, n)
			}
		}
	}
}
