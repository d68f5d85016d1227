#!/usr/bin/env bash
# Whole-process timings of the `attribute` example on a generated table of
# 1 000 000 distinct paths over 10 channels: wall time and peak memory per
# model set. Usage: bash benches/attribute_e2e.sh [PATHS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example attribute --example gen_paths
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
./target/release/examples/gen_paths "$n" 10 > "$dir/paths.csv"
echo "input: $(wc -l < "$dir/paths.csv") lines, $(du -h "$dir/paths.csv" | cut -f1)"
run() {
  /usr/bin/time -f "%e s wall, %M KB peak  [$*]" ./target/release/examples/attribute "$@" "$dir/paths.csv" > /dev/null
}
run --model markov
run --model first --model last --model linear
run --model markov --order 3
run --model shapley
