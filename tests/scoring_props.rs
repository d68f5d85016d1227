//! Property tests of scoring, grading and qualification.

use crate::common::*;
use leadflow::{Adjustment, AttrValue, Engine, Event, EventBody, Lead, LeadStore};
use proptest::prelude::*;

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
        (-20.0f64..20.0).prop_map(|p| Adjustment::Add(p.round())),
        (0.0f64..20.0).prop_map(|p| Adjustment::Subtract(p.round())),
        (0.0f64..80.0).prop_map(|p| Adjustment::Set(p.round())),
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
    let mut total = 0.0;
    for g in &card.groups {
        let raw: f64 = g.entries.iter().map(|x| x.decayed).sum();
        prop_assert_eq!(raw, g.raw);
        let score = raw.clamp(
            g.min.unwrap_or(f64::NEG_INFINITY),
            g.max.unwrap_or(f64::INFINITY),
        );
        prop_assert_eq!(score, g.score);
        total += score;
        prop_assert!(g.entries.iter().all(|x| x.at <= at));
    }
    prop_assert_eq!(
        total.min(card.total_max.unwrap_or(f64::INFINITY)),
        card.total
    );
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
        pts in proptest::collection::vec((0i64..(20 * 24), -50i64..100), 1..30),
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
        let evs: Vec<Event> = pts.iter().enumerate()
            .map(|(i, &(h, p))| adjust(&format!("a{i:02}"), "l", h * 60, None, Adjustment::Add(p as f64)))
            .collect();
        let lead = e.replay("l", evs);
        let got = e.score(&lead, t(query_h * 60));
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
                    value += pts.iter().filter(|(ph, _)| *ph == h).map(|(_, p)| *p as f64).sum::<f64>();
                }
                expected = value;
            }
            _ => {
                for h in 0..=query_h {
                    for (ph, p) in &pts {
                        if *ph == h && query_h - h < 50 {
                            expected += *p as f64;
                        }
                    }
                }
            }
        }
        let tol = 1e-9 * expected.abs().max(pts.iter().map(|(_, p)| p.abs() as f64).sum::<f64>()).max(1.0);
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
