package testproc

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
	"time"
)

// PinnedBuildTimeout bounds one cold build of one pinned program on two
// busy cores (kube-apiserver, the largest, takes about 10 min alone).
const PinnedBuildTimeout = 20 * time.Minute

// StaticEnv and StaticFlags are the build settings of every program the
// tests build: the Dockerfile's (static, -trimpath). One setting means
// Go's build cache compiles a package shared by go vet, the exporter and
// the pinned servers once per run, not once per setting (a shared package
// is only reused when its whole dependency closure has the same versions
// too; TestPinnedModulesShareVersions keeps the nested modules in step).
var (
	StaticEnv   = []string{"CGO_ENABLED=0"}
	StaticFlags = []string{"-trimpath", "-buildvcs=false"}
)

// Pinned is a program the end-to-end tests run, built from a package of a
// nested module under .ci that pins it and every dependency.
type Pinned struct {
	Name    string // file name of the binary
	Module  string // directory under .ci
	Pkg     string // import path of the main package
	Tags    string
	LDFlags string
	Aliases []string // names linked to Name in the same directory
}

// Dir returns the directory that holds p and its aliases, building them
// first unless another process already has. Builds land in
// os.UserCacheDir()/tailscale-tunnel-exporter/pinned, in a directory named
// by a hash of the module's go.mod and go.sum, the package, tags, flags
// and Go version: a warm call is a stat, and a change of any pin builds
// anew. Test binaries of several packages may ask at once: one builds
// under a file lock, the others wait and then find the directory.
func (p Pinned) Dir() (string, error) {
	mod, err := ModuleDir(p.Module)
	if err != nil {
		return "", err
	}
	key, err := p.key(mod)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	cache = filepath.Join(cache, "tailscale-tunnel-exporter", "pinned")
	out := filepath.Join(cache, p.Name+"-"+key)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	unlock, err := LockFile(filepath.Join(cache, p.Name+".lock"), PinnedBuildTimeout)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := p.build(mod, out); err != nil {
		return "", err
	}
	return out, nil
}

// key names one build.
func (p Pinned) key(mod string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			return "", fmt.Errorf("build %s: %w", p.Name, err)
		}
		h.Write(data)
	}
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%q\x00%q\x00%q\x00%s\x00%s/%s", p.Pkg, p.Tags, p.LDFlags, p.Aliases,
		StaticEnv, StaticFlags, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// build links p and its aliases into a temporary directory and renames
// that to out, so a build that dies half way never leaves a directory
// another process would trust.
func (p Pinned) build(mod, out string) error {
	goBin, err := GoTool()
	if err != nil {
		return fmt.Errorf("build %s: %w", p.Name, err)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil { // left by a build that died
		return fmt.Errorf("build %s: %w", p.Name, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("build %s: %w", p.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), PinnedBuildTimeout)
	defer cancel()
	args := append([]string{"build"}, StaticFlags...)
	args = append(args, "-o", filepath.Join(tmp, p.Name))
	if p.Tags != "" {
		args = append(args, "-tags="+p.Tags)
	}
	if p.LDFlags != "" {
		args = append(args, "-ldflags="+p.LDFlags)
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, p.Pkg)...)
	cmd.Dir = mod
	// The nested module must not join a go.work of the caller, and a
	// GOFLAGS of the caller must not change the settings.
	cmd.Env = append(append(os.Environ(), StaticEnv...), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	logBuild(fmt.Sprintf("testproc: building %s\n", p.Name))
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("build %s in %s (go %s): %w\n%s", p.Name, mod, strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	for _, alias := range p.Aliases {
		if err := os.Symlink(p.Name, filepath.Join(tmp, alias)); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("build %s: %w", p.Name, err)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("build %s: %w", p.Name, err)
	}
	msg := fmt.Sprintf("testproc: built %s in %s: %s\n", p.Name, time.Since(start).Round(time.Second), out)
	os.Stderr.WriteString(msg)
	logBuild(msg)
	return nil
}

// BuildLogEnv names a file each pinned build appends its duration to:
// go test shows a passing package's stderr to nobody, and CI's time budget
// wants the figures (.ci/test.sh prints them).
const BuildLogEnv = "TESTPROC_BUILD_LOG"

func logBuild(msg string) {
	path := os.Getenv(BuildLogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testproc: $%s: %v\n", BuildLogEnv, err)
		return
	}
	defer f.Close()
	f.WriteString(time.Now().UTC().Format(time.RFC3339) + " " + msg)
}
