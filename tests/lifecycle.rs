//! The lifecycle: configs, presets, every transition rule and its errors,
//! SLA, identity, and the fold's handling of duplicates and late events.

use crate::common::*;
use leadflow::{
    ConfigErrorKind, Engine, EngineConfig, Event, EventBody, EventErrorKind, IngestStatus,
    LeadStore, Lifecycle, LifecycleConfig, Milestone, Preset, ReasonCode, SlaState, Source, Span,
    StageKind, TransitionKind,
};

fn names(lc: &Lifecycle) -> Vec<&str> {
    lc.stages().iter().map(|s| s.name()).collect()
}

#[test]
fn default_preset_has_exactly_the_card_stages() {
    let lc = Lifecycle::new(LifecycleConfig::preset(Preset::Default)).unwrap();
    let mut got = names(&lc);
    got.sort();
    let mut want = vec![
        "Anonymous",
        "MQL",
        "SQL",
        "Opportunity",
        "Won",
        "Lost",
        "Recycled",
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(lc.name(lc.initial()), "Anonymous");
    assert_eq!(lc.recycled().map(|r| lc.name(r)), Some("Recycled"));
    let mql = lc.stage(lc.find("MQL").unwrap()).unwrap();
    assert_eq!(
        mql.kind(),
        StageKind::Sla {
            within: Span::hours(24),
            due_soon: Span::hours(6)
        }
    );
    assert_eq!(
        lc.milestone(Milestone::ClosedWon).map(|s| lc.name(s)),
        Some("Won")
    );
}

#[test]
fn waterfall_preset_adds_inquiry_sal_and_disqualified() {
    let lc = Lifecycle::new(LifecycleConfig::preset(Preset::Waterfall)).unwrap();
    for name in ["Inquiry", "SAL", "Disqualified", "MQL", "SQL", "Won"] {
        assert!(lc.find(name).is_some(), "{name} missing");
    }
    assert_eq!(lc.stages().len(), 10);
    let d = lc.stage(lc.find("Disqualified").unwrap()).unwrap();
    assert!(d.kind().is_terminal());
}

fn config_error(json: &str) -> leadflow::ConfigError {
    Engine::from_json(json).expect_err("config should be rejected")
}

#[test]
fn config_errors_name_the_item() {
    type Case = (&'static str, &'static str, fn(&ConfigErrorKind) -> bool);
    let cases: &[Case] = &[
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}, {"name": "A", "rank": 1, "kind": "open"}], "initial": "A"}}"#,
            "lifecycle.stages[1].name",
            |k| matches!(k, ConfigErrorKind::DuplicateStageName { name } if name == "A"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}, {"name": "B", "rank": 0, "kind": "open"}], "initial": "A"}}"#,
            "lifecycle.stages[1].rank",
            |k| matches!(k, ConfigErrorKind::DuplicateRank { rank: 0, other } if other == "A"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "sla"}], "initial": "A"}}"#,
            "lifecycle.stages[0].within",
            |k| matches!(k, ConfigErrorKind::SlaWithoutDuration),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "sla", "within": 0}], "initial": "A"}}"#,
            "lifecycle.stages[0].within",
            |k| matches!(k, ConfigErrorKind::ZeroDuration),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "sla", "within": "1h", "due_soon": "2h"}], "initial": "A"}}"#,
            "lifecycle.stages[0].due_soon",
            |k| matches!(k, ConfigErrorKind::DueSoonTooLong { .. }),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open", "within": "1h"}], "initial": "A"}}"#,
            "lifecycle.stages[0].within",
            |k| matches!(k, ConfigErrorKind::DurationOnNonSla),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}]}}"#,
            "lifecycle.initial",
            |k| matches!(k, ConfigErrorKind::BadInitial { .. }),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}], "initial": "Z"}}"#,
            "lifecycle.initial",
            |k| matches!(k, ConfigErrorKind::UnknownStage { name } if name == "Z"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "won"}], "initial": "A"}}"#,
            "lifecycle.initial",
            |k| matches!(k, ConfigErrorKind::BadInitial { .. }),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}], "initial": "A", "allowed": [{"from": "A", "to": ["Nope"]}]}}"#,
            "lifecycle.allowed[0].to[0]",
            |k| matches!(k, ConfigErrorKind::UnknownStage { name } if name == "Nope"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}], "initial": "A", "allowed": [{"from": "Q", "to": []}]}}"#,
            "lifecycle.allowed[0].from",
            |k| matches!(k, ConfigErrorKind::UnknownStage { name } if name == "Q"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"}, {"name": "R", "rank": 1, "kind": "recycled"}, {"name": "S", "rank": 2, "kind": "recycled"}], "initial": "A"}}"#,
            "lifecycle.stages[2].kind",
            |k| matches!(k, ConfigErrorKind::DuplicateRole { .. }),
        ),
        (
            r#"{"lifecycle": {"stages": []}}"#,
            "lifecycle.stages",
            |k| matches!(k, ConfigErrorKind::NoStages),
        ),
        (
            r#"{"lifecycle": {"preset": "default", "stages": [{"name": "A", "rank": 0, "kind": "open"}]}}"#,
            "lifecycle.preset",
            |k| matches!(k, ConfigErrorKind::PresetAndStages),
        ),
        // A preset's `initial` and `allowed` are checked against its
        // stages (they were ignored, unchecked).
        (
            r#"{"lifecycle": {"preset": "default", "initial": "Zed"}}"#,
            "lifecycle.initial",
            |k| matches!(k, ConfigErrorKind::UnknownStage { name } if name == "Zed"),
        ),
        (
            r#"{"lifecycle": {"preset": "default", "allowed": [{"from": "MQL", "to": ["Nope"]}]}}"#,
            "lifecycle.allowed[0].to[0]",
            |k| matches!(k, ConfigErrorKind::UnknownStage { name } if name == "Nope"),
        ),
        (
            r#"{"lifecycle": {"stages": [{"name": " ", "rank": 0, "kind": "open"}], "initial": " "}}"#,
            "lifecycle.stages[0].name",
            |k| matches!(k, ConfigErrorKind::EmptyName),
        ),
    ];
    for (json, path, check) in cases {
        let err = config_error(json);
        assert_eq!(err.path(), *path, "{json}");
        assert!(check(err.kind()), "{json}: got {:?}", err.kind());
        assert!(
            err.to_string().starts_with(path),
            "message names the item: {err}"
        );
    }
}

#[test]
fn unknown_fields_and_bad_spans_are_syntax_errors_naming_the_field() {
    let err = config_error(r#"{"lifecycle": {"preset": "default", "colour": "red"}}"#);
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("colour"))
    );
    let err = config_error(
        r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open", "milestone": "lead_created", "extra": 1}], "initial": "A"}}"#,
    );
    assert!(matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("extra")));
    let err = config_error(
        r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "sla", "within": "24 hours"}], "initial": "A"}}"#,
    );
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("24 hours"))
    );
    let err = config_error(
        r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "sideways"}], "initial": "A"}}"#,
    );
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("sideways"))
    );
}

#[test]
fn spans_parse_and_print() {
    assert_eq!(Span::parse("90").unwrap(), Span::seconds(90));
    assert_eq!(Span::parse("30m").unwrap(), Span::minutes(30));
    assert_eq!(Span::parse("7d").unwrap(), Span::days(7));
    assert_eq!(Span::parse("2w").unwrap(), Span::days(14));
    for bad in [
        "",
        "h",
        "-5",
        "1.5h",
        "3y",
        "99999999999999999999",
        "700000000w",
        "4294967296d",
    ] {
        assert!(Span::parse(bad).is_err(), "{bad:?} should not parse");
    }
    // The bound is `u32::MAX` days, the largest span a constructor makes.
    assert_eq!(Span::parse("4294967295d").unwrap(), Span::days(u32::MAX));
    assert_eq!(Span::hours(36).to_string(), "36h");
    assert_eq!(Span::seconds(61).to_string(), "61s");
}

#[test]
fn a_lead_walks_forward_and_records_everything() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("ada");
    e.apply(
        &mut lead,
        created("e1", "ada", 0, "Anonymous", Source::Marketing),
    )
    .unwrap();
    e.apply(&mut lead, advance("e2", "ada", 10, "MQL")).unwrap();
    e.apply(&mut lead, advance("e3", "ada", 20, "SQL")).unwrap();
    let out = e.apply(&mut lead, advance("e4", "ada", 30, "Won")).unwrap();
    assert_eq!(out.status, IngestStatus::Applied);
    assert_eq!(out.transitions.len(), 1);
    let lc = e.lifecycle();
    assert_eq!(path(&e, &lead), ["Anonymous", "MQL", "SQL", "Won"]);
    // SQL -> Won jumps over Opportunity: recorded as skipped.
    assert_eq!(
        out.transitions[0].skipped,
        vec![lc.find("Opportunity").unwrap()]
    );
    assert_eq!(lead.stage().source(), Some(Source::Marketing));
    assert_eq!(lead.stage().furthest(), lc.find("Won").unwrap());
    assert_eq!(lead.history()[0].from, None);
    assert_eq!(lead.history()[1].from, Some(lc.find("Anonymous").unwrap()));
    assert_eq!(
        lead.stage().milestone_at(lc, Milestone::OpportunityCreated),
        Some(t(30)),
        "a skipped milestone is reached when it is jumped over"
    );
    assert_eq!(
        lead.stage().milestone_at(lc, Milestone::LeadCreated),
        Some(t(10))
    );
}

#[test]
fn every_rejection_is_typed_and_leaves_the_lead_unchanged() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    e.apply(&mut lead, created("e1", "l", 0, "SQL", Source::Sales))
        .unwrap();
    let cases = [
        (advance("x1", "l", 5, "MQL"), "not_forward"),
        (advance("x2", "l", 5, "SQL"), "already_in_stage"),
        (advance("x3", "l", 5, "Nowhere"), "unknown_stage"),
        (advance("x4", "l", 5, "Recycled"), "wrong_command"),
        (advance("x5", "l", 5, "Lost"), "reason_required"),
        (regress("x6", "l", 5, "Opportunity"), "not_backward"),
        (regress("x7", "l", 5, "Recycled"), "wrong_command"),
        (regress("x8", "l", 5, "Won"), "wrong_command"),
    ];
    for (event, want) in cases {
        let before = lead.clone();
        let err = e.apply(&mut lead, event).unwrap_err();
        let got = serde_json::to_value(&err.kind).unwrap()["error"].clone();
        assert_eq!(got, want, "{err}");
        assert_eq!(lead, before, "{err} must leave the lead unchanged");
    }
    // Terminal: nothing leaves Lost but a recycle.
    e.apply(
        &mut lead,
        advance_because("e2", "l", 10, "Lost", ReasonCode::Competitor),
    )
    .unwrap();
    let err = e
        .apply(&mut lead, advance("x9", "l", 11, "Won"))
        .unwrap_err();
    assert!(matches!(err.kind, EventErrorKind::LeavingTerminal { ref from } if from == "Lost"));
    let err = e
        .apply(&mut lead, regress("x10", "l", 11, "MQL"))
        .unwrap_err();
    assert!(matches!(err.kind, EventErrorKind::LeavingTerminal { .. }));
    assert!(
        err.to_string().contains("x10"),
        "error names the event: {err}"
    );
    e.apply(&mut lead, recycle("e3", "l", 12, ReasonCode::Timing))
        .unwrap();
    assert_eq!(e.lifecycle().name(lead.stage().current()), "Recycled");
    assert_eq!(lead.stage().cycle(), 2);
    let err = e
        .apply(&mut lead, recycle("x11", "l", 13, ReasonCode::Timing))
        .unwrap_err();
    assert!(matches!(err.kind, EventErrorKind::AlreadyInStage { .. }));
    // A new cycle walks forward again from Recycled.
    e.apply(&mut lead, advance("e4", "l", 20, "MQL")).unwrap();
    assert_eq!(lead.history().last().unwrap().cycle, 2);
    // Lost is not a stage on the path: the lead got no further than SQL.
    assert_eq!(e.lifecycle().name(lead.stage().furthest()), "SQL");
}

#[test]
fn regress_moves_down_within_the_cycle() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    e.apply(
        &mut lead,
        created("e1", "l", 0, "Opportunity", Source::Sales),
    )
    .unwrap();
    let out = e.apply(&mut lead, regress("e2", "l", 1, "SQL")).unwrap();
    assert_eq!(out.transitions[0].kind, TransitionKind::Regressed);
    assert_eq!(
        out.transitions[0].reason.as_ref().unwrap().code,
        ReasonCode::Other
    );
    assert_eq!(lead.stage().cycle(), 1);
    assert_eq!(e.lifecycle().name(lead.stage().current()), "SQL");
    assert_eq!(e.lifecycle().name(lead.stage().furthest()), "Opportunity");
}

#[test]
fn sales_sourced_entry_records_skipped_stages_not_entered_ones() {
    let e = engine(Preset::Waterfall);
    let mut lead = e.new_lead("s");
    let out = e
        .apply(
            &mut lead,
            created("e1", "s", 0, "Opportunity", Source::Sales),
        )
        .unwrap();
    let lc = e.lifecycle();
    let tr = &out.transitions[0];
    assert_eq!(tr.kind, TransitionKind::Entered);
    assert_eq!(lc.name(tr.to), "Opportunity");
    let skipped: Vec<&str> = tr.skipped.iter().map(|&s| lc.name(s)).collect();
    assert_eq!(skipped, ["Anonymous", "Inquiry", "MQL", "SAL", "SQL"]);
    assert_eq!(lead.history().len(), 1, "skipped stages are not entered");
    assert_eq!(lead.stage().source(), Some(Source::Sales));
}

#[test]
fn allowed_rules_restrict_ordinary_moves() {
    let json = r#"{"lifecycle": {"preset": null, "stages": [
        {"name": "New", "rank": 0, "kind": "open"},
        {"name": "Working", "rank": 1, "kind": "open"},
        {"name": "Qualified", "rank": 2, "kind": "open"},
        {"name": "Junk", "rank": 3, "kind": "disqualified"}],
        "initial": "New",
        "allowed": [{"from": "New", "to": ["Working", "Junk"]}]}}"#;
    let e = Engine::from_json(json).unwrap();
    let mut lead = e.new_lead("l");
    let err = e
        .apply(&mut lead, advance("a", "l", 0, "Qualified"))
        .unwrap_err();
    assert!(
        matches!(err.kind, EventErrorKind::NotAllowed { .. }),
        "{err}"
    );
    e.apply(&mut lead, advance("b", "l", 1, "Working")).unwrap();
    e.apply(&mut lead, advance("c", "l", 2, "Qualified"))
        .unwrap();
    let err = e
        .apply(&mut lead, recycle("d", "l", 3, ReasonCode::Timing))
        .unwrap_err();
    assert_eq!(err.kind, EventErrorKind::NoRecycleStage);
}

/// A preset takes the config's own `initial` and `allowed`: they were
/// ignored, so a preset could not be restricted.
#[test]
fn a_preset_takes_its_configs_initial_and_allowed_moves() {
    let json = r#"{"lifecycle": {"preset": "default", "initial": "MQL",
        "allowed": [{"from": "MQL", "to": ["SQL", "Lost"]}]}}"#;
    let e = Engine::from_json(json).unwrap();
    let mut lead = e.new_lead("l");
    assert_eq!(e.lifecycle().name(lead.stage().current()), "MQL");
    let err = e
        .apply(&mut lead, advance("a", "l", 0, "Opportunity"))
        .unwrap_err();
    assert!(
        matches!(err.kind, EventErrorKind::NotAllowed { .. }),
        "{err}"
    );
    e.apply(&mut lead, advance("b", "l", 1, "SQL")).unwrap();
    // Stages without a rule still allow every forward move.
    e.apply(&mut lead, advance("c", "l", 2, "Opportunity"))
        .unwrap();
}

#[test]
fn sla_within_due_soon_past_due() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("m");
    assert_eq!(e.sla(&lead, t(0)), None, "no events, no SLA");
    e.apply(&mut lead, created("e1", "m", 0, "MQL", Source::Marketing))
        .unwrap();
    let due = t(24 * 60);
    let at = |m| e.sla(&lead, t(m)).unwrap();
    assert_eq!(at(60).state, SlaState::Within);
    assert_eq!(at(60).due_at, due);
    assert_eq!(at(18 * 60 - 1).state, SlaState::Within);
    assert_eq!(at(18 * 60).state, SlaState::DueSoon);
    assert_eq!(at(24 * 60).state, SlaState::DueSoon);
    assert_eq!(at(24 * 60 + 1).state, SlaState::PastDue);
    e.apply(&mut lead, advance("e2", "m", 30, "SQL")).unwrap();
    assert_eq!(e.sla(&lead, t(10_000)), None, "SQL has no SLA");
}

#[test]
fn sla_report_counts_open_and_historical_compliance() {
    let e = engine(Preset::Default);
    let mut store = LeadStore::new(e);
    store.ingest(created("a1", "a", 0, "MQL", Source::Marketing));
    store.ingest(advance("a2", "a", 60, "SQL")); // met
    store.ingest(created("b1", "b", 0, "MQL", Source::Marketing));
    store.ingest(advance("b2", "b", 48 * 60, "SQL")); // missed
    store.ingest(created("c1", "c", 0, "MQL", Source::Marketing)); // still waiting
    store.ingest(created("d1", "d", 47 * 60, "MQL", Source::Marketing)); // fresh
    let report = store.sla_report(t(49 * 60));
    assert_eq!(report.met, 1);
    assert_eq!(report.missed, 1);
    assert_eq!(report.past_due, vec!["c".into()]);
    assert_eq!(report.within, vec!["d".into()]);
    assert!(report.due_soon.is_empty());
    assert_eq!(report.compliance(), Some(1.0 / 3.0));
}

#[test]
fn duplicates_change_nothing_and_late_events_refold() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    e.ingest(
        &mut lead,
        created("e1", "l", 0, "Anonymous", Source::Marketing),
    );
    e.ingest(&mut lead, advance("e3", "l", 30, "SQL"));
    let before = lead.clone();
    let out = e.ingest(&mut lead, advance("e3", "l", 30, "SQL"));
    assert_eq!(out.status, IngestStatus::Duplicate);
    assert_eq!(lead, before);
    // The same id with other content: the copy whose JSON sorts first is
    // kept (here the one in the log: 09:30 sorts before 10:39), the other
    // is listed, nothing else changes.
    let other = advance("e3", "l", 99, "Won");
    let out = e.ingest(&mut lead, other.clone());
    assert_eq!(
        out.status,
        IngestStatus::ConflictingDuplicate { replaced: false }
    );
    assert_eq!(lead.events(), before.events());
    assert_eq!(lead.history(), before.history());
    assert_eq!(lead.conflicting_duplicates(), [other]);
    // MQL arrives late: inserted before SQL, the SQL move now skips nothing.
    let out = e.ingest(&mut lead, advance("e2", "l", 10, "MQL"));
    assert!(out.refolded);
    assert_eq!(out.status, IngestStatus::Applied);
    assert_eq!(path(&e, &lead), ["Anonymous", "MQL", "SQL"]);
    let in_order = e.replay(
        "l",
        [
            created("e1", "l", 0, "Anonymous", Source::Marketing),
            advance("e2", "l", 10, "MQL"),
            advance("e3", "l", 30, "SQL"),
            advance("e3", "l", 99, "Won"),
        ],
    );
    assert_eq!(lead, in_order);
}

#[test]
fn late_event_that_conflicts_is_ignored_leniently_and_refused_strictly() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    e.ingest(
        &mut lead,
        created("e1", "l", 0, "Anonymous", Source::Marketing),
    );
    e.ingest(&mut lead, advance("e3", "l", 30, "SQL"));
    // A late move to Anonymous's next stage that is behind SQL is fine (it
    // lands before SQL), but a late move to Won before SQL makes SQL invalid.
    let mut strict = lead.clone();
    let err = e
        .apply(&mut strict, advance("e0", "l", -5, "Nowhere"))
        .unwrap_err();
    assert_eq!(strict, lead);
    assert!(matches!(err.kind, EventErrorKind::UnknownStage { .. }));
    let out = e.ingest(&mut lead, advance("e2", "l", 10, "Opportunity"));
    assert_eq!(out.status, IngestStatus::Applied);
    assert_eq!(
        lead.ignored().len(),
        1,
        "the later SQL move is now backward"
    );
    assert_eq!(lead.ignored()[0].event.as_str(), "e3");
    assert_eq!(e.lifecycle().name(lead.stage().current()), "Opportunity");
}

#[test]
fn identification_merges_visitor_events_whenever_they_arrive() {
    let e = engine(Preset::Default);
    let events = vec![
        created("v1", "visitor", 0, "Anonymous", Source::Marketing),
        advance("v2", "visitor", 5, "MQL"),
        created("k1", "ada", 10, "MQL", Source::Marketing),
        identified("k2", "ada", 20, "visitor"),
        advance("v3", "visitor", 30, "SQL"),
    ];
    let mut forward = LeadStore::new(e.clone());
    for ev in events.iter().cloned() {
        forward.ingest(ev);
    }
    let mut backward = LeadStore::new(e.clone());
    for ev in events.iter().rev().cloned() {
        backward.ingest(ev);
    }
    let mut bulk = LeadStore::new(e.clone());
    bulk.ingest_all(events.clone());
    for store in [&forward, &backward, &bulk] {
        assert_eq!(store.len(), 1);
        let lead = store.lead(&"visitor".into()).unwrap();
        assert_eq!(lead.id().as_str(), "ada");
        assert_eq!(lead.events().len(), 5);
        assert_eq!(path(&e, lead), ["Anonymous", "MQL", "SQL"]);
        assert_eq!(lead.stage().merges()[0].visitor.as_str(), "visitor");
    }
    assert_eq!(forward.lead(&"ada".into()), backward.lead(&"ada".into()));
    assert_eq!(forward.lead(&"ada".into()), bulk.lead(&"ada".into()));
}

#[test]
fn identification_chains_resolve_and_never_loop() {
    let e = engine(Preset::Default);
    let mut store = LeadStore::new(e);
    store.ingest(created("a", "v1", 0, "Anonymous", Source::Marketing));
    store.ingest(identified("b", "v2", 1, "v1"));
    store.ingest(identified("c", "ada", 2, "v2"));
    store.ingest(identified("d", "v1", 3, "ada")); // would close a loop
    assert_eq!(store.resolve(&"v1".into()).as_str(), "ada");
    assert_eq!(store.len(), 1);
    assert_eq!(store.lead(&"v1".into()).unwrap().events().len(), 4);
}

#[test]
fn state_events_and_config_round_trip_through_json() {
    let e = engine(Preset::Waterfall);
    let mut lead = e.new_lead("l");
    e.apply(&mut lead, created("e1", "l", 0, "Inquiry", Source::Partner))
        .unwrap();
    e.apply(&mut lead, recycle("e2", "l", 1, ReasonCode::NoBudget))
        .unwrap();
    e.ingest(&mut lead, advance("e3", "l", 2, "Won"));
    let json = serde_json::to_string(&lead).unwrap();
    let back = e.restore(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back, lead);
    for ev in lead.events() {
        let back: leadflow::Event =
            serde_json::from_str(&serde_json::to_string(ev).unwrap()).unwrap();
        assert_eq!(&back, ev);
    }
    let config = EngineConfig {
        lifecycle: LifecycleConfig::preset(Preset::Waterfall),
        ..EngineConfig::default()
    };
    let back: EngineConfig =
        serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
}

#[test]
fn public_types_are_send_sync_and_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Engine>();
    check::<Lifecycle>();
    check::<leadflow::Lead>();
    check::<LeadStore>();
    check::<leadflow::Event>();
    check::<leadflow::ConfigError>();
    check::<leadflow::EventError>();
}

#[test]
fn strict_apply_refuses_a_late_event_that_would_invalidate_the_log() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    e.apply(
        &mut lead,
        created("e1", "l", 0, "Anonymous", Source::Marketing),
    )
    .unwrap();
    e.apply(&mut lead, advance("e3", "l", 30, "SQL")).unwrap();
    let before = lead.clone();
    let err = e
        .apply(&mut lead, advance("e2", "l", 10, "Opportunity"))
        .unwrap_err();
    assert_eq!(lead, before);
    match err.kind {
        EventErrorKind::ConflictsWithLater { later, problem } => {
            assert_eq!(later.as_str(), "e3");
            assert!(matches!(*problem, EventErrorKind::NotForward { .. }));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A late MQL move would turn the recorded "Anonymous -> SQL, MQL
    // skipped" into "MQL -> SQL": strict apply refuses to rewrite history.
    let err = e
        .apply(&mut lead, advance("e2", "l", 10, "MQL"))
        .unwrap_err();
    assert_eq!(lead, before);
    match err.kind {
        EventErrorKind::RewritesHistory { later, stage } => {
            assert_eq!((later.as_str(), stage.as_str()), ("e3", "SQL"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Leniently it is folded in, and the outcome shows the rewrite.
    let out = e.ingest(&mut lead, advance("e2", "l", 10, "MQL"));
    assert!(out.refolded);
    assert_eq!(path(&e, &lead), ["Anonymous", "MQL", "SQL"]);
    let moved = |ts: &[leadflow::Transition]| {
        ts.iter()
            .map(|t| {
                (
                    t.event.to_string(),
                    e.lifecycle().name(t.to).to_owned(),
                    t.skipped.len(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(moved(&out.retracted), [("e3".into(), "SQL".into(), 1)]);
    assert_eq!(
        moved(&out.transitions),
        [
            ("e2".into(), "MQL".into(), 0),
            ("e3".into(), "SQL".into(), 0)
        ]
    );
    // A late event that changes no recorded move is accepted strictly.
    let note = Event::new(
        "e0",
        "l",
        t(5),
        EventBody::Attributes {
            set: Default::default(),
            unset: vec!["x".into()],
        },
    );
    let out = e.apply(&mut lead, note).unwrap();
    assert!(out.refolded && out.retracted.is_empty() && out.transitions.is_empty());
}
