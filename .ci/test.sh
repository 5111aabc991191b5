#!/usr/bin/env bash
# The whole test suite: the README's second command, and what CI runs.
# It installs what the tests need (Debian packages, Go tools) when missing,
# so it works on a fresh machine with only Go, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$(go env GOPATH)/bin:$PATH"

# Cold, most of a run is compiling the pinned servers of the end-to-end
# tests (kube-apiserver, tailscaled, headscale) and helm. They start here,
# in the background, and share the cores with vet and the test compile;
# otherwise each test binary that needs one waits for it on the harness's
# build lock while holding a `go test -p` slot. Their compiles are
# disjoint from vet's (other module versions; -race or none), so nothing is
# compiled twice; the harnesses find them in their caches, and still build
# them under the same locks when a package's tests run alone.
bg_dir=$(mktemp -d)
declare -A bg_pid
scrape=$(mktemp)
trap 'for p in "${bg_pid[@]}"; do kill -- "-$p" 2>/dev/null || true; done; rm -rf "$bg_dir" "$scrape"' EXIT
# start_bg NAME COMMAND...: run COMMAND in a process group of its own, its
# output and time in $bg_dir/NAME.log.
start_bg() {
  local name=$1; shift
  set -m
  { s=$SECONDS; rc=0; "$@" || rc=$?; echo "--- $name: $((SECONDS - s)) s, done at $SECONDS s, exit $rc"; exit $rc; } >"$bg_dir/$name.log" 2>&1 &
  set +m
  bg_pid[$name]=$!
}
# wait_bg NAME: its exit status; its log when it failed, else its time.
wait_bg() {
  local name=$1 rc=0
  wait "${bg_pid[$name]}" || rc=$?
  unset "bg_pid[$name]"
  if [ $rc -ne 0 ]; then
    echo "FATAL: $name failed:" >&2; cat "$bg_dir/$name.log" >&2; exit 1
  fi
  tail -n 1 "$bg_dir/$name.log"
}

command -v helm >/dev/null || { echo "--- installing helm (background)"; start_bg helm go install helm.sh/helm/v3/cmd/helm@v3.22.0; }
if [ -z "${KUBETEST_APISERVER:-}" ]; then
  echo "--- building kube-apiserver (background)"
  # internal/kubetest's command and lock (BuildAPIServer): it then reads
  # the binary from Go's build cache.
  start_bg kube-apiserver flock "${TMPDIR:-/tmp}/kubetest-apiserver-build.lock" \
    env -C .ci/kube-apiserver GOWORK=off GOFLAGS=-buildvcs=false go tool -n kube-apiserver
fi
echo "--- building tailscaled and headscale (background)"
# TestMain builds them (internal/tailnettest.Build) before the test that
# checks their versions; the -race test binary is the one the suite runs.
start_bg tailnet go test -race -count=1 -timeout 40m -run '^TestBinariesArePinnedRelease$' ./internal/tailnettest/
# .ci/promcheck runs last and alone; its compile (Prometheus, Grafana's SDK)
# need not wait for the suite, nor take the cores from what the suite needs.
start_bg promcheck-compile nice env -C .ci/promcheck sh -c "go vet ./... && go test -count=1 -run '^\$' ./..."

# The Debian packages install while those compile.
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

echo "--- gofmt (at ${SECONDS} s)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

echo "--- go vet (at ${SECONDS} s)"
go vet ./...

if [ -n "${bg_pid[helm]:-}" ]; then wait_bg helm; fi
for tool in promtool prometheus prometheus-alertmanager etcd helm; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is still missing after install" >&2; exit 1; }
done

echo "--- go test -race (at ${SECONDS} s)"
# The end-to-end run against Prometheus leaves its scrape for the checks below.
TTE_SCRAPE_OUT="$scrape" go test -race -count=1 -timeout 40m ./...
echo "--- background builds (tests done at ${SECONDS} s)"
for name in "${!bg_pid[@]}"; do wait_bg "$name"; done

echo "--- benchmarks, one pass each (their self-checks; figures are taken by hand; at ${SECONDS} s)"
go test -run '^$' -bench 'Match|Reader' -benchtime 1x ./collector/logmatch/ ./collector/logs/

echo "--- dashboards and alert rules (.ci/promcheck, at ${SECONDS} s)"
[ -s "$scrape" ] || { echo "FATAL: the end-to-end test left no scrape in $scrape" >&2; exit 1; }
(cd .ci/promcheck && test -z "$(gofmt -l .)" && go vet ./... && PROMCHECK_SCRAPE="$scrape" go test -count=1 ./...)
