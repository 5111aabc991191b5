package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ModuleDir finds the nested module .ci/NAME of this repository from this
// source file, falling back to the main module of the working directory
// (for -trimpath builds).
func ModuleDir(name string) (string, error) {
	var roots []string
	if _, file, _, ok := runtime.Caller(0); ok {
		roots = append(roots, filepath.Join(filepath.Dir(file), "..", ".."))
	}
	if goBin, err := GoTool(); err == nil {
		out, err := exec.Command(goBin, "env", "GOMOD").Output()
		if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
			roots = append(roots, filepath.Dir(gomod))
		}
	}
	for _, root := range roots {
		dir := filepath.Join(root, ".ci", name)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	return "", fmt.Errorf("find .ci/%s/go.mod: looked under %q", name, roots)
}

// GoTool finds the go command; `go test` puts GOROOT/bin first on PATH.
func GoTool() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	return p, nil
}
