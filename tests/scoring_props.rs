//! Property tests of scoring, grading and qualification.

use crate::common::*;
use leadflow::{Adjustment, AttrValue, Engine, Event, EventBody, Lead, LeadStore};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

const DECAYS: [&str; 4] = [
    "null",
    r#"{"half_life": "3d"}"#,
    r#"{"percent_per_period": {"percent": 20, "period": "1d"}}"#,
    r#"{"expire_after": "2d"}"#,
];

fn engine_with_decay(decay: &str) -> Engine {
    let mut config: serde_json::Value = serde_json::from_str(SCORING_CONFIG).unwrap();
    config["scoring"]["decay"] = serde_json::from_str(decay).unwrap();
    config["qualification"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": "hot", "when": {"score": {"group": "product", "min": 30}}, "then": "SQL", "rearm": {"hysteresis": 10}}));
    Engine::from_json(&config.to_string()).unwrap()
}

fn body() -> impl Strategy<Value = EventBody> {
    let url = proptest::sample::select(vec!["/pricing", "/careers", "/blog", "/PRICING/x"]);
    let kind = proptest::sample::select(vec![
        "page_view",
        "demo_request",
        "webinar_attended",
        "form_submit",
        "email_unsubscribe",
        "other",
    ]);
    let activity =
        (kind, url, 0.0f64..90.0, any::<bool>()).prop_map(|(kind, url, minutes, roi)| {
            let mut attrs = leadflow::Attrs::new();
            attrs.insert("url".into(), url.into());
            attrs.insert("minutes".into(), AttrValue::Number(minutes.floor()));
            attrs.insert(
                "asset".into(),
                if roi { "roi-guide" } else { "other" }.into(),
            );
            EventBody::Activity {
                kind: kind.into(),
                channel: None,
                campaign: None,
                attrs,
            }
        });
    let profile = (
        proptest::option::of(proptest::sample::select(vec!["software", "retail"])),
        proptest::option::of(0.0f64..10_000.0),
        any::<bool>(),
    )
        .prop_map(|(industry, employees, drop_title)| {
            let mut set = leadflow::Attrs::new();
            if let Some(i) = industry {
                set.insert("industry".into(), i.into());
            }
            if let Some(e) = employees {
                set.insert("employees".into(), AttrValue::Number(e.floor()));
            }
            let unset = if drop_title {
                vec!["industry".to_owned()]
            } else {
                vec![]
            };
            EventBody::Attributes { set, unset }
        });
    let change = prop_oneof![
        (-20.0f64..20.0).prop_map(|p| Adjustment::Add(pts(p.round()))),
        (0.0f64..20.0).prop_map(|p| Adjustment::Subtract(pts(p.round()))),
        (0.0f64..80.0).prop_map(|p| Adjustment::Set(pts(p.round()))),
        Just(Adjustment::Reset),
    ];
    let adjust = (
        proptest::option::of(proptest::sample::select(vec![
            "engagement",
            "product",
            "bogus",
        ])),
        change,
    )
        .prop_map(|(group, change)| EventBody::ScoreAdjusted {
            group: group.map(str::to_owned),
            change,
            actor: leadflow::Actor::Sales,
            reason: "r".into(),
        });
    let stage = prop_oneof![
        Just(EventBody::Recycled {
            actor: leadflow::Actor::Sales,
            reason: leadflow::Reason::new(leadflow::ReasonCode::Timing)
        }),
        proptest::sample::select(vec!["MQL", "SQL", "Opportunity"]).prop_map(|to| {
            EventBody::Advanced {
                to: to.into(),
                actor: leadflow::Actor::Sales,
                reason: None,
            }
        }),
    ];
    prop_oneof![6 => activity, 2 => profile, 2 => adjust, 1 => stage]
}

fn events(max: usize) -> impl Strategy<Value = Vec<Event>> {
    events_of(body(), max, 10 * 24 * 4, 15)
}

fn check_card(e: &Engine, lead: &Lead, at: leadflow::Timestamp) -> Result<(), TestCaseError> {
    let card = e.score_card(lead, at);
    let mut total = Decimal::ZERO;
    for g in &card.groups {
        // Exact decimals: the entries sum to the raw value to the last digit.
        let raw: Decimal = g.entries.iter().map(|x| x.decayed).sum();
        prop_assert_eq!(raw, g.raw);
        let mut score = raw;
        if let Some(min) = g.min {
            score = score.max(min);
        }
        if let Some(max) = g.max {
            score = score.min(max);
        }
        prop_assert_eq!(score, g.score);
        total += score;
        prop_assert!(g.entries.iter().all(|x| x.at <= at));
    }
    prop_assert_eq!(card.uncapped_total, total);
    prop_assert_eq!(card.total_max.map_or(total, |m| total.min(m)), card.total);
    prop_assert_eq!(e.score(lead, at), card.total);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arrival_order_and_duplicates_do_not_matter(
        (set, arrival) in shuffled_with_duplicates(events(40)),
        decay in 0usize..4,
    ) {
        let e = engine_with_decay(DECAYS[decay]);
        let mut lead = e.new_lead("lead");
        for ev in arrival.iter().cloned() {
            e.ingest(&mut lead, ev);
        }
        let expected = e.replay("lead", set.clone());
        prop_assert_eq!(&lead, &expected);
        let mut batched = e.new_lead("lead");
        let (a, b) = arrival.split_at(arrival.len() / 2);
        e.ingest_batch(&mut batched, b.to_vec());
        e.ingest_batch(&mut batched, a.to_vec());
        prop_assert_eq!(&batched, &expected);
        for m in [0, 3 * 24 * 60, 12 * 24 * 60] {
            prop_assert_eq!(e.score(&lead, t(m)), e.score(&expected, t(m)));
        }
    }

    #[test]
    fn incremental_ingest_equals_replay_and_cards_add_up(evs in events(50), decay in 0usize..4) {
        let e = engine_with_decay(DECAYS[decay]);
        let mut sorted = evs.clone();
        sorted.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let mut lead = e.new_lead("lead");
        for ev in sorted {
            e.ingest(&mut lead, ev);
        }
        prop_assert_eq!(&lead, &e.replay("lead", evs));
        for m in [0, 24 * 60, 5 * 24 * 60, 11 * 24 * 60] {
            check_card(&e, &lead, t(m))?;
        }
        let back = e.restore(serde_json::from_str(&serde_json::to_string(&lead).unwrap()).unwrap()).unwrap();
        prop_assert_eq!(back, lead);
    }

    #[test]
    fn store_agrees_with_replay(evs in events(30)) {
        let e = engine_with_decay(DECAYS[1]);
        let mut store = LeadStore::new(e.clone());
        for ev in evs.iter().rev().cloned() {
            store.ingest(ev);
        }
        if let Some(lead) = store.lead(&"lead".into()) {
            prop_assert_eq!(lead, &e.replay("lead", evs));
        } else {
            prop_assert!(evs.is_empty());
        }
    }

    #[test]
    fn closed_form_decay_equals_step_by_step(
        points in proptest::collection::vec((0i64..(20 * 24), -50i64..100), 1..30),
        query_h in 0i64..(40 * 24),
        mode in 0usize..3,
    ) {
        // Contributions at whole hours; the reference walks time hour by hour.
        let decay = [
            r#"{"half_life": "37h"}"#,
            r#"{"percent_per_period": {"percent": 15, "period": "1d"}}"#,
            r#"{"expire_after": "50h"}"#,
        ][mode];
        let e = Engine::from_json(&format!(
            r#"{{"lifecycle": {{"preset": "default"}}, "scoring": {{"decay": {decay}}}}}"#
        )).unwrap();
        let evs: Vec<Event> = points.iter().enumerate()
            .map(|(i, &(h, p))| adjust(&format!("a{i:02}"), "l", h * 60, None, Adjustment::Add(Decimal::from(p))))
            .collect();
        let lead = e.replay("l", evs);
        let got = e.score(&lead, t(query_h * 60)).to_f64().unwrap();
        // Reference: per hour, decay what is there, then add what arrives.
        let epoch_hour = t(0).timestamp() / 3600;
        let mut expected = 0.0f64;
        match mode {
            0 | 1 => {
                let mut value = 0.0f64;
                for h in 0..=query_h {
                    if h > 0 {
                        value *= if mode == 0 {
                            (-1.0f64 / 37.0).exp2()
                        } else if (epoch_hour + h) % 24 == 0 {
                            0.85
                        } else {
                            1.0
                        };
                    }
                    value += points.iter().filter(|(ph, _)| *ph == h).map(|(_, p)| *p as f64).sum::<f64>();
                }
                expected = value;
            }
            _ => {
                for h in 0..=query_h {
                    for (ph, p) in &points {
                        if *ph == h && query_h - h < 50 {
                            expected += *p as f64;
                        }
                    }
                }
            }
        }
        // Float error of the reference, plus the score's rounding to six places.
        let tol = 1e-9 * expected.abs().max(points.iter().map(|(_, p)| p.abs() as f64).sum::<f64>()).max(1.0) + 5e-7;
        prop_assert!((got - expected).abs() <= tol, "closed form {} vs step by step {}", got, expected);
    }

    #[test]
    fn grade_stays_on_the_scale_and_sums_weights(
        criteria in proptest::collection::vec((1u8..=3, 0usize..3), 0..8),
        values in proptest::collection::vec(proptest::option::of(0usize..3), 8),
    ) {
        let names = ["a", "b", "c"];
        let config = serde_json::json!({
            "lifecycle": {"preset": "default"},
            "grading": {"criteria": criteria.iter().enumerate().map(|(i, (w, v))| serde_json::json!({
                "id": format!("c{i}"), "when": {"attr": format!("x{i}"), "op": "equals", "value": names[*v]}, "weight": w
            })).collect::<Vec<_>>()}
        });
        let e = Engine::from_json(&config.to_string()).unwrap();
        let set: Vec<(String, AttrValue)> = values.iter().enumerate().take(criteria.len())
            .filter_map(|(i, v)| v.map(|v| (format!("x{i}"), AttrValue::from(names[v]))))
            .collect();
        let set_ref: Vec<(&str, AttrValue)> = set.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let lead = e.replay("l", [attrs("a", "l", 0, &set_ref, &[])]);
        let mut thirds = 0i32;
        let mut known = false;
        for (i, (w, v)) in criteria.iter().enumerate() {
            if let Some(Some(got)) = values.get(i) {
                known = true;
                thirds += if got == v { i32::from(*w) } else { -i32::from(*w) };
            }
        }
        match lead.grade() {
            None => prop_assert!(!known),
            Some(g) => {
                prop_assert!(known);
                prop_assert!(g.steps() <= 12);
                prop_assert_eq!(i32::from(g.steps()), (2 + thirds).clamp(0, 12));
            }
        }
    }

    #[test]
    fn arbitrary_json_configs_never_panic(json in arb_json(), slot in 0usize..4) {
        let key = ["scoring", "grading", "qualification", "lists"][slot];
        let mut config: serde_json::Value = serde_json::from_str(SCORING_CONFIG).unwrap();
        config[key] = json.clone();
        let _ = Engine::from_json(&config.to_string());
        if let Some(rules) = config.pointer_mut("/scoring/rules").and_then(|r| r.as_array_mut()) {
            rules.push(json.clone());
        }
        let _ = Engine::from_json(&config.to_string());
        let line = serde_json::json!({"id": "x", "lead": "l", "at": "2026-01-01T00:00:00Z", "body": json});
        if let Ok(ev) = serde_json::from_value::<Event>(line) {
            let e = scoring_engine();
            let mut lead = e.new_lead("l");
            e.ingest(&mut lead, ev);
            let _ = e.score_card(&lead, t(0));
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    crate::common::arb_json(
        vec![
            "page_view",
            "type",
            "activity",
            "attributes",
            "score_adjusted",
            "equals",
            "one_of",
            "range",
            "in_list",
            "containz",
            "B-",
            "1d",
            "default",
            "MQL",
            "",
            "reset",
        ],
        vec![
            "rules",
            "groups",
            "id",
            "when",
            "kind",
            "attrs",
            "attr",
            "op",
            "value",
            "values",
            "min",
            "max",
            "points",
            "group",
            "frequency",
            "window",
            "decay",
            "half_life",
            "criteria",
            "weight",
            "score",
            "min_grade",
            "stages",
            "then",
            "rearm",
            "type",
            "set",
            "change",
            "add",
            "actor",
            "reason",
            "list",
        ],
    )
}

/// A decimal with up to six places, as a host would write it.
fn decimal() -> impl Strategy<Value = Decimal> {
    (-2_000_000_000i64..2_000_000_000, 0u32..=6).prop_map(|(m, scale)| Decimal::new(m, scale))
}

/// An engine with four rules of the given points over two groups, caps
/// and a total cap (all exact decimals), and the given decay.
fn decimal_engine(points: &[Decimal; 4], caps: &[Option<Decimal>; 3], decay: &str) -> Engine {
    let num = |d: &Option<Decimal>| d.map_or("null".to_owned(), |d| format!("\"{d}\""));
    let rules: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                r#"{{"id": "r{i}", "when": {{"kind": "k{i}"}}, "points": "{p}", "group": "{}"}}"#,
                if i % 2 == 0 { "a" } else { "b" }
            )
        })
        .collect();
    Engine::from_json(&format!(
        r#"{{"lifecycle": {{"preset": "default"}}, "scoring": {{
            "groups": [{{"name": "a", "max": {}}}, {{"name": "b", "min": {}}}],
            "total_max": {}, "decay": {decay}, "rules": [{}]}}}}"#,
        num(&caps[0]),
        num(&caps[1]),
        num(&caps[2]),
        rules.join(",")
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Without decay the score is the exact sum, capped: checked against
    /// sums in rust_decimal's own exact arithmetic.
    #[test]
    fn exact_sums_equal_an_exact_arithmetic_oracle(
        points in [decimal(), decimal(), decimal(), decimal()],
        caps in [proptest::option::of(decimal()), proptest::option::of(decimal()), proptest::option::of(decimal())],
        steps in proptest::collection::vec((0usize..6, decimal()), 1..40),
    ) {
        let e = decimal_engine(&points, &caps, "null");
        let mut sums = [Decimal::ZERO; 2];
        let mut evs = Vec::new();
        for (i, (what, amount)) in steps.iter().enumerate() {
            let id = format!("e{i:02}");
            let ev = match what {
                0..=3 => {
                    sums[what % 2] += points[*what];
                    activity(&id, "l", i as i64, &format!("k{what}"), &[])
                }
                4 => {
                    sums[0] += amount;
                    adjust(&id, "l", i as i64, Some("a"), Adjustment::Add(*amount))
                }
                _ => {
                    sums[1] -= amount;
                    adjust(&id, "l", i as i64, Some("b"), Adjustment::Subtract(*amount))
                }
            };
            evs.push(ev);
        }
        let lead = e.replay("l", evs);
        let a = caps[0].map_or(sums[0], |max| sums[0].min(max));
        let b = caps[1].map_or(sums[1], |min| sums[1].max(min));
        let total = caps[2].map_or(a + b, |max| (a + b).min(max));
        let card = e.score_card(&lead, t(100));
        prop_assert_eq!(card.groups[0].raw, sums[0]);
        prop_assert_eq!(card.groups[1].raw, sums[1]);
        prop_assert_eq!(card.group("a"), Some(a));
        prop_assert_eq!(card.group("b"), Some(b));
        prop_assert_eq!(card.total, total);
        prop_assert_eq!(e.score(&lead, t(100)), total);
        check_card(&e, &lead, t(100))?;
    }

    /// The value qualification compares is the card's total, to the last
    /// digit, at every event: with the threshold set to exactly a total the
    /// card reports, the rule fires at the first event whose score goes
    /// from below it to at least it — read from cards of replayed prefixes.
    #[test]
    fn qualification_compares_exactly_the_card_total(
        points in [decimal(), decimal(), decimal(), decimal()],
        steps in proptest::collection::vec((0usize..4, 0i64..3000), 1..25),
        decay in 0usize..4,
        pick in any::<prop::sample::Index>(),
    ) {
        let decays = [
            "null",
            r#"{"half_life": "37h"}"#,
            r#"{"percent_per_period": {"percent": 15, "period": "1d"}}"#,
            r#"{"expire_after": "20h"}"#,
        ];
        let scoring = decimal_engine(&points, &[None, None, None], decays[decay]);
        let mut at = 0;
        let mut evs = vec![created("c", "l", 0, "MQL", leadflow::Source::Marketing)];
        for (i, (k, gap)) in steps.iter().enumerate() {
            at += gap;
            evs.push(activity(&format!("e{i:02}"), "l", at, &format!("k{k}"), &[]));
        }
        // after[k]: the total just after event k at its time; before[k]:
        // just before it (the prefix without it), at its time.
        let score_of = |n: usize, at: leadflow::Timestamp| {
            scoring.score(&scoring.replay("l", evs[..n].to_vec()), at)
        };
        let after: Vec<Decimal> = (0..evs.len()).map(|k| score_of(k + 1, evs[k].at)).collect();
        let threshold = after[pick.index(after.len())];
        let mut config: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(scoring.config()).unwrap()).unwrap();
        config["qualification"] = serde_json::json!([
            {"id": "hot", "when": {"score": {"min": threshold.to_string()}}, "then": "SQL"}
        ]);
        let e = Engine::from_json(&config.to_string()).unwrap();
        let lead = e.replay("l", evs.clone());
        // The creation fires on its own score (0); a later event fires on
        // an edge from below to at least the threshold.
        let expected = if Decimal::ZERO >= threshold {
            Some(0)
        } else {
            (1..evs.len()).find(|&k| score_of(k, evs[k].at) < threshold && after[k] >= threshold)
        };
        let fired = lead.history().iter().find(|t| e.lifecycle().name(t.to) == "SQL");
        prop_assert_eq!(
            fired.map(|t| t.event.clone()),
            expected.map(|k| evs[k].id.clone()),
            "threshold {}, totals after each event {:?}", threshold, after
        );
    }
}
