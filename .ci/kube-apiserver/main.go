// Command kube-apiserver is the real Kubernetes API server, built from the
// published k8s.io/kubernetes module, for the end-to-end tests (with
// Debian's etcd). It is test infrastructure only; nothing ships it.
// go.mod declares this package as a tool, so internal/kubetest gets the
// binary from Go's build cache with `go tool -n kube-apiserver`.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
