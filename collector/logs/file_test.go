package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

func drop(i int) string {
	return fmt.Sprintf("2026/11/24 09:32:16 Drop: TCP{100.64.0.%d:65076 > 100.64.0.2:443} 60 no rules matched\n", i%250)
}

func waitDrops(t *testing.T, c *Counters, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for drops(c) != want {
		if time.Now().After(deadline) {
			t.Fatalf("drops = %d, want %d", drops(c), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// follow runs FollowFile on path until the test ends.
func follow(t *testing.T, path string, r *Reader) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { FollowFile(ctx, path, r, 5*time.Millisecond, log.NewNopLogger()); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestFollowFile: tail -F semantics. History before the start is not
// counted; appends, a rotation (rename + new file), a truncation and a
// line split across two writes are.
func TestFollowFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tailscaled.log")
	appendLines(t, path, drop(0), drop(1)) // old history
	r, c := newReader(t)
	follow(t, path, r)
	deadline := time.Now().Add(10 * time.Second)
	for !c.Totals(key).Up {
		if time.Now().After(deadline) {
			t.Fatal("the follower never came up")
		}
		time.Sleep(5 * time.Millisecond)
	}

	appendLines(t, path, drop(2), drop(3))
	waitDrops(t, c, 2)

	// A line written in two pieces is one line.
	half := drop(4)
	appendLines(t, path, half[:30])
	time.Sleep(20 * time.Millisecond) // let the follower hit the end mid-line
	appendLines(t, path, half[30:])
	waitDrops(t, c, 3)

	// Rotation: the old file is renamed, a new one takes the path. The
	// last line of the old file lacks its newline: it still counts, alone.
	appendLines(t, path, drop(5)[:len(drop(5))-1])
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, drop(6), drop(7))
	waitDrops(t, c, 6)

	// Truncation: copytruncate-style rotation.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, drop(8))
	waitDrops(t, c, 7)

	if tot := c.Totals(key); tot.Reconnects < 1 {
		t.Errorf("reconnects = %d, want the rotation counted", tot.Reconnects)
	}
}

func TestFollowFileWaitsForMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	r, c := newReader(t)
	follow(t, path, r)
	// Its only stream down, the logs collector fails, naming the stream.
	waitSuccess(t, c, 0)
	if c.Totals(key).Up {
		t.Fatal("up without a file")
	}
	if err := c.Update(make(chan prometheus.Metric, 100)); err == nil || !strings.Contains(err.Error(), "pod ts-traefik-ingress-abc-0: unreachable") {
		t.Errorf("Update error with the file missing = %v", err)
	}
	appendLines(t, path, drop(1)) // a file that appears is read from its start
	waitDrops(t, c, 1)
	waitSuccess(t, c, 1)
}

// TestFollowFileLearnsHead: a follower started after tailscaled counts
// none of the history, but knows the peer API ports and version it
// logged at its start, so that a relay's SYN to the IPv6 address (whose
// inferred port differs in userspace mode) is classified peerapi.
func TestFollowFileLearnsHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tailscaled.log")
	appendLines(t, path,
		"2026/12/05 15:17:19 Program starting: v1.98.10-t36550d57f, Go 1.26.8: []string{\"tailscaled\"}\n",
		"2026/12/05 15:17:21 peerapi: serving on http://100.64.0.1:58436\n",
		"2026/12/05 15:17:21 peerapi: serving on http://[fd7a:115c:a1e0::1]:58436\n",
		drop(0))
	r, c := newReader(t)
	follow(t, path, r)
	waitSuccess(t, c, 1)
	appendLines(t, path, "2026/12/05 15:17:40 Drop: TCP{[fd7a:115c:a1e0::2]:51234 > [fd7a:115c:a1e0::1]:58436} 80 no rules matched\n")
	waitDrops(t, c, 1)

	tot := c.Totals(key)
	if want := (logmatch.PeerAPIPorts{IPv4: 58436, IPv6: 58436}); tot.Facts.Ports != want {
		t.Errorf("ports = %+v, want %+v from the head", tot.Facts.Ports, want)
	}
	if want := (logmatch.Version{Major: 1, Minor: 98, Patch: 10}); tot.Facts.Version != want {
		t.Errorf("version = %+v, want %+v from the head", tot.Facts.Version, want)
	}
	for cl, n := range tot.Classified {
		if cl.Class != logmatch.DropClassPeerAPI || cl.Source != logmatch.PortSourceLearned || n != 1 {
			t.Errorf("classified %d drop(s) %s (%s), want 1 peerapi (learned)", n, cl.Class, cl.Source)
		}
	}
}
