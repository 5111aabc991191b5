package tailnettest

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

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// The pinned versions. The nested modules .ci/tailscale and .ci/headscale
// pin them (with every dependency) in their go.mod and go.sum.
const (
	TailscaleVersion = "1.98.10"
	HeadscaleVersion = "v0.29.3"
	// tailscaleLongStamp is what a release build of v1.98.10 reports
	// ("Program starting: v1.98.10-t36550d57f"); without the -X flags a
	// module build reads "-ERR-BuildInfo".
	tailscaleLongStamp = "1.98.10-t36550d57f"
)

// Environment variables naming prebuilt binaries to use instead of
// building them (CI images that ship them, or a faster local loop).
const (
	TailscaledEnv = "TAILNETTEST_TAILSCALED"
	TailscaleEnv  = "TAILNETTEST_TAILSCALE"
	HeadscaleEnv  = "TAILNETTEST_HEADSCALE"
)

// Binaries are the paths of the programs a tailnet runs.
type Binaries struct {
	Tailscaled, Tailscale, Headscale string
}

// cliName is the name under which the tailscaled binary runs as the CLI.
const cliName = "tailscale"

// stripped drops the symbol table and DWARF, which these test servers
// never need (Go tracebacks use the pclntab), and which take a share of
// each link.
const stripped = "-s -w"

var (
	// tailscaled with the CLI linked in, upstream's ts_include_cli build:
	// cmd/tailscaled's shouldRunCLI runs cli.Run instead of the daemon
	// when the binary is invoked under the name "tailscale", which the
	// alias next to it has. One compile and one link serve both programs.
	tailscaled = testproc.Pinned{
		Name: "tailscaled", Module: "tailscale", Pkg: "tailscale.com/cmd/tailscaled", Tags: "ts_include_cli",
		LDFlags: stripped + " -X tailscale.com/version.longStamp=" + tailscaleLongStamp + " -X tailscale.com/version.shortStamp=" + TailscaleVersion,
		Aliases: []string{cliName},
	}
	headscale = testproc.Pinned{Name: "headscale", Module: "headscale", Pkg: "github.com/juanfont/headscale/cmd/headscale", LDFlags: stripped}
)

var built struct {
	once sync.Once
	bins Binaries
	err  error
}

// Build returns the three binaries, built once per process: from the
// environment overrides, else from testproc's cache of pinned builds
// shared by every test process and CI step of the machine, else by
// `go build` (static, as every build of the tests; testproc.Pinned).
//
// Not `go tool`: it takes no -ldflags (GOFLAGS' -ldflags is silently
// ignored by it), and tailscaled needs them for its version.
func Build() (Binaries, error) {
	built.once.Do(func() {
		built.bins, built.err = build()
	})
	return built.bins, built.err
}

func build() (Binaries, error) {
	var bins Binaries
	overrides := []struct {
		env  string
		path *string
	}{{TailscaledEnv, &bins.Tailscaled}, {TailscaleEnv, &bins.Tailscale}, {HeadscaleEnv, &bins.Headscale}}
	for _, o := range overrides {
		p := os.Getenv(o.env)
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return Binaries{}, fmt.Errorf("$%s: %w", o.env, err)
		}
		*o.path = p
	}
	if bins.Tailscaled == "" || bins.Tailscale == "" {
		dir, err := tailscaled.Dir()
		if err != nil {
			return Binaries{}, err
		}
		if bins.Tailscaled == "" {
			bins.Tailscaled = filepath.Join(dir, tailscaled.Name)
		}
		if bins.Tailscale == "" {
			bins.Tailscale = filepath.Join(dir, cliName)
		}
	}
	if bins.Headscale == "" {
		dir, err := headscale.Dir()
		if err != nil {
			return Binaries{}, err
		}
		bins.Headscale = filepath.Join(dir, headscale.Name)
	}
	return bins, nil
}

// ExporterEnv names the exporter binary Main built for the tests in the
// namespace.
const ExporterEnv = "TAILNETTEST_EXPORTER"

// exporterPkg is the exporter's main package, of this module.
const exporterPkg = "github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/tailscale-tunnel-exporter"

// buildExporter links the exporter under test into dir. Unlike the
// pinned binaries it changes with every edit, so it is linked once per
// test run, not cached by name: Go's build cache makes a warm build a
// link.
func buildExporter(dir string) (string, error) {
	goBin, err := testproc.GoTool()
	if err != nil {
		return "", fmt.Errorf("build the exporter: %w", err)
	}
	out := filepath.Join(dir, "tailscale-tunnel-exporter")
	ctx, cancel := context.WithTimeout(context.Background(), testproc.PinnedBuildTimeout)
	defer cancel()
	// Run in the test's package directory, inside this module, with the
	// Dockerfile's settings (one compile of the dependencies shared with
	// the other harnesses and go vet in .ci/run).
	args := append(append([]string{"build"}, testproc.StaticFlags...), "-o", out, exporterPkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), testproc.StaticEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the exporter (go %s): %w\n%s", strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	return out, nil
}

// Exporter is the exporter binary Main built outside the namespace.
func Exporter(t testing.TB) string {
	t.Helper()
	p := os.Getenv(ExporterEnv)
	if p == "" {
		t.Fatal("tailnettest: no exporter binary: call tailnettest.Main(m) from TestMain")
	}
	return p
}
