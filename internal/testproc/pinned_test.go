package testproc

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Go's build cache reuses a compiled package only when its whole
// dependency closure is the same. kube-apiserver and helm share k8s.io/api,
// apimachinery, client-go and more with the exporter; one module at another
// version recompiles everything above it (measured cold: after go vet,
// kube-apiserver compiled 1726 of its 2068 packages again). So their
// nested modules require the exporter's versions; this test says what to
// `go get` when a dependency update of the exporter leaves them behind.
func TestPinnedModulesShareVersions(t *testing.T) {
	tests := []struct {
		module, pkg string
		minShared   int // modules expected in both builds, at least
	}{
		{"kube-apiserver", "github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/.ci/kube-apiserver", 30},
		{"helm", "helm.sh/helm/v3/cmd/helm", 30},
	}
	// go test runs in this package's directory; the exporter's module is
	// two up.
	exporter := moduleVersions(t, filepath.Join("..", ".."), "-test", "./...")
	for _, tc := range tests {
		t.Run(tc.module, func(t *testing.T) {
			dir, err := ModuleDir(tc.module)
			if err != nil {
				t.Fatal(err)
			}
			pinned := moduleVersions(t, dir, tc.pkg)
			shared := 0
			for _, path := range slices.Sorted(maps.Keys(exporter)) {
				got, ok := pinned[path]
				if !ok {
					continue
				}
				shared++
				if want := exporter[path]; got != want {
					t.Errorf("%s builds %s %s, the exporter %s: run `go get %s@%s && go mod tidy` in %s",
						tc.module, path, got, want, path, want, dir)
				}
			}
			if shared < tc.minShared {
				t.Errorf("%s shares %d modules with the exporter, want ≥ %d: the listing is broken", tc.module, shared, tc.minShared)
			}
		})
	}
}

// moduleVersions lists the modules that provide the packages built for
// args in dir, each with the version a replace directive selects.
func moduleVersions(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	goBin, err := GoTool()
	if err != nil {
		t.Fatal(err)
	}
	format := `{{with .Module}}{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}{{end}}`
	cmd := exec.Command(goBin, append([]string{"list", "-deps", "-f", format}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), StaticEnv...), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	versions := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		path, version, ok := strings.Cut(line, " ")
		if ok && version != "" { // the main module has no version
			versions[path] = version
		}
	}
	return versions
}
