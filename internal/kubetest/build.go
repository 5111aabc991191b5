package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// APIServerEnv names a prebuilt kube-apiserver binary to use instead of
// building one (e.g. in CI images that ship it).
const APIServerEnv = "KUBETEST_APISERVER"

// EtcdEnv names the etcd binary to use instead of the one on PATH.
const EtcdEnv = "KUBETEST_ETCD"

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

// apiserver is built static and -trimpath like every other build of the
// tests (testproc.Pinned): .ci/kube-apiserver pins k8s.io/api, apimachinery,
// client-go and the rest at this module's versions, so the packages go
// vet already compiled for the exporter are not compiled again for it.
var apiserver = testproc.Pinned{
	Name: "kube-apiserver", Module: "kube-apiserver",
	Pkg:     "github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/.ci/kube-apiserver",
	LDFlags: "-s -w", // what `go tool` and Kubernetes' release builds strip too
}

// BuildAPIServer builds kube-apiserver once per process and returns its
// path: a warm call is a stat of testproc's cache of pinned builds.
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
	dir, err := apiserver.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, apiserver.Name), nil
}

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
