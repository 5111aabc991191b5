//go:build !linux

package testproc

import (
	"os"
	"syscall"
	"time"
)

var terminate = os.Interrupt

func childAttr() *syscall.SysProcAttr { return nil }

// LockFile is a no-op where flock is not wired up: builds may then overlap.
func LockFile(string, time.Duration) (func(), error) { return func() {}, nil }
