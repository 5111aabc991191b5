// Command kube-apiserver is the real Kubernetes API server, built from the
// published k8s.io/kubernetes module, for the end-to-end tests (with
// Debian's etcd). It is test infrastructure only; nothing ships it.
// internal/kubetest builds it with testproc.Pinned. go.mod pins the
// modules it shares with the exporter at the exporter's versions, so the
// packages go vet compiled are reused (TestPinnedModulesShareVersions).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
