#!/usr/bin/env bash
# Whole-process timings of the `predict` example (read CSV, fit, score the
# test table, AUC) on generated lead tables: wall time and peak memory, and,
# when SKL_PYTHON names a Python with scikit-learn, the same tables fitted
# by scikit-learn's LogisticRegression and Odoo's naive Bayes formula.
# Usage: bash benches/predict_e2e.sh [TRAIN_ROWS] [TEST_ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:-1000000}
test=${2:-200000}
cargo build --release --example predict --example gen_leads
bin=${CARGO_TARGET_DIR:-target}/release/examples
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin"/gen_leads "$train" --seed 1 > "$dir/train.csv"
"$bin"/gen_leads "$test" --seed 2 > "$dir/test.csv"
echo "train: $train rows ($(du -h "$dir/train.csv" | cut -f1)), test: $test rows, $(nproc) cores"
for model in nb lr; do
  /usr/bin/time -f "%e s wall, %M KB peak  [predict --model $model]" \
    "$bin"/predict --train "$dir/train.csv" --test "$dir/test.csv" \
    --target outcome --positive won --model "$model" > /dev/null
done
if [ -n "${SKL_PYTHON:-}" ]; then
  /usr/bin/time -f "%e s wall, %M KB peak  [scikit-learn + Odoo NB, Python]" \
    "$SKL_PYTHON" benches/predict_compare.py "$dir/train.csv" "$dir/test.csv" outcome won
fi
