//! Properties of predictive scoring, each against an oracle of its own:
//! single-pass counts for merged partitions, a gradient computed here from
//! the data for logistic regression, pair counting for ROC AUC.

use leadflow::predict::{
    LogisticOptions, LogisticRegression, Model, NaiveBayes, NaiveBayesOptions, NaiveBayesSpec,
    NaiveBayesTally, Table, roc_auc,
};
use leadflow::{AttrValue, Attrs, Mergeable};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    plan: Option<u8>,
    seats: Option<i8>,
    spend: Option<f64>,
    won: bool,
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::weighted(0.85, 0u8..4),
        proptest::option::weighted(0.85, -3i8..6),
        proptest::option::weighted(0.9, -1e3f64..1e3),
        any::<bool>(),
    )
        .prop_map(|(plan, seats, spend, won)| Row {
            plan,
            seats,
            spend,
            won,
        })
}

/// Rows with both classes (the first two are forced apart).
fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(row(), 2..60).prop_map(|mut rows| {
        rows[0].won = true;
        rows[1].won = false;
        rows
    })
}

fn table(rows: &[Row]) -> (Table, Vec<bool>) {
    let table = Table::new(rows.len())
        .with_categorical("plan", rows.iter().map(|r| r.plan.map(|p| format!("p{p}"))))
        .unwrap()
        .with_numeric("seats", rows.iter().map(|r| r.seats.map(f64::from)))
        .unwrap()
        .with_numeric("spend", rows.iter().map(|r| r.spend))
        .unwrap();
    (table, rows.iter().map(|r| r.won).collect())
}

fn record(r: &Row) -> Attrs {
    let mut a = Attrs::new();
    if let Some(p) = r.plan {
        a.insert("plan".into(), AttrValue::Text(format!("p{p}")));
    }
    if let Some(s) = r.seats {
        a.insert("seats".into(), AttrValue::Number(f64::from(s)));
    }
    if let Some(s) = r.spend {
        a.insert("spend".into(), AttrValue::Number(s));
    }
    a
}

fn permuted<T: Clone>(items: &[T], keys: &[u32]) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (keys[i % keys.len()], i));
    order.into_iter().map(|i| items[i].clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Partitions counted under one spec and merged in any order are the
    /// single-pass model, exactly.
    #[test]
    fn naive_bayes_partitions_merge_exactly(
        rows in rows(),
        parts in 1usize..8,
        assign in proptest::collection::vec(0usize..8, 60),
        order in proptest::collection::vec(any::<u32>(), 8),
    ) {
        let (all, labels) = table(&rows);
        let options = NaiveBayesOptions::default().bins(4);
        let single = NaiveBayes::fit(&all, &labels, &options).unwrap();
        let spec = NaiveBayesSpec::from_table(&all, &options).unwrap();
        let mut tallies: Vec<NaiveBayesTally> = (0..parts).map(|_| NaiveBayesTally::default()).collect();
        for (p, tally) in tallies.iter_mut().enumerate() {
            let mine: Vec<Row> = rows
                .iter()
                .enumerate()
                .filter(|(i, _)| assign[*i] % parts == p)
                .map(|(_, r)| r.clone())
                .collect();
            let (t, l) = table(&mine);
            tally.add(&spec, &t, &l).unwrap();
        }
        let tallies = permuted(&tallies, &order);
        // Serialized and read back on the way, as a partition would travel.
        let tallies: Vec<NaiveBayesTally> = tallies
            .into_iter()
            .map(|t| serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap())
            .collect();
        let merged = NaiveBayesTally::merge_all(tallies);
        prop_assert_eq!(merged.totals(), single.totals());
        let model = NaiveBayes::from_tally(spec, merged, &options).unwrap();
        prop_assert_eq!(&model, &single);
        prop_assert_eq!(model.predict(&all).unwrap(), single.predict(&all).unwrap());
    }

    /// At the solution, the gradient of `C Σ log-loss + ½‖w‖²`, computed
    /// here from the raw rows, is within the documented tolerance.
    #[test]
    fn logistic_gradient_vanishes_at_the_solution(rows in rows(), c in prop_oneof![Just(1.0), 0.01f64..100.0]) {
        let (t, labels) = table(&rows);
        let options = LogisticOptions::default().c(c);
        let model = LogisticRegression::fit(&t, &labels, &options).unwrap();
        // The design, by hand: numerics standardised by their present
        // values' mean and population deviation (missing: 0), levels one-hot.
        let standard = |xs: Vec<Option<f64>>| -> Vec<f64> {
            let present: Vec<f64> = xs.iter().flatten().copied().collect();
            let n = present.len().max(1) as f64;
            let mean = present.iter().sum::<f64>() / n;
            let sd = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            let sd = if sd > 0.0 { sd } else { 1.0 };
            xs.iter().map(|x| x.map_or(0.0, |x| (x - mean) / sd)).collect()
        };
        let seats = standard(rows.iter().map(|r| r.seats.map(f64::from)).collect());
        let spend = standard(rows.iter().map(|r| r.spend).collect());
        let coefficients = model.coefficients();
        let weight = |f: &str, level: Option<String>| {
            coefficients
                .iter()
                .find(|(name, l, _)| *name == f && l.map(str::to_owned) == level)
                .map(|(_, _, w)| *w)
        };
        let w_seats = weight("seats", None).unwrap();
        let w_spend = weight("spend", None).unwrap();
        let mut g_intercept = 0.0;
        let (mut g_seats, mut g_spend) = (0.0, 0.0);
        let mut g_levels = [0.0f64; 4];
        for (i, r) in rows.iter().enumerate() {
            let level = r.plan.map(|p| format!("p{p}"));
            let w_level = level.clone().and_then(|l| weight("plan", Some(l))).unwrap_or(0.0);
            let z = model.intercept() + w_seats * seats[i] + w_spend * spend[i] + w_level;
            let p = 1.0 / (1.0 + (-z).exp());
            let residual = p - f64::from(u8::from(r.won));
            g_intercept += residual;
            g_seats += residual * seats[i];
            g_spend += residual * spend[i];
            if let Some(p) = r.plan {
                g_levels[p as usize] += residual;
            }
        }
        let bound = 1e-8 * (c * rows.len() as f64).max(1.0);
        let mut gradient = vec![c * g_intercept, c * g_seats + w_seats, c * g_spend + w_spend];
        for p in 0..4u8 {
            if let Some(w) = weight("plan", Some(format!("p{p}"))) {
                gradient.push(c * g_levels[p as usize] + w);
            }
        }
        let worst = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        // Twice the bound covers recomputing in another summation order.
        prop_assert!(worst <= 2.0 * bound, "gradient {worst:e}, bound {bound:e}, report {:?}", model.report());
        prop_assert!(model.report().gradient <= bound);
    }

    /// Predictions are probabilities, the table and record paths agree,
    /// and the order of the training rows does not matter.
    #[test]
    fn predictions_are_probabilities_and_ignore_row_order(
        rows in rows(),
        keys in proptest::collection::vec(any::<u32>(), 60),
    ) {
        let (t, labels) = table(&rows);
        let shuffled = permuted(&rows, &keys);
        let (ts, ls) = table(&shuffled);
        let nb = NaiveBayesOptions::default();
        let lr = LogisticOptions::default();
        let models = [
            (Model::naive_bayes(&t, &labels, &nb).unwrap(), Model::naive_bayes(&ts, &ls, &nb).unwrap(), 0.0),
            (Model::logistic(&t, &labels, &lr).unwrap(), Model::logistic(&ts, &ls, &lr).unwrap(), 1e-9),
        ];
        for (model, reordered, tolerance) in models {
            let p = model.predict(&t).unwrap();
            let q = reordered.predict(&t).unwrap();
            for (i, r) in rows.iter().enumerate() {
                prop_assert!((0.0..=1.0).contains(&p[i]));
                prop_assert!((p[i] - q[i]).abs() <= tolerance, "{} vs {}", p[i], q[i]);
                let why = model.explain(&record(r));
                prop_assert_eq!(why.probability, p[i]);
                let z = why.factors.iter().fold(why.baseline, |z, f| z + f.log_odds);
                prop_assert!((1.0 / (1.0 + (-z).exp()) - p[i]).abs() < 1e-12);
            }
        }
    }

    /// ROC AUC equals the share of (positive, negative) pairs ranked
    /// right, ties counting one half.
    #[test]
    fn auc_equals_pair_counting(scores in proptest::collection::vec(0u8..6, 1..40), labels in proptest::collection::vec(any::<bool>(), 40)) {
        let scores: Vec<f64> = scores.iter().map(|s| f64::from(*s) / 5.0).collect();
        let labels = &labels[..scores.len()];
        let (mut right, mut pairs) = (0.0, 0.0);
        for (i, si) in scores.iter().enumerate() {
            for (j, sj) in scores.iter().enumerate() {
                if labels[i] && !labels[j] {
                    pairs += 1.0;
                    right += if si > sj { 1.0 } else if si == sj { 0.5 } else { 0.0 };
                }
            }
        }
        let want = (pairs > 0.0).then(|| right / pairs);
        match (roc_auc(&scores, labels), want) {
            (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-12),
            (a, b) => prop_assert_eq!(a, b),
        }
    }
}

/// A naive Bayes model of industry and demo requests.
fn demo_model() -> Model {
    let industry = [
        "software", "software", "software", "retail", "retail", "retail",
    ];
    let demos = [0.0, 1.0, 3.0, 0.0, 2.0, 3.0];
    let won = [false, true, true, false, false, true];
    let table = Table::new(6)
        .with_categorical("industry", industry.map(Some))
        .unwrap()
        .with_numeric("activities.demo_request", demos.map(Some))
        .unwrap();
    Model::naive_bayes(&table, &won, &NaiveBayesOptions::default().bins(3)).unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    Industry(Option<&'static str>),
    Demo,
    PageView,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop_oneof![Just(Some("software")), Just(Some("retail")), Just(None)]
            .prop_map(Step::Industry),
        Just(Step::Demo),
        Just(Step::PageView),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A probability rule fires at the first event after which the model's
    /// probability of the lead — computed here from the events so far —
    /// reaches the threshold, whatever the arrival order.
    #[test]
    fn probability_rules_fire_where_the_prefix_first_crosses(
        steps in proptest::collection::vec(step(), 1..12),
        pick in any::<proptest::sample::Index>(),
        keys in proptest::collection::vec(any::<u32>(), 13),
    ) {
        use crate::common::{activity, attrs, created, t};
        let model = demo_model();
        // The probability after each prefix, by hand.
        let (mut industry, mut demos) = (None, 0u32);
        let mut p = Vec::new();
        let prob = |industry: Option<&str>, demos: u32| {
            let mut r = Attrs::new();
            if let Some(i) = industry {
                r.insert("industry".into(), AttrValue::Text(i.into()));
            }
            r.insert("activities.demo_request".into(), AttrValue::Number(f64::from(demos)));
            model.probability(&r)
        };
        p.push(prob(industry, demos));
        let mut events = vec![created("c", "l", 0, "Anonymous", leadflow::Source::Marketing)];
        for (i, s) in steps.iter().enumerate() {
            let m = i as i64 + 1;
            let id = format!("e{m:02}");
            events.push(match s {
                Step::Industry(Some(v)) => {
                    industry = Some(*v);
                    attrs(&id, "l", m, &[("industry", (*v).into())], &[])
                }
                Step::Industry(None) => {
                    industry = None;
                    attrs(&id, "l", m, &[], &["industry"])
                }
                Step::Demo => {
                    demos += 1;
                    activity(&id, "l", m, "demo_request", &[])
                }
                Step::PageView => activity(&id, "l", m, "page_view", &[]),
            });
            p.push(prob(industry, demos));
        }
        let min = p[pick.index(p.len())];
        let first = p.iter().position(|x| *x >= min).unwrap() as i64;
        let predictive = serde_json::json!({
            "features": {"attributes": ["industry"], "activity_counts": ["demo_request"]},
            "model": model,
        });
        let engine = leadflow::Engine::from_json(&serde_json::json!({
            "lifecycle": {"preset": "waterfall"},
            "predictive": predictive,
            "qualification": [{"id": "hot", "when": {"probability": {"min": min}}, "then": "MQL"}],
        }).to_string()).unwrap();
        let mut lead = engine.new_lead("l");
        for e in permuted(&events, &keys) {
            engine.ingest(&mut lead, e);
        }
        let moves: Vec<i64> = lead.history().iter().skip(1)
            .map(|tr| (tr.at - t(0)).num_minutes())
            .collect();
        prop_assert_eq!(moves, vec![first]);
        for (m, want) in p.iter().enumerate() {
            prop_assert_eq!(engine.probability(&lead, t(m as i64)), Some(*want));
        }
    }
}
