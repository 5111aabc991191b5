package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// APIServerEnv names a prebuilt kube-apiserver binary to use instead of
// building one (e.g. in CI images that ship it).
const APIServerEnv = "KUBETEST_APISERVER"

// EtcdEnv names the etcd binary to use instead of the one on PATH.
const EtcdEnv = "KUBETEST_ETCD"

// buildTimeout bounds a cold build: about 5–7 min on 2 cores.
const buildTimeout = 20 * time.Minute

var built struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of a kube-apiserver binary built from the module in
// .ci/kube-apiserver, failing t if it cannot be built.
func Build(t testing.TB) string {
	t.Helper()
	path, err := BuildAPIServer()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return path
}

// BuildAPIServer builds kube-apiserver once per process and returns its path.
// The module declares itself as a Go tool, so `go tool -n` builds it into
// Go's build cache and prints the cached binary: a warm call takes well under
// a second (a `go build -o` relinks for ~6 s) and no 170 MB copy per test
// process is left behind in a temp dir.
func BuildAPIServer() (string, error) {
	built.once.Do(func() {
		built.path, built.err = buildAPIServer()
	})
	return built.path, built.err
}

func buildAPIServer() (string, error) {
	if p := os.Getenv(APIServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s=%s: %w", APIServerEnv, p, err)
		}
		return p, nil
	}
	dir, err := apiserverModuleDir()
	if err != nil {
		return "", err
	}
	goBin, err := testproc.GoTool()
	if err != nil {
		return "", err
	}
	// Test binaries of several packages run at once; one cold build (2.8 GB
	// at link time) is enough, the others then hit the cache.
	unlock, err := testproc.LockFile(filepath.Join(os.TempDir(), "kubetest-apiserver-build.lock"), buildTimeout)
	if err != nil {
		return "", err
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "tool", "-n", "kube-apiserver")
	cmd.Dir = dir
	// The nested module must not be pulled into a go.work of the caller.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build kube-apiserver in %s (go tool -n kube-apiserver): %w\n%s", dir, err, stderr.String())
	}
	path := strings.TrimSpace(stdout.String())
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("build kube-apiserver in %s: go printed %q: %w", dir, path, err)
	}
	return path, nil
}

// apiserverModuleDir finds .ci/kube-apiserver.
func apiserverModuleDir() (string, error) { return testproc.ModuleDir("kube-apiserver") }

// etcdFallback is where Debian's etcd-server installs etcd, for a PATH
// without /usr/bin.
var etcdFallback = "/usr/bin/etcd"

// etcdBinary finds Debian's etcd; a missing etcd is a test failure with the
// install hint, never a skip.
func etcdBinary() (string, error) {
	if p := os.Getenv(EtcdEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", EtcdEnv, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(etcdFallback); err == nil {
		return etcdFallback, nil
	}
	return "", fmt.Errorf("etcd not found on PATH: install it with `apt-get install etcd-server` (Debian/Ubuntu) or set $%s", EtcdEnv)
}
