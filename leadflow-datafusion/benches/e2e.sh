#!/usr/bin/env bash
# Whole-process timings of the adapter's `attribute_sql` example, with
# peak memory, at 1 and 2 partitions (run from anywhere):
#
#   bash leadflow-datafusion/benches/e2e.sh [JOURNEYS] [PATHS]
#
# 1. A touch-level Parquet table of JOURNEYS journeys (default 1 000 000,
#    about 10 touches each: 10 M touches) over 10 channels, attributed
#    with the position heuristics and Markov (order 1 and 3).
# 2. A path table of PATHS distinct paths (default 1 000 000) attributed by
#    the core's `attribute` and by `attribute_sql`, outputs compared byte
#    for byte, both timed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
journeys=${1:-1000000}
paths=${2:-1000000}
# The core and the adapter build in their own target directories.
ours="${CARGO_TARGET_DIR:-$here/target}/release/examples"
(cd "$here/.." && env -u CARGO_TARGET_DIR cargo build --release --example attribute --example gen_paths)
(cd "$here" && CARGO_TARGET_DIR="${ours%/release/examples}" cargo build --release --example attribute_sql --example gen_touches)
core="$here/../target/release/examples"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
measure() {
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" > "$dir/out" 2> "$dir/err" || { cat "$dir/err"; exit 1; }
  cat "$dir/time"
}
echo "machine: $(nproc) cores"
"$ours/gen_touches" "$journeys" 10 "$dir/touches.parquet"
echo "touches: $(du -h "$dir/touches.parquet" | cut -f1) of Parquet"
models=(--model first --model last --model linear --model position --model markov)
for order in 1 3; do
  for p in 1 2; do
    read -r s kb < <(measure "$ours/attribute_sql" --partitions "$p" --order "$order" "${models[@]}" --touches "$dir/touches.parquet")
    awk -v p="$p" -v o="$order" -v s="$s" -v kb="$kb" -v n="$journeys" 'BEGIN {
      printf "touches, markov order %d, %d partition(s): %6.2f s, %7.0f MB peak, %5.2f M journeys/s\n", o, p, s, kb / 1024, n / s / 1e6 }'
  done
done
"$core/gen_paths" "$paths" 10 > "$dir/paths.csv"
echo "path table: $(wc -l < "$dir/paths.csv") lines"
all=(--model first --model last --model linear --model position --model j_shaped --model inverse_j --model markov --model shapley)
read -r s kb < <(measure "$core/attribute" "${all[@]}" "$dir/paths.csv")
cp "$dir/out" "$dir/core.csv"
printf "attribute (core):            %6.2f s, %7.0f MB peak\n" "$s" "$(echo "$kb / 1024" | bc -l)"
for p in 1 2; do
  read -r s kb < <(measure "$ours/attribute_sql" --partitions "$p" "${all[@]}" "$dir/paths.csv")
  cmp "$dir/out" "$dir/core.csv" || { echo "attribute_sql at $p partition(s) differs from attribute"; exit 1; }
  printf "attribute_sql, %d partition(s): %6.2f s, %7.0f MB peak, byte-equal\n" "$p" "$s" "$(echo "$kb / 1024" | bc -l)"
done
