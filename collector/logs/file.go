package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// FollowFile reads a growing file like tail -F: it starts at the end (no
// replay of old history; but what tailscaled logged at its start, its peer
// API ports and version, is learned from the file's head, as a pod's
// follower does), follows appends, reopens the path when the file
// is rotated (replaced by a new file), and starts over when it is
// truncated. It returns when ctx ends. A missing file is waited for.
//
// It polls instead of using inotify: one stat per interval per file is
// cheap, works on every filesystem (including network and overlay mounts
// where inotify misses writes), and needs no extra dependency.
func FollowFile(ctx context.Context, path string, r *Reader, poll time.Duration, logger log.Logger) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	fr := &followReader{ctx: ctx, path: path, poll: poll, logger: logger, stream: r.Stream}
	defer fr.close()
	if fr.open(true) {
		fr.learnHead(r)
	}
	if err := r.ReadPlain(fr); err != nil && ctx.Err() == nil {
		level.Error(logger).Log("msg", "log file reader stopped", "file", path, "err", err)
	}
}

// followReader is an io.Reader over a file that never ends while ctx lives:
// at the end of the file it waits for more, switching to a new file behind
// the same path when the old one was rotated away.
type followReader struct {
	ctx    context.Context
	path   string
	poll   time.Duration
	logger log.Logger
	stream Stream

	f        *os.File
	info     fs.FileInfo
	offset   int64
	lastByte byte // to end a rotated file's unterminated last line
	pending  []byte
	missing  bool // the path did not exist at the last try (logged once)
	opened   bool // a file was open before: opening again is a reconnect
}

// open opens the path; atEnd starts reading at its current end.
func (fr *followReader) open(atEnd bool) bool {
	f, err := os.Open(fr.path)
	if err != nil {
		if !fr.missing {
			level.Warn(fr.logger).Log("msg", "log file not readable; waiting for it", "file", fr.path, "err", err)
			fr.stream.Failed(ErrUnreachable)
		}
		fr.missing = true
		fr.stream.SetUp(false)
		return false
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	if fr.opened {
		fr.stream.Reconnected()
	}
	fr.f, fr.info, fr.offset, fr.missing, fr.opened = f, info, 0, false, true
	if atEnd {
		fr.offset = info.Size()
		if _, err := f.Seek(fr.offset, io.SeekStart); err != nil {
			f.Close()
			fr.f = nil
			return false
		}
	}
	fr.stream.SetUp(true)
	level.Info(fr.logger).Log("msg", "following log file", "file", fr.path, "offset", fr.offset)
	return true
}

// learnHead reads the first HeadReadBytes of the file (up to where the
// follower starts), counting nothing, for the peer API ports and version
// tailscaled logged before the follower started: without them a TCP SYN
// to the peer API is classified by an inferred port, which is wrong in
// userspace mode for an address that does not share the first one's port
// (a headscale node's IPv6 address, where Funnel relays come from).
func (fr *followReader) learnHead(r *Reader) {
	head := io.NewSectionReader(fr.f, 0, min(fr.offset, HeadReadBytes))
	f, err := readFacts(head, r.Matcher.Load(), r.MaxLineLength)
	if err != nil {
		level.Warn(fr.logger).Log("msg", "reading the head of the log file failed", "file", fr.path, "err", err)
	}
	fr.stream.Learn(f)
}

func (fr *followReader) close() {
	if fr.f != nil {
		fr.f.Close()
		fr.f = nil
	}
	fr.stream.SetUp(false)
}

func (fr *followReader) Read(p []byte) (int, error) {
	for {
		if len(fr.pending) > 0 {
			n := copy(p, fr.pending)
			fr.pending = fr.pending[n:]
			return n, nil
		}
		if fr.f != nil {
			n, err := fr.f.Read(p)
			if n > 0 {
				fr.offset += int64(n)
				fr.lastByte = p[n-1]
				return n, nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("read %s: %w", fr.path, err)
			}
			// At the end: has the file been rotated or truncated?
			if fr.checkRotation() {
				continue
			}
		} else if fr.open(false) {
			continue
		}
		select {
		case <-fr.ctx.Done():
			return 0, io.EOF
		case <-time.After(fr.poll):
		}
	}
}

// checkRotation handles a replaced or truncated file and reports whether
// there may be something new to read right away.
func (fr *followReader) checkRotation() bool {
	cur, err := os.Stat(fr.path)
	switch {
	case err != nil || !os.SameFile(cur, fr.info):
		// Rotated (or removed): the old file was read to its end. Finish
		// its last line if it had no newline, so it does not merge with
		// the new file's first line, then open the new file from its start.
		level.Info(fr.logger).Log("msg", "log file rotated", "file", fr.path)
		fr.f.Close()
		fr.f = nil
		if fr.lastByte != '\n' && fr.offset > 0 {
			fr.pending = []byte{'\n'}
		}
		fr.lastByte = '\n'
		fr.open(false)
		return true
	case cur.Size() < fr.offset:
		level.Info(fr.logger).Log("msg", "log file truncated; reading from its start", "file", fr.path, "size", cur.Size(), "offset", fr.offset)
		if _, err := fr.f.Seek(0, io.SeekStart); err != nil {
			return false
		}
		if fr.lastByte != '\n' && fr.offset > 0 {
			fr.pending = []byte{'\n'}
		}
		fr.offset, fr.lastByte = 0, '\n'
		return true
	}
	return false
}
