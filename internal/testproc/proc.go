// Package testproc runs the real programs of end-to-end tests (etcd,
// kube-apiserver, headscale, tailscaled) as child processes: output to a
// log file, stopped by PID with a bounded grace, killed by the kernel if
// the test process dies first; and finds and locks what builds them.
// internal/kubetest and internal/tailnettest share it.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Proc is a child process whose output goes to a log file that survives
// restarts, so a test can read it and a failing test can show it.
type Proc struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status; read only after done is closed
}

// Start starts bin with args and env added to the test's environment; its
// stdout and stderr are appended to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, with its exit error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, errors.New("exited with status 0")
		}
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. It returns how long
// the process took to exit.
func (p *Proc) Stop(grace time.Duration) time.Duration {
	start := time.Now()
	select {
	case <-p.done:
		return 0
	default:
	}
	_ = p.cmd.Process.Signal(terminate)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return time.Since(start)
}

// Kill ends the process at once: peers see a reset connection.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig to the running process.
func (p *Proc) Signal(sig os.Signal) error {
	if ok, err := p.Exited(); ok {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return p.cmd.Process.Signal(sig)
}

// RSSBytes reads VmRSS of the process from /proc (0 where unavailable).
func (p *Proc) RSSBytes() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(string(rest)), "%d kB", &kb)
			return kb * 1024
		}
	}
	return 0
}

// TailFile returns the last n lines of a file, for failure output; lines
// longer than 600 bytes are cut.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
