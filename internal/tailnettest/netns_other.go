//go:build !linux

package tailnettest

import (
	"fmt"
	"os"
	"testing"
)

// Main fails: the real tailnet runs in a Linux network namespace.
func Main(m *testing.M) {
	fmt.Fprintln(os.Stderr, "tailnettest: the real-tailnet tests need Linux network namespaces (and root)")
	os.Exit(1)
}

func inNamespace() bool { return false }
