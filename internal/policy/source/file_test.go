package source

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A policy with what HuJSON allows and JSON does not: comments, trailing commas.
const samplePolicy = `// the tailnet policy
{
	"tagOwners": {"tag:k8s": ["autogroup:admin"],},
	/* Funnel for the proxies */
	"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]},],
}
`

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantError checks that err is an *Error of the given kind, naming src and
// every fragment in want.
func wantError(t *testing.T, src Source, err error, kind Kind, want ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *source.Error", err, err)
	}
	if e.Kind != kind {
		t.Errorf("kind %q, want %q; error: %v", e.Kind, kind, err)
	}
	if e.Source != src.String() {
		t.Errorf("error names source %q, want %q", e.Source, src.String())
	}
	for _, w := range append([]string{src.String()}, want...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if KindOf(err) != kind {
		t.Errorf("KindOf = %q, want %q", KindOf(err), kind)
	}
}

func TestFileRead(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "policy.hujson"), []byte(samplePolicy), 0o644)
	atLimit := writeFile(t, filepath.Join(dir, "at-limit.hujson"), bytes.Repeat([]byte(" "), DefaultMaxBytes), 0o644)
	tooLarge := writeFile(t, filepath.Join(dir, "too-large.hujson"), bytes.Repeat([]byte(" "), DefaultMaxBytes+1), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		path     string
		want     []byte
		wantKind Kind
		wantText []string
	}{
		{name: "good file, bytes exactly", path: good, want: []byte(samplePolicy)},
		{name: "exactly the limit", path: atLimit, want: bytes.Repeat([]byte(" "), DefaultMaxBytes)},
		{name: "missing", path: filepath.Join(dir, "nope.hujson"), wantKind: KindRead, wantText: []string{"no such file", "check the path"}},
		{name: "a directory", path: dir, wantKind: KindRead, wantText: []string{"is a directory"}},
		// Opening a FIFO would block until a writer comes; it must be refused instead.
		{name: "a fifo", path: fifo, wantKind: KindRead, wantText: []string{"not a regular file"}},
		{name: "one byte over the limit", path: tooLarge, wantKind: KindTooLarge, wantText: []string{"4 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := NewFile(tc.path)
			if got, want := src.String(), "file "+tc.path; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			got, err := src.Read(context.Background())
			if tc.wantKind != "" {
				wantError(t, src, err, tc.wantKind, tc.wantText...)
				if got != nil {
					t.Errorf("returned %d bytes with the error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("read %d bytes, want %d exactly", len(got), len(tc.want))
			}
		})
	}
}

// TestFileUnreadable reads a mode-000 file. Root reads it anyway through
// CAP_DAC_OVERRIDE, so when root the read runs on a locked OS thread whose
// filesystem uid is "nobody": the kernel then drops that capability for the
// thread only. The thread is never unlocked, so it ends with the goroutine.
func TestFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, filepath.Join(dir, "policy.hujson"), []byte(samplePolicy), 0o000)
	src := NewFile(path)

	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread must not serve other goroutines
		if os.Geteuid() == 0 {
			const nobody = 65534
			unix.SetfsuidRetUid(nobody)
			if now, _ := unix.SetfsuidRetUid(-1); now != nobody {
				done <- result{err: errors.New("could not switch the thread's filesystem uid to nobody")}
				return
			}
		}
		data, err := src.Read(context.Background())
		done <- result{data, err}
	}()
	r := <-done
	wantError(t, src, r.err, KindRead, "permission denied")
}
