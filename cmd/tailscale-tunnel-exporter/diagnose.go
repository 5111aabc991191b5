package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
}

func addDiagnoseCommand(a *kingpin.Application) diagnoseCmd {
	c := a.Command("diagnose", "Gather the evidence about failing endpoints (objects, Events, proxy pods and logs, the operator, live probes) and report the likely causes, ranked. Read-only. Exit code 0: no problem found, 1: problems found, 2: the diagnosis itself failed or ran out of --timeout (the report shows what was gathered).")
	return diagnoseCmd{
		cmd:       c,
		hostnames: c.Arg("hostname", "Endpoints to diagnose (FQDN, requested name or first label); default every discovered endpoint.").Strings(),
		compare:   c.Flag("compare", "A working endpoint to put side by side with the failing ones.").PlaceHolder("HOSTNAME").String(),
		output:    c.Flag("output", "Report format.").Short('o').Default("text").Enum("text", "json", "markdown"),
		color:     c.Flag("color", "Colours in the text report.").Default("auto").Enum("auto", "always", "never"),
		timeout:   c.Flag("timeout", "Give up gathering after this long.").Default("2m").Duration(),
	}
}

// run gathers, diagnoses and writes the report; it returns the exit code.
func (d diagnoseCmd) run(src configSource, kube kubeFlags, hostLogs logSourceFlags, stdout, stderr io.Writer) int {
	cfg, err := src.load()
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
	ctx, cancel := context.WithTimeout(context.Background(), *d.timeout)
	defer cancel()
	ev, err := diagnose.Gather(ctx, diagnose.GatherOptions{
		Client:            client,
		IngressClass:      *kube.ingressClass,
		OperatorNamespace: *kube.operatorNamespace,
		Namespaces:        *kube.namespaces,
		Hostnames:         *d.hostnames,
		Compare:           *d.compare,
		Probe:             probeFunc(cfg, network, vantages),
		Matcher:           cfg.Matcher,
		HostLogs:          logFiles,
	})
	// Out of time: the evidence gathered so far is still reported, and
	// the exit code says the diagnosis is incomplete.
	incomplete := err != nil
	if incomplete {
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
