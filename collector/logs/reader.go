package logs

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// Position is how far a Kubernetes log stream has been counted, so that a
// stream opened again (sinceTime has one-second resolution) skips the lines
// it already counted: every line before Time, and the first AtTime lines
// stamped exactly Time.
type Position struct {
	Time   time.Time
	AtTime int
}

// SinceTime is the sinceTime to ask the API for when resuming: the second
// of the last counted line, which the skip rules above then trim.
func (p Position) SinceTime() time.Time { return p.Time.Truncate(time.Second) }

// MatcherRef holds the current matcher; a config reload swaps it under
// running readers.
type MatcherRef struct {
	p atomic.Pointer[logmatch.Matcher]
}

// NewMatcherRef holds m.
func NewMatcherRef(m *logmatch.Matcher) *MatcherRef {
	r := &MatcherRef{}
	r.p.Store(m)
	return r
}

// Load returns the current matcher.
func (r *MatcherRef) Load() *logmatch.Matcher { return r.p.Load() }

// Store replaces the matcher.
func (r *MatcherRef) Store(m *logmatch.Matcher) { r.p.Store(m) }

// Reader turns a stream of lines into counts.
type Reader struct {
	Matcher       *MatcherRef
	Stream        Stream
	MaxLineLength int // default logmatch.DefaultMaxLineLength
	// Samples, when set, is offered every matched line (a report's tail
	// read keeps a few; the exporter keeps none).
	Samples *Samples

	// timestamps caches the second of the last line: one per stream.
	timestamps logmatch.KubeTimestamps
	// read counts lines not yet added to Stream. They are added before
	// each read from the stream (see lineReader), where the reader may
	// wait: a scrape sees them as soon as the reader is idle, and a busy
	// stream pays for Stream's atomic additions once per read, not per line.
	read struct{ lines, bytes, truncated uint64 }
}

// plainReadSize is how much ReadPlain reads at a time: a file or standard
// input is one busy stream, where pods are hundreds of quiet ones.
const plainReadSize = 64 << 10

// lineReader returns a LineReader over rd that adds the counted lines to
// Stream before each read.
func (r *Reader) lineReader(rd io.Reader, readSize int) *logmatch.LineReader {
	return logmatch.NewLineReaderSize(countingReader{rd: rd, r: r}, r.MaxLineLength, readSize)
}

type countingReader struct {
	rd io.Reader
	r  *Reader
}

func (c countingReader) Read(p []byte) (int, error) {
	c.r.addCounts()
	return c.rd.Read(p)
}

// addCounts adds the lines counted since the last call to Stream.
func (r *Reader) addCounts() {
	if r.read.lines > 0 {
		r.Stream.Lines(r.read.lines, r.read.bytes, r.read.truncated)
		r.read.lines, r.read.bytes, r.read.truncated = 0, 0, 0
	}
}

// ReadPlain counts lines without Kubernetes timestamps (a file, standard
// input) until the reader ends; a last line without a newline is counted.
// It returns nil at EOF.
func (r *Reader) ReadPlain(rd io.Reader) error {
	lr := r.lineReader(rd, plainReadSize)
	defer r.addCounts()
	for {
		line, status, err := lr.Next()
		if line != nil {
			r.count(line, status, time.Time{})
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// ReadKube counts lines of a Kubernetes log stream opened with
// timestamps=true, resuming after pos, and advances pos past every line it
// counts. A line cut off by the end of the stream is not counted: it comes
// again, whole, when the stream is resumed. It returns nil at EOF.
func (r *Reader) ReadKube(rd io.Reader, pos *Position) error {
	lr := r.lineReader(rd, 0)
	defer r.addCounts()
	resumeAt, skip := pos.Time, pos.AtTime
	for {
		line, status, err := lr.Next()
		if line != nil && status&logmatch.LinePartial == 0 {
			ts, rest, ok := r.timestamps.Split(line)
			switch {
			case !ok:
				// The API stamps every line, so this one is garbled: count
				// it, though it cannot be deduplicated on a resume.
				r.count(line, status, time.Time{})
			case ts.Before(resumeAt):
				// counted before the stream was resumed
			case ts.Equal(resumeAt) && skip > 0:
				skip--
			default:
				r.count(rest, status, ts)
				switch {
				case ts.Equal(pos.Time):
					pos.AtTime++
				case ts.After(pos.Time):
					pos.Time, pos.AtTime = ts, 1
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (r *Reader) count(line []byte, status logmatch.LineStatus, at time.Time) {
	r.read.lines++
	r.read.bytes += uint64(len(line))
	if status&logmatch.LineTruncated != 0 {
		r.read.truncated++
	}
	m := r.Matcher.Load()
	if ev, ok := m.Match(line); ok {
		class, src := r.Stream.Event(ev, at, m)
		if r.Samples != nil {
			r.Samples.Keep(ev, class, src, line)
		}
	}
}

// readFacts reads what a log's lines say about the proxy itself (peer API
// ports, version) until rd ends, counting nothing. A last line cut off by
// the end (a read bounded by limitBytes) is left out.
func readFacts(rd io.Reader, m *logmatch.Matcher, maxLineLength int) (PodFacts, error) {
	lr := logmatch.NewLineReader(rd, maxLineLength)
	var f PodFacts
	for {
		line, status, err := lr.Next()
		if line != nil && status&logmatch.LinePartial == 0 {
			if ev, ok := m.Match(line); ok {
				f.learn(ev)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return f, nil
			}
			return f, err
		}
	}
}
