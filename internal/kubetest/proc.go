package kubetest

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// startProc starts a child process (testproc.Start) whose log file first
// gets a line naming the command, so restarts are told apart in it.
func startProc(name, bin string, args []string, logPath string) (*testproc.Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "=== %s %s: %s %s\n", time.Now().Format(time.RFC3339Nano), name, bin, strings.Join(args, " "))
	logFile.Close()
	return testproc.Start(name, bin, args, nil, logPath)
}

// tailWarnings returns the last n warning or error lines of a klog
// (kube-apiserver: W, E or F first) or zap JSON (etcd) log.
func tailWarnings(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "W") || strings.HasPrefix(l, "E") || strings.HasPrefix(l, "F") ||
			strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"level":"fatal"`) {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}
