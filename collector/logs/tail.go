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
// followed stream, and Samples of them are kept.
type Tail struct {
	Lines   int           // the last Lines lines; <= 0: none
	Since   time.Duration // of a pod's log, none older; <= 0: no bound
	Samples int           // lines kept for the report
	Matcher *logmatch.Matcher
}

// TailCounts is what a tail read.
type TailCounts struct {
	Totals
	Samples []Sample
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

// ReadKube counts a stream OpenPod opened. What was counted before an
// error is returned with it.
func (t Tail) ReadKube(r io.Reader) (TailCounts, error) {
	return t.read(func(rd *Reader) error { return rd.ReadKube(r, &Position{}) })
}

// ReadFile counts the last Lines lines of a file (a plain host's
// tailscaled log), read from its last 4 MiB.
func (t Tail) ReadFile(path string) (TailCounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return TailCounts{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return TailCounts{}, err
	}
	partial := false
	if st.Size() > fileTailBytes {
		if _, err := f.Seek(st.Size()-fileTailBytes, io.SeekStart); err != nil {
			return TailCounts{}, fmt.Errorf("seek to the last %d bytes: %w", fileTailBytes, err)
		}
		partial = true // starts mid-line
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return TailCounts{}, err
	}
	data = lastLines(data, t.Lines, partial)
	return t.read(func(rd *Reader) error { return rd.ReadPlain(bytes.NewReader(data)) })
}

func (t Tail) read(read func(*Reader) error) (TailCounts, error) {
	m := t.Matcher
	if m == nil {
		var err error
		if m, err = logmatch.New(nil); err != nil {
			return TailCounts{}, err
		}
	}
	c := NewCounters()
	var k StreamKey
	samples := &Samples{Max: t.Samples}
	err := read(&Reader{Matcher: NewMatcherRef(m), Stream: c.Stream(k), Samples: samples})
	return TailCounts{Totals: c.Totals(k), Samples: samples.List()}, err
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
