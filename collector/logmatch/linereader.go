package logmatch

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLineLength is the longest line a LineReader returns whole by
// default. Proxy log lines are a few hundred bytes; a longer one is a
// dump that is not worth holding in memory.
const DefaultMaxLineLength = 64 << 10

// readSize is the room a LineReader reads into beyond its longest line,
// unless NewLineReaderSize says otherwise.
const readSize = 4096

// LineStatus qualifies a line returned by LineReader.Next.
type LineStatus uint8

const (
	// LineTruncated: the line was longer than the maximum; only its first
	// bytes are returned and the rest was discarded.
	LineTruncated LineStatus = 1 << iota
	// LinePartial: the stream ended (or failed) before the line's "\n".
	// A follower that reconnects may see the whole line again.
	LinePartial
)

// LineStats counts what a LineReader has returned.
type LineStats struct {
	Lines          uint64 // every line returned, including truncated and partial ones
	Truncated      uint64 // lines returned with LineTruncated
	Partial        uint64 // lines returned with LinePartial
	DiscardedBytes uint64 // bytes cut off truncated lines
}

// LineReader splits a stream into lines of any length with bounded memory.
// Unlike bufio.Scanner it never stops at a long line: a line longer than
// the maximum is returned truncated, once its end has been read, and the
// stream goes on with the next line. Bytes are returned as they came
// (invalid UTF-8 included); "\n" and a "\r" before it are removed.
type LineReader struct {
	rd    io.Reader
	max   int
	chunk int // room to read into
	buf   []byte
	r, w  int // unread data is buf[r:w]
	scan  int // buf[r:scan] has no '\n'
	// dropping: the line at r is longer than max; buf[r:r+max] holds its
	// head and what arrives after it is discarded up to the next '\n'.
	dropping bool
	err      error
	stats    LineStats
}

// NewLineReader returns a LineReader that returns at most maxLen bytes of a
// line (DefaultMaxLineLength if maxLen <= 0). It starts with 8 KiB and
// grows only while a line spans reads, to at most maxLen+4 KiB: hundreds of
// followed streams of short lines stay small.
func NewLineReader(rd io.Reader, maxLen int) *LineReader {
	return NewLineReaderSize(rd, maxLen, readSize)
}

// NewLineReaderSize is NewLineReader with reads of at least size bytes
// (4 KiB if less), and a buffer of twice that to start with. One busy
// stream, such as standard input, makes fewer system calls per line with
// larger reads.
func NewLineReaderSize(rd io.Reader, maxLen, size int) *LineReader {
	if maxLen <= 0 {
		maxLen = DefaultMaxLineLength
	}
	chunk := max(size, readSize)
	return &LineReader{rd: rd, max: maxLen, chunk: chunk, buf: make([]byte, min(2*chunk, maxLen+chunk))}
}

// Stats returns the counts so far.
func (lr *LineReader) Stats() LineStats { return lr.stats }

// Next returns the next line. The slice is valid until the next call. At
// the end of the stream it returns io.EOF; a read error is returned once
// the data read before it has been returned (a last line without "\n" as
// LinePartial).
func (lr *LineReader) Next() (line []byte, status LineStatus, err error) {
	empty := 0
	for {
		if i := bytes.IndexByte(lr.buf[lr.scan:lr.w], '\n'); i >= 0 {
			nl := lr.scan + i
			if lr.dropping {
				lr.stats.DiscardedBytes += uint64(nl - lr.scan)
				line, status = lr.buf[lr.r:lr.r+lr.max], LineTruncated
			} else {
				line = lr.buf[lr.r:nl]
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
				if len(line) > lr.max {
					lr.stats.DiscardedBytes += uint64(len(line) - lr.max)
					line, status = line[:lr.max], LineTruncated
				}
			}
			lr.r, lr.scan, lr.dropping = nl+1, nl+1, false
			return lr.count(line, status), status, nil
		}
		if lr.dropping {
			// Keep the head, forget the rest.
			lr.stats.DiscardedBytes += uint64(lr.w - (lr.r + lr.max))
			lr.w = lr.r + lr.max
		} else if lr.w-lr.r > lr.max+1 {
			// Longer than max even if it ends in "\r\n": start dropping.
			lr.dropping = true
			lr.stats.DiscardedBytes += uint64(lr.w - (lr.r + lr.max))
			lr.w = lr.r + lr.max
		}
		lr.scan = lr.w

		if lr.err != nil {
			return lr.flush()
		}
		if lr.r > 0 && len(lr.buf)-lr.w < lr.chunk {
			n := copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.r, lr.w, lr.scan = 0, n, n
		}
		if len(lr.buf)-lr.w < lr.chunk && len(lr.buf) < lr.max+lr.chunk {
			grown := make([]byte, min(2*len(lr.buf), lr.max+lr.chunk))
			copy(grown, lr.buf[:lr.w])
			lr.buf = grown
		}
		n, err := lr.rd.Read(lr.buf[lr.w:])
		if n < 0 || n > len(lr.buf)-lr.w {
			lr.err = errors.New("line reader: invalid read count")
			n = 0
		}
		lr.w += n
		if err != nil {
			lr.err = err
		} else if n == 0 {
			if empty++; empty >= 100 {
				lr.err = io.ErrNoProgress
			}
		}
	}
}

// flush returns what is left at the end of the stream, then the error.
func (lr *LineReader) flush() ([]byte, LineStatus, error) {
	if lr.w == lr.r && !lr.dropping {
		return nil, 0, lr.err
	}
	line, status := lr.buf[lr.r:lr.w], LinePartial
	if len(line) > lr.max { // one byte over: it could have been a "\r"
		lr.stats.DiscardedBytes += uint64(len(line) - lr.max)
		line = line[:lr.max]
		status |= LineTruncated
	}
	if lr.dropping {
		status |= LineTruncated
	}
	lr.r, lr.scan, lr.dropping = lr.w, lr.w, false
	return lr.count(line, status), status, nil
}

func (lr *LineReader) count(line []byte, status LineStatus) []byte {
	lr.stats.Lines++
	if status&LineTruncated != 0 {
		lr.stats.Truncated++
	}
	if status&LinePartial != 0 {
		lr.stats.Partial++
	}
	return line
}
