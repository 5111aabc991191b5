package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/diagnose"
)

// diagnoseCmd is `tailscale-tunnel-exporter diagnose [HOSTNAME ...]`.
type diagnoseCmd struct {
	cmd       *kingpin.CmdClause
	hostnames *[]string
	compare   *string
	output    *string
	color     *string
	timeout   *time.Duration
	wait      *time.Duration
}

func addDiagnoseCommand(a *kingpin.Application) diagnoseCmd {
	c := a.Command("diagnose", "Gather the evidence about failing endpoints (objects, Events, proxy pods and logs, the operator, live probes) and report the likely causes, ranked. Read-only. Exit code 0: no problem found (with --wait: every endpoint worked in time), 1: problems found, 2: the diagnosis itself failed, was interrupted or ran out of --timeout (the report shows what was gathered).")
	return diagnoseCmd{
		cmd:       c,
		hostnames: c.Arg("hostname", "Endpoints to diagnose (FQDN, requested name or first label); default every discovered endpoint.").Strings(),
		compare:   c.Flag("compare", "A working endpoint to put side by side with the failing ones.").PlaceHolder("HOSTNAME").String(),
		output:    c.Flag("output", "Report format.").Short('o').Default("text").Enum("text", "json", "markdown"),
		color:     c.Flag("color", "Colours in the text report.").Default("auto").Enum("auto", "always", "never"),
		timeout:   c.Flag("timeout", "Give up gathering after this long (with --wait: the gather after the wait).").Default("2m").Duration(),
		wait:      c.Flag("wait", "For deploy pipelines: probe the named endpoints from every vantage, with a pause of 1s doubling up to 15s between rounds, until all work (exit 0 at once, no report) or this long has passed (then gather and report as without --wait). Progress goes to stderr. 0: no waiting.").Default("0").PlaceHolder("DURATION").Duration(),
	}
}

// run gathers, diagnoses and writes the report; it returns the exit code.
func (d diagnoseCmd) run(src configSource, kube kubeFlags, hostLogs logSourceFlags, tailnetPolicy tailnetPolicyFlags, stdout, stderr io.Writer) int {
	switch {
	case *d.wait < 0:
		fmt.Fprintf(stderr, "diagnose: --wait=%s: must not be negative\n", *d.wait)
		return 2
	case *d.wait > 0 && len(*d.hostnames) == 0:
		fmt.Fprintln(stderr, "diagnose: --wait needs at least one HOSTNAME: the endpoints to wait for")
		return 2
	}
	cfg, err := src.load()
	if err != nil {
		fmt.Fprintln(stderr, "diagnose:", err)
		return 2
	}
	pol, err := tailnetPolicy.config(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "diagnose:", err)
		return 2
	}
	network := scheduler.Network{}
	vantages, err := network.Vantages(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "diagnose:", err)
		return 2
	}
	var logFiles []diagnose.HostLog
	if len(*hostLogs.files) > 0 {
		if *hostLogs.hostname == "" {
			fmt.Fprintln(stderr, "diagnose: --logs.file needs --logs.hostname: the endpoint the log belongs to")
			return 2
		}
		for _, f := range *hostLogs.files {
			logFiles = append(logFiles, diagnose.HostLog{Hostname: *hostLogs.hostname, Path: f})
		}
	}
	var client kubernetes.Interface
	client, err = kube.client()
	switch {
	case errors.Is(err, rest.ErrNotInCluster):
		fmt.Fprintln(stderr, "diagnose: no --kubeconfig and not in a cluster: probing only, no Kubernetes evidence")
		client = nil
	case err != nil:
		fmt.Fprintln(stderr, "diagnose:", err)
		return 2
	}
	opts := diagnose.GatherOptions{
		Client:            client,
		IngressClass:      *kube.ingressClass,
		OperatorNamespace: *kube.operatorNamespace,
		Namespaces:        *kube.namespaces,
		Hostnames:         *d.hostnames,
		Compare:           *d.compare,
		Probe:             probeFunc(cfg, network, vantages),
		Matcher:           cfg.Matcher,
		HostLogs:          logFiles,
		Policy:            diagnose.PolicyOptions{Source: pol.Source, Clients: pol.Clients, DefaultTags: pol.DefaultTags},
	}
	// Ctrl-C or SIGTERM ends a wait or a gather early, as --timeout does.
	interrupted, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *d.wait > 0 {
		if code, done := d.waitFor(interrupted, opts, stderr); done {
			return code
		}
	}
	ctx, cancel := context.WithTimeout(interrupted, *d.timeout)
	defer cancel()
	ev, err := diagnose.Gather(ctx, opts)
	// Out of time: the evidence gathered so far is still reported, and
	// the exit code says the diagnosis is incomplete.
	incomplete := err != nil
	switch {
	case incomplete && interrupted.Err() != nil:
		fmt.Fprintln(stderr, "diagnose: interrupted; reporting what was gathered")
	case incomplete:
		fmt.Fprintf(stderr, "diagnose: %v (after --timeout=%s); reporting what was gathered\n", err, *d.timeout)
	}
	report := diagnose.Diagnose(ev)
	color := *d.color == "always" || *d.color == "auto" && isTerminal(stdout)
	if err := diagnose.Write(stdout, report, *d.output, color); err != nil {
		fmt.Fprintln(stderr, "diagnose: write report:", err)
		return 2
	}
	switch {
	case incomplete:
		return 2
	case report.Problems():
		return 1
	}
	return 0
}

// waitFor probes the endpoints until all work or --wait has passed. done
// is true when the run ends here: every endpoint worked (0) or a signal
// came (2); otherwise the full gather and report follow.
func (d diagnoseCmd) waitFor(ctx context.Context, opts diagnose.GatherOptions, stderr io.Writer) (code int, done bool) {
	res := diagnose.Wait(ctx, diagnose.WaitOptions{
		Deadline: time.Now().Add(*d.wait),
		Round:    diagnose.ProbeRound(opts),
		Progress: func(r diagnose.WaitRound) {
			if len(r.Failures) > 0 {
				fmt.Fprintln(stderr, "diagnose: waiting:", r.Line())
			}
		},
	})
	names := strings.Join(*d.hostnames, ", ")
	switch res.Outcome {
	case diagnose.WaitWorked:
		fmt.Fprintf(stderr, "diagnose: %s: working from every vantage (round %d, after %s)\n", names, res.Last.Number, res.Last.Elapsed.Round(100*time.Millisecond))
		return 0, true
	case diagnose.WaitAborted:
		fmt.Fprintf(stderr, "diagnose: interrupted while waiting for %s (round %d)\n", names, res.Last.Number)
		return 2, true
	}
	fmt.Fprintf(stderr, "diagnose: %s still failing after --wait=%s; gathering the evidence\n", names, *d.wait)
	return 0, false
}

// probeFunc probes a hostname from a vantage as the exporter would, with
// the request the scheduler would build for it.
func probeFunc(cfg *config.Config, network scheduler.Network, vantages map[string]scheduler.Vantage) func(context.Context, string, string) (prober.Result, bool) {
	return func(ctx context.Context, hostname, vantage string) (prober.Result, bool) {
		v, ok := vantages[vantage]
		if !ok {
			return prober.Result{}, false
		}
		req, err := network.Request(cfg, hostname, "", v)
		if err != nil { // modules are validated at load
			return prober.Result{}, false
		}
		return prober.Probe(ctx, req), true
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
