package testproc

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

const terminate = syscall.SIGTERM

// childAttr makes the kernel kill a child if the test process dies
// without running its cleanups (e.g. a -timeout panic).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// LockFile takes an exclusive flock on path, waiting up to timeout for
// other processes (test binaries of other packages) to release it.
func LockFile(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s (waited up to %v): %w", path, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
