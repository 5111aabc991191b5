package tailnettest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// namespaceEnv marks a test process that runs inside the network namespace
// Main made for it.
const namespaceEnv = "TAILNETTEST_NETNS"

// Main runs a test package's tests in a network namespace of their own in
// which only loopback exists and is up: headscale, both tailscaleds, the
// code under test and the tests' own dials all share it, and nothing can
// leave it. Call it from TestMain:
//
//	func TestMain(m *testing.M) { tailnettest.Main(m) }
//
// It builds the binaries first (Build, and the exporter under test: the
// module proxy is outside the namespace), then runs the test binary again
// with the same arguments as a child cloned into a new network namespace
// (CLONE_NEWNET, no `unshare` or `ip` command needed), marked by
// $TAILNETTEST_NETNS and handed the binaries through
// $TAILNETTEST_TAILSCALED and friends and $TAILNETTEST_EXPORTER. The
// child brings `lo` up, checks that it is alone, runs the tests, and its
// exit status is the parent's.
//
// Creating the namespace needs root (CAP_SYS_ADMIN); CI runs as root.
// Without it the tests fail with that message: they never skip.
func Main(m *testing.M) {
	if os.Getenv(namespaceEnv) != "1" {
		os.Exit(runInNamespace())
	}
	if err := loopbackOnly(); err != nil {
		fmt.Fprintf(os.Stderr, "tailnettest: inside the test's network namespace: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// inNamespace reports whether this process is Main's child.
func inNamespace() bool { return os.Getenv(namespaceEnv) == "1" }

func runInNamespace() int {
	bins, err := Build()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tailnettest: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "tnexporter")
	if err != nil {
		fmt.Fprintf(os.Stderr, "tailnettest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	exporter, err := buildExporter(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tailnettest: %v\n", err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tailnettest: find the test binary to run it in a network namespace: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		namespaceEnv+"=1",
		TailscaledEnv+"="+bins.Tailscaled,
		TailscaleEnv+"="+bins.Tailscale,
		HeadscaleEnv+"="+bins.Headscale,
		ExporterEnv+"="+exporter,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		fmt.Fprintf(os.Stderr, "tailnettest: the test process in the network namespace: %v\n", err)
		return 1
	case errors.Is(err, syscall.EPERM):
		fmt.Fprintf(os.Stderr, "tailnettest: the real-tailnet tests run in a network namespace of their own, "+
			"and creating one needs root (CAP_SYS_ADMIN); run them as root, as CI does: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "tailnettest: start the test binary in a new network namespace: %v\n", err)
	return 1
}

// loopbackOnly brings lo up (a new namespace starts with it down) and
// checks that it is the namespace's only interface.
func loopbackOnly() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: read its flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" || ifaces[0].Flags&net.FlagUp == 0 {
		return fmt.Errorf("want only lo, up; have %v", ifaces)
	}
	return nil
}
