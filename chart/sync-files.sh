#!/bin/sh
# Copies the alert rules and dashboards into the chart: Helm can read only
# files inside the chart, and alerts/ and dashboards/ stay the one source of
# truth. TestChartFilesInSync fails when the copies drift.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
files="$root/chart/files"
rm -rf "$files/alerts" "$files/dashboards"
mkdir -p "$files/alerts" "$files/dashboards"
if [ -f "$root/alerts/rules.yml" ]; then
  cp "$root/alerts/rules.yml" "$files/alerts/rules.yml"
fi
for f in "$root"/dashboards/*.json; do
  if [ -e "$f" ]; then cp "$f" "$files/dashboards/"; fi
done
