package logs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// Tail reads the end of a log once, for a report (the diagnose command):
// the last Lines lines, of a pod none older than Since. The lines go
// through a Reader into Counters, counted as the exporter counts a
// followed stream, and Samples of them are kept. ReadPod and ReadFile read
// the head of the log first, as a follower does, for the proxy's peer API
// ports and version.
type Tail struct {
	Lines   int           // the last Lines lines; <= 0: none
	Since   time.Duration // of a pod's log, none older; <= 0: no bound
	Samples int           // lines kept for the report
	// RelaySamples is how many of the latest Funnel relay lines are kept
	// apart (Samples.Relay).
	RelaySamples int
	Matcher      *logmatch.Matcher
}

// TailCounts is what a tail read.
type TailCounts struct {
	Totals
	Samples []Sample
	// Relay are the latest Funnel relay lines (Samples.RelayList).
	Relay []Sample
	// HeadRead reports that the head of the log was read (HeadReadBytes)
	// before the tail, so Facts hold what tailscaled logged at its start;
	// without it, drops before a "peerapi: serving on" line in the tail
	// are classified with an inferred port.
	HeadRead bool
}

// fileTailBytes bounds how much of a file Tail reads: its last 4 MiB hold
// far more lines of tailscaled than a report asks for.
const fileTailBytes = 4 << 20

// OpenPod opens the end of a pod's proxy container log, with the
// Kubernetes timestamps ReadKube expects.
func (t Tail) OpenPod(ctx context.Context, client kubernetes.Interface, pod PodRef) (io.ReadCloser, error) {
	o := &corev1.PodLogOptions{Container: discovery.ProxyContainer, Timestamps: true}
	lines := int64(max(t.Lines, 0))
	o.TailLines = &lines
	if t.Since > 0 {
		since := max(int64(t.Since/time.Second), 1)
		o.SinceSeconds = &since
	}
	return client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, o).Stream(ctx)
}

// ReadPod reads the head of a pod's proxy log (ReadHead, as a follower
// does), then counts its end (OpenPod). A failed head read does not fail
// the tail: HeadRead is false and headErr says why; err is about the tail
// (opening it, or a read that broke, with what was counted before).
func (t Tail) ReadPod(ctx context.Context, client kubernetes.Interface, pod PodRef) (c TailCounts, headErr, err error) {
	m, err := t.matcher()
	if err != nil {
		return TailCounts{}, nil, err
	}
	head, headErr := ReadHead(ctx, client, pod, m, 0)
	if headErr != nil {
		head = PodFacts{}
	}
	rc, err := t.OpenPod(ctx, client, pod)
	if err != nil {
		return TailCounts{}, headErr, err
	}
	defer rc.Close()
	c, err = t.read(m, head, func(rd *Reader) error { return rd.ReadKube(rc, &Position{}) })
	c.HeadRead = headErr == nil
	return c, headErr, err
}

// ReadFile counts the last Lines lines of a file (a plain host's
// tailscaled log), read from its last 4 MiB, after reading its first
// HeadReadBytes for the peer API ports and version as ReadPod does.
func (t Tail) ReadFile(path string) (TailCounts, error) {
	m, err := t.matcher()
	if err != nil {
		return TailCounts{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return TailCounts{}, err
	}
	defer f.Close()
	head, err := readFacts(io.LimitReader(f, HeadReadBytes), m, 0)
	if err != nil {
		return TailCounts{}, fmt.Errorf("read the first %d bytes: %w", HeadReadBytes, err)
	}
	st, err := f.Stat()
	if err != nil {
		return TailCounts{}, err
	}
	partial, from := false, int64(0)
	if st.Size() > fileTailBytes {
		from, partial = st.Size()-fileTailBytes, true // starts mid-line
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return TailCounts{}, fmt.Errorf("seek to the last %d bytes: %w", fileTailBytes, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return TailCounts{}, err
	}
	data = lastLines(data, t.Lines, partial)
	c, err := t.read(m, head, func(rd *Reader) error { return rd.ReadPlain(bytes.NewReader(data)) })
	c.HeadRead = true
	return c, err
}

func (t Tail) matcher() (*logmatch.Matcher, error) {
	if t.Matcher != nil {
		return t.Matcher, nil
	}
	return logmatch.New(nil)
}

// read counts the lines read gives a Reader, with the peer API ports and
// version of head known before the first of them.
func (t Tail) read(m *logmatch.Matcher, head PodFacts, read func(*Reader) error) (TailCounts, error) {
	c := NewCounters()
	var k StreamKey
	stream := c.Stream(k)
	stream.Learn(head)
	samples := &Samples{Max: t.Samples, Relay: t.RelaySamples}
	err := read(&Reader{Matcher: NewMatcherRef(m), Stream: stream, Samples: samples})
	return TailCounts{Totals: c.Totals(k), Samples: samples.List(), Relay: samples.RelayList()}, err
}

// lastLines returns the last n lines of data; with partial, its first line
// is a piece of a line and never counts.
func lastLines(data []byte, n int, partial bool) []byte {
	if partial {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil // all of it is one piece of a line
		}
		data = data[i+1:]
	}
	if n <= 0 {
		return nil
	}
	pos := len(data)
	if pos > 0 && data[pos-1] == '\n' {
		pos--
	}
	for range n {
		i := bytes.LastIndexByte(data[:pos], '\n')
		if i < 0 {
			return data
		}
		pos = i
	}
	return data[pos+1:]
}
