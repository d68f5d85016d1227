//! Property tests of attribution: weights, exact credits, exact Markov
//! against brute force and the fundamental matrix, Shapley axioms, merging,
//! and the path-table reader on arbitrary input.

use chrono::TimeDelta;
use leadflow::Mergeable;
use leadflow::attribution::{
    Anchored, AttributionModel, Attributor, FirstTouch, Journey, LastNonDirect, LastTouch, Linear,
    MarkovState, Milestones, PathModel, PathReadOptions, PathReader, PathTally, TimeDecay, Touch,
    shapley_of_game,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::common::t;

fn journey() -> impl Strategy<Value = Journey> {
    let touch = (
        0i64..10_000,
        proptest::sample::select(vec!["a", "b", "c", "direct"]),
    );
    (
        proptest::collection::vec(touch, 1..12),
        proptest::option::of(0i64..12_000),
        proptest::option::of(0i64..12_000),
        proptest::option::of(0i64..12_000),
        -1_000_000i64..100_000_000,
        0u32..4,
    )
        .prop_map(|(touches, l, o, w, cents, scale)| {
            let touches: Vec<Touch> = touches
                .into_iter()
                .map(|(m, c)| Touch::new(t(m), c))
                .collect();
            Journey::new(touches)
                .with_milestones(Milestones {
                    lead_created: l.map(t),
                    opportunity_created: o.map(t),
                    closed_won: w.map(t),
                })
                .converted(t(12_000), Decimal::new(cents, scale))
        })
}

fn models() -> Vec<Box<dyn AttributionModel>> {
    vec![
        Box::new(FirstTouch),
        Box::new(LastTouch),
        Box::new(LastNonDirect::default()),
        Box::new(Linear),
        Box::new(TimeDecay::default()),
        Box::new(Anchored::position_based()),
        Box::new(Anchored::w_shaped()),
        Box::new(Anchored::full_path()),
        Box::new(Anchored::j_shaped()),
        Box::new(Anchored::inverse_j()),
    ]
}

/// Rows of a small path table over `k` channels.
fn rows(k: u8, max_len: usize) -> impl Strategy<Value = Vec<(Vec<u8>, u64, u64, u32)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(0..k, 1..=max_len),
            0u64..6,
            0u64..6,
            0u32..10_000,
        ),
        1..12,
    )
}

/// The fitted chain, or `None` for a table without conversions: the one
/// error a small table may give, asserted here (any other fails the test).
fn fitted(t: &PathTally) -> Result<Option<leadflow::attribution::MarkovModel>, TestCaseError> {
    match t.markov() {
        Err(e) => {
            prop_assert!(e.to_string().contains("no path converted"), "{}", e);
            Ok(None)
        }
        Ok(model) => {
            prop_assert!(model.is_some(), "a converting table has a chain");
            Ok(model)
        }
    }
}

fn tally(rows: &[(Vec<u8>, u64, u64, u32)], models: &[PathModel], order: usize) -> PathTally {
    let mut tally = PathTally::new(models, order).unwrap();
    for (path, c, n, v) in rows {
        let names: Vec<String> = path.iter().map(|c| format!("ch{c}")).collect();
        tally.add(
            names.iter().map(String::as_str),
            *c,
            *n,
            Some(Decimal::new(i64::from(*v), 2)),
        );
    }
    tally
}

/// P(conversion) by summing the probability of every walk, truncated where
/// the mass left is negligible.
fn brute_force(
    edges: &[(MarkovState, MarkovState, f64)],
    removed: &dyn Fn(&MarkovState) -> bool,
) -> f64 {
    let mut frontier: Vec<(MarkovState, f64)> = vec![(MarkovState::Start, 1.0)];
    let mut converted = 0.0;
    for _ in 0..2000 {
        let mut next: std::collections::HashMap<MarkovState, f64> = Default::default();
        for (state, p) in frontier {
            for (from, to, q) in edges {
                if *from != state {
                    continue;
                }
                if *to == MarkovState::Conversion {
                    converted += p * q;
                } else if *to != MarkovState::Null && !removed(to) {
                    *next.entry(to.clone()).or_insert(0.0) += p * q;
                }
            }
        }
        frontier = next.into_iter().collect();
        frontier.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        if frontier.iter().map(|x| x.1).sum::<f64>() < 1e-15 {
            break;
        }
    }
    converted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn built_in_weights_are_non_negative_and_sum_to_one(j in journey()) {
        for m in models() {
            let w = m.weights(&j);
            prop_assert_eq!(w.len(), j.touches.len(), "{}", m.name());
            prop_assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{}: {:?}", m.name(), w);
            let s: f64 = w.iter().sum();
            prop_assert!((s - 1.0).abs() < 1e-9, "{}: sum {}", m.name(), s);
        }
    }

    #[test]
    fn credits_sum_exactly_to_the_value(j in journey(), scale in 0u32..6, raw in proptest::collection::vec(0.0f64..1e6, 1..12)) {
        let a = Attributor::new().with_scale(scale).unwrap();
        let value = j.conversion.unwrap().value;
        for m in models() {
            let credits = a.credit(&j, &m).unwrap();
            prop_assert_eq!(credits.iter().map(|c| c.value).sum::<Decimal>(), value.round_dp(scale.max(value.scale())));
        }
        // Arbitrary weights, including many zeros.
        let n = j.touches.len();
        let w: Vec<f64> = (0..n).map(|i| raw.get(i).copied().unwrap_or(0.0)).collect();
        if w.iter().sum::<f64>() > 0.0 {
            let m = leadflow::attribution::model_fn("raw", move |_: &Journey| w.clone());
            let credits = a.credit(&j, &m).unwrap();
            let sum: Decimal = credits.iter().map(|c| c.value).sum();
            prop_assert_eq!(sum, value.round_dp(scale.max(value.scale())));
        }
    }

    #[test]
    fn markov_equals_brute_force_walks(rows in rows(3, 4), order in 1usize..3) {
        let t = tally(&rows, &[PathModel::Markov], order);
        let Some(model) = fitted(&t)? else { return Ok(()) };
        let edges: Vec<(MarkovState, MarkovState, f64)> =
            model.transitions().iter().map(|e| (e.from.clone(), e.to.clone(), e.probability)).collect();
        let p = brute_force(&edges, &|_| false);
        prop_assert!((p - model.conversion_probability()).abs() < 1e-9, "{} vs {}", p, model.conversion_probability());
        for (channel, re) in model.removal_effects() {
            let removed = |s: &MarkovState| matches!(s, MarkovState::Channels(c) if c.contains(&channel));
            let pr = brute_force(&edges, &removed);
            let want = if p > 0.0 { (1.0 - pr / p).max(0.0) } else { 0.0 };
            prop_assert!((want - re).abs() < 1e-9, "{}: {} vs {}", channel, want, re);
        }
    }

    #[test]
    fn markov_order_one_equals_the_fundamental_matrix(rows in rows(4, 5)) {
        let t = tally(&rows, &[PathModel::Markov], 1);
        let Some(model) = fitted(&t)? else { return Ok(()) };
        // Dense fundamental matrix N = (I − Q)⁻¹ by Gauss–Jordan, P = p0ᵀ N r.
        let states: Vec<MarkovState> = {
            let mut s: Vec<MarkovState> = model.transitions().iter()
                .flat_map(|e| [e.from.clone(), e.to.clone()])
                .filter(|s| matches!(s, MarkovState::Channels(_)))
                .collect();
            s.sort_by_key(|x| format!("{x:?}"));
            s.dedup();
            s
        };
        let n = states.len();
        let (q, r, p0) = crate::common::chain_of(&model, &states);
        let mut a: Vec<Vec<f64>> = (0..n).map(|i| (0..2 * n).map(|j| {
            if j < n { f64::from(u8::from(i == j)) - q[i][j] } else { f64::from(u8::from(j - n == i)) }
        }).collect()).collect();
        for col in 0..n {
            let piv = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs())).unwrap();
            a.swap(col, piv);
            let d = a[col][col];
            for v in a[col].iter_mut() { *v /= d; }
            for row in 0..n {
                if row != col {
                    let f = a[row][col];
                    let pivot_row = a[col].clone();
                    for (v, pv) in a[row].iter_mut().zip(pivot_row) { *v -= f * pv; }
                }
            }
        }
        let p: f64 = (0..n).map(|i| p0[i] * (0..n).map(|j| a[i][n + j] * r[j]).sum::<f64>()).sum();
        prop_assert!((p - model.conversion_probability()).abs() < 1e-9);
    }

    #[test]
    fn markov_credits_sum_to_the_totals(rows in rows(5, 6), order in 1usize..4) {
        let t = tally(&rows, &[PathModel::Markov, PathModel::Linear, PathModel::Shapley], order);
        let report = match t.finish() {
            Err(e) => {
                prop_assert!(e.to_string().contains("no path converted"), "{}", e);
                return Ok(());
            }
            Ok(report) => report,
        };
        for (model, credits) in &report.models {
            let conv: f64 = credits.iter().map(|c| c.conversions).sum();
            let total = report.total_conversions as f64;
            prop_assert!((conv - total).abs() <= 1e-9 * total.max(1.0) || conv == 0.0, "{:?}: {} vs {}", model, conv, total);
            prop_assert!(credits.iter().all(|c| c.conversions.is_finite()));
        }
    }

    #[test]
    fn partitioned_tallies_merge_to_the_single_pass(rows in rows(4, 5), cut in 0usize..12, order in 1usize..3) {
        let models = [PathModel::First, PathModel::Last, PathModel::Linear, PathModel::Position, PathModel::Markov, PathModel::Shapley];
        let single = tally(&rows, &models, order);
        let cut = cut.min(rows.len());
        let mut merged = tally(&rows[..cut], &models, order);
        merged.merge_from(&tally(&rows[cut..], &models, order)).unwrap();
        prop_assert_eq!(merged.finish().map_err(|e| e.to_string()), single.finish().map_err(|e| e.to_string()));
    }

    /// `PathTally` is a lawful `Mergeable`: the default is the identity;
    /// merging is associative and commutative (up to the order channels
    /// are listed in); partitions shipped as JSON merge to the single-pass
    /// report.
    #[test]
    fn path_tallies_merge_by_the_laws_and_ship_as_json(
        rows in rows(4, 5),
        cuts in (0usize..12, 0usize..12),
        order in 1usize..3,
    ) {
        let models = [PathModel::First, PathModel::Last, PathModel::Linear, PathModel::Position, PathModel::JShaped, PathModel::Markov, PathModel::Shapley];
        let (i, j) = (cuts.0.min(cuts.1).min(rows.len()), cuts.0.max(cuts.1).min(rows.len()));
        let part = |r: &[(Vec<u8>, u64, u64, u32)]| tally(r, &models, order);
        let (a, b, c) = (part(&rows[..i]), part(&rows[i..j]), part(&rows[j..]));
        // Reports with each model's channels in name order.
        let norm = |t: &PathTally| -> Result<String, String> {
            let mut r = t.finish().map_err(|e| e.to_string())?;
            for (_, credits) in &mut r.models {
                credits.sort_by(|x, y| x.channel.cmp(&y.channel));
            }
            Ok(serde_json::to_string(&r).unwrap())
        };
        let merged = |x: &PathTally, y: &PathTally| {
            let mut m = x.clone();
            Mergeable::merge(&mut m, y.clone());
            m
        };
        let single = norm(&part(&rows));
        let identity = PathTally::default();
        prop_assert_eq!(norm(&merged(&identity, &a)), norm(&a));
        prop_assert_eq!(norm(&merged(&a, &identity)), norm(&a));
        let left = merged(&merged(&a, &b), &c);
        let right = merged(&a, &merged(&b, &c));
        prop_assert_eq!(norm(&left), single.clone());
        prop_assert_eq!(norm(&right), single.clone());
        prop_assert_eq!(norm(&merged(&b, &a)), norm(&merged(&a, &b)));
        let ship = |t: &PathTally| -> PathTally {
            serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap()
        };
        let shipped = merged(&merged(&ship(&c), &ship(&a)), &ship(&b));
        prop_assert_eq!(norm(&shipped), single);
        // Tallies of other models do not merge silently.
        let mut wrong = a.clone();
        Mergeable::merge(&mut wrong, tally(&rows, &[PathModel::Linear], order));
        prop_assert!(wrong.finish().is_err());
    }

    #[test]
    fn shapley_axioms_and_permutation_average(values in proptest::collection::vec(0.0f64..1.0, 16), n in 1usize..5, dummy in any::<bool>()) {
        // A game on n players from a table of coalition values; player n−1
        // is made a null player when `dummy`.
        let v = |set: &[u32]| -> f64 {
            let mut mask = 0usize;
            for &p in set {
                if !(dummy && p as usize == n - 1) { mask |= 1 << p; }
            }
            if mask == 0 { 0.0 } else { values[mask % 16] }
        };
        let phi = shapley_of_game(n, &v).unwrap();
        let all: Vec<u32> = (0..n as u32).collect();
        prop_assert!((phi.iter().sum::<f64>() - v(&all)).abs() < 1e-9, "efficiency");
        if dummy {
            prop_assert!(phi[n - 1].abs() < 1e-12, "null player");
        }
        // Brute force: average marginal contribution over all orderings.
        let mut perm: Vec<u32> = all.clone();
        let mut sums = vec![0.0; n];
        let mut count = 0.0;
        permute(&mut perm, 0, &mut |order: &[u32]| {
            let mut set: Vec<u32> = Vec::new();
            for &p in order {
                let before = v(&sorted(&set));
                set.push(p);
                sums[p as usize] += v(&sorted(&set)) - before;
            }
            count += 1.0;
        });
        for i in 0..n {
            prop_assert!((sums[i] / count - phi[i]).abs() < 1e-9);
        }
    }

    #[test]
    fn shapley_symmetry(a in 0.0f64..1.0, b in 0.0f64..1.0) {
        // Players 0 and 1 are interchangeable.
        let v = |set: &[u32]| match set.len() { 0 => 0.0, 1 if set[0] < 2 => a, 1 => 0.2, 2 if set == [0, 1] => b, 2 => a + 0.1, _ => a + b };
        let phi = shapley_of_game(3, &v).unwrap();
        prop_assert!((phi[0] - phi[1]).abs() < 1e-12);
    }

    #[test]
    fn path_reader_never_panics(text in "(path|total_conversions|total_null|total_conversion_value|[a-c >;,\\t\"0-9.\\-e\\n])*") {
        for delimiter in [None, Some(','), Some(';')] {
            let opts = PathReadOptions { sep: ">".into(), delimiter };
            if let Ok(mut reader) = PathReader::new(text.as_bytes(), opts) {
                let mut tally = PathTally::new(&[PathModel::Linear, PathModel::Markov, PathModel::Shapley], 2).unwrap();
                if tally.read(&mut reader).is_ok() {
                    let _ = tally.finish();
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(mut reader) = PathReader::new(&bytes[..], PathReadOptions::default()) {
            while let Ok(Some(_)) = reader.next_row() {}
        }
    }
}

fn sorted(set: &[u32]) -> Vec<u32> {
    let mut s = set.to_vec();
    s.sort_unstable();
    s
}

fn permute(items: &mut Vec<u32>, k: usize, f: &mut dyn FnMut(&[u32])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permute(items, k + 1, f);
        items.swap(k, i);
    }
}

#[test]
fn journeys_with_time_gaps_keep_decay_finite() {
    let j = Journey::new(vec![
        Touch::new(t(0), "a"),
        Touch::new(t(0) + TimeDelta::days(100_000), "b"),
    ])
    .converted(t(0) + TimeDelta::days(100_000), Decimal::ONE);
    let w = TimeDecay::default().weights(&j);
    assert!(w.iter().all(|x| x.is_finite()));
    assert_eq!(
        Attributor::new().credit(&j, &TimeDecay::default()).unwrap()[1].value,
        Decimal::ONE
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every model's value credits on a path table add up to the table's
    /// total conversion value exactly, whatever the mix of decimal scales;
    /// the total is the exact sum of the converting rows' values.
    #[test]
    fn path_table_value_credits_sum_exactly(
        rows in rows(4, 5),
        scales in proptest::collection::vec(0u32..7, 12),
    ) {
        let models = [PathModel::First, PathModel::Last, PathModel::Linear, PathModel::Position, PathModel::Markov, PathModel::Shapley];
        let mut t = PathTally::new(&models, 2).unwrap();
        let mut total = Decimal::ZERO;
        for (i, (path, c, n, v)) in rows.iter().enumerate() {
            let names: Vec<String> = path.iter().map(|c| format!("ch{c}")).collect();
            let value = Decimal::new(i64::from(*v) * 7919, scales[i % scales.len()]);
            if *c > 0 && !path.is_empty() {
                total += value;
            }
            t.add(names.iter().map(String::as_str), *c, *n, Some(value));
        }
        let report = match t.finish() {
            Ok(r) => r,
            Err(e) => {
                prop_assert!(e.to_string().contains("no path converted"), "{}", e);
                return Ok(());
            }
        };
        prop_assert_eq!(report.total_value, Some(total));
        for (model, credits) in &report.models {
            if credits.iter().all(|c| c.conversions == 0.0) {
                continue;
            }
            let sum: Decimal = credits.iter().filter_map(|c| c.value).sum();
            prop_assert_eq!(sum, total, "{:?}", model);
        }
    }
}

#[test]
fn a_total_beyond_exact_decimals_is_a_typed_error_not_a_wrong_credit() {
    // 28 decimals beside a total of 2·10^10: the exact total needs 39 digits.
    let csv = "path,total_conversions,total_conversion_value\n\
               a > b,1,20000000000\n\
               b,1,0.0000000000000000000000000001\n";
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut t = PathTally::new(&[PathModel::Last], 1).unwrap();
    t.read(&mut reader).unwrap();
    let err = t.finish().unwrap_err();
    assert!(
        matches!(
            err,
            leadflow::attribution::AttributionError::TotalOutOfRange { .. }
        ),
        "{err}"
    );
}

proptest! {
    /// Rows read in place from the input's buffer and rows copied because
    /// they cross its end (or carry quotes) are the same rows: a table read
    /// through buffers of any size gives the same rows and errors.
    #[test]
    fn rows_are_the_same_whatever_the_buffer_size(
        rows in proptest::collection::vec(
            (proptest::collection::vec(prop_oneof![Just("a"), Just("bé"), Just("\"c,d\""), Just(" e ")], 1..4),
             0u32..5, prop_oneof![Just(""), Just("\r"), Just("\n   ")]),
            0..20),
        capacity in prop_oneof![Just(1usize), Just(7), Just(64), Just(4096)],
    ) {
        let mut text = String::from("path,total_conversions,total_conversion_value\n");
        for (path, conv, tail) in &rows {
            text.push_str(&format!("{},{conv},{conv}.5{tail}\n", path.join(" > ")));
        }
        let read_all = |reader: Result<PathReader<Box<dyn std::io::BufRead>>, _>| -> Vec<String> {
            let mut reader = match reader {
                Ok(r) => r,
                Err(e) => return vec![format!("{e:?}")],
            };
            let mut out = Vec::new();
            loop {
                match reader.next_row() {
                    Ok(Some(row)) => out.push(format!(
                        "{:?} {} {} {:?}",
                        row.channels().collect::<Vec<_>>(),
                        row.conversions,
                        row.nulls,
                        row.value
                    )),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(format!("{e:?}"));
                        break;
                    }
                }
            }
            out
        };
        let slice: Box<dyn std::io::BufRead> = Box::new(std::io::Cursor::new(text.clone().into_bytes()));
        let small: Box<dyn std::io::BufRead> =
            Box::new(std::io::BufReader::with_capacity(capacity, std::io::Cursor::new(text.into_bytes())));
        let want = read_all(PathReader::new(slice, PathReadOptions::default()));
        prop_assert!(!want.is_empty() || rows.is_empty());
        prop_assert_eq!(read_all(PathReader::new(small, PathReadOptions::default())), want);
    }
}
