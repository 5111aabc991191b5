package main

import (
	"context"
	"os"
	"sync"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
)

// logFlags select where proxy logs come from besides Kubernetes.
type logSourceFlags struct {
	files         *[]string
	stdin         *bool
	hostname      *string
	maxLineLength *units.Base2Bytes
	podLogs       *bool
}

func addLogSourceFlags(a *kingpin.Application) logSourceFlags {
	return logSourceFlags{
		files:         a.Flag("logs.file", "A tailscaled log file to follow like tail -F (rotation and truncation survive); repeatable.").PlaceHolder("FILE").Strings(),
		stdin:         a.Flag("logs.stdin", "Read tailscaled log lines from standard input (journalctl -fu tailscaled | ...).").Bool(),
		hostname:      a.Flag("logs.hostname", "The hostname label of counts from --logs.file and --logs.stdin: the ts.net name of this tailscaled node.").PlaceHolder("HOSTNAME").String(),
		maxLineLength: a.Flag("logs.max-line-length", "Longer lines are matched on their start and counted as truncated.").Default("64KiB").Bytes(),
		podLogs:       a.Flag("kubernetes.pod-logs", "With --kubernetes.discovery, follow the log of every proxy pod (needs get on pods/log in the operator namespace).").Default("true").Bool(),
	}
}

// startHostSources follows the files and standard input; wg tracks them.
func (f logSourceFlags) startHostSources(ctx context.Context, wg *sync.WaitGroup, m *logs.MatcherRef, c *logs.Counters, logger log.Logger) {
	for _, path := range *f.files {
		r := &logs.Reader{Matcher: m, Stream: c.Stream(logs.StreamKey{Hostname: *f.hostname}), MaxLineLength: int(*f.maxLineLength)}
		wg.Go(func() { logs.FollowFile(ctx, path, r, 0, log.With(logger, "source", "file")) })
	}
	if *f.stdin {
		stream := c.Stream(logs.StreamKey{Hostname: *f.hostname})
		r := &logs.Reader{Matcher: m, Stream: stream, MaxLineLength: int(*f.maxLineLength)}
		// Not in wg: a read from standard input cannot be interrupted, and
		// the process is exiting anyway when ctx ends.
		go func() {
			stream.SetUp(true)
			err := r.ReadPlain(os.Stdin)
			stream.SetUp(false)
			if err != nil {
				stream.Failed(logs.ErrStream)
				level.Error(logger).Log("msg", "reading standard input failed", "err", err)
				return
			}
			level.Warn(logger).Log("msg", "standard input ended; no more log lines will be counted from it")
		}()
	}
}
