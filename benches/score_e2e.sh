#!/usr/bin/env bash
# Whole-process timings of the `score` example (read NDJSON, fold every
# lead, print the table) on generated streams: wall time and peak memory.
# Usage: bash benches/score_e2e.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example score --example gen_events
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() {
  local name=$1
  shift
  ./target/release/examples/gen_events "$n" "$@" > "$dir/events.ndjson"
  /usr/bin/time -f "%e s wall, %M KB peak  [$name: $n events, $(du -h "$dir/events.ndjson" | cut -f1)]" \
    ./target/release/examples/score examples/data/engine.json "$dir/events.ndjson" > /dev/null
}
run "one lead, in order" 1
run "one lead, jittered" 1 --order jittered
run "10 000 leads, in order" 10000
run "10 000 leads, reversed" 10000 --order reversed
