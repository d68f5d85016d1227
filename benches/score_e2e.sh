#!/usr/bin/env bash
# Whole-process timings of the `score` example (read NDJSON, fold every
# lead, print the table) on generated streams: wall time and peak memory.
# Usage: bash benches/score_e2e.sh [EVENTS]
#
# With BASELINE set to another build's `score` binary (e.g. one built from
# an older commit in a worktree), each stream also runs through it, right
# after ours, and the tables are compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example score --example gen_events
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "$(nproc) cores"
measure() {
  local label=$1
  shift
  /usr/bin/time -f "%e s wall, %M KB peak  [$label]" "$@" > "$dir/out.$label.csv"
}
run() {
  local name=$1
  shift
  ./target/release/examples/gen_events "$n" "$@" > "$dir/events.ndjson"
  local what="$name: $n events, $(du -h "$dir/events.ndjson" | cut -f1)"
  measure "ours" ./target/release/examples/score examples/data/engine.json "$dir/events.ndjson"
  echo "  ^ $what"
  if [[ -n "${BASELINE:-}" ]]; then
    measure "baseline" "$BASELINE" examples/data/engine.json "$dir/events.ndjson"
    cmp -s "$dir/out.ours.csv" "$dir/out.baseline.csv" && echo "  same table" || echo "  TABLES DIFFER"
  fi
}
run "one lead, in order" 1
run "one lead, jittered" 1 --order jittered
run "10 000 leads, in order" 10000
run "10 000 leads, reversed" 10000 --order reversed
