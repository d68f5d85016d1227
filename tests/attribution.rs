//! Attribution: every model on hand-computed journeys, exact credits, the
//! trait, path tables, Markov and Shapley against hand computations.

use std::sync::Arc;

use leadflow::Span;
use leadflow::attribution::{
    AnchorWeights, Anchored, AttributionError, AttributionModel, Attributor, FirstTouch, Journey,
    LastNonDirect, LastTouch, Limit, Limits, Linear, MarkovState, Milestones, ModelError,
    PathModel, PathReadOptions, PathReader, PathTally, TimeDecay, Touch, model_fn,
};
use rust_decimal::Decimal;

use crate::common::t;

const DAY: i64 = 24 * 60;

fn journey(channels: &[&str]) -> Journey {
    let touches = channels
        .iter()
        .enumerate()
        .map(|(i, c)| Touch::new(t(i as i64 * DAY), *c))
        .collect();
    Journey::new(touches).converted(t(channels.len() as i64 * DAY), Decimal::new(100, 0))
}

fn weights(model: &dyn AttributionModel, j: &Journey) -> Vec<f64> {
    let w = model.weights(j);
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
}

#[test]
fn first_last_linear_and_last_non_direct() {
    let j = journey(&["search", "email", "direct"]);
    assert_eq!(weights(&FirstTouch, &j), [1.0, 0.0, 0.0]);
    assert_eq!(weights(&LastTouch, &j), [0.0, 0.0, 1.0]);
    assert!(close(&weights(&Linear, &j), &[1.0 / 3.0; 3]));
    assert_eq!(weights(&LastNonDirect::default(), &j), [0.0, 1.0, 0.0]);
    let all_direct = journey(&["direct", "Direct"]);
    assert_eq!(
        weights(&LastNonDirect::default(), &all_direct),
        [0.0, 1.0],
        "all direct: last touch"
    );
    let custom = LastNonDirect::with_direct_channels(["direct", "email"]);
    assert_eq!(weights(&custom, &j), [1.0, 0.0, 0.0]);
}

#[test]
fn time_decay_halves_per_half_life() {
    let mut j = journey(&["a", "b", "c"]);
    // Touches at 0, 7 and 14 days; conversion at 14 days.
    for (i, touch) in j.touches.iter_mut().enumerate() {
        touch.at = t(i as i64 * 7 * DAY);
    }
    j.conversion.as_mut().unwrap().at = t(14 * DAY);
    let w = weights(&TimeDecay::default(), &j);
    assert!(close(&w, &[1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0]), "{w:?}");
    let w = weights(&TimeDecay::new(Span::days(14)).unwrap(), &j);
    let raw = [0.5, 2f64.powf(-0.5), 1.0];
    let s: f64 = raw.iter().sum();
    assert!(close(&w, &raw.map(|x| x / s)));
    assert!(TimeDecay::new(Span::seconds(0)).is_err());
}

#[test]
fn position_based_short_paths_and_shares() {
    let u = Anchored::position_based();
    assert_eq!(weights(&u, &journey(&["a"])), [1.0]);
    assert!(close(&weights(&u, &journey(&["a", "b"])), &[0.5, 0.5]));
    assert!(close(
        &weights(&u, &journey(&["a", "b", "c"])),
        &[0.4, 0.2, 0.4]
    ));
    assert!(close(
        &weights(&u, &journey(&["a", "b", "c", "d", "e"])),
        &[0.4, 0.2 / 3.0, 0.2 / 3.0, 0.2 / 3.0, 0.4]
    ));
    let u30 = Anchored::position_based_with(0.3).unwrap();
    assert!(close(
        &weights(&u30, &journey(&["a", "b", "c"])),
        &[0.3, 0.4, 0.3]
    ));
    assert!(Anchored::position_based_with(0.6).is_err());
    assert!(close(
        &weights(&Anchored::j_shaped(), &journey(&["a", "b", "c"])),
        &[0.2, 0.2, 0.6]
    ));
    assert!(close(
        &weights(&Anchored::inverse_j(), &journey(&["a", "b", "c", "d"])),
        &[0.6, 0.1, 0.1, 0.2]
    ));
}

#[test]
fn w_shaped_and_full_path_with_milestones() {
    let base = journey(&["a", "b", "c", "d", "e", "f"]); // touches at days 0..5
    let w = Anchored::w_shaped();
    // Lead created on day 2 (touch c), opportunity on day 4 (touch e).
    let j = base
        .clone()
        .with_milestones(ms(Some(t(2 * DAY + 60)), Some(t(4 * DAY)), None));
    assert!(close(
        &weights(&w, &j),
        &[0.3, 0.1 / 3.0, 0.3, 0.1 / 3.0, 0.3, 0.1 / 3.0]
    ));
    // Lead created on the first touch: the anchors share it.
    let j = base
        .clone()
        .with_milestones(ms(Some(t(0)), Some(t(4 * DAY)), None));
    assert!(close(
        &weights(&w, &j),
        &[0.6, 0.025, 0.025, 0.025, 0.3, 0.025]
    ));
    // A missing milestone's share joins the rest.
    let j = base
        .clone()
        .with_milestones(ms(Some(t(2 * DAY)), None, None));
    assert!(close(&weights(&w, &j), &[0.3, 0.1, 0.3, 0.1, 0.1, 0.1]));
    // Full path adds the closing touch.
    let z = Anchored::full_path();
    let j = base
        .clone()
        .with_milestones(ms(Some(t(DAY)), Some(t(3 * DAY)), Some(t(5 * DAY))));
    assert!(close(
        &weights(&z, &j),
        &[0.225, 0.225, 0.05, 0.225, 0.05, 0.225]
    ));
    // Two touches, every anchor on them: nothing is lost.
    let two = journey(&["a", "b"]).with_milestones(ms(Some(t(0)), Some(t(DAY)), Some(t(DAY))));
    let w2 = weights(&z, &two);
    assert!(
        close(&w2, &[0.225 * 2.0 + 0.05, 0.225 * 2.0 + 0.05]),
        "{w2:?}"
    );
    // A milestone before every touch has no touch: its share joins the rest.
    let early = journey(&["a", "b", "c"]).with_milestones(ms(Some(t(-DAY)), None, None));
    // Lead anchor (.3) and opportunity anchor (.3) both missing: rest .7
    // over the two non-anchor touches.
    assert!(close(&weights(&w, &early), &[0.3, 0.35, 0.35]));
}

#[test]
fn custom_anchor_weights_are_validated() {
    let ok = Anchored::new(
        "custom",
        AnchorWeights {
            first: 0.5,
            last: 0.25,
            rest: 0.25,
            ..Default::default()
        },
    );
    assert!(close(
        &weights(&ok.unwrap(), &journey(&["a", "b", "c"])),
        &[0.5, 0.25, 0.25]
    ));
    for bad in [
        AnchorWeights {
            first: 0.5,
            ..Default::default()
        },
        AnchorWeights {
            first: 1.5,
            last: -0.5,
            ..Default::default()
        },
        AnchorWeights {
            first: f64::NAN,
            last: 1.0,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            Anchored::new("x", bad),
            Err(ModelError::InvalidParameters { .. })
        ));
    }
}

#[test]
fn credits_are_exact_decimals_with_largest_remainder() {
    let a = Attributor::new();
    let j = journey(&["a", "b", "c"]);
    let credits = a.credit(&j, &Linear).unwrap();
    let values: Vec<Decimal> = credits.iter().map(|c| c.value).collect();
    assert_eq!(
        values,
        [
            Decimal::new(3334, 2),
            Decimal::new(3333, 2),
            Decimal::new(3333, 2)
        ]
    );
    // The value's own scale wins when finer than the attributor's.
    let mut fine = j.clone();
    fine.conversion.as_mut().unwrap().value = Decimal::new(1001, 3); // 1.001
    let credits = a.credit(&fine, &Linear).unwrap();
    assert_eq!(
        credits.iter().map(|c| c.value).sum::<Decimal>(),
        Decimal::new(1001, 3)
    );
    assert!(credits.iter().all(|c| c.value.scale() == 3));
    // Negative values (refunds) split the same way.
    let mut refund = j.clone();
    refund.conversion.as_mut().unwrap().value = Decimal::new(-100, 0);
    let credits = a.credit(&refund, &Anchored::position_based()).unwrap();
    assert_eq!(
        credits.iter().map(|c| c.value).sum::<Decimal>(),
        Decimal::new(-100, 0)
    );
    assert_eq!(credits[0].value, Decimal::new(-4000, 2));
    // Scale 0: whole units.
    let whole = Attributor::new()
        .with_scale(0)
        .unwrap()
        .credit(&j, &Linear)
        .unwrap();
    assert_eq!(
        whole.iter().map(|c| c.value).collect::<Vec<_>>(),
        [
            Decimal::new(34, 0),
            Decimal::new(33, 0),
            Decimal::new(33, 0)
        ]
    );
}

#[test]
fn only_touches_before_the_conversion_and_inside_the_lookback_count() {
    let mut j = journey(&["a", "b", "c", "d"]); // days 0..3, conversion day 4
    j.touches.push(Touch::new(t(10 * DAY), "after"));
    let credits = Attributor::new().credit(&j, &Linear).unwrap();
    assert_eq!(credits.len(), 4, "the touch after the conversion is out");
    let credits = Attributor::new()
        .with_lookback(Span::days(2))
        .credit(&j, &Linear)
        .unwrap();
    let channels: Vec<&str> = credits.iter().map(|c| c.channel.as_str()).collect();
    assert_eq!(channels, ["c", "d"]);
    let unconverted = Journey::new(j.touches.clone());
    assert!(
        Attributor::new()
            .credit(&unconverted, &Linear)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn custom_models_through_closures_boxes_and_arcs() {
    let email = model_fn("email-heavy", |j: &Journey| {
        j.touches
            .iter()
            .map(|t| if t.channel == "email" { 3.0 } else { 1.0 })
            .collect()
    });
    let j = journey(&["email", "search"]);
    let boxed: Box<dyn AttributionModel> = Box::new(email.clone());
    let shared: Arc<dyn AttributionModel> = Arc::new(email.clone());
    for m in [&boxed as &dyn AttributionModel, &shared, &&email] {
        assert_eq!(m.name(), "email-heavy");
        let c = Attributor::new().credit(&j, m).unwrap();
        assert_eq!(c[0].value, Decimal::new(7500, 2));
        assert!((c[0].conversions - 0.75).abs() < 1e-12);
    }
    let broken: [Box<dyn AttributionModel>; 4] = [
        Box::new(model_fn("short", |_: &Journey| vec![1.0])),
        Box::new(model_fn("nan", |j: &Journey| {
            vec![f64::NAN; j.touches.len()]
        })),
        Box::new(model_fn("negative", |j: &Journey| {
            vec![-1.0; j.touches.len()]
        })),
        Box::new(model_fn("zero", |j: &Journey| vec![0.0; j.touches.len()])),
    ];
    for m in &broken {
        let err = Attributor::new().credit(&j, m).unwrap_err();
        assert!(
            matches!(err, AttributionError::InvalidWeights { ref model, .. } if model == m.name()),
            "{err}"
        );
    }
}

#[test]
fn reports_side_by_side_by_channel_and_campaign() {
    let mut j1 = journey(&["search", "email"]);
    j1.touches[1].campaign = Some("spring".into());
    let j2 = journey(&["email"]);
    let report = Attributor::new()
        .report(
            &[j1, j2],
            &[&FirstTouch as &dyn AttributionModel, &LastTouch],
        )
        .unwrap();
    assert_eq!(report.models, ["first", "last"]);
    assert_eq!(
        report.channel("first", "search").unwrap().value,
        Decimal::new(100, 0)
    );
    assert_eq!(
        report.channel("first", "email").unwrap().value,
        Decimal::new(100, 0)
    );
    assert_eq!(
        report.channel("last", "email").unwrap().value,
        Decimal::new(200, 0)
    );
    assert_eq!(report.campaign("last", "spring").unwrap().conversions, 1.0);
    assert_eq!(
        report
            .channel("last", "search")
            .map(|a| a.value)
            .unwrap_or_default(),
        Decimal::ZERO
    );
}

fn read(
    csv: &str,
    models: &[PathModel],
    order: usize,
) -> Result<leadflow::attribution::PathReport, String> {
    let mut reader =
        PathReader::new(csv.as_bytes(), PathReadOptions::default()).map_err(|e| e.to_string())?;
    let mut tally = PathTally::new(models, order).map_err(|e| e.to_string())?;
    tally.read(&mut reader).map_err(|e| e.to_string())?;
    tally.finish().map_err(|e| e.to_string())
}

fn credits(
    report: &leadflow::attribution::PathReport,
    model: PathModel,
) -> Vec<(String, f64, Option<f64>)> {
    report
        .models
        .iter()
        .find(|(m, _)| *m == model)
        .unwrap()
        .1
        .iter()
        .map(|c| {
            use rust_decimal::prelude::ToPrimitive;
            (
                c.channel.clone(),
                c.conversions,
                c.value.and_then(|v| v.to_f64()),
            )
        })
        .collect()
}

#[test]
fn heuristics_match_channel_attribution() {
    let csv =
        "path,total_conversions,total_conversion_value,total_null\na > a > b,3,30,1\nb,1,5,2\n";
    let r = read(
        csv,
        &[PathModel::First, PathModel::Last, PathModel::Linear],
        1,
    )
    .unwrap();
    assert_eq!(
        credits(&r, PathModel::First),
        [("a".into(), 3.0, Some(30.0)), ("b".into(), 1.0, Some(5.0))]
    );
    assert_eq!(
        credits(&r, PathModel::Last),
        [("a".into(), 0.0, Some(0.0)), ("b".into(), 4.0, Some(35.0))]
    );
    assert_eq!(
        credits(&r, PathModel::Linear),
        [("a".into(), 2.0, Some(20.0)), ("b".into(), 2.0, Some(15.0))]
    );
    assert_eq!(r.total_conversions, 4);
    assert_eq!(r.total_value, Some(Decimal::new(35, 0)));
}

#[test]
fn path_tables_in_every_dialect() {
    let variants = [
        "path;total_conversions\na>b;2\n",
        "path\ttotal_conversions\n a > b \t2\n",
        "id,total_conversions,path,extra\n7,2,\"a > b\",x\n",
        "\"path\",\"total_conversions\"\n\"a>b\",\"2\"\n\n",
        "path,total_conversions\r\na > b,2.0\r\n",
    ];
    for csv in variants {
        let r = read(csv, &[PathModel::Linear], 1).unwrap_or_else(|e| panic!("{csv:?}: {e}"));
        assert_eq!(
            credits(&r, PathModel::Linear),
            [("a".into(), 1.0, None), ("b".into(), 1.0, None)],
            "{csv:?}"
        );
    }
    let opts = PathReadOptions {
        sep: "|".into(),
        delimiter: Some(','),
    };
    let mut reader = PathReader::new("path,total_conversions\nx | y,1\n".as_bytes(), opts).unwrap();
    let row = reader.next_row().unwrap().unwrap();
    assert_eq!(row.channels().collect::<Vec<_>>(), ["x", "y"]);
    let quoted = "path,total_conversions\n\"a, the \"\"best\"\" > b\",1\n";
    let mut reader = PathReader::new(quoted.as_bytes(), PathReadOptions::default()).unwrap();
    let row = reader.next_row().unwrap().unwrap();
    assert_eq!(row.channels().collect::<Vec<_>>(), ["a, the \"best\"", "b"]);
}

#[test]
fn bad_path_tables_name_the_line() {
    let cases = [
        ("", "line 1: empty input"),
        (
            "path,conversions\na,1\n",
            "line 1: missing column \"total_conversions\"",
        ),
        (
            "channels,total_conversions\na,1\n",
            "line 1: missing column \"path\"",
        ),
        (
            "path,total_conversions\na,1\nb,x\n",
            "line 3: total_conversions: \"x\" is not a number",
        ),
        (
            "path,total_conversions\na,-1\n",
            "line 2: total_conversions: -1 is negative",
        ),
        (
            "path,total_conversions\na,1.5\n",
            "line 2: total_conversions: 1.5 is not a whole number",
        ),
        ("path,total_conversions\n,1\n", "line 2: empty path"),
        (
            "path,total_conversions\na >> b,1\n",
            "line 2: empty channel name",
        ),
        (
            "path,total_conversions,total_null\na,1\n",
            "line 2: missing field \"total_null\"",
        ),
        (
            "path,total_conversions,total_conversion_value\na,1,-3\n",
            "line 2: total_conversion_value: -3 is negative",
        ),
        ("path,total_conversions\n\"a,1\n", "line 2: unclosed quote"),
        (
            "path,total_conversions\n\"a\nb\",1\n",
            "line 2: unclosed quote (a quoted field that spans lines is not supported",
        ),
        (
            "path,total_conversions\ra,1\rb,2\r",
            "line 1: a carriage return inside the header: lines ending in CR alone are not supported",
        ),
    ];
    for (csv, want) in cases {
        let err = read(csv, &[PathModel::Linear], 1).unwrap_err();
        assert!(err.starts_with(want), "{csv:?}: got {err:?}, want {want:?}");
    }
    let err = read(
        "path,total_conversions,total_null\na,0,5\n",
        &[PathModel::Markov],
        1,
    )
    .unwrap_err();
    assert!(err.contains("no path converted"), "{err}");
    assert!(read("path,total_conversions\na,1\n", &[PathModel::Markov], 0).is_err());
    assert!("markow".parse::<PathModel>().is_err());
}

#[test]
fn markov_order_one_by_hand() {
    // Collapsed: a>b (3 conv, 1 null), b (1, 2), c>a (0, 4).
    let csv = "path,total_conversions,total_conversion_value,total_null\na > a > b,3,30,1\nb,1,5,2\nc > a,0,0,4\n";
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Markov], 1).unwrap();
    tally.read(&mut reader).unwrap();
    let model = tally.markov().unwrap().unwrap();
    assert!((model.conversion_probability() - 4.0 / 11.0).abs() < 1e-15);
    let re: Vec<f64> = model.removal_effects().iter().map(|(_, r)| *r).collect();
    let want = [
        1.0 - (12.0 / 77.0) / (4.0 / 11.0),
        1.0,
        1.0 - (20.0 / 77.0) / (4.0 / 11.0),
    ];
    assert!(close(&re, &want), "{re:?}");
    let report = tally.finish().unwrap();
    let got = credits(&report, PathModel::Markov);
    let sum: f64 = want.iter().sum();
    for ((name, conv, _), w) in got.iter().zip(want) {
        assert!((conv - w / sum * 4.0).abs() < 1e-12, "{name}");
    }
    let edge = |from: &MarkovState, to: &MarkovState| {
        model
            .transitions()
            .iter()
            .find(|e| &e.from == from && &e.to == to)
            .map(|e| e.probability)
    };
    let s = |c: &str| MarkovState::Channels(vec![c.into()]);
    assert_eq!(edge(&MarkovState::Start, &s("a")), Some(4.0 / 11.0));
    assert_eq!(edge(&s("a"), &s("b")), Some(0.5));
    assert_eq!(edge(&s("b"), &MarkovState::Conversion), Some(4.0 / 7.0));
    assert_eq!(edge(&s("a"), &s("a")), None, "repeats collapse");
    // Value: every conversion ends in b, so value credits follow conversions.
    let vsum: f64 = got.iter().map(|c| c.2.unwrap()).sum();
    assert!((vsum - 35.0).abs() < 1e-9);
}

#[test]
fn markov_higher_order_windows_and_short_paths() {
    let csv = "path,total_conversions,total_null\na > b > c,1,0\nb,1,1\na > b > b > c,0,1\n";
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Markov], 2).unwrap();
    tally.read(&mut reader).unwrap();
    let model = tally.markov().unwrap().unwrap();
    let states: std::collections::BTreeSet<Vec<String>> = model
        .transitions()
        .iter()
        .flat_map(|e| [e.from.clone(), e.to.clone()])
        .filter_map(|s| match s {
            MarkovState::Channels(c) => Some(c),
            _ => None,
        })
        .collect();
    let want: std::collections::BTreeSet<Vec<String>> =
        [vec!["a", "b"], vec!["b", "c"], vec!["b"], vec!["b", "b"]]
            .into_iter()
            .map(|v| v.into_iter().map(String::from).collect())
            .collect();
    assert_eq!(states, want);
    // start → ab 1/2 (then bc surely, directly or through bb) → conv 1/2;
    // start → b 1/2 → conv 1/2.
    assert!((model.conversion_probability() - 0.5).abs() < 1e-15);
}

#[test]
fn shapley_by_hand_and_its_options() {
    let csv = "path,total_conversions,total_conversion_value,total_null\na > a > b,3,30,1\nb,1,5,2\nc > a,0,0,4\n";
    let r = read(csv, &[PathModel::Shapley], 1).unwrap();
    let got = credits(&r, PathModel::Shapley);
    // {a,b}: v(a) = 0, v(b) = 1/3, v(ab) = 3/4.
    let (pa, pb) = (0.5 * (0.75 - 1.0 / 3.0), 0.5 * (1.0 / 3.0) + 0.5 * 0.75);
    assert!((got[0].1 - 3.0 * pa / 0.75).abs() < 1e-12);
    assert!((got[1].1 - (3.0 * pb / 0.75 + 1.0)).abs() < 1e-12);
    assert_eq!(got[2].1, 0.0);
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Shapley], 1).unwrap();
    tally.read(&mut reader).unwrap();
    let model = tally.shapley().unwrap().unwrap();
    let simple = model.simplified_credits();
    assert_eq!(simple[0], ("a".into(), 1.5, 15.0));
    assert_eq!(simple[1], ("b".into(), 2.5, 20.0));
    // Negative values: c lowers the rate of {a, c} below {a}'s.
    let neg = "path,total_conversions,total_null\na,5,5\na > c,1,9\nc,0,10\n";
    let mut reader = PathReader::new(neg.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Shapley], 1).unwrap();
    tally.read(&mut reader).unwrap();
    let model = tally.shapley().unwrap().unwrap();
    let v = model.values(&["a", "c"]);
    assert!(v[1].1 < 0.0, "{v:?}");
    // Per journey negative values are clamped.
    let w = model.weights(&journey(&["a", "c"]));
    assert_eq!(w[1], 0.0);
    let too_big: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let csv = format!("path,total_conversions\n{},1\n", too_big.join(">"));
    let err = read(&csv, &[PathModel::Shapley], 1).unwrap_err();
    assert!(
        err.contains("21 distinct channels") && err.contains("limit of 20"),
        "{err}"
    );
}

fn tally_of(csv: &str, models: &[PathModel], order: usize, limits: Limits) -> PathTally {
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(models, order).unwrap().with_limits(limits);
    tally.read(&mut reader).unwrap();
    tally
}

#[test]
fn every_named_limit_is_a_typed_error_and_can_be_raised() {
    let limit_of = |e: AttributionError| match e {
        AttributionError::LimitExceeded { limit, found, max } => (limit, found, max),
        other => panic!("not a limit: {other}"),
    };
    // Markov states: order 2 on a path of 6 channels has 6 windows + ...
    let csv = "path,total_conversions,total_null\na>b>c>d>e>f,3,1\nb>a,1,2\n";
    let small = Limits {
        markov_states: 4,
        ..Limits::default()
    };
    let t = tally_of(csv, &[PathModel::Markov], 2, small);
    let (limit, found, max) = limit_of(t.markov().unwrap_err());
    assert_eq!((limit, max), (Limit::MarkovStates, 4));
    assert!(found > 4);
    let raised = Limits {
        markov_states: found as usize,
        ..small
    };
    assert!(
        tally_of(csv, &[PathModel::Markov], 2, raised)
            .markov()
            .unwrap()
            .is_some()
    );
    // Shapley channels and subsets.
    let five = "path,total_conversions\na>b>c>d>e,1\n";
    let t = tally_of(
        five,
        &[PathModel::Shapley],
        1,
        Limits {
            shapley_channels: 4,
            ..Limits::default()
        },
    );
    assert_eq!(
        limit_of(t.shapley().unwrap_err()),
        (Limit::ShapleyChannels, 5, 4)
    );
    let t = tally_of(
        five,
        &[PathModel::Shapley],
        1,
        Limits {
            shapley_subsets: 31,
            ..Limits::default()
        },
    );
    assert_eq!(
        limit_of(t.shapley().unwrap_err()),
        (Limit::ShapleySubsets, 32, 31)
    );
    let t = tally_of(
        five,
        &[PathModel::Shapley],
        1,
        Limits {
            shapley_subsets: 32,
            ..Limits::default()
        },
    );
    assert!(t.shapley().unwrap().is_some());
    // Solver sweeps: a chain above the direct-solve fallback size (1 200
    // states) with one sweep allowed.
    let mut big = String::from("path,total_conversions,total_null\n");
    for i in 0..1300 {
        big.push_str(&format!("c{i}>c{}>c{i},1,2\n", (i * 7 + 1) % 1300));
    }
    let t = tally_of(
        &big,
        &[PathModel::Markov],
        1,
        Limits {
            solver_sweeps: 1,
            ..Limits::default()
        },
    );
    let err = t.markov().unwrap_err();
    assert!(err.to_string().contains("Limits::solver_sweeps"), "{err}");
    assert_eq!(limit_of(err).0, Limit::SolverSweeps);
}

/// A chain above the dense size (400 states) goes through the sparse
/// solver: its conversion probability and removal effects equal a dense
/// solve done here, independently, by Gauss–Jordan on I − Q.
#[test]
fn the_sparse_solver_agrees_with_a_dense_solve() {
    let n = 430;
    let mut csv = String::from("path,total_conversions,total_null\n");
    for i in 0..n {
        let (a, b, c) = (i, (i * 17 + 3) % n, (i * 31 + 7) % n);
        csv.push_str(&format!("c{a}>c{b}>c{c},{},{}\n", 1 + i % 3, 1 + i % 5));
        csv.push_str(&format!("c{b}>c{a},{},{}\n", i % 2, 2));
    }
    let t = tally_of(&csv, &[PathModel::Markov], 1, Limits::default());
    let model = t.markov().unwrap().unwrap();
    let states: Vec<MarkovState> = (0..n)
        .map(|i| MarkovState::Channels(vec![format!("c{i}")]))
        .collect();
    let (q, r, p0) = crate::common::chain_of(&model, &states);
    // P(conversion) with the states in `removed` absorbing into null.
    let p_conv = |removed: Option<usize>| {
        let live: Vec<usize> = (0..n).filter(|&s| Some(s) != removed).collect();
        let m = live.len();
        // Solve (I − Qᵀ) v = p0 on the live states by Gauss–Jordan.
        let mut a = vec![vec![0.0f64; m + 1]; m];
        for (x, &t) in live.iter().enumerate() {
            a[x][x] = 1.0;
            for (y, &s) in live.iter().enumerate() {
                a[x][y] -= q[s][t];
            }
            a[x][m] = p0[t];
        }
        for k in 0..m {
            let piv = (k..m)
                .max_by(|&x, &y| a[x][k].abs().total_cmp(&a[y][k].abs()))
                .unwrap();
            a.swap(k, piv);
            let d = a[k][k];
            for x in &mut a[k][k..] {
                *x /= d;
            }
            let pivot_row = a[k].clone();
            for (i, row) in a.iter_mut().enumerate() {
                if i != k && row[k] != 0.0 {
                    let f = row[k];
                    for (x, p) in row[k..].iter_mut().zip(&pivot_row[k..]) {
                        *x -= f * p;
                    }
                }
            }
        }
        live.iter()
            .enumerate()
            .map(|(x, &s)| a[x][m] * r[s])
            .sum::<f64>()
    };
    let p = p_conv(None);
    assert!(
        (p - model.conversion_probability()).abs() < 1e-9,
        "{p} vs {}",
        model.conversion_probability()
    );
    let effects: std::collections::BTreeMap<String, f64> =
        model.removal_effects().into_iter().collect();
    for c in [0, 1, 200, 429] {
        let want = (1.0 - p_conv(Some(c)) / p).max(0.0);
        let got = effects[&format!("c{c}")];
        assert!((want - got).abs() < 1e-9, "c{c}: {want} vs {got}");
    }
}

#[test]
fn fitted_models_attribute_journeys() {
    let csv = "path,total_conversions,total_null\nsearch > email,10,10\nsearch,1,30\nemail,5,5\n";
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Markov, PathModel::Shapley], 1).unwrap();
    tally.read(&mut reader).unwrap();
    let markov = tally.markov().unwrap().unwrap();
    let shapley = tally.shapley().unwrap().unwrap();
    let j = journey(&["search", "email", "email", "unknown"]);
    for m in [&markov as &dyn AttributionModel, &shapley] {
        let credits = Attributor::new().credit(&j, m).unwrap();
        assert_eq!(
            credits.iter().map(|c| c.value).sum::<Decimal>(),
            Decimal::new(100, 0)
        );
        assert_eq!(
            credits[1].conversions,
            credits[2].conversions,
            "{}: a channel's touches share equally",
            m.name()
        );
        assert!(
            (credits[1].value - credits[2].value).abs() <= Decimal::new(1, 2),
            "up to the cent the remainder lands on"
        );
        assert_eq!(
            credits[3].value,
            Decimal::ZERO,
            "unknown channels get nothing"
        );
    }
}

#[test]
fn merged_partitions_equal_a_single_pass() {
    let rows = [
        ("a>b>c", 3, 5, "12.50"),
        ("b", 0, 7, "0"),
        ("c>a", 2, 1, "3.10"),
        ("a>b>c", 1, 1, "7.25"),
        ("d>a>d>a", 4, 0, "1.01"),
        ("b>d", 1, 9, "100"),
    ];
    let models = [
        PathModel::First,
        PathModel::Linear,
        PathModel::Position,
        PathModel::Markov,
        PathModel::Shapley,
    ];
    let add = |tally: &mut PathTally, rows: &[(&str, u64, u64, &str)]| {
        for (p, c, n, v) in rows {
            tally.add(p.split('>'), *c, *n, Some(v.parse().unwrap()));
        }
    };
    for order in [1, 2] {
        let mut single = PathTally::new(&models, order).unwrap();
        add(&mut single, &rows);
        let mut merged = PathTally::new(&models, order).unwrap();
        for chunk in rows.chunks(2) {
            let mut part = PathTally::new(&models, order).unwrap();
            add(&mut part, chunk);
            merged.merge_from(&part).unwrap();
        }
        assert_eq!(merged.finish().unwrap(), single.finish().unwrap());
    }
    let a = PathTally::new(&[PathModel::Markov], 1).unwrap();
    let mut b = PathTally::new(&[PathModel::Markov], 2).unwrap();
    assert!(b.merge_from(&a).is_err());
}

#[test]
fn reports_print_as_the_command_line_csv() {
    let csv = "path;total_conversions;total_null\n\"search > a,b\";3;1\nsearch;1;2\n";
    let r = read(csv, &[PathModel::Linear, PathModel::First], 1).unwrap();
    let mut out = Vec::new();
    r.write_csv(&mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "model,channel_name,conversions,value\nlinear,search,2.5,\nlinear,\"a,b\",1.5,\nfirst,search,4,\nfirst,\"a,b\",0,\n"
    );
}

#[test]
fn attribution_types_are_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Journey>();
    check::<Attributor>();
    check::<PathTally>();
    check::<leadflow::attribution::MarkovModel>();
    check::<leadflow::attribution::ShapleyModel>();
    check::<leadflow::attribution::PathReport>();
    check::<AttributionError>();
    check::<Box<dyn AttributionModel>>();
    check::<Arc<dyn AttributionModel>>();
}

#[test]
fn huge_counts_and_values_are_typed_errors_never_wrong_totals() {
    let max = u64::MAX;
    let csv = "path,total_conversions,total_conversion_value,total_null\na>b,1,79228162514264337593543950335,1\na>b,1,79228162514264337593543950335,1\nb,1,1,1\n";
    let models = [
        PathModel::First,
        PathModel::Linear,
        PathModel::Markov,
        PathModel::Shapley,
    ];
    // Two values of Decimal::MAX have no exact total: a typed error, not a
    // saturated (wrong) one.
    let err = read(csv, &models, 1).unwrap_err();
    assert!(err.contains("conversion values is out of range"), "{err}");
    // Counts whose totals pass 2^64: a typed error too, not a saturated
    // total with zero or wrong credits.
    let csv =
        format!("path,total_conversions,total_null\na>b,{max},{max}\na>b,{max},{max}\nb,1,1\n");
    let err = read(&csv, &models, 1).unwrap_err();
    assert!(
        err.contains("conversion and null counts is out of range"),
        "{err}"
    );
    // Just under the bound, every model credits the exact total.
    let big = u64::MAX / 8;
    let csv = format!("path,total_conversions,total_null\na>b,{big},0\nb,{big},0\n");
    let report = read(&csv, &models, 1).unwrap();
    assert_eq!(report.total_conversions, 2 * big);
    for (model, credits) in &report.models {
        let sum: f64 = credits.iter().map(|c| c.conversions).sum();
        assert!(
            (sum / (2 * big) as f64 - 1.0).abs() < 1e-12,
            "{model:?}: {sum}"
        );
    }
    let big = Decimal::MAX;
    let j = Journey::new(vec![Touch::new(t(0), "a")]).converted(t(1), big);
    let err = Attributor::new()
        .with_scale(0)
        .unwrap()
        .report(&[j.clone(), j], &[&Linear as &dyn AttributionModel]);
    assert!(
        matches!(err, Err(AttributionError::Overflow { .. })),
        "{err:?}"
    );
}

#[test]
fn credits_of_ordinary_and_extreme_values_return_at_once_and_sum_exactly() {
    let t = |d| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, d, 9, 0, 0).unwrap();
    let touches = vec![
        Touch::new(t(1), "a"),
        Touch::new(t(2), "b"),
        Touch::new(t(3), "c"),
    ];
    let a = Attributor::new();
    let third = Decimal::from(100) / Decimal::from(3); // 27 decimals
    let retained = Decimal::from_f64_retain(1234.56).unwrap();
    // At cents, Decimal::MAX has no representation: a typed error, no panic.
    let max = Journey::new(touches.clone()).converted(t(4), Decimal::MAX);
    assert!(matches!(
        a.credit(&max, &Linear),
        Err(AttributionError::Overflow { .. })
    ));
    for (value, scale) in [
        (third, 2),
        (retained, 2),
        (Decimal::MAX, 0),
        (Decimal::new(1, 28), 2),
        (-third, 2),
    ] {
        let a = a.with_scale(scale).unwrap();
        let j = Journey::new(touches.clone()).converted(t(4), value);
        let start = std::time::Instant::now();
        let credits = a.credit(&j, &Linear).unwrap();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "{value}"
        );
        let sum: Decimal = credits.iter().map(|c| c.value).sum();
        assert_eq!(sum, value, "credits of {value} sum exactly");
        // Largest remainder: shares differ by at most one unit.
        let unit = Decimal::new(1, value.scale().max(scale));
        let (min, max) = credits
            .iter()
            .fold((Decimal::MAX, Decimal::MIN), |(lo, hi), c| {
                (lo.min(c.value), hi.max(c.value))
            });
        assert!(max - min <= unit, "{value}: {min}..{max}");
    }
}

#[test]
fn reports_serialize_to_json_and_back() {
    let t = |d| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, d, 9, 0, 0).unwrap();
    let j = Journey::new(vec![
        Touch::new(t(1), "email").with_campaign("spring"),
        Touch::new(t(2), "ads"),
    ])
    .converted(t(3), Decimal::new(10_000, 2));
    let report = Attributor::new()
        .report(&[j], &[&FirstTouch, &Linear])
        .unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: leadflow::attribution::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert_eq!(
        back.channel("linear", "email").map(|x| x.value),
        Some(Decimal::new(5_000, 2))
    );
}

#[test]
fn path_table_numbers_out_of_range_say_so() {
    let read = |csv: &str| {
        let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
        let mut tally = PathTally::new(&[PathModel::Linear], 1).unwrap();
        tally
            .read(&mut reader)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let err = read(
        "path,total_conversions,total_conversion_value\na > b,1,123456789012345678901234567890\n",
    )
    .unwrap_err();
    assert!(
        err.contains("out of range") && err.contains("line 2"),
        "{err}"
    );
    let err = read("path,total_conversions\na > b,1e30\n").unwrap_err();
    assert!(err.contains("out of range"), "{err}");
    let err = read("path,total_conversions\na > b,lots\n").unwrap_err();
    assert!(err.contains("not a number"), "{err}");
    let err = read(
        "path,total_conversions,total_conversion_value\na > b,1,0.12345678901234567890123456789\n",
    )
    .unwrap_err();
    assert!(
        err.contains("out of range"),
        "29 decimals are not exact: {err}"
    );
    assert!(read("path,total_conversions,total_conversion_value\na > b,1e3,12.5\n").is_ok());
}

#[test]
fn a_value_without_conversions_is_ignored_by_every_model_and_counted() {
    let csv = "path,total_conversions,total_conversion_value,total_null\n\
               a > b,2,100,1\n\
               b > c,0,55.5,3\n";
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(
        &[
            PathModel::First,
            PathModel::Linear,
            PathModel::Markov,
            PathModel::Shapley,
        ],
        1,
    )
    .unwrap();
    tally.read(&mut reader).unwrap();
    let report = tally.finish().unwrap();
    assert_eq!(report.valued_without_conversion, 1);
    assert_eq!(report.total_value, Some(Decimal::new(100, 0)));
    for (model, credits) in &report.models {
        // Exact: the value credits add up to the total to the last digit.
        let sum: Decimal = credits.iter().filter_map(|c| c.value).sum();
        assert_eq!(sum, Decimal::new(100, 0), "{model:?}");
    }
}

#[test]
fn one_long_path_of_many_channels_credits_each_once() {
    let path: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
    let csv = format!(
        "path,total_conversions,total_conversion_value\n{},1,2000\n",
        path.join(" > ")
    );
    let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
    let mut tally = PathTally::new(&[PathModel::Linear, PathModel::First], 1).unwrap();
    tally.read(&mut reader).unwrap();
    let report = tally.finish().unwrap();
    let linear = &report.models[0].1;
    assert_eq!(linear.len(), 2000);
    assert!(
        linear
            .iter()
            .all(|c| (c.conversions - 1.0 / 2000.0).abs() < 1e-15 && c.value == Some(Decimal::ONE))
    );
    let first = &report.models[1].1;
    assert_eq!(first.iter().filter(|c| c.conversions > 0.0).count(), 1);
}

#[test]
fn every_built_in_model_can_come_from_a_config() {
    use leadflow::attribution::ModelConfig;
    let journey = {
        let touches = vec![
            Touch::new(t(0), "a"),
            Touch::new(t(DAY), "direct"),
            Touch::new(t(2 * DAY), "c"),
        ];
        Journey::new(touches).converted(t(3 * DAY), Decimal::new(100, 0))
    };
    for json in [
        r#"{"model": "first"}"#,
        r#"{"model": "last"}"#,
        r#"{"model": "last_non_direct"}"#,
        r#"{"model": "last_non_direct", "direct": ["c"]}"#,
        r#"{"model": "linear"}"#,
        r#"{"model": "time_decay", "half_life": "2d"}"#,
        r#"{"model": "position"}"#,
        r#"{"model": "position", "ends": 0.3}"#,
        r#"{"model": "w"}"#,
        r#"{"model": "z"}"#,
        r#"{"model": "j"}"#,
        r#"{"model": "inverse_j"}"#,
        r#"{"model": "anchored", "name": "mine", "weights": {"first": 0.5, "last": 0.5}}"#,
    ] {
        let config: ModelConfig =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let model = config.build().unwrap();
        let credits = Attributor::new().credit(&journey, model.as_ref()).unwrap();
        assert_eq!(
            credits.iter().map(|c| c.value).sum::<Decimal>(),
            Decimal::new(100, 0),
            "{json}"
        );
        let back: ModelConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }
    let lnd: ModelConfig =
        serde_json::from_str(r#"{"model": "last_non_direct", "direct": ["c"]}"#).unwrap();
    let credits = Attributor::new()
        .credit(&journey, lnd.build().unwrap().as_ref())
        .unwrap();
    assert_eq!(
        credits[1].value,
        Decimal::new(100, 0),
        "c is direct here, so the last non-direct is the second touch"
    );
    assert!(
        serde_json::from_str::<ModelConfig>(r#"{"model": "position", "ends": 0.7}"#)
            .unwrap()
            .build()
            .is_err()
    );
    assert!(serde_json::from_str::<ModelConfig>(r#"{"model": "nope"}"#).is_err());
}

/// J-shaped and inverse J on a path table, by hand: the shares of the
/// journey models, applied to each row's positions.
#[test]
fn j_shaped_models_run_on_path_tables() {
    let csv =
        "path,total_conversions,total_conversion_value\na > b > c,10,100\na > b,10,0\nc,1,1\n";
    let r = read(csv, &[PathModel::JShaped, PathModel::InverseJ], 1).unwrap();
    let j = credits(&r, PathModel::JShaped);
    // a: 0.2·10 + (0.2 + 0.1)·10; b: 0.2·10 + (0.6 + 0.1)·10; c: 0.6·10 + 1.
    let want = [("a", 5.0), ("b", 9.0), ("c", 7.0)];
    for ((name, conv, _), (w_name, w_conv)) in j.iter().zip(want) {
        assert_eq!(name, w_name);
        assert!((conv - w_conv).abs() < 1e-12, "{name}: {conv}");
    }
    let inv = credits(&r, PathModel::InverseJ);
    // a: 0.6·10 + (0.6 + 0.1)·10; b: 0.2·10 + (0.2 + 0.1)·10; c: 0.2·10 + 1.
    let want = [("a", 13.0), ("b", 5.0), ("c", 3.0)];
    for ((name, conv, _), (w_name, w_conv)) in inv.iter().zip(want) {
        assert_eq!(name, w_name);
        assert!((conv - w_conv).abs() < 1e-12, "{name}: {conv}");
    }
    // Values: 100 on the first row only (the second row is worth 0): a gets
    // 20, b 20, c 60 + 1.
    let values: Vec<f64> = j.iter().map(|c| c.2.unwrap()).collect();
    assert_eq!(values, [20.0, 20.0, 61.0]);
    assert_eq!("j_shaped".parse::<PathModel>().unwrap(), PathModel::JShaped);
}

/// The `attribute` example, end to end, against ChannelAttribution 2.2.5's
/// outputs for the same table (tests/data/channel_attribution): the
/// heuristics equal, Markov within CA's simulation noise (10^8 paths:
/// 0.08 conversions per channel and about 0.05 % of value; checked
/// within 0.1 conversions and 0.1 %).
#[test]
fn attribute_matches_channel_attribution_golden_outputs() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/channel_attribution");
    let table = |name: &str| -> Vec<std::collections::HashMap<String, String>> {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .zip(l.split(','))
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    };
    let run = |args: &[&str]| -> std::collections::HashMap<(String, String), (f64, f64)> {
        let mut args: Vec<std::ffi::OsString> = args.iter().map(|a| a.into()).collect();
        args.push(dir.join("paths.csv").into());
        crate::common::run_example("attribute", &args)
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    (f[0].to_string(), f[1].to_string()),
                    (f[2].parse().unwrap(), f[3].parse().unwrap()),
                )
            })
            .collect()
    };
    let num = |s: &String| s.parse::<f64>().unwrap();
    let ours = run(&["--model", "first", "--model", "last", "--model", "linear"]);
    let heuristic = table("heuristic.csv");
    assert_eq!(heuristic.len(), 6);
    for row in &heuristic {
        let c = &row["channel_name"];
        for (model, col) in [
            ("first", "first_touch"),
            ("last", "last_touch"),
            ("linear", "linear_touch"),
        ] {
            let (conv, value) = ours[&(model.to_string(), c.clone())];
            let (ca_conv, ca_value) = (
                num(&row[&format!("{col}_conversions")]),
                num(&row[&format!("{col}_value")]),
            );
            assert!(
                (conv - ca_conv).abs() <= 1e-9 * ca_conv.max(1.0),
                "{model} {c}: {conv} vs {ca_conv}"
            );
            // Our values are exact decimals at the table's scale (cents):
            // within half a cent of CA's floats.
            assert!(
                (value - ca_value).abs() <= 0.005 + 1e-9 * ca_value,
                "{model} {c}: {value} vs {ca_value}"
            );
        }
    }
    for order in 1..=3 {
        let ours = run(&["--model", "markov", "--order", &order.to_string()]);
        let golden = table(&format!("markov_order{order}.csv"));
        assert_eq!(golden.len(), 6);
        for row in &golden {
            let c = &row["channel_name"];
            let (conv, value) = ours[&("markov".to_string(), c.clone())];
            let (ca_conv, ca_value) = (
                num(&row["total_conversions"]),
                num(&row["total_conversion_value"]),
            );
            assert!(
                (conv - ca_conv).abs() < 0.1,
                "order {order} {c}: {conv} vs {ca_conv}"
            );
            assert!(
                (value - ca_value).abs() < 1e-3 * ca_value,
                "order {order} {c}: {value} vs {ca_value}"
            );
        }
    }
}

/// Reading a file in ranges on several threads gives exactly the one-pass
/// tally, and a bad row keeps its line number in the file.
#[test]
fn reading_a_file_on_threads_equals_one_pass() {
    let dir = std::env::temp_dir().join(format!("leadflow-read-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("path;total_conversions;total_conversion_value;total_null\r\n");
    for i in 0..5000u64 {
        if i % 777 == 0 {
            text.push_str("\r\n");
        }
        let path: Vec<String> = (0..1 + i % 4)
            .map(|k| format!("ch{}", (i * 7 + k * 3) % 11))
            .collect();
        text.push_str(&format!(
            "{};{};{}.{:02};{}\r\n",
            path.join(" > "),
            i % 3,
            i % 1000,
            i % 100,
            i % 5
        ));
    }
    let file = dir.join("paths.csv");
    std::fs::write(&file, &text).unwrap();
    let models = [
        PathModel::First,
        PathModel::Linear,
        PathModel::Markov,
        PathModel::Shapley,
    ];
    let mut one = PathTally::new(&models, 2).unwrap();
    let mut reader = PathReader::new(text.as_bytes(), PathReadOptions::default()).unwrap();
    one.read(&mut reader).unwrap();
    let want = serde_json::to_string(&one.finish().unwrap()).unwrap();
    for threads in [1, 2, 3, 7] {
        let mut t = PathTally::new(&models, 2).unwrap();
        t.read_file(&file, PathReadOptions::default(), threads)
            .unwrap();
        assert_eq!(
            serde_json::to_string(&t.finish().unwrap()).unwrap(),
            want,
            "{threads} threads"
        );
    }
    // A bad row late in the file: the same line number as one pass gives.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bad_at = 4321;
    let mut bad: String = lines[..bad_at].concat();
    bad.push_str("a > b;not a number;1;1\r\n");
    bad.push_str(&lines[bad_at..].concat());
    let bad_file = dir.join("bad.csv");
    std::fs::write(&bad_file, &bad).unwrap();
    let mut reader = PathReader::new(bad.as_bytes(), PathReadOptions::default()).unwrap();
    let one_err = PathTally::new(&models, 2)
        .unwrap()
        .read(&mut reader)
        .unwrap_err();
    assert_eq!(one_err.line, bad_at + 1);
    for threads in [1, 2, 4] {
        let err = PathTally::new(&models, 2)
            .unwrap()
            .read_file(&bad_file, PathReadOptions::default(), threads)
            .unwrap_err();
        assert_eq!(err, one_err, "{threads} threads");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One long path of distinct channels in shuffled name order: a sparse
/// chain (over 400 states) whose sweeps follow the flow from the start,
/// so every removal solve converges at once; each channel is equally
/// necessary.
#[test]
fn a_long_path_of_many_channels_solves_quickly_and_evenly() {
    let mut names: Vec<String> = (0..1500).map(|i| format!("c{i}")).collect();
    // A fixed shuffle: names in the path are not in sorted order.
    for i in 0..names.len() {
        let j = (i * 7919 + 13) % names.len();
        names.swap(i, j);
    }
    let csv = format!(
        "path,total_conversions,total_null\n{},1,1\n",
        names.join(" > ")
    );
    let r = read(&csv, &[PathModel::Markov], 1).unwrap();
    let credits = credits(&r, PathModel::Markov);
    assert_eq!(credits.len(), 1500);
    for (name, conv, _) in &credits {
        assert!((conv - 1.0 / 1500.0).abs() < 1e-12, "{name}: {conv}");
    }
}

#[test]
fn cr_only_rows_and_valued_rows_without_nulls_are_handled() {
    // A CR that does not end a line: an error naming the row, not one
    // merged row.
    let err = read(
        "total_conversions,path\n1,a\r2,b\r3,c\r",
        &[PathModel::Linear],
        1,
    )
    .unwrap_err();
    assert!(
        err.starts_with("line 2: a carriage return inside the row"),
        "{err}"
    );
    // A value without conversions is counted whether or not the row has
    // nulls.
    let r = read(
        "path,total_conversions,total_conversion_value,total_null\na,0,5.00,0\nb,0,5.00,3\nb,1,1.00,0\n",
        &[PathModel::Linear],
        1,
    )
    .unwrap();
    assert_eq!(r.valued_without_conversion, 2);
    // One row of a path of one channel holds u64::MAX − 1 conversions
    // exactly: nothing can saturate.
    let big = u64::MAX - 1;
    let r = read(
        &format!("path,total_conversions\na,{big}\n"),
        &[PathModel::Linear, PathModel::Markov],
        1,
    )
    .unwrap();
    assert_eq!(r.total_conversions, big);
}

/// One very long path over few channels at order 3: a chain above the
/// dense size whose sweeps converge too slowly (a state almost never
/// leaves) is solved directly instead of stopping with "did not converge".
#[test]
fn a_long_slowly_mixing_chain_falls_back_to_a_direct_solve() {
    let mut x: u64 = 7;
    let path: Vec<String> = (0..20_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("c{}", (x >> 33) % 8)
        })
        .collect();
    let csv = format!(
        "path,total_conversions,total_null\n{},1,0\n",
        path.join(">")
    );
    let t = tally_of(&csv, &[PathModel::Markov], 3, Limits::default());
    let model = t.markov().unwrap().unwrap();
    assert!(
        model.transitions().len() > 400 * 2,
        "a chain above the dense size"
    );
    let r = t.finish().unwrap();
    let credits = credits(&r, PathModel::Markov);
    let sum: f64 = credits.iter().map(|c| c.1).sum();
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    // Every channel is everywhere on the path: each is about equally
    // necessary.
    for (name, conv, _) in &credits {
        assert!((conv - 0.125).abs() < 0.01, "{name}: {conv}");
    }
}

#[test]
fn the_solver_work_bound_is_a_typed_error_and_can_be_raised() {
    let mut csv = String::from("path,total_conversions,total_null\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "c{i}>c{}>c{},1,1\n",
            (i * 7 + 1) % 300,
            (i * 13 + 5) % 300
        ));
    }
    let small = Limits {
        solver_work: 1_000_000,
        ..Limits::default()
    };
    let err = tally_of(&csv, &[PathModel::Markov], 1, small)
        .markov()
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttributionError::LimitExceeded {
                limit: Limit::SolverWork,
                max: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Limits::solver_work"), "{err}");
    assert!(
        tally_of(&csv, &[PathModel::Markov], 1, Limits::default())
            .markov()
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_scale_beyond_a_decimal_is_an_error_not_a_clamp() {
    assert_eq!(
        Attributor::new().with_scale(29).err(),
        Some(ModelError::ScaleTooLarge { scale: 29, max: 28 })
    );
    assert!(Attributor::new().with_scale(28).is_ok());
}

/// Milestone times for a test journey.
fn ms(
    lead_created: Option<leadflow::Timestamp>,
    opportunity_created: Option<leadflow::Timestamp>,
    closed_won: Option<leadflow::Timestamp>,
) -> Milestones {
    Milestones {
        lead_created,
        opportunity_created,
        closed_won,
    }
}

#[test]
fn a_walk_is_the_windows_of_the_order_with_repeats_collapsed() {
    use leadflow::attribution::MarkovState;
    let names = |w: Vec<MarkovState>| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Order 2 over a b b b c: windows ab, bb, bb, bc; the repeat collapses.
    assert_eq!(
        names(MarkovState::walk(&["a", "b", "b", "b", "c"], 2, false)),
        ["(start)", "a > b", "b > b", "b > c", "(null)"]
    );
    // A path shorter than the order is one state.
    assert_eq!(
        names(MarkovState::walk(&["a", "b"], 3, true)),
        ["(start)", "a > b", "(conversion)"]
    );
    assert!(MarkovState::walk::<&str>(&[], 1, true).is_empty());
    // Order 0 reads as 1.
    assert_eq!(
        MarkovState::walk(&["a"], 0, true),
        MarkovState::walk(&["a"], 1, true)
    );
}

#[test]
fn a_value_column_without_values_reports_zero_credits_and_rows_print_alike() {
    use leadflow::attribution::{ChannelCredit, PathModel, PathReport, PathTally};
    let mut tally = PathTally::new(&[PathModel::Linear], 1)
        .unwrap()
        .with_value_column();
    tally.add(["a", "b"], 2, 0, None);
    let report = tally.finish().unwrap();
    assert_eq!(report.total_value, Some(Decimal::ZERO));
    let mut csv = Vec::new();
    report.write_csv(&mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "model,channel_name,conversions,value\nlinear,a,1,0\nlinear,b,1,0\n"
    );
    // Without the column, no values at all.
    let mut plain = PathTally::new(&[PathModel::Linear], 1).unwrap();
    plain.add(["a"], 1, 0, None);
    assert_eq!(plain.finish().unwrap().total_value, None);
    // One row written alone is the report's row.
    let mut row = Vec::new();
    ChannelCredit::new("x,\"y\"", -0.0, Some(Decimal::new(150, 2)))
        .write_csv_row(PathModel::Linear, &mut row)
        .unwrap();
    assert_eq!(
        String::from_utf8(row).unwrap(),
        "linear,\"x,\"\"y\"\"\",0,1.50\n"
    );
    assert!(PathReport::CSV_HEADER.ends_with('\n'));
}

#[test]
fn value_credits_of_many_digits_split_exactly_and_never_negative() {
    use leadflow::attribution::{PathModel, PathTally};
    for big in [
        "99999999999999.99",
        "12345678901234567",
        "1234567890123456789012345678",
    ] {
        let v: Decimal = big.parse().unwrap();
        let mut tally = PathTally::new(&[PathModel::First, PathModel::Linear], 1).unwrap();
        tally.add(["a"], 1, 0, Some(v));
        tally.add(["b"], 1, 0, Some(Decimal::ZERO));
        let report = tally.finish().unwrap();
        let (_, first) = &report.models[0];
        assert_eq!(first[0].value, Some(v), "{big}");
        assert_eq!(first[1].value, Some(Decimal::ZERO), "{big}");
        for (_, credits) in &report.models {
            assert!(
                credits.iter().all(|c| c.value.unwrap() >= Decimal::ZERO),
                "{big}"
            );
            let sum: Decimal = credits.iter().map(|c| c.value.unwrap()).sum();
            assert_eq!(sum, v, "{big}");
        }
    }
}
