#!/usr/bin/env bash
# The whole test suite: the README's second command, and what CI runs.
# It installs what the tests need (Debian packages, Go tools) when missing,
# so it works on a fresh machine with only Go, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v etcd >/dev/null || need_apt+=(etcd-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "--- installing Debian packages: ${need_apt[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
export PATH="$(go env GOPATH)/bin:$PATH"
command -v helm >/dev/null || { echo "--- installing helm"; go install helm.sh/helm/v3/cmd/helm@v3.22.0; echo "--- helm installed (at ${SECONDS} s)"; }

for tool in promtool prometheus prometheus-alertmanager etcd helm; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is still missing after install" >&2; exit 1; }
done

echo "--- gofmt (at ${SECONDS} s)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

echo "--- go vet (at ${SECONDS} s)"
# With the Dockerfile's build settings (static, -trimpath), which the tests'
# exporter builds use too: the dependencies are compiled once for all of
# them, not once per setting (a cold run compiles ~450 packages per setting).
CGO_ENABLED=0 go vet -trimpath ./...

scrape=$(mktemp)
trap 'rm -f "$scrape"' EXIT

echo "--- go test -race (at ${SECONDS} s)"
# The end-to-end run against Prometheus leaves its scrape for the checks below.
TTE_SCRAPE_OUT="$scrape" go test -race -count=1 -timeout 40m ./...

echo "--- benchmarks, one pass each (their self-checks; figures are taken by hand; at ${SECONDS} s)"
CGO_ENABLED=0 go test -trimpath -run '^$' -bench 'Match|Reader|Scrape' -benchtime 1x ./collector/logmatch/ ./collector/logs/ ./collector/tailnetpolicy/

echo "--- dashboards and alert rules (.ci/promcheck, at ${SECONDS} s)"
[ -s "$scrape" ] || { echo "FATAL: the end-to-end test left no scrape in $scrape" >&2; exit 1; }
(cd .ci/promcheck && test -z "$(gofmt -l .)" && go vet ./... && PROMCHECK_SCRAPE="$scrape" go test -count=1 ./...)
