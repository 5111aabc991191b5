package logs

import (
	"bytes"
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

	// timestamps caches the second of the last line: one per stream.
	timestamps logmatch.KubeTimestamps
}

// ReadPlain counts lines without Kubernetes timestamps (a file, standard
// input) until the reader ends; a last line without a newline is counted.
// It returns nil at EOF.
func (r *Reader) ReadPlain(rd io.Reader) error {
	lr := newLineSplitter(rd, r.MaxLineLength)
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
	lr := newLineSplitter(rd, r.MaxLineLength)
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
	r.Stream.Line(len(line), status&logmatch.LineTruncated != 0)
	m := r.Matcher.Load()
	if ev, ok := m.Match(line); ok {
		r.Stream.Event(ev, at, m)
	}
}

// readSize is what a lineSplitter reads at once.
const readSize = 4 << 10

// lineSplitter returns the same lines with the same statuses as
// logmatch.LineReader, but holds memory as it needs it: a 4 KiB read
// buffer, plus the head of a line only while that line spans reads (at
// most the maximum line length). logmatch.NewLineReader allocates the
// maximum line length (64 KiB) plus 4 KiB up front, for every stream; with
// hundreds of followed pods, blocked reading quiet streams, that was most
// of the memory per stream.
type lineSplitter struct {
	rd    io.Reader
	max   int
	buf   []byte // read buffer, allocated at the first read
	r, w  int    // unread data is buf[r:w]
	carry []byte // the head of a line begun in an earlier read
	long  bool   // bytes of the carried line were discarded: it is truncated
	err   error
}

func newLineSplitter(rd io.Reader, maxLen int) *lineSplitter {
	if maxLen <= 0 {
		maxLen = logmatch.DefaultMaxLineLength
	}
	return &lineSplitter{rd: rd, max: maxLen}
}

// Next returns the next line, valid until the next call, as
// logmatch.LineReader.Next does: "\n" and a "\r" before it removed, a line
// longer than the maximum cut to it (LineTruncated), a last line without
// "\n" returned (LinePartial) before the error that ended the stream.
func (s *lineSplitter) Next() ([]byte, logmatch.LineStatus, error) {
	empty := 0
	for {
		if s.r < s.w {
			chunk := s.buf[s.r:s.w]
			if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
				s.r += i + 1
				line := chunk[:i]
				if len(s.carry) > 0 || s.long {
					s.keep(line)
					line = s.carry
					s.carry = s.carry[:0]
				}
				return s.finish(line, 0)
			}
			s.keep(chunk)
			s.r = s.w
		}
		if s.err != nil {
			if len(s.carry) == 0 && !s.long {
				return nil, 0, s.err
			}
			line := s.carry
			s.carry = s.carry[:0]
			return s.finish(line, logmatch.LinePartial)
		}
		if s.buf == nil {
			s.buf = make([]byte, readSize)
		}
		n, err := s.rd.Read(s.buf)
		if n < 0 || n > len(s.buf) {
			err, n = errors.New("line reader: invalid read count"), 0
		}
		s.r, s.w = 0, n
		switch {
		case err != nil:
			s.err = err
		case n == 0:
			if empty++; empty >= 100 {
				s.err = io.ErrNoProgress
			}
		}
	}
}

// keep adds the head of an unfinished line to the carry, up to one byte
// over the maximum (a "\r" that may come before the "\n").
func (s *lineSplitter) keep(p []byte) {
	if room := s.max + 1 - len(s.carry); len(p) > room {
		p, s.long = p[:room], true
	}
	s.carry = append(s.carry, p...)
}

func (s *lineSplitter) finish(line []byte, status logmatch.LineStatus) ([]byte, logmatch.LineStatus, error) {
	if status&logmatch.LinePartial == 0 && !s.long {
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	if s.long || len(line) > s.max {
		line, status = line[:s.max], status|logmatch.LineTruncated
	}
	s.long = false
	if cap(s.carry) > readSize {
		s.carry = nil // one long line must not keep its room for ever
	}
	return line, status, nil
}
