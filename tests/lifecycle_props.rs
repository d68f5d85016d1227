//! Property tests of the lifecycle fold: forward-only, deterministic replay,
//! arrival-order independence, serde round-trips, no panic on any config.

use crate::common::*;
use leadflow::{
    Actor, Engine, Event, EventBody, Lead, LeadStore, Preset, Reason, ReasonCode, Source,
    TransitionKind,
};
use proptest::prelude::*;

fn body() -> impl Strategy<Value = EventBody> {
    // Every waterfall stage and one the lifecycle does not know.
    let names: Vec<&'static str> = WATERFALL.iter().copied().chain(["Bogus"]).collect();
    let stage = proptest::sample::select(names).prop_map(str::to_owned);
    let actor = prop_oneof![
        Just(Actor::Marketing),
        Just(Actor::Sales),
        Just(Actor::System),
        Just(Actor::Integration)
    ];
    let reason = prop_oneof![
        Just(Reason::new(ReasonCode::Timing)),
        Just(Reason::new(ReasonCode::PoorFit).with_note("too small")),
    ];
    prop_oneof![
        1 => (stage.clone(), actor.clone()).prop_map(|(stage, actor)| EventBody::Created {
            stage,
            source: Source::Sales,
            actor
        }),
        4 => (stage.clone(), actor.clone(), proptest::option::of(reason.clone()))
            .prop_map(|(to, actor, reason)| EventBody::Advanced { to, actor, reason }),
        1 => (actor.clone(), reason.clone()).prop_map(|(actor, reason)| EventBody::Recycled { actor, reason }),
        1 => (stage, actor, reason).prop_map(|(to, actor, reason)| EventBody::Regressed { to, actor, reason }),
        1 => proptest::sample::select(vec!["v1", "v2"]).prop_map(|v| EventBody::Identified { visitor: v.into() }),
    ]
}

fn events(max: usize) -> impl Strategy<Value = Vec<Event>> {
    events_of(body(), max, 40, 1)
}

fn rank(e: &Engine, id: leadflow::StageId) -> i32 {
    e.lifecycle().stage(id).unwrap().rank()
}

fn assert_forward_only(e: &Engine, lead: &Lead) {
    for tr in lead.history() {
        let Some(from) = tr.from else { continue };
        match tr.kind {
            TransitionKind::Recycled | TransitionKind::Regressed => {
                assert!(tr.reason.is_some(), "downward command without a reason");
            }
            _ => assert!(
                rank(e, tr.to) > rank(e, from),
                "{:?} moved down from {} to {}",
                tr.kind,
                e.lifecycle().name(from),
                e.lifecycle().name(tr.to)
            ),
        }
        if tr.kind == TransitionKind::Regressed {
            assert!(rank(e, tr.to) < rank(e, from));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn moves_down_only_through_recycle_or_regress(evs in events(40), waterfall in any::<bool>()) {
        let e = engine(if waterfall { Preset::Waterfall } else { Preset::Default });
        // Strict, in arrival order.
        let mut strict = e.new_lead("lead");
        for ev in evs.iter().cloned() {
            let _ = e.apply(&mut strict, ev);
        }
        assert_forward_only(&e, &strict);
        prop_assert!(strict.ignored().is_empty(), "strict apply keeps no rejected event");
        // Lenient replay.
        let lead = e.replay("lead", evs);
        assert_forward_only(&e, &lead);
        let cycles = 1 + lead.history().iter().filter(|t| t.kind == TransitionKind::Recycled).count() as u32;
        prop_assert_eq!(lead.stage().cycle(), cycles);
    }

    /// Replay's input order does not matter and the result does not depend
    /// on the engine instance: a reversed input through a second engine
    /// compiled from the same config's JSON gives the same lead.
    #[test]
    fn replay_depends_only_on_the_event_set_and_the_config(evs in events(40)) {
        let e = engine(Preset::Waterfall);
        let twin = Engine::from_json(&serde_json::to_string(e.config()).unwrap()).unwrap();
        prop_assert_eq!(e.fingerprint(), twin.fingerprint());
        let a = e.replay("lead", evs.clone());
        let b = twin.replay("lead", evs.into_iter().rev().collect::<Vec<_>>());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arrival_order_and_duplicates_do_not_matter((set, arrival) in shuffled_with_duplicates(events(30))) {
        let e = engine(Preset::Default);
        let mut lead = e.new_lead("lead");
        for ev in arrival.iter().cloned() {
            e.ingest(&mut lead, ev);
        }
        let mut sorted = set.clone();
        sorted.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let expected = e.replay("lead", sorted);
        prop_assert_eq!(&lead, &expected);
        prop_assert_eq!(lead.events().len(), set.len());
        // The store (with identity merging) agrees with the bulk path.
        let mut one = LeadStore::new(e.clone());
        for ev in arrival.iter().cloned() {
            one.ingest(ev);
        }
        let mut bulk = LeadStore::new(e.clone());
        bulk.ingest_all(arrival);
        prop_assert_eq!(one.leads().collect::<Vec<_>>(), bulk.leads().collect::<Vec<_>>());
    }

    #[test]
    fn incremental_ingest_in_order_equals_replay(evs in events(40)) {
        let e = engine(Preset::Waterfall);
        let mut sorted = evs.clone();
        sorted.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let mut lead = e.new_lead("lead");
        for ev in sorted.iter().cloned() {
            let out = e.ingest(&mut lead, ev);
            prop_assert!(!out.refolded);
        }
        prop_assert_eq!(lead, e.replay("lead", evs));
    }

    #[test]
    fn lead_and_events_round_trip_through_json(evs in events(30)) {
        let e = engine(Preset::Waterfall);
        let lead = e.replay("lead", evs);
        let back = e.restore(serde_json::from_str(&serde_json::to_string(&lead).unwrap()).unwrap()).unwrap();
        prop_assert_eq!(&back, &lead);
        for ev in lead.events() {
            let back: Event = serde_json::from_str(&serde_json::to_string(ev).unwrap()).unwrap();
            prop_assert_eq!(&back, ev);
        }
    }

    #[test]
    fn generated_configs_round_trip_and_compile_or_fail_cleanly(
        stages in proptest::collection::vec(
            ("[A-D]", -3i32..3, 0usize..6, proptest::option::of(0i64..100_000)), 0..7),
        initial in "[A-E]",
    ) {
        let kinds = ["open", "sla", "won", "lost", "disqualified", "recycled"];
        let stages: Vec<serde_json::Value> = stages.into_iter().map(|(name, rank, kind, within)| {
            let mut v = serde_json::json!({"name": name, "rank": rank, "kind": kinds[kind]});
            if let Some(w) = within { v["within"] = w.into(); }
            v
        }).collect();
        let json = serde_json::json!({"lifecycle": {"stages": stages, "initial": initial}}).to_string();
        let config: leadflow::EngineConfig = serde_json::from_str(&json).unwrap();
        let again: leadflow::EngineConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        prop_assert_eq!(&again, &config);
        if let Err(err) = Engine::new(config) {
            prop_assert!(err.path().starts_with("lifecycle."), "{}", err);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(json in arb_json()) {
        let text = json.to_string();
        let _ = Engine::from_json(&text);
        let wrapped = serde_json::json!({"lifecycle": json}).to_string();
        let _ = Engine::from_json(&wrapped);
        let _ = serde_json::from_str::<Event>(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = Engine::from_json(&text);
        let _ = leadflow::Span::parse(&text);
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    crate::common::arb_json(
        vec![
            "stages",
            "initial",
            "preset",
            "default",
            "waterfall",
            "sla",
            "open",
            "won",
            "name",
            "rank",
            "kind",
            "within",
            "24h",
            "MQL",
            "allowed",
            "from",
            "to",
            "",
        ],
        vec![
            "lifecycle",
            "stages",
            "initial",
            "preset",
            "name",
            "rank",
            "kind",
            "within",
            "due_soon",
            "milestone",
            "allowed",
            "from",
            "to",
        ],
    )
}
