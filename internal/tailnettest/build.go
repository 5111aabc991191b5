package tailnettest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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

// buildTimeout bounds one cold build of one binary on 2 busy cores.
const buildTimeout = 20 * time.Minute

// Binaries are the paths of the programs a tailnet runs.
type Binaries struct {
	Tailscaled, Tailscale, Headscale string
}

// binary is how one program is built: a package of a nested module under
// .ci, with its build tags and link flags, linked as dir/name and under
// the extra names in aliases.
type binary struct {
	name    string
	module  string // directory under .ci
	pkg     string
	tags    string
	ldflags string
	aliases []string
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
	tailscaled = binary{
		name: "tailscaled", module: "tailscale", pkg: "tailscale.com/cmd/tailscaled", tags: "ts_include_cli",
		ldflags: stripped + " -X tailscale.com/version.longStamp=" + tailscaleLongStamp + " -X tailscale.com/version.shortStamp=" + TailscaleVersion,
		aliases: []string{cliName},
	}
	headscale = binary{name: "headscale", module: "headscale", pkg: "github.com/juanfont/headscale/cmd/headscale", ldflags: stripped}
)

var built struct {
	once sync.Once
	bins Binaries
	err  error
}

// Build returns the three binaries, built once per process: from the
// environment overrides, else from a cache directory shared by every test
// process and CI step of the machine, else by `go build`.
//
// Not `go tool -n` as for kube-apiserver: `go tool` takes no -ldflags
// (GOFLAGS' -ldflags is silently ignored by it), and tailscaled needs
// them for its version. So each binary is linked once into
// os.UserCacheDir()/tailscale-tunnel-exporter/tailnettest, in a directory
// named by a hash of its module's go.mod and go.sum, the flags and the Go
// version: a warm call is a stat, and a change of any pin builds anew.
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
		dir, err := tailscaled.dir()
		if err != nil {
			return Binaries{}, err
		}
		if bins.Tailscaled == "" {
			bins.Tailscaled = filepath.Join(dir, tailscaled.name)
		}
		if bins.Tailscale == "" {
			bins.Tailscale = filepath.Join(dir, cliName)
		}
	}
	if bins.Headscale == "" {
		dir, err := headscale.dir()
		if err != nil {
			return Binaries{}, err
		}
		bins.Headscale = filepath.Join(dir, headscale.name)
	}
	return bins, nil
}

// dir returns the cache directory that holds b and its aliases, building
// them first unless another process already has.
func (b binary) dir() (string, error) {
	mod, err := testproc.ModuleDir(b.module)
	if err != nil {
		return "", err
	}
	key, err := b.key(mod)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.name, err)
	}
	cache = filepath.Join(cache, "tailscale-tunnel-exporter", "tailnettest")
	out := filepath.Join(cache, b.name+"-"+key)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", b.name, err)
	}
	// Test binaries of several packages may start at once: one builds,
	// the others wait and then find the binary.
	unlock, err := testproc.LockFile(filepath.Join(cache, b.name+".lock"), buildTimeout)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.name, err)
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := b.goBuild(mod, out); err != nil {
		return "", err
	}
	return out, nil
}

// key names one build: the module's pins, the tags and flags, the Go
// toolchain.
func (b binary) key(dir string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", fmt.Errorf("build %s: %w", b.name, err)
		}
		h.Write(data)
	}
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%s\x00%s/%s", b.pkg, b.tags, b.ldflags, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goBuild links b and its aliases into a temporary directory and renames
// that to out, so a build that dies half way never leaves a directory
// another process would trust.
func (b binary) goBuild(mod, out string) error {
	goBin, err := testproc.GoTool()
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil { // left by a build that died
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := []string{"build", "-o", filepath.Join(tmp, b.name)}
	if b.tags != "" {
		args = append(args, "-tags="+b.tags)
	}
	if b.ldflags != "" {
		args = append(args, "-ldflags="+b.ldflags)
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, b.pkg)...)
	cmd.Dir = mod
	// The nested module must not join a go.work of the caller.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("build %s in %s (go %s): %w\n%s", b.name, mod, strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	if err := b.publish(tmp, out); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	fmt.Fprintf(os.Stderr, "tailnettest: built %s in %s: %s\n", b.name, time.Since(start).Round(time.Second), out)
	return nil
}

// publish adds the aliases to the built directory tmp and moves it to out.
func (b binary) publish(tmp, out string) error {
	for _, alias := range b.aliases {
		if err := os.Symlink(b.name, filepath.Join(tmp, alias)); err != nil {
			return err
		}
	}
	return os.Rename(tmp, out)
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
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// Run in the test's package directory, inside this module.
	// Static and -trimpath, as the Dockerfile builds it (one compile of the
	// dependencies shared with the other harnesses and go vet in .ci/run).
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-buildvcs=false", "-o", out, exporterPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
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
