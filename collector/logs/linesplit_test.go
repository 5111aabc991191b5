package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// chunkReader returns data in pieces of random size (zero included), then
// err.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := min(len(p), len(c.data), c.rng.IntN(40))
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type splitResult struct {
	line   string
	isNil  bool
	status logmatch.LineStatus
	err    error
}

func splitAll(next func() ([]byte, logmatch.LineStatus, error)) []splitResult {
	var out []splitResult
	for range 10000 {
		line, status, err := next()
		out = append(out, splitResult{line: string(line), isNil: line == nil, status: status, err: err})
		if err != nil {
			return out
		}
	}
	return append(out, splitResult{line: "too many lines"})
}

// TestLineSplitterMatchesLineReader: the lazily growing splitter returns
// exactly what logmatch.LineReader returns, for lines around the maximum
// length, "\r\n" endings, empty lines, a last line without "\n", and any
// split of the input into reads.
func TestLineSplitterMatchesLineReader(t *testing.T) {
	errBroken := errors.New("connection reset")
	pieces := []string{"\n", "\r", "\r\n", "x", "Drop: ", "\xff\x00"}
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 99))
		maxLen := 1 + rng.IntN(24)
		var b strings.Builder
		for range rng.IntN(30) {
			switch rng.IntN(4) {
			case 0:
				b.WriteString(strings.Repeat("a", rng.IntN(3*maxLen)))
			case 1:
				b.WriteString(strings.Repeat("b", maxLen-1+rng.IntN(4))) // around the maximum
			default:
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		input := []byte(b.String())
		end := io.EOF
		if rng.IntN(2) == 0 {
			end = errBroken
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			want := splitAll(logmatch.NewLineReader(&chunkReader{data: bytes.Clone(input), rng: rand.New(rand.NewPCG(seed, 1)), err: end}, maxLen).Next)
			got := splitAll(newLineSplitter(&chunkReader{data: bytes.Clone(input), rng: rand.New(rand.NewPCG(seed, 2)), err: end}, maxLen).Next)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("max %d, input %q:\n got %v\nwant %v", maxLen, input, got, want)
			}
		})
	}
}

// A stream costs a small read buffer and the head of a line spanning reads,
// not the maximum line length, even after a long line.
func TestLineSplitterMemory(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		maxHeld int
	}{
		{name: "short lines", input: strings.Repeat("2026/11/24 09:32:16 magicsock: endpoint updated\n", 1000), maxHeld: readSize + 1024},
		{name: "one long line, then short ones", input: strings.Repeat("x", 100<<10) + "\nshort\n", maxHeld: readSize + 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLineSplitter(strings.NewReader(tc.input), 0)
			for {
				if _, _, err := s.Next(); err != nil {
					break
				}
			}
			if held := cap(s.buf) + cap(s.carry); held > tc.maxHeld {
				t.Errorf("holds %d bytes after the stream, want at most %d", held, tc.maxHeld)
			}
		})
	}
}
