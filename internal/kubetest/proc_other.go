//go:build !linux

package kubetest

import (
	"syscall"
	"time"
)

func childAttr() *syscall.SysProcAttr { return nil }

// lockFile is a no-op where flock is not wired up: builds may then overlap.
func lockFile(string, time.Duration) (func(), error) { return func() {}, nil }
