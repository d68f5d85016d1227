//! Predictive scoring against hand-computed tables, an independent
//! implementation's coefficients, and the lead lifecycle.

use leadflow::predict::{
    Condition, FeatureKind, LeadFeatures, LogisticOptions, LogisticRegression, Model, NaiveBayes,
    NaiveBayesOptions, PredictError, Table, TableBuilder, Target, Tiers, roc_auc, training_set,
};
use leadflow::{AttrValue, Attrs, Preset, ReasonCode, Source, Span};

use crate::common::{advance, advance_because, attrs, created, engine, t};

fn record(pairs: &[(&str, AttrValue)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Seven closed deals: industry and country, one country missing.
fn deals() -> (Table, Vec<bool>) {
    let industry = [
        "software", "software", "software", "retail", "retail", "retail", "finance",
    ];
    let country = [
        Some("US"),
        Some("DE"),
        Some("US"),
        Some("US"),
        Some("DE"),
        None,
        Some("US"),
    ];
    let won = vec![true, true, false, false, false, true, false];
    let table = Table::new(7)
        .with_categorical("industry", industry.map(Some))
        .unwrap()
        .with_categorical("country", country)
        .unwrap();
    (table, won)
}

/// Odoo's formula, written out the way Odoo computes it (products of
/// frequencies, not log-odds): `s_won = P(won) Π won(v)/won_total`.
fn odoo(prior_won: f64, prior_lost: f64, factors: &[(f64, f64, f64, f64)]) -> f64 {
    let (mut s_won, mut s_lost) = (prior_won, prior_lost);
    for (won, won_total, lost, lost_total) in factors {
        s_won *= won / won_total;
        s_lost *= lost / lost_total;
    }
    s_won / (s_won + s_lost)
}

#[test]
fn naive_bayes_matches_a_hand_computed_frequency_table() {
    let (table, won) = deals();
    let model = NaiveBayes::fit(&table, &won, &NaiveBayesOptions::default()).unwrap();
    assert_eq!(model.totals(), (3, 4));
    // industry: software 2 won / 1 lost, retail 1/2, finance 0/1, each +0.1:
    // won total 2.1 + 1.1 + 0.1 = 3.3, lost total 1.1 + 2.1 + 1.1 = 4.3.
    // country (set on six rows): US 1/3, DE 1/1: won total 2.2, lost 4.2.
    let software_de = odoo(
        3.0 / 7.0,
        4.0 / 7.0,
        &[(2.1, 3.3, 1.1, 4.3), (1.1, 2.2, 1.1, 4.2)],
    );
    let p = model.explain(&record(&[
        ("industry", "software".into()),
        ("country", "DE".into()),
    ]));
    assert!(
        (p.probability - software_de).abs() < 1e-12,
        "{p:?} vs {software_de}"
    );

    // An unseen level is skipped (Odoo: no frequency row), as is a
    // missing one; nothing known leaves the prior.
    let energy_us = odoo(3.0 / 7.0, 4.0 / 7.0, &[(1.1, 2.2, 3.1, 4.2)]);
    let p = model.explain(&record(&[
        ("industry", "energy".into()),
        ("country", "US".into()),
    ]));
    assert!((p.probability - energy_us).abs() < 1e-12);
    assert_eq!(p.factors.len(), 1);
    assert!((model.explain(&Attrs::new()).probability - 3.0 / 7.0).abs() < 1e-12);

    // The table path agrees with the record path row by row.
    let rows = model.predict(&table).unwrap();
    let first = odoo(
        3.0 / 7.0,
        4.0 / 7.0,
        &[(2.1, 3.3, 1.1, 4.3), (1.1, 2.2, 3.1, 4.2)],
    );
    assert!((rows[0] - first).abs() < 1e-12);
    let retail_missing = odoo(3.0 / 7.0, 4.0 / 7.0, &[(1.1, 3.3, 2.1, 4.3)]);
    assert!((rows[5] - retail_missing).abs() < 1e-12);
}

#[test]
fn naive_bayes_factors_read_as_odds_ratios() {
    let (table, won) = deals();
    let model = NaiveBayes::fit(&table, &won, &NaiveBayesOptions::default()).unwrap();
    let why = model.explain(&record(&[
        ("industry", "finance".into()),
        ("country", "DE".into()),
    ]));
    // finance: (0.1/3.3)/(1.1/4.3) = 0.118…; DE: (1.1/2.2)/(1.1/4.2) = 1.909…
    let lines: Vec<String> = why.factors.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["industry = finance: ×0.12", "country = DE: ×1.91"]);
    let z = why.baseline + why.factors.iter().map(|f| f.log_odds).sum::<f64>();
    assert!((why.probability - 1.0 / (1.0 + (-z).exp())).abs() < 1e-15);
    assert!(why.to_string().starts_with("probability 0.1"));
}

#[test]
fn numeric_features_are_binned_at_training_quantiles() {
    let values: Vec<Option<f64>> = (1..=20).map(|x| Some(f64::from(x))).collect();
    let won: Vec<bool> = (1..=20).map(|x| x > 12).collect();
    let table = Table::new(20).with_numeric("employees", values).unwrap();
    let model = NaiveBayes::fit(&table, &won, &NaiveBayesOptions::default().bins(4)).unwrap();
    // Nearest rank: edges at ranks ⌈20k/4⌉ = 5, 10, 15.
    let bin = |x: f64| {
        model.explain(&record(&[("employees", x.into())])).factors[0]
            .condition
            .clone()
    };
    let range = |above: Option<f64>, up_to: Option<f64>| Condition::InRange { above, up_to };
    assert_eq!(bin(-3.0), range(None, Some(5.0)));
    assert_eq!(bin(5.0), range(None, Some(5.0)));
    assert_eq!(bin(5.5), range(Some(5.0), Some(10.0)));
    assert_eq!(bin(12.0), range(Some(10.0), Some(15.0)));
    assert_eq!(bin(1e9), range(Some(15.0), None));
    // Text in a common number form is read as its number.
    let text = model.explain(&record(&[("employees", "1,000".into())]));
    assert_eq!(text.factors[0].condition, range(Some(15.0), None));
    assert_eq!(
        model
            .explain(&record(&[("employees", 12.0.into())]))
            .factors[0]
            .to_string(),
        format!(
            "employees in (10, 15]: ×{:.2}",
            // Bin (10, 15]: rows 11..=15, won 13, 14, 15 (3), lost 11, 12 (2).
            // Won rows by bin: 0, 0, 3, 5 → total 8 + 0.4; lost: 5, 5, 2, 0 → 12.4.
            (3.1 / 8.4) / (2.1 / 12.4)
        )
    );

    // Ties collapse edges: four 1s and a 2 have one edge, at 1.
    let table = Table::new(5)
        .with_numeric("x", [1.0, 1.0, 1.0, 1.0, 2.0].map(Some))
        .unwrap();
    let model = NaiveBayes::fit(
        &table,
        &[true, false, true, false, true],
        &NaiveBayesOptions::default().bins(4),
    )
    .unwrap();
    let cond = model.explain(&record(&[("x", 2.0.into())])).factors[0]
        .condition
        .clone();
    assert_eq!(cond, range(Some(1.0), None));
}

#[test]
fn bad_inputs_get_typed_errors() {
    let (table, won) = deals();
    let nb = NaiveBayesOptions::default();
    assert_eq!(
        NaiveBayes::fit(&table, &won[..3], &nb),
        Err(PredictError::LabelCount { rows: 7, labels: 3 })
    );
    assert_eq!(
        NaiveBayes::fit(&table, &[true; 7], &nb),
        Err(PredictError::OneClass {
            positives: 7,
            negatives: 0
        })
    );
    assert!(matches!(
        LogisticRegression::fit(&table, &[false; 7], &LogisticOptions::default()),
        Err(PredictError::OneClass { positives: 0, .. })
    ));
    assert!(matches!(
        NaiveBayes::fit(&table, &won, &nb.smoothing(0.0)),
        Err(PredictError::BadOption {
            option: "smoothing",
            ..
        })
    ));
    assert!(matches!(
        NaiveBayes::fit(&table, &won, &nb.bins(0)),
        Err(PredictError::BadOption { option: "bins", .. })
    ));
    assert!(matches!(
        LogisticRegression::fit(&table, &won, &LogisticOptions::default().c(f64::NAN)),
        Err(PredictError::BadOption { option: "c", .. })
    ));
    let model = Model::naive_bayes(&table, &won, &nb).unwrap();
    let other = Table::new(7)
        .with_categorical("industry", [Some("x"); 7])
        .unwrap();
    let err = model.predict(&other).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the table has no column \"country\", a feature of the model"
    );
    assert!(matches!(
        Table::new(2).with_numeric("a", [Some(1.0)]),
        Err(PredictError::ColumnLength {
            expected: 2,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        Table::new(1)
            .with_numeric("a", [Some(1.0)])
            .unwrap()
            .with_numeric("a", [Some(1.0)]),
        Err(PredictError::DuplicateColumn { .. })
    ));
    let mut rows = TableBuilder::new(["a", "b"]);
    assert!(matches!(
        rows.push([None]),
        Err(PredictError::RowLength {
            expected: 2,
            got: 1,
            ..
        })
    ));
    // A company-name column with thousands of levels: a typed limit, not a
    // 30-second factorisation.
    let names: Vec<Option<String>> = (0..3000).map(|i| Some(format!("company {i}"))).collect();
    let labels: Vec<bool> = (0..3000).map(|i| i % 2 == 0).collect();
    let wide = Table::new(3000).with_categorical("company", names).unwrap();
    assert!(matches!(
        LogisticRegression::fit(&wide, &labels, &LogisticOptions::default()),
        Err(PredictError::TooManyDimensions { limit: 2048, .. })
    ));
}

#[test]
fn hostile_values_never_panic_and_stay_probabilities() {
    let table = Table::new(6)
        .with_numeric(
            "x",
            [
                Some(1e308),
                Some(-1e308),
                Some(f64::NAN),
                Some(f64::INFINITY),
                Some(5e-324),
                None,
            ],
        )
        .unwrap()
        .with_categorical(
            "c",
            [Some(""), Some("a"), None, Some("a"), Some("b"), Some("é")],
        )
        .unwrap();
    let labels = [true, false, true, false, true, false];
    for model in [
        Model::naive_bayes(&table, &labels, &NaiveBayesOptions::default()).unwrap(),
        Model::logistic(&table, &labels, &LogisticOptions::default()).unwrap(),
    ] {
        for p in model.predict(&table).unwrap() {
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
        for x in [f64::MAX, f64::MIN, f64::NAN, 0.0] {
            let p = model.probability(&record(&[("x", x.into()), ("c", "zz".into())]));
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
        let p = model.probability(&record(&[("x", "not a number".into())]));
        assert!((0.0..=1.0).contains(&p));
    }
    // An empty table is one class short of training.
    assert!(matches!(
        NaiveBayes::fit(&Table::new(0), &[], &NaiveBayesOptions::default()),
        Err(PredictError::OneClass { .. })
    ));
}

/// A two-feature problem solved independently: scikit-learn 1.7's
/// `LogisticRegression(C=1.0, tol=1e-12, max_iter=10000)` on the same
/// standardised / one-hot design (golden values printed by
/// `benches/predict_compare.py --golden`).
#[test]
fn logistic_regression_matches_an_independent_solver_on_two_features() {
    let visits = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let plan = [
        "free", "free", "trial", "free", "trial", "free", "trial", "trial", "free", "trial",
    ];
    let bought = [
        false, false, false, true, false, true, true, false, true, true,
    ];
    let table = Table::new(10)
        .with_numeric("visits", visits.map(Some))
        .unwrap()
        .with_categorical("plan", plan.map(Some))
        .unwrap();
    let model = LogisticRegression::fit(&table, &bought, &LogisticOptions::default()).unwrap();
    let (mean, scale) = model.standardisation("visits").unwrap();
    assert!((mean - 4.7).abs() < 1e-12);
    // Population standard deviation of the visits.
    let sd = (visits.iter().map(|v| (v - 4.7f64).powi(2)).sum::<f64>() / 10.0).sqrt();
    assert!((scale - sd).abs() < 1e-12);
    let coef = |feature: &str, level: Option<&str>| {
        model
            .coefficients()
            .into_iter()
            .find(|(f, l, _)| *f == feature && *l == level)
            .map(|(_, _, w)| w)
            .unwrap()
    };
    let golden = [
        (model.intercept(), GOLDEN_INTERCEPT),
        (coef("visits", None), GOLDEN_VISITS),
        (coef("plan", Some("free")), GOLDEN_FREE),
        (coef("plan", Some("trial")), GOLDEN_TRIAL),
    ];
    for (got, want) in golden {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

const GOLDEN_INTERCEPT: f64 = 0.01583802934779542;
const GOLDEN_VISITS: f64 = 0.9972940412159953;
const GOLDEN_FREE: f64 = 0.43244227333316065;
const GOLDEN_TRIAL: f64 = -0.43244227401989216;

#[test]
fn auc_and_tiers_by_hand() {
    // Positives 0.9 and 0.3, negatives 0.8 and 0.1: pairs (0.9>0.8, 0.9>0.1,
    // 0.3<0.8, 0.3>0.1) = 3 of 4.
    assert_eq!(
        roc_auc(&[0.9, 0.8, 0.3, 0.1], &[true, false, true, false]),
        Some(0.75)
    );
    assert_eq!(roc_auc(&[0.2, 0.2, 0.2], &[true, false, false]), Some(0.5));
    assert_eq!(roc_auc(&[0.2, 0.4], &[true, true]), None);
    assert_eq!(roc_auc(&[0.2], &[true, false]), None);
    assert_eq!(roc_auc(&[f64::NAN, 0.1], &[true, false]), None);
    let tiers = Tiers::quartiles(&[0.8, 0.1, 0.4, 0.3, 0.6, 0.7, 0.2, 0.5]).unwrap();
    assert_eq!(tiers.cuts(), [0.3, 0.5, 0.7]);
    let got: Vec<u8> = [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
        .iter()
        .map(|p| tiers.tier(*p))
        .collect();
    assert_eq!(got, [1, 1, 2, 2, 3, 3, 4, 4]);
    assert_eq!(Tiers::quartiles(&[]), None);
}

#[test]
fn models_round_trip_through_json() {
    let (table, won) = deals();
    for model in [
        Model::naive_bayes(&table, &won, &NaiveBayesOptions::default()).unwrap(),
        Model::logistic(&table, &won, &LogisticOptions::default()).unwrap(),
    ] {
        let json = serde_json::to_string(&model).unwrap();
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, model);
        assert_eq!(
            back.predict(&table).unwrap(),
            model.predict(&table).unwrap()
        );
    }
    let model = Model::naive_bayes(&table, &won, &NaiveBayesOptions::default()).unwrap();
    let json = serde_json::to_value(&model).unwrap();
    assert_eq!(json["model"], "naive_bayes");
    assert_eq!(
        model.features(),
        [
            ("industry", FeatureKind::Categorical),
            ("country", FeatureKind::Categorical)
        ]
    );
}

#[test]
fn training_sets_come_from_the_lifecycle_without_leaking_the_outcome() {
    let e = engine(Preset::Waterfall);
    let mut leads = Vec::new();
    // a: won; its industry is set before the win, its region at the win.
    let mut a = e.new_lead("a");
    e.ingest(&mut a, created("a1", "a", 0, "SQL", Source::Sales));
    e.ingest(
        &mut a,
        attrs("a2", "a", 1, &[("industry", "software".into())], &[]),
    );
    e.ingest(
        &mut a,
        crate::common::activity("a3", "a", 2, "page_view", &[]),
    );
    e.ingest(&mut a, advance("a4", "a", 5, "Won"));
    e.ingest(&mut a, attrs("a5", "a", 5, &[("region", "EU".into())], &[]));
    leads.push(a);
    // b: lost.
    let mut b = e.new_lead("b");
    e.ingest(&mut b, created("b1", "b", 0, "SQL", Source::Sales));
    e.ingest(
        &mut b,
        attrs("b2", "b", 1, &[("industry", "retail".into())], &[]),
    );
    e.ingest(
        &mut b,
        advance_because("b3", "b", 4, "Lost", ReasonCode::NoBudget),
    );
    leads.push(b);
    // c: still open.
    let mut c = e.new_lead("c");
    e.ingest(&mut c, created("c1", "c", 0, "MQL", Source::Marketing));
    leads.push(c);

    let features = LeadFeatures::new(["industry", "region"], ["page_view"]);
    let set = training_set(&leads, &features, &Target::WonOrLost, t(10)).unwrap();
    assert_eq!(set.labels, [true, false]);
    assert_eq!(
        set.leads.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    // The region set with the win (same minute, id after it) is not a
    // feature of the win.
    let model = NaiveBayes::fit(&set.table, &set.labels, &NaiveBayesOptions::default()).unwrap();
    let a_features = features.record(&leads[0], t(4));
    assert_eq!(
        a_features.get("activities.page_view"),
        Some(&AttrValue::Number(1.0))
    );
    assert!(features.record(&leads[0], t(10)).get("region").is_some());
    assert_eq!(
        set.table.kind("activities.page_view"),
        Some(FeatureKind::Numeric)
    );
    let explained = model.explain(&features.record(&leads[0], t(4)));
    assert!(explained.factors.iter().all(|f| f.feature != "region"));
    // Had the region set at the close leaked into training, the model
    // would know the level "EU" and explain by it.
    let eu = model.explain(&record(&[("region", "EU".into())]));
    assert!(eu.factors.is_empty(), "{eu}");
    // As of minute 3 nothing is closed.
    assert!(matches!(
        training_set(&leads, &features, &Target::WonOrLost, t(3)),
        Ok(s) if s.labels.is_empty()
    ));

    // Reaching SQL within 2 minutes of creation, features at creation:
    // c (MQL at 0) never reached it; a and b were created in SQL, which
    // they had reached at the feature time, so they are left out.
    let reached = Target::Reached {
        stage: "SQL".into(),
        within: Span::seconds(120),
        observe: Span::seconds(0),
    };
    // d reaches SQL within the horizon (at minute 2), f after it (minute 3).
    let mut d = e.new_lead("d");
    e.ingest(&mut d, created("d1", "d", 0, "MQL", Source::Marketing));
    e.ingest(&mut d, advance("d2", "d", 2, "SQL"));
    leads.push(d);
    let mut f = e.new_lead("f");
    e.ingest(&mut f, created("f1", "f", 0, "MQL", Source::Marketing));
    e.ingest(&mut f, advance("f2", "f", 3, "SQL"));
    leads.push(f);
    let set = training_set(&leads, &features, &reached, t(10)).unwrap();
    assert_eq!(set.labels, [false, true, false]);
    let ids: Vec<&str> = set.leads.iter().map(|l| l.as_str()).collect();
    assert_eq!(ids, ["c", "d", "f"]);
    // Before the horizon has passed, every lead is left out.
    let set = training_set(&leads, &features, &reached, t(1)).unwrap();
    assert!(set.labels.is_empty());
    let unknown = Target::Reached {
        stage: "Nope".into(),
        within: Span::seconds(1),
        observe: Span::seconds(0),
    };
    assert!(matches!(
        training_set(&leads, &features, &unknown, t(10)),
        Err(PredictError::UnknownStage { .. })
    ));
}

/// SplitMix64, for the synthetic ground truth.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

/// 40 000 leads drawn from a known logistic model: the fitted coefficients
/// (weak regularisation) come back within sampling error, and both models
/// rank held-out leads about as well as the truth itself does.
#[test]
fn a_known_logistic_ground_truth_comes_back() {
    let (intercept, b_visits, b_days) = (-0.5, 1.2, -0.8);
    let effects = [("a", 0.6), ("b", 0.0), ("c", -0.6)];
    let mut rng = Rng(2026);
    let n = 40_000;
    let (mut visits, mut days, mut noise, mut level, mut won, mut truth) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let (v, d, e) = (rng.normal() * 2.0 + 5.0, rng.normal() * 0.5, rng.normal());
        let (name, effect) = effects[(rng.unit() * 3.0) as usize % 3];
        let z = intercept + b_visits * (v - 5.0) + b_days * d + effect;
        let p = 1.0 / (1.0 + (-z).exp());
        visits.push(Some(v));
        days.push(Some(d));
        noise.push(Some(e));
        level.push(Some(name));
        won.push(rng.unit() < p);
        truth.push(p);
    }
    let rows = |r: std::ops::Range<usize>| -> (Table, Vec<bool>) {
        let t = Table::new(r.len())
            .with_numeric("visits", visits[r.clone()].to_vec())
            .unwrap()
            .with_numeric("days", days[r.clone()].to_vec())
            .unwrap()
            .with_numeric("noise", noise[r.clone()].to_vec())
            .unwrap()
            .with_categorical("plan", level[r.clone()].to_vec())
            .unwrap();
        (t, won[r].to_vec())
    };
    let (train, test) = (0..n / 2, n / 2..n);
    let (train_table, train_labels) = rows(train);
    let (test_table, test_labels) = rows(test.clone());
    let model = LogisticRegression::fit(
        &train_table,
        &train_labels,
        &LogisticOptions::default().c(1e4),
    )
    .unwrap();
    // Back to the data's units: weight / scale.
    let raw = |f: &str| {
        let (_, scale) = model.standardisation(f).unwrap();
        let w = model
            .coefficients()
            .into_iter()
            .find(|(name, l, _)| *name == f && l.is_none())
            .unwrap()
            .2;
        w / scale
    };
    assert!((raw("visits") - b_visits).abs() < 0.08, "{}", raw("visits"));
    assert!((raw("days") - b_days).abs() < 0.12, "{}", raw("days"));
    assert!(raw("noise").abs() < 0.06, "{}", raw("noise"));
    let level = |l: &str| {
        model
            .coefficients()
            .into_iter()
            .find(|(name, lv, _)| *name == "plan" && *lv == Some(l))
            .unwrap()
            .2
    };
    assert!(((level("a") - level("c")) - 1.2).abs() < 0.15);
    assert!(((level("a") - level("b")) - 0.6).abs() < 0.15);

    let truth_auc = roc_auc(&truth[test], &test_labels).unwrap();
    let lr_auc = roc_auc(&model.predict(&test_table).unwrap(), &test_labels).unwrap();
    let nb = NaiveBayes::fit(&train_table, &train_labels, &NaiveBayesOptions::default()).unwrap();
    let nb_auc = roc_auc(&nb.predict(&test_table).unwrap(), &test_labels).unwrap();
    assert!(truth_auc - lr_auc < 0.005, "truth {truth_auc}, lr {lr_auc}");
    assert!(truth_auc - nb_auc < 0.03, "truth {truth_auc}, nb {nb_auc}");
}

/// A naive Bayes model of industry and demo requests: more demos and
/// software both raise the odds.
fn demo_model() -> Model {
    let industry = [
        "software", "software", "software", "software", "retail", "retail", "retail", "retail",
    ];
    let demos = [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0];
    let won = [false, false, true, true, false, false, false, true];
    let table = Table::new(8)
        .with_categorical("industry", industry.map(Some))
        .unwrap()
        .with_numeric("activities.demo_request", demos.map(Some))
        .unwrap();
    Model::naive_bayes(&table, &won, &NaiveBayesOptions::default().bins(4)).unwrap()
}

fn predictive_engine(extra: &str, tiers: Option<Tiers>) -> leadflow::Engine {
    let mut predictive = leadflow::predict::PredictiveConfig::new(
        LeadFeatures::new(["industry"], ["demo_request"]),
        demo_model(),
    );
    if let Some(t) = tiers {
        predictive = predictive.with_tiers(t);
    }
    let predictive = serde_json::to_string(&predictive).unwrap();
    leadflow::Engine::from_json(&format!(
        r#"{{"lifecycle": {{"preset": "waterfall"}}, "predictive": {predictive} {extra}}}"#
    ))
    .unwrap()
}

fn demo(id: &str, lead: &str, m: i64) -> leadflow::Event {
    crate::common::activity(id, lead, m, "demo_request", &[])
}

#[test]
fn the_engine_reports_a_probability_beside_the_score_and_rules_read_it() {
    let model = demo_model();
    let p = |industry: &str, demos: f64| {
        model.probability(&record(&[
            ("industry", industry.into()),
            ("activities.demo_request", demos.into()),
        ]))
    };
    let (one, two) = (p("software", 1.0), p("software", 2.0));
    assert!(one < two, "{one} {two}");
    let min = (one + two) / 2.0;
    let rule = format!(
        r#", "qualification": [{{"id": "hot", "when": {{"probability": {{"min": {min}}}}}, "then": "MQL"}}]"#
    );
    let e = predictive_engine(&rule, None);
    let events = [
        created("c", "l", 0, "Anonymous", Source::Marketing),
        attrs("i", "l", 1, &[("industry", "software".into())], &[]),
        demo("d1", "l", 2),
        demo("d2", "l", 3),
        demo("d3", "l", 4),
    ];
    // Any arrival order: the rule fires at the second demo, when the
    // probability first reaches the threshold.
    for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]] {
        let mut lead = e.new_lead("l");
        for i in order {
            e.ingest(&mut lead, events[i].clone());
        }
        let fired: Vec<(String, i64)> = lead
            .history()
            .iter()
            .skip(1)
            .map(|t| {
                (
                    e.lifecycle().name(t.to).to_owned(),
                    (t.at - crate::common::t(0)).num_minutes(),
                )
            })
            .collect();
        assert_eq!(fired, [("MQL".to_owned(), 3)], "order {order:?}");
        assert_eq!(e.probability(&lead, t(2)), Some(one));
        assert_eq!(e.probability(&lead, t(3)), Some(two));
        let why = e.explain_probability(&lead, t(3)).unwrap();
        assert_eq!(why.probability, two);
        assert!(
            why.factors
                .iter()
                .any(|f| f.feature == "activities.demo_request")
        );
        // The fold's counts survive a save and restore.
        let saved = leadflow::SavedLead::from(&lead);
        let json = serde_json::to_string(&saved).unwrap();
        let back = e.restore(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back, lead);
        let mut more = back;
        e.ingest(&mut more, demo("d4", "l", 5));
        assert_eq!(
            more,
            e.replay("l", events.iter().cloned().chain([demo("d4", "l", 5)]))
        );
    }
    // An engine without a model has no probability.
    let plain = engine(Preset::Waterfall);
    assert_eq!(plain.probability(&plain.new_lead("x"), t(0)), None);
}

#[test]
fn tiers_and_the_matrix_read_the_probability() {
    let model = demo_model();
    let probabilities: Vec<f64> = (0..4)
        .map(|d| {
            model.probability(&record(&[
                ("industry", "software".into()),
                ("activities.demo_request", f64::from(d).into()),
            ]))
        })
        .collect();
    let tiers = Tiers::quartiles(&probabilities).unwrap();
    let grading = r#", "grading": {"criteria": [{"id": "sw", "when": {"attr": "industry", "op": "equals", "value": "software"}, "weight": 3}],
                      "matrix": {"engagement": "probability", "bands": [0.9, 0.5, 0.2]}}"#;
    let e = predictive_engine(grading, Some(tiers));
    let mut lead = e.new_lead("l");
    e.ingest(
        &mut lead,
        created("c", "l", 0, "Anonymous", Source::Marketing),
    );
    e.ingest(
        &mut lead,
        attrs("i", "l", 1, &[("industry", "software".into())], &[]),
    );
    for m in 2..5 {
        e.ingest(&mut lead, demo(&format!("d{m}"), "l", m));
    }
    for (m, p) in (1..5).zip(&probabilities) {
        assert_eq!(e.probability(&lead, t(m)), Some(*p));
        assert_eq!(e.tier(&lead, t(m)), Some(tiers.tier(*p)));
        let band = [0.9, 0.5, 0.2]
            .iter()
            .position(|b| *p >= *b)
            .map_or(4, |i| i as u8 + 1);
        let cell = e.priority(&lead, t(m)).unwrap();
        assert_eq!(cell.engagement, band, "minute {m}, p {p}");
    }
    assert_eq!(e.tier(&lead, t(4)), Some(1));
}

#[test]
fn predictive_configs_are_checked() {
    let err = |json: &str| leadflow::Engine::from_json(json).unwrap_err().to_string();
    let model = serde_json::to_string(&demo_model()).unwrap();
    // The model reads a feature the features do not list.
    let e = err(&format!(
        r#"{{"lifecycle": {{"preset": "default"}}, "predictive": {{"features": {{"attributes": ["industry"]}}, "model": {model}}}}}"#
    ));
    assert!(
        e.starts_with("predictive.model: the model needs feature \"activities.demo_request\""),
        "{e}"
    );
    // A probability clause without a model.
    let e = err(
        r#"{"lifecycle": {"preset": "default"}, "qualification": [{"id": "p", "when": {"probability": {"min": 0.5}}, "then": "SQL"}]}"#,
    );
    assert_eq!(
        e,
        "qualification[0].when.probability: a probability clause needs a predictive model (`predictive`), which the config does not have"
    );
    let with_model = |extra: &str| {
        format!(
            r#"{{"lifecycle": {{"preset": "default"}}, "predictive": {{"features": {{"attributes": ["industry"], "activity_counts": ["demo_request"]}}, "model": {model}}} {extra}}}"#
        )
    };
    let e = err(&with_model(
        r#", "qualification": [{"id": "p", "when": {"probability": {"min": 1.5}}, "then": "SQL"}]"#,
    ));
    assert!(
        e.starts_with("qualification[0].when.probability.min: 1.5 is out of range"),
        "{e}"
    );
    let e = err(&with_model(
        r#", "grading": {"matrix": {"engagement": "probability", "bands": [90, 50, 20]}}"#,
    ));
    assert!(
        e.starts_with("grading.matrix.bands[0]: 90 is out of range"),
        "{e}"
    );
    let e = err(
        r#"{"lifecycle": {"preset": "default"}, "grading": {"matrix": {"engagement": "probability", "bands": [0.9, 0.5, 0.2]}}}"#,
    );
    assert!(e.starts_with("grading.matrix.engagement:"), "{e}");
    let e = err(&with_model("").replace(
        r#""model""#,
        r#""tiers": {"cuts": [0.9, 0.5, 0.1]}, "model""#,
    ));
    assert!(e.starts_with("predictive.tiers:"), "{e}");
    assert!(leadflow::Engine::from_json(&with_model("")).is_ok());
}

/// The probe's findings, each pinned.
#[test]
fn extreme_values_never_make_a_probability_nan() {
    // A constant column gets weight 0; 1e308 at prediction would be 0 × ∞.
    let table = Table::new(6)
        .with_numeric("rate", [Some(0.5); 6])
        .unwrap()
        .with_numeric("visits", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0].map(Some))
        .unwrap()
        .with_numeric("a", [1.0, 2.0, 1.0, 2.0, 1.0, 2.0].map(Some))
        .unwrap()
        .with_numeric("b", [-1.0, -2.0, -1.0, -2.0, -1.0, -2.0].map(Some))
        .unwrap();
    let labels = [false, false, true, false, true, true];
    let model = Model::logistic(&table, &labels, &LogisticOptions::default()).unwrap();
    for (rate, a, b) in [
        (1e308, 0.0, 0.0),
        (0.5, 1e308, -1e308),
        (-1e308, f64::MAX, f64::MAX),
    ] {
        let r = record(&[
            ("rate", rate.into()),
            ("visits", 3.0.into()),
            ("a", a.into()),
            ("b", b.into()),
        ]);
        let p = model.probability(&r);
        assert!((0.0..=1.0).contains(&p), "{p}");
        let why = model.explain(&r);
        assert_eq!(why.probability, p);
        assert!(why.factors.iter().all(|f| f.log_odds.is_finite()));
        // Huge values read as scientific notation, not 309 digits.
        assert!(why.to_string().len() < 400, "{why}");
    }
}

#[test]
fn the_dimension_limit_counts_numeric_columns_too() {
    let mut table = Table::new(4);
    for j in 0..2100 {
        table = table
            .with_numeric(format!("x{j:04}"), [0.0, 1.0, f64::from(j), 2.0].map(Some))
            .unwrap();
    }
    let err = LogisticRegression::fit(
        &table,
        &[true, false, true, false],
        &LogisticOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PredictError::TooManyDimensions {
            dimensions: 2049,
            limit: 2048,
            column: "x2047".into()
        }
    );
}

#[test]
fn a_categorical_feature_never_reads_a_numeric_column_lossily() {
    let zips = ["02134", "02134", "90210", "90210"];
    let mut rows = TableBuilder::new(["zip"]).kind("zip", FeatureKind::Categorical);
    for z in zips {
        rows.push_text([Some(z)]).unwrap();
    }
    let train = rows.build().unwrap();
    let labels = [true, true, false, true];
    for model in [
        Model::naive_bayes(&train, &labels, &NaiveBayesOptions::default()).unwrap(),
        Model::logistic(&train, &labels, &LogisticOptions::default()).unwrap(),
    ] {
        // Inferred numeric: "02134" became 2134.
        let mut inferred = TableBuilder::new(["zip"]);
        inferred.push_text([Some("02134")]).unwrap();
        let inferred = inferred.build().unwrap();
        assert_eq!(
            model.predict(&inferred),
            Err(PredictError::KindMismatch {
                column: "zip".into()
            })
        );
        // Built for the model, it reads as trained.
        let mut matching = TableBuilder::for_model(&model);
        matching.push_text([Some("02134")]).unwrap();
        let p = model.predict(&matching.build().unwrap()).unwrap();
        assert_eq!(p[0], model.probability(&record(&[("zip", "02134".into())])));
    }
    // Counting a partition with the wrong kind is refused, not miscounted.
    let spec = leadflow::predict::NaiveBayesSpec::from_table(&train, &NaiveBayesOptions::default())
        .unwrap();
    let mut tally = leadflow::predict::NaiveBayesTally::default();
    let numeric = Table::new(1).with_numeric("zip", [Some(2134.0)]).unwrap();
    assert!(matches!(
        tally.add(&spec, &numeric, &[true]),
        Err(PredictError::KindMismatch { .. })
    ));
    assert_eq!(tally.totals(), (0, 0));
}

#[test]
fn blank_levels_are_missing_everywhere() {
    let table = Table::new(6)
        .with_categorical(
            "c",
            [
                Some(""),
                Some(""),
                Some(" "),
                Some("x"),
                Some("x"),
                Some("y"),
            ],
        )
        .unwrap();
    let labels = [true, true, true, false, false, true];
    for model in [
        Model::naive_bayes(&table, &labels, &NaiveBayesOptions::default()).unwrap(),
        Model::logistic(&table, &labels, &LogisticOptions::default()).unwrap(),
    ] {
        let p = model.predict(&table).unwrap();
        assert_eq!(p[0], model.probability(&record(&[("c", "".into())])));
        assert_eq!(p[0], model.probability(&Attrs::new()));
    }
    // -0 and 0 are one level.
    let mut rows = TableBuilder::new(["n"]).kind("n", FeatureKind::Categorical);
    rows.push([Some((-0.0).into())]).unwrap();
    rows.push([Some(0.0.into())]).unwrap();
    let model = Model::naive_bayes(
        &rows.build().unwrap(),
        &[true, false],
        &NaiveBayesOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_string(&model).unwrap();
    assert!(!json.contains("-0"), "{json}");
}

#[test]
fn saved_models_are_checked_on_the_way_in() {
    let (table, won) = deals();
    let lr =
        serde_json::to_value(Model::logistic(&table, &won, &LogisticOptions::default()).unwrap())
            .unwrap();
    let nb = serde_json::to_value(
        Model::naive_bayes(&table, &won, &NaiveBayesOptions::default()).unwrap(),
    )
    .unwrap();
    let read = |v: serde_json::Value| serde_json::from_value::<Model>(v).map_err(|e| e.to_string());
    assert!(read(lr.clone()).is_ok() && read(nb.clone()).is_ok());
    let mut bogus = lr.clone();
    bogus["bogus"] = 1.into();
    assert!(read(bogus).unwrap_err().contains("unknown field"));
    let mut unsorted = lr.clone();
    let levels = unsorted["features"][0]["levels"].as_array_mut().unwrap();
    levels.reverse();
    assert!(read(unsorted).unwrap_err().contains("sorted"));
    let mut nan = lr;
    nan["intercept"] = serde_json::Value::Null;
    assert!(read(nan).is_err());
    let mut wrong = nb.clone();
    wrong["smoothing"] = 0.into();
    assert!(read(wrong).unwrap_err().contains("smoothing"));
    let mut unknown = nb;
    unknown["values"][0][0]["extra"] = 1.into();
    assert!(read(unknown).unwrap_err().contains("unknown field"));
    // A scale of 0 in a numeric feature.
    let numeric = Table::new(4)
        .with_numeric("v", [1.0, 2.0, 3.0, 4.0].map(Some))
        .unwrap();
    let mut m = serde_json::to_value(
        Model::logistic(
            &numeric,
            &[false, true, false, true],
            &LogisticOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();
    m["features"][0]["scale"] = 0.into();
    assert!(read(m).unwrap_err().contains("scale"));
    // Tiers too.
    assert!(serde_json::from_str::<Tiers>(r#"{"cuts": [0.9, 0.5, 0.1]}"#).is_err());
    assert!(serde_json::from_str::<Tiers>(r#"{"cuts": [0.1, 0.5, 0.9]}"#).is_ok());
}

#[test]
fn tallies_of_different_specs_do_not_merge_silently() {
    use leadflow::Mergeable;
    use leadflow::predict::{NaiveBayesSpec, NaiveBayesTally};
    let (table, won) = deals();
    let a = NaiveBayesSpec::from_table(&table, &NaiveBayesOptions::default()).unwrap();
    let other = Table::new(7)
        .with_categorical("industry", [Some("x"); 7])
        .unwrap();
    let b = NaiveBayesSpec::from_table(&other, &NaiveBayesOptions::default()).unwrap();
    let mut ta = NaiveBayesTally::default();
    ta.add(&a, &table, &won).unwrap();
    let mut tb = NaiveBayesTally::default();
    tb.add(&b, &other, &won).unwrap();
    ta.merge(tb);
    assert_eq!(
        NaiveBayes::from_tally(a, ta, &NaiveBayesOptions::default()),
        Err(PredictError::MixedSpecs)
    );
}

#[test]
fn reached_targets_cannot_read_past_their_horizon() {
    let target = Target::Reached {
        stage: "SQL".into(),
        within: Span::seconds(60),
        observe: Span::seconds(120),
    };
    let features = LeadFeatures::new(["industry"], [] as [&str; 0]);
    let none: [&leadflow::Lead; 0] = [];
    assert!(matches!(
        training_set(none, &features, &target, t(10)),
        Err(PredictError::BadOption {
            option: "observe",
            ..
        })
    ));
}

#[test]
fn tiers_put_the_likeliest_lead_first_even_in_small_populations() {
    let tiers = Tiers::quartiles(&[0.1, 0.2, 0.3]).unwrap();
    assert_eq!(tiers.tier(0.3), 1);
    assert_eq!(tiers.tier(0.2), 2);
    assert_eq!(tiers.tier(0.1), 3);
    // Ties share the better tier: the likeliest leads are never left out
    // of tier 1.
    let count = |ps: &[f64]| {
        let tiers = Tiers::quartiles(ps).unwrap();
        let mut n = [0; 4];
        for p in ps {
            n[usize::from(tiers.tier(*p)) - 1] += 1;
        }
        n
    };
    assert_eq!(count(&[0.5, 0.5, 0.9, 0.9]), [2, 0, 2, 0]);
    let mixed: Vec<f64> = (0..100).map(|i| if i < 70 { 0.1 } else { 0.8 }).collect();
    assert_eq!(count(&mixed), [30, 70, 0, 0]);
    assert_eq!(count(&[0.4]), [1, 0, 0, 0]);
    let spread: Vec<f64> = (1..=100).map(|i| f64::from(i) / 100.0).collect();
    assert_eq!(count(&spread), [25, 25, 25, 25]);
    assert_eq!(Tiers::quartiles(&[0.2, f64::INFINITY]), None);
    assert_eq!(Tiers::quartiles(&[0.2, 1.5]), None);
}

/// A model of priors only: p = won / (won + lost) exactly.
fn prior_model(won: u64, lost: u64) -> Model {
    serde_json::from_value(serde_json::json!({
        "model": "naive_bayes",
        "spec": {"features": []},
        "smoothing": 0.1,
        "won": won,
        "lost": lost,
        "values": []
    }))
    .unwrap()
}

#[test]
fn the_matrix_rule_and_tiers_compare_the_same_probability() {
    // p = 999 999 / 1 999 999 = 0.49999975…: below 0.5 by less than a
    // millionth.
    let model = prior_model(999_999, 1_000_000);
    let p = model.probability(&Attrs::new());
    assert!(p < 0.5 && p > 0.4999997);
    let predictive = serde_json::json!({"features": {}, "model": model});
    let e = leadflow::Engine::from_json(&serde_json::json!({
        "lifecycle": {"preset": "waterfall"},
        "predictive": predictive,
        "grading": {"criteria": [{"id": "any", "when": {"attr": "industry", "op": "exists"}, "weight": 1}],
                    "matrix": {"engagement": "probability", "bands": [0.5, 0.3, 0.1]}},
        "qualification": [{"id": "half", "when": {"probability": {"min": 0.5}}, "then": "MQL"}]
    }).to_string())
    .unwrap();
    let mut lead = e.new_lead("l");
    e.ingest(
        &mut lead,
        created("c", "l", 0, "Anonymous", Source::Marketing),
    );
    e.ingest(
        &mut lead,
        attrs("i", "l", 1, &[("industry", "x".into())], &[]),
    );
    assert_eq!(e.probability(&lead, t(1)), Some(p));
    assert_eq!(e.priority(&lead, t(1)).unwrap().engagement, 2);
    assert_eq!(lead.history().len(), 1, "the 0.5 rule does not fire");
}

/// The second probe's findings, pinned.
#[test]
fn crafted_tallies_and_models_are_refused() {
    use leadflow::Mergeable;
    use leadflow::predict::{NaiveBayesSpec, NaiveBayesTally};
    let (table, won) = deals();
    let spec = NaiveBayesSpec::from_table(&table, &NaiveBayesOptions::default()).unwrap();
    let mut tally = NaiveBayesTally::default();
    tally.add(&spec, &table, &won).unwrap();
    let mut json = serde_json::to_value(&tally).unwrap();
    // Counts near u64::MAX: merging saturates and the model is refused,
    // never a wrapped count.
    json["won"] = serde_json::json!(u64::MAX);
    let huge: NaiveBayesTally = serde_json::from_value(json.clone()).unwrap();
    let mut merged = huge;
    merged.merge(tally.clone());
    assert_eq!(
        NaiveBayes::from_tally(spec.clone(), merged, &NaiveBayesOptions::default()),
        Err(PredictError::CountOverflow)
    );
    // A saved tally must carry its spec's fingerprint.
    let mut no_spec = serde_json::to_value(&tally).unwrap();
    no_spec.as_object_mut().unwrap().remove("spec");
    assert!(serde_json::from_value::<NaiveBayesTally>(no_spec).is_err());
    // A model whose value counts exceed its totals, or that names a
    // feature twice.
    let nb = serde_json::to_value(
        Model::naive_bayes(&table, &won, &NaiveBayesOptions::default()).unwrap(),
    )
    .unwrap();
    let mut inflated = nb.clone();
    inflated["values"][0][0]["won"] = 1000.into();
    let err = serde_json::from_value::<Model>(inflated)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more rows than the totals"), "{err}");
    let mut twice = nb;
    let first = twice["spec"]["features"][0].clone();
    twice["spec"]["features"][1][0] = first[0].clone();
    assert!(
        serde_json::from_value::<Model>(twice)
            .unwrap_err()
            .to_string()
            .contains("named twice")
    );
    let lr =
        serde_json::to_value(Model::logistic(&table, &won, &LogisticOptions::default()).unwrap())
            .unwrap();
    let mut twice = lr;
    let name = twice["features"][0]["name"].clone();
    twice["features"][1]["name"] = name;
    assert!(
        serde_json::from_value::<Model>(twice)
            .unwrap_err()
            .to_string()
            .contains("named twice")
    );
}

#[test]
fn huge_factors_read_as_powers_of_e() {
    let f: leadflow::predict::Factor = serde_json::from_value(serde_json::json!({
        "feature": "a", "condition": {"equals": "1e300"}, "log_odds": 900.0
    }))
    .unwrap();
    assert_eq!(f.to_string(), "a = 1e300: ×e^900.0");
}
