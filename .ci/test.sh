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

# kube-apiserver, tailscaled, headscale and helm are not installed: the
# tests build them from the pinned modules under .ci (testproc.Pinned).
for tool in promtool prometheus prometheus-alertmanager etcd; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is still missing after install" >&2; exit 1; }
done

echo "--- gofmt (at ${SECONDS} s)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

echo "--- go vet (at ${SECONDS} s)"
# With the Dockerfile's build settings (static, -trimpath), which every build
# of the tests uses too (testproc.StaticEnv/StaticFlags: the exporter,
# kube-apiserver, tailscaled, headscale, helm): a dependency is compiled once
# for all of them, not once per setting.
CGO_ENABLED=0 go vet -trimpath ./...

scrape=$(mktemp)
side=$(mktemp)
export TESTPROC_BUILD_LOG=$(mktemp)
side_pid=""
# A failing step must not leave the background job below running.
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill "$1" 2>/dev/null || true; }
trap '[ -z "$side_pid" ] || kill_tree "$side_pid"; rm -f "$scrape" "$side" "$TESTPROC_BUILD_LOG"' EXIT

# The benchmarks' one pass (their self-checks; figures are taken by hand)
# and the compile of .ci/promcheck need no result of the tests: they run
# beside them at the lowest priority, on the CPU time the tests leave idle
# while they wait on servers, instead of after them.
echo "--- benchmarks and the promcheck compile, in the background (at ${SECONDS} s)"
(
  set -euo pipefail
  export CGO_ENABLED=0
  nice -n 19 go test -trimpath -run '^$' -bench 'Match|Reader|Scrape' -benchtime 1x ./collector/logmatch/ ./collector/logs/ ./collector/tailnetpolicy/
  cd .ci/promcheck
  test -z "$(gofmt -l .)" || { echo "gofmt would change .ci/promcheck: $(gofmt -l .)"; exit 1; }
  nice -n 19 go vet -trimpath ./...
  nice -n 19 go test -trimpath -count=1 -run '^$' ./...
) >"$side" 2>&1 &
side_pid=$!

echo "--- go test -race (at ${SECONDS} s)"
# The end-to-end run against Prometheus leaves its scrape for the checks below.
# internal/tailnettest is named first so that it starts first: it builds
# tailscaled and headscale, then spends minutes waiting on real tailnet
# handshakes, which then overlap with the other packages' compiles instead
# of being the whole machine's last minutes.
TTE_SCRAPE_OUT="$scrape" go test -race -count=1 -timeout 40m ./internal/tailnettest/ ./...
echo "--- pinned builds of this run (testproc.Pinned):"
cat "$TESTPROC_BUILD_LOG"

echo "--- benchmarks and promcheck compile (at ${SECONDS} s)"
wait "$side_pid" || { cat "$side"; echo "FATAL: the benchmarks or the promcheck compile failed" >&2; exit 1; }
side_pid=""
cat "$side"

echo "--- dashboards and alert rules (.ci/promcheck, at ${SECONDS} s)"
[ -s "$scrape" ] || { echo "FATAL: the end-to-end test left no scrape in $scrape" >&2; exit 1; }
(cd .ci/promcheck && CGO_ENABLED=0 PROMCHECK_SCRAPE="$scrape" go test -trimpath -count=1 ./...)
