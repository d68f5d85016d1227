//! Helpers shared by the test modules.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use leadflow::{Actor, Engine, Event, EventBody, Preset, Reason, ReasonCode, Source, Timestamp};

/// The waterfall preset's stage names.
pub const WATERFALL: [&str; 10] = [
    "Anonymous",
    "Inquiry",
    "MQL",
    "SAL",
    "SQL",
    "Opportunity",
    "Won",
    "Lost",
    "Disqualified",
    "Recycled",
];

/// Minute `m` after a fixed epoch (2026-03-02 09:00 UTC).
pub fn t(m: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::TimeDelta::minutes(m)
}

pub fn engine(preset: Preset) -> Engine {
    let name = match preset {
        Preset::Default => "default",
        Preset::Waterfall => "waterfall",
        other => panic!("no test engine for preset {other:?}"),
    };
    Engine::from_json(&format!(r#"{{"lifecycle": {{"preset": "{name}"}}}}"#)).unwrap()
}

pub fn created(id: &str, lead: &str, m: i64, stage: &str, source: Source) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Created {
            stage: stage.into(),
            source,
            actor: Actor::Marketing,
        },
    )
}

pub fn advance(id: &str, lead: &str, m: i64, to: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Advanced {
            to: to.into(),
            actor: Actor::Sales,
            reason: None,
        },
    )
}

pub fn advance_because(id: &str, lead: &str, m: i64, to: &str, code: ReasonCode) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Advanced {
            to: to.into(),
            actor: Actor::Sales,
            reason: Some(Reason::new(code)),
        },
    )
}

pub fn recycle(id: &str, lead: &str, m: i64, code: ReasonCode) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Recycled {
            actor: Actor::Sales,
            reason: Reason::new(code).with_note("not this quarter"),
        },
    )
}

pub fn regress(id: &str, lead: &str, m: i64, to: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Regressed {
            to: to.into(),
            actor: Actor::Sales,
            reason: Reason::new(ReasonCode::Other),
        },
    )
}

pub fn identified(id: &str, lead: &str, m: i64, visitor: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Identified {
            visitor: visitor.into(),
        },
    )
}

/// Stage names of a lead's history, as `from->to` strings.
pub fn path(engine: &Engine, lead: &leadflow::Lead) -> Vec<String> {
    let lc = engine.lifecycle();
    lead.history()
        .iter()
        .map(|tr| lc.name(tr.to).to_owned())
        .collect()
}

/// An activity event.
pub fn activity(
    id: &str,
    lead: &str,
    m: i64,
    kind: &str,
    attrs: &[(&str, leadflow::AttrValue)],
) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Activity {
            kind: kind.into(),
            channel: None,
            campaign: None,
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        },
    )
}

/// A profile-attributes event.
pub fn attrs(
    id: &str,
    lead: &str,
    m: i64,
    set: &[(&str, leadflow::AttrValue)],
    unset: &[&str],
) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Attributes {
            set: set
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            unset: unset.iter().map(|s| (*s).to_owned()).collect(),
        },
    )
}

/// A manual score adjustment.
pub fn adjust(
    id: &str,
    lead: &str,
    m: i64,
    group: Option<&str>,
    change: leadflow::Adjustment,
) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::ScoreAdjusted {
            group: group.map(str::to_owned),
            change,
            actor: Actor::Sales,
            reason: "rep judgement".into(),
        },
    )
}

/// A scoring engine with two groups, caps, every frequency policy, negative
/// points, a grading profile and an MQL rule.
pub const SCORING_CONFIG: &str = r#"{
  "lifecycle": {"preset": "default"},
  "lists": {"targets": ["Acme", "Globex"]},
  "scoring": {
    "groups": [{"name": "engagement", "max": 200}, {"name": "product", "min": 0, "max": 50}],
    "total_max": 220,
    "rules": [
      {"id": "pricing", "when": {"kind": "page_view", "attrs": [{"attr": "url", "op": "starts_with", "value": "/pricing"}]}, "points": 10, "frequency": {"window": "1d"}},
      {"id": "any-page", "when": {"kind": "page_view"}, "points": 1, "max_count": 5},
      {"id": "demo", "when": {"kind": "demo_request"}, "points": 50, "frequency": "once"},
      {"id": "webinar", "when": {"kind": "webinar_attended", "attrs": [{"attr": "minutes", "op": "range", "min": 30}]}, "points": 20},
      {"id": "whitepaper", "when": {"kind": "form_submit", "attrs": [{"attr": "asset", "op": "one_of", "values": ["roi-guide", "security-paper"]}]}, "points": 15, "group": "product"},
      {"id": "careers", "when": {"kind": "page_view", "attrs": [{"attr": "url", "op": "contains", "value": "careers"}]}, "points": -30},
      {"id": "unsubscribe", "when": {"kind": "email_unsubscribe"}, "points": -40}
    ]
  },
  "grading": {
    "criteria": [
      {"id": "industry", "when": {"attr": "industry", "op": "one_of", "values": ["software", "fintech"]}, "weight": 3},
      {"id": "size", "when": {"attr": "employees", "op": "range", "min": 50, "max": 5000}, "weight": 2},
      {"id": "title", "when": {"attr": "title", "op": "contains", "value": "VP"}, "weight": 1},
      {"id": "target", "when": {"attr": "company", "op": "in_list", "list": "targets"}, "weight": 3}
    ]
  },
  "qualification": [
    {"id": "mql", "when": {"score": {"min": 60}, "min_grade": "B-", "stages": ["Anonymous", "Recycled"]}, "then": "MQL", "rearm": "new_cycle"}
  ]
}"#;

pub fn scoring_engine() -> Engine {
    Engine::from_json(SCORING_CONFIG).unwrap()
}

/// A set of events with unique ids, spread over `spacing_min * 0..slots`
/// minutes so that ties happen, from a strategy for event bodies.
pub fn events_of<B: proptest::strategy::Strategy<Value = EventBody>>(
    body: B,
    max: usize,
    slots: i64,
    spacing_min: i64,
) -> impl proptest::strategy::Strategy<Value = Vec<Event>> {
    use proptest::strategy::Strategy;
    proptest::collection::vec((0..slots, body), 0..max).prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (q, body))| Event::new(format!("e{i:03}"), "lead", t(q * spacing_min), body))
            .collect()
    })
}

/// The same events and an arrival order of them: shuffled, with some sent
/// twice.
pub fn shuffled_with_duplicates(
    events: impl proptest::strategy::Strategy<Value = Vec<Event>>,
) -> impl proptest::strategy::Strategy<Value = (Vec<Event>, Vec<Event>)> {
    use proptest::strategy::{Just, Strategy};
    events.prop_flat_map(|evs| {
        let n = evs.len();
        let dups = proptest::collection::vec(0..n.max(1), 0..=n.min(8));
        (Just(evs), dups).prop_flat_map(|(evs, dups)| {
            let mut arrival = evs.clone();
            if !evs.is_empty() {
                arrival.extend(dups.iter().map(|&i| evs[i].clone()));
            }
            (Just(evs), Just(arrival).prop_shuffle())
        })
    })
}

/// Arbitrary JSON whose strings and object keys are drawn from the given
/// vocabularies, so that it often looks like the config it attacks.
pub fn arb_json(
    words: Vec<&'static str>,
    keys: Vec<&'static str>,
) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        proptest::sample::select(words).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        let key = proptest::sample::select(keys.clone());
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(key.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A built example binary (cargo builds the examples with the tests).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} missing: run `cargo test`, which builds the examples",
        bin.display()
    );
    bin
}

/// A point value as the decimal a config or event would write (the
/// shortest decimal that prints as `x`): `pts(0.1)` is exactly 0.1.
pub fn pts(x: f64) -> rust_decimal::Decimal {
    format!("{x}").parse().expect("a decimal literal")
}

/// Runs a built example with `args`; its standard output, after asserting
/// it succeeded (its standard error is the failure message).
pub fn run_example<S: AsRef<std::ffi::OsStr>>(name: &str, args: &[S]) -> String {
    let out = std::process::Command::new(example_binary(name))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fitted chain's transient part over `states` (in that order): `q[i][j]`
/// between states, `r[i]` into conversion, `p0[j]` from the start.
pub type Chain = (Vec<Vec<f64>>, Vec<f64>, Vec<f64>);

pub fn chain_of(
    model: &leadflow::attribution::MarkovModel,
    states: &[leadflow::attribution::MarkovState],
) -> Chain {
    use leadflow::attribution::MarkovState;
    let n = states.len();
    let idx = |s: &MarkovState| states.iter().position(|x| x == s);
    let mut q = vec![vec![0.0f64; n]; n];
    let (mut r, mut p0) = (vec![0.0; n], vec![0.0; n]);
    for e in model.transitions() {
        match (idx(&e.from), idx(&e.to), &e.from, &e.to) {
            (Some(i), Some(j), _, _) => q[i][j] = e.probability,
            (Some(i), None, _, MarkovState::Conversion) => r[i] = e.probability,
            (None, Some(j), MarkovState::Start, _) => p0[j] = e.probability,
            _ => {}
        }
    }
    (q, r, p0)
}
