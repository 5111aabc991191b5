package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// waitHost is the endpoint the --wait tests wait for; --probe.resolve maps
// it to a loopback peer.
const waitHost = "deploy.tail1234.ts.net"

// waitConfig writes a config whose module trusts ca and gives up a probe
// after 2s, so that a stalling peer costs seconds, not the default 10.
func waitConfig(t *testing.T, ca *probertest.CA) string {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wait.yml")
	cfg := fmt.Sprintf("modules:\n  https:\n    timeout: 2s\n    tls:\n      ca_file: %s\n", caFile)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitingRun is a diagnose run whose stderr lines arrive as they are
// written, so a test can act on the progress of the wait.
type waitingRun struct {
	cmd    *exec.Cmd
	lines  chan string // stderr, closed at EOF
	stdout strings.Builder
	stderr strings.Builder // every stderr line, once the run has ended
}

func startWaiting(t *testing.T, ctx context.Context, args ...string) *waitingRun {
	t.Helper()
	r := &waitingRun{lines: make(chan string, 100)}
	r.cmd = exec.CommandContext(ctx, binary, append([]string{"diagnose"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Stdout = &r.stdout
	errPipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	return r
}

// next returns the next stderr line containing s, or fails the test when
// the run ends or ctx does first.
func (r *waitingRun) next(t *testing.T, ctx context.Context, s string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("diagnose ended without a line containing %q:\n%s", s, r.stderr.String())
			}
			r.stderr.WriteString(l + "\n")
			if strings.Contains(l, s) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q in time:\n%s", s, r.stderr.String())
		}
	}
}

// wait reads the rest of stderr and returns the exit code.
func (r *waitingRun) wait(t *testing.T) int {
	t.Helper()
	for l := range r.lines {
		r.stderr.WriteString(l + "\n")
	}
	err := r.cmd.Wait()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		t.Fatalf("diagnose: %v\n%s", err, r.stderr.String())
	}
	return 0
}

// TestDiagnoseWaitWorks: the endpoint refuses connections until the first
// progress line shows the wait saw it fail; then it serves, and the wait
// ends with exit 0 and no report.
func TestDiagnoseWaitWorks(t *testing.T) {
	ca, err := probertest.NewCA("wait test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Leaf(waitHost)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := probertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := startWaiting(t, ctx, "--wait=40s", "--config.file="+waitConfig(t, ca), "--probe.resolve="+waitHost+"="+addr, waitHost)
	if l := r.next(t, ctx, "waiting:"); !strings.Contains(l, waitHost+" (direct): connect_refused") {
		t.Errorf("progress line %q does not name the endpoint, vantage and reason", l)
	}
	srv, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Addr: addr, Cert: cert})
	if err != nil {
		t.Fatalf("start the endpoint late on %s: %v", addr, err)
	}
	t.Cleanup(func() { srv.Close() })
	code := r.wait(t)
	t.Logf("stderr of the wait:\n%s", r.stderr.String())
	if code != 0 || !strings.Contains(r.stderr.String(), waitHost+": working from every vantage") {
		t.Errorf("exit code %d, want 0 and a success line\nstderr:\n%s", code, r.stderr.String())
	}
	if r.stdout.Len() != 0 {
		t.Errorf("a working wait wrote a report:\n%s", r.stdout.String())
	}
	if len(srv.Requests()) == 0 {
		t.Error("the endpoint was never asked: the success line was not earned")
	}
}

// TestDiagnoseWaitTimesOut: a peer that never answers the handshake keeps
// failing past --wait; the evidence is gathered and the same report as a
// plain diagnose says why, with exit 1.
func TestDiagnoseWaitTimesOut(t *testing.T) {
	ca, err := probertest.NewCA("wait test CA")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := probertest.NewSilentServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	r := runDiagnose(t, "--wait=3s", "--config.file="+waitConfig(t, ca), "--probe.resolve="+waitHost+"="+peer.Addr, "-o", "json", waitHost)
	t.Logf("stderr of the wait:\n%s", r.stderr)
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"waiting: round 1", waitHost + " (direct): ", "still failing after --wait=3s"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	rep := decodeReport(t, r)
	if got := strings.Join(rep.rules(waitHost), " "); !strings.Contains(got, "tls-handshake-stalls") {
		t.Errorf("findings of %s = %q, want tls-handshake-stalls\n%s", waitHost, got, r.stdout)
	}
}

// TestDiagnoseWaitInterrupted: Ctrl-C during the wait ends it cleanly,
// exit 2 like every aborted run, without a report.
func TestDiagnoseWaitInterrupted(t *testing.T) {
	peer, err := probertest.NewSilentServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	ca, err := probertest.NewCA("wait test CA")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := startWaiting(t, ctx, "--wait=5m", "--config.file="+waitConfig(t, ca), "--probe.resolve="+waitHost+"="+peer.Addr, waitHost)
	r.next(t, ctx, "waiting: round 1")
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t)
	if code != 2 || !strings.Contains(r.stderr.String(), "interrupted while waiting") {
		t.Errorf("exit code %d, want 2 and a word that it was interrupted\nstderr:\n%s", code, r.stderr.String())
	}
	if r.stdout.Len() != 0 {
		t.Errorf("an interrupted wait wrote a report:\n%s", r.stdout.String())
	}
}

func TestDiagnoseWaitBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no hostname", []string{"--wait=5m"}, "--wait needs at least one HOSTNAME"},
		{"negative", []string{"--wait=-1s", waitHost}, "--wait=-1s: must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runDiagnose(t, c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit code %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", r.code, c.want, r.stdout, r.stderr)
			}
		})
	}
}
