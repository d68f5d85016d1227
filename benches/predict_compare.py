"""Side by side with scikit-learn (and Odoo's naive Bayes formula).

    python benches/predict_compare.py --golden
        prints the coefficients of tests/predict.rs's two-feature problem as
        scikit-learn solves it (the test's golden values).
    python benches/predict_compare.py --export-breast-cancer DIR
        writes DIR/train.csv and DIR/test.csv from scikit-learn's bundled
        breast cancer table (a small real dataset; target `diagnosis`).
    python benches/predict_compare.py TRAIN.csv TEST.csv TARGET POSITIVE [--numeric A,B]
        fits scikit-learn's LogisticRegression with the preprocessing of
        `cargo run --release --example predict -- --model lr` and Odoo's naive
        Bayes (written out from Odoo's crm_lead code), prints their test ROC
        AUC and fit times.

Needs numpy and scikit-learn (a venv: python -m venv v && v/bin/pip install
scikit-learn). Nothing here is run by CI.
"""
import csv
import math
import re
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def golden():
    visits = np.array([1, 2, 2, 3, 4, 5, 6, 7, 8, 9], dtype=float)
    plan = ["free", "free", "trial", "free", "trial", "free", "trial", "trial", "free", "trial"]
    y = np.array([0, 0, 0, 1, 0, 1, 1, 0, 1, 1])
    z = (visits - visits.mean()) / visits.std()
    x = np.column_stack([z, [p == "free" for p in plan], [p == "trial" for p in plan]]).astype(float)
    m = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(x, y)
    print(f"const GOLDEN_INTERCEPT: f64 = {float(m.intercept_[0])!r};")
    for name, w in zip(["VISITS", "FREE", "TRIAL"], m.coef_[0]):
        print(f"const GOLDEN_{name}: f64 = {float(w)!r};")


THOUSANDS = re.compile(r"^-?\d{1,3}([,_ ]\d{3})+(\.\d+)?$")


def number(text):
    """The number forms leadflow reads: 1000, 1,000, $5,000, 500+."""
    t = text.strip()
    if t == "":
        return None
    t = t[:-1].rstrip() if t.endswith("+") else t
    for c in "$€£":
        if t.startswith(c):
            t = t[1:].lstrip()
            break
    try:
        v = float(t)
        return v if math.isfinite(v) else None
    except ValueError:
        pass
    if THOUSANDS.match(t):
        sep = next(c for c in ",_ " if c in t)
        if all(c not in t for c in ",_ " if c != sep):
            return float(t.replace(sep, ""))
    return None


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def compare(train_path, test_path, target, positive, numeric_hint):
    header, train = read(train_path)
    theader, test = read(test_path)
    ti = header.index(target)
    cols = [c for c in header if c != target]
    y = np.array([r[ti] == positive for r in train], dtype=int)
    yt = np.array([r[theader.index(target)] == positive for r in test], dtype=int)
    kinds = {}
    for c in cols:
        i = header.index(c)
        vals = [r[i] for r in train if r[i].strip() != ""]
        kinds[c] = "numeric" if c in numeric_hint or all(number(v) is not None for v in vals) else "categorical"

    def design(rows, hdr, stats):
        blocks = []
        for c in cols:
            i = hdr.index(c)
            if kinds[c] == "numeric":
                mean, sd = stats[c]
                v = np.array([number(r[i]) if number(r[i]) is not None else mean for r in rows])
                blocks.append(((v - mean) / sd)[:, None])
            else:
                levels = stats[c]
                m = np.zeros((len(rows), len(levels)))
                for k, r in enumerate(rows):
                    j = levels.get(r[i].strip()) if r[i].strip() != "" else None
                    if j is not None:
                        m[k, j] = 1.0
                blocks.append(m)
        return np.hstack(blocks)

    t0 = time.perf_counter()
    stats = {}
    for c in cols:
        i = header.index(c)
        if kinds[c] == "numeric":
            v = np.array([number(r[i]) for r in train if number(r[i]) is not None])
            sd = v.std() if len(v) else 1.0
            stats[c] = (v.mean() if len(v) else 0.0, sd if sd > 0 else 1.0)
        else:
            levels = {}
            for r in train:
                t = r[i].strip()
                if t != "" and t not in levels:
                    levels[t] = len(levels)
            stats[c] = levels
    x = design(train, header, stats)
    t1 = time.perf_counter()
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    t2 = time.perf_counter()
    p = lr.predict_proba(design(test, theader, stats))[:, 1]
    print(f"sklearn LogisticRegression: test AUC {roc_auc_score(yt, p):.6f}  "
          f"fit {t2 - t1:.3f} s (+{t1 - t0:.3f} s preprocessing), {x.shape[1]} columns")

    # Odoo's naive Bayes: +0.1 per seen value, unseen/missing skipped;
    # numeric columns cut at deciles (nearest rank) as leadflow does.
    t0 = time.perf_counter()
    edges = {}
    for c in cols:
        if kinds[c] == "numeric":
            i = header.index(c)
            v = sorted(number(r[i]) for r in train if number(r[i]) is not None)
            e = []
            for k in range(1, 10):
                rank = max(1, -(-k * len(v) // 10))
                if rank - 1 < len(v) and (not e or e[-1] < v[rank - 1]):
                    e.append(v[rank - 1])
            if e and v and e[-1] == v[-1]:
                e.pop()
            edges[c] = e

    def key(c, text):
        if kinds[c] == "numeric":
            x = number(text)
            if x is None:
                return None
            return sum(1 for e in edges[c] if e < x)
        t = text.strip()
        return t if t != "" else None

    counts = {c: {} for c in cols}
    for r, label in zip(train, y):
        for c in cols:
            k = key(c, r[header.index(c)])
            if k is not None:
                counts[c].setdefault(k, [0, 0])[0 if label else 1] += 1
    won, lost = int(y.sum()), int(len(y) - y.sum())
    totals = {c: (sum(w + 0.1 for w, _ in counts[c].values()), sum(l + 0.1 for _, l in counts[c].values())) for c in cols}
    t1 = time.perf_counter()
    scores = []
    for r in test:
        z = math.log(won / lost)
        for c in cols:
            k = key(c, r[theader.index(c)])
            if k is not None and k in counts[c]:
                w, l = counts[c][k]
                z += math.log((w + 0.1) / totals[c][0]) - math.log((l + 0.1) / totals[c][1])
        scores.append(1 / (1 + math.exp(-z)))
    print(f"Odoo naive Bayes (Python):  test AUC {roc_auc_score(yt, scores):.6f}  fit {t1 - t0:.3f} s")


def export_breast_cancer(directory):
    """scikit-learn's bundled Wisconsin breast cancer table (569 rows, 30
    numeric features), split 70/30 by a fixed seed, as CSV with a target
    column `diagnosis` (`malignant` / `benign`)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.target))
    cut = int(0.7 * len(order))
    names = [n.replace(" ", "_") for n in data.feature_names]
    for part, rows in (("train", order[:cut]), ("test", order[cut:])):
        with open(f"{directory}/{part}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names + ["diagnosis"])
            for i in rows:
                w.writerow([repr(float(x)) for x in data.data[i]] + [data.target_names[data.target[i]]])


if __name__ == "__main__":
    if sys.argv[1:] == ["--golden"]:
        golden()
    elif sys.argv[1:2] == ["--export-breast-cancer"]:
        export_breast_cancer(sys.argv[2])
    else:
        args = sys.argv[1:]
        hint = set()
        if "--numeric" in args:
            i = args.index("--numeric")
            hint = set(args[i + 1].split(","))
            del args[i:i + 2]
        compare(*args[:4], hint)
