#!/usr/bin/env bash
# Whole-process timings of the `attribute` example on a generated table of
# 1 000 000 distinct paths over 10 channels: wall time and peak memory per
# model set. Usage: bash benches/attribute_e2e.sh [PATHS]
#
# With CA_PYTHON set to a Python that has ChannelAttribution installed
# (e.g. a throwaway venv: `python3 -m venv /tmp/ca && /tmp/ca/bin/pip
# install ChannelAttribution==2.2.5 matplotlib`), the same models also run
# in ChannelAttribution, side by side, and the ratios are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example attribute --example gen_paths
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
./target/release/examples/gen_paths "$n" 10 > "$dir/paths.csv"
echo "input: $(wc -l < "$dir/paths.csv") lines, $(du -h "$dir/paths.csv" | cut -f1), $(nproc) cores"
# Prints "seconds kilobytes" of one whole-process run.
measure() {
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" > /dev/null
  cat "$dir/time"
}
ca() {
  local call=$1
  cat > "$dir/ca.py" <<PY
import pandas as pd, ChannelAttribution as CA
Data = pd.read_csv("$dir/paths.csv")
$call
PY
  measure "$CA_PYTHON" "$dir/ca.py"
}
run() {
  local label=$1 call=$2
  shift 2
  read -r ours_s ours_kb < <(measure ./target/release/examples/attribute "$@" "$dir/paths.csv")
  if [[ -n "${CA_PYTHON:-}" ]]; then
    read -r ca_s ca_kb < <(ca "$call")
    awk -v l="$label" -v a="$ours_s" -v b="$ours_kb" -v c="$ca_s" -v d="$ca_kb" 'BEGIN {
      printf "%-28s leadflow %5.2f s %8d KB | ChannelAttribution %6.2f s %8d KB | %5.1fx faster, %5.0fx less memory\n",
        l, a, b, c, d, c / a, d / b }'
  else
    printf "%-28s leadflow %5.2f s %8d KB\n" "$label" "$ours_s" "$ours_kb"
  fi
}
args='"path", "total_conversions", var_value="total_conversion_value", sep=">", flg_pro=False'
run "markov order 1" "CA.markov_model(Data, $args, var_null=\"total_null\", order=1, verbose=False)" --model markov
run "first + last + linear" "CA.heuristic_models(Data, $args)" --model first --model last --model linear
run "markov order 3" "CA.markov_model(Data, $args, var_null=\"total_null\", order=3, verbose=False)" --model markov --order 3
CA_PYTHON="" run "shapley (no CA counterpart)" "" --model shapley
