#!/usr/bin/env bash
# bench-stdin.sh compares the exporter's --logs.stdin path with grep on the
# same cached file of production-shaped tailscaled lines (see
# collector/logmatch/logmatchtest): grep only finds lines, the exporter
# splits, parses and counts every one. It prints both throughputs, by wall
# clock and by CPU time (user+system; steadier on a busy machine), and the
# exporter's share of grep's. Everything stays on 127.0.0.1.
#
#   MB=300 RUNS=3 scripts/bench-stdin.sh
set -euo pipefail
cd "$(dirname "$0")/.."

mb=${MB:-300}
runs=${RUNS:-3}
wait_s=${WAIT_S:-120} # the longest one run of the exporter may take
dir=$(mktemp -d)
exporter_pid=""
cleanup() {
  if [ -n "$exporter_pid" ]; then kill "$exporter_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

echo "--- building the exporter and a ${mb} MiB corpus in $dir"
go build -o "$dir/exporter" ./cmd/tailscale-tunnel-exporter
lines=$(go run ./scripts/gencorpus -o "$dir/corpus.log" -mb "$mb")
bytes=$(stat -c %s "$dir/corpus.log")
cat "$dir/corpus.log" >/dev/null # into the page cache
echo "$lines lines, $bytes bytes"

clk_tck=$(getconf CLK_TCK)
now() { date +%s.%N; }

# grep_run prints "wall cpu" in seconds for one grep over the corpus.
grep_run() {
  local TIMEFORMAT='%R %U %S' t count
  t=$({ time LC_ALL=C grep -cE 'Drop: |TLS handshake error|ingress: denied' "$dir/corpus.log" >"$dir/grep.out"; } 2>&1)
  count=$(cat "$dir/grep.out")
  [ "$count" -gt 0 ] || { echo "FATAL: grep found no events" >&2; exit 1; }
  echo "$t" | awk '{print $1, $2 + $3}'
}

# lines_counted prints tailscale_tunnel_log_lines_total (0 before the
# first scrape answers).
lines_counted() {
  local body
  body=$(curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null) || { echo 0; return; }
  awk '/^tailscale_tunnel_log_lines_total[{ ]/ {n += $NF} END {printf "%d\n", n}' <<<"$body"
}

# exporter_run prints "wall cpu" in seconds from the exporter's start until
# it has counted every line of the corpus. A random port may be taken: an
# exporter that exits is started again on another, five times at most.
exporter_run() {
  local port start end ticks deadline
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    start=$(now)
    "$dir/exporter" --logs.stdin --web.listen-address="127.0.0.1:$port" --log.level=error <"$dir/corpus.log" 2>"$dir/exporter.err" &
    exporter_pid=$!
    deadline=$(($(date +%s) + wait_s))
    while [ "$(lines_counted "$port")" -lt "$lines" ]; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "FATAL: the exporter counted $(lines_counted "$port") of $lines lines in ${wait_s}s" >&2
        exit 1
      fi
      kill -0 "$exporter_pid" 2>/dev/null || break
      sleep 0.02
    done
    end=$(now)
    if ! kill -0 "$exporter_pid" 2>/dev/null; then
      wait "$exporter_pid" 2>/dev/null || true
      exporter_pid=""
      echo "the exporter exited: $(cat "$dir/exporter.err"); again on another port" >&2
      continue
    fi
    # utime and stime, fields 14 and 15 of /proc/PID/stat (after the name).
    ticks=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$exporter_pid/stat")
    kill "$exporter_pid"
    wait "$exporter_pid" 2>/dev/null || true
    exporter_pid=""
    echo "$end $start $ticks $clk_tck" | awk '{print $1 - $2, $3 / $4}'
    return
  done
  echo "FATAL: the exporter exited five times" >&2
  exit 1
}

# best prints the smallest wall and the smallest CPU time of $runs runs of
# $1, run in this shell so that the EXIT trap can stop an exporter.
best() {
  : >"$dir/$1.times"
  for _ in $(seq "$runs"); do "$1" >>"$dir/$1.times"; done
  awk 'NR == 1 || $1 < w {w = $1} NR == 1 || $2 < c {c = $2} END {print w, c}' "$dir/$1.times"
}

echo "--- $runs runs each, best of each"
best grep_run >"$dir/grep.best"
best exporter_run >"$dir/exporter.best"
read -r gw gc <"$dir/grep.best"
read -r ew ec <"$dir/exporter.best"
awk -v b="$bytes" -v l="$lines" -v gw="$gw" -v gc="$gc" -v ew="$ew" -v ec="$ec" 'BEGIN {
  printf "%-28s %10s %12s %12s\n", "", "seconds", "MB/s", "Mlines/s"
  printf "%-28s %10.3f %12.0f %12.2f\n", "grep -cE, wall", gw, b / gw / 1e6, l / gw / 1e6
  printf "%-28s %10.3f %12.0f %12.2f\n", "grep -cE, cpu", gc, b / gc / 1e6, l / gc / 1e6
  printf "%-28s %10.3f %12.0f %12.2f\n", "exporter --logs.stdin, wall", ew, b / ew / 1e6, l / ew / 1e6
  printf "%-28s %10.3f %12.0f %12.2f\n", "exporter --logs.stdin, cpu", ec, b / ec / 1e6, l / ec / 1e6
  printf "exporter / grep throughput: %.2f (wall), %.2f (cpu)\n", gw / ew, gc / ec
}'
