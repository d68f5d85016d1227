//! Scoring, grading and qualification through the engine.

use crate::common::*;
use leadflow::{
    Actor, Adjustment, AttrValue, ConfigErrorKind, Engine, EngineConfig, EventErrorKind, Grade,
    IngestStatus, ReasonCode, Source, TransitionKind, Verdict,
};

fn s(v: &str) -> AttrValue {
    AttrValue::from(v)
}
fn n(v: f64) -> AttrValue {
    AttrValue::from(v)
}

const DAY: i64 = 24 * 60;

#[test]
fn operators_frequency_and_negative_points() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    let evs = [
        activity(
            "a1",
            "l",
            0,
            "page_view",
            &[("url", s("/PRICING/enterprise"))],
        ), // pricing 10 + any 1
        activity("a2", "l", 60, "page_view", &[("url", s("/pricing"))]), // window: only any 1
        activity("a3", "l", DAY, "page_view", &[("url", s("/pricing"))]), // a day later: 10 + 1
        activity("a4", "l", DAY + 1, "demo_request", &[]),               // 50
        activity("a5", "l", DAY + 2, "demo_request", &[]),               // once: 0
        activity(
            "a6",
            "l",
            DAY + 3,
            "webinar_attended",
            &[("minutes", n(29.0))],
        ), // range miss
        activity(
            "a7",
            "l",
            DAY + 4,
            "webinar_attended",
            &[("minutes", s("45"))],
        ), // text parsed: 20
        activity(
            "a8",
            "l",
            DAY + 5,
            "form_submit",
            &[("asset", s("ROI-Guide"))],
        ), // product 15
        activity(
            "a9",
            "l",
            DAY + 6,
            "page_view",
            &[("url", s("/about/Careers"))],
        ), // -30 + any 1
    ];
    let points: Vec<_> = evs
        .into_iter()
        .map(|ev| e.apply(&mut lead, ev).unwrap().points)
        .collect();
    let want: Vec<_> = [11.0, 1.0, 11.0, 50.0, 0.0, 0.0, 20.0, 15.0, -29.0]
        .into_iter()
        .map(pts)
        .collect();
    assert_eq!(points, want);
    let card = e.score_card(&lead, t(DAY + 10));
    assert_eq!(card.group("engagement"), Some(pts(64.0)));
    assert_eq!(card.group("product"), Some(pts(15.0)));
    assert_eq!(card.total, pts(79.0));
    // max_count 5 on any-page: three more views add 1, then 1, then nothing.
    let more: Vec<_> = (0..3)
        .map(|i| {
            let ev = activity(
                &format!("b{i}"),
                "l",
                2 * DAY + i,
                "page_view",
                &[("url", s("/blog"))],
            );
            e.apply(&mut lead, ev).unwrap().points
        })
        .collect();
    assert_eq!(more, [pts(1.0), pts(0.0), pts(0.0)]);
}

#[test]
fn group_and_total_caps_apply_when_read() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    for i in 0..5 {
        e.apply(
            &mut lead,
            activity(
                &format!("f{i}"),
                "l",
                i,
                "form_submit",
                &[("asset", s("security-paper"))],
            ),
        )
        .unwrap();
    }
    for i in 0..12 {
        e.apply(
            &mut lead,
            activity(
                &format!("w{i}"),
                "l",
                10 + i,
                "webinar_attended",
                &[("minutes", n(60.0))],
            ),
        )
        .unwrap();
    }
    let card = e.score_card(&lead, t(100));
    let product = card.groups.iter().find(|g| g.group == "product").unwrap();
    assert_eq!(product.raw, pts(75.0));
    assert_eq!(product.score, pts(50.0), "product max 50");
    let engagement = card
        .groups
        .iter()
        .find(|g| g.group == "engagement")
        .unwrap();
    assert_eq!(engagement.raw, pts(240.0));
    assert_eq!(engagement.score, pts(200.0), "engagement max 200");
    assert_eq!(card.uncapped_total, pts(250.0));
    assert_eq!(card.total, pts(220.0), "total max 220");
    // Negative points below the product floor clamp at 0.
    let mut neg = e.new_lead("n");
    e.apply(
        &mut neg,
        adjust(
            "x",
            "n",
            0,
            Some("product"),
            Adjustment::Subtract(pts(10.0)),
        ),
    )
    .unwrap();
    assert_eq!(e.score_card(&neg, t(1)).group("product"), Some(pts(0.0)));
}

#[test]
fn validity_windows_and_channel_conditions() {
    let json = r#"{"lifecycle": {"preset": "default"}, "scoring": {"rules": [
        {"id": "spring", "when": {"kind": "email_click", "channel": "email", "campaign": "Spring Launch"}, "points": 5,
         "valid_from": "2026-03-02T10:00:00Z", "valid_until": "2026-03-02T12:00:00Z"}]}}"#;
    let e = Engine::from_json(json).unwrap();
    let click = |id: &str, m: i64, channel: &str, campaign: &str| {
        leadflow::Event::new(
            id,
            "l",
            t(m),
            leadflow::EventBody::Activity {
                kind: "email_click".into(),
                channel: Some(channel.into()),
                campaign: Some(campaign.into()),
                attrs: Default::default(),
            },
        )
    };
    let mut lead = e.new_lead("l");
    let points_of = |lead: &mut leadflow::Lead, ev| e.apply(lead, ev).unwrap().points;
    assert_eq!(
        points_of(&mut lead, click("a", 30, "email", "spring launch")),
        pts(0.0),
        "before valid_from"
    );
    assert_eq!(
        points_of(&mut lead, click("b", 60, "email", "spring launch")),
        pts(5.0)
    );
    assert_eq!(
        points_of(&mut lead, click("c", 90, "social", "spring launch")),
        pts(0.0),
        "wrong channel"
    );
    assert_eq!(
        points_of(&mut lead, click("d", 100, "EMAIL", "Other")),
        pts(0.0),
        "wrong campaign"
    );
    assert_eq!(
        points_of(&mut lead, click("e", 180, "Email", "Spring Launch")),
        pts(5.0),
        "at valid_until"
    );
    assert_eq!(
        points_of(&mut lead, click("f", 181, "email", "spring launch")),
        pts(0.0),
        "after valid_until"
    );
}

fn decay_engine(decay: &str) -> Engine {
    Engine::from_json(&format!(
        r#"{{"lifecycle": {{"preset": "default"}}, "scoring": {{"rules": [
            {{"id": "r", "when": {{"kind": "visit"}}, "points": 80}}], "decay": {decay}}}}}"#
    ))
    .unwrap()
}

#[test]
fn half_life_decay() {
    let e = decay_engine(r#"{"half_life": "7d"}"#);
    let lead = e.replay(
        "l",
        [
            activity("a", "l", 0, "visit", &[]),
            activity("b", "l", 7 * DAY, "visit", &[]),
        ],
    );
    assert_eq!(e.score(&lead, t(0)), pts(80.0));
    assert!(e.score(&lead, t(7 * DAY - 1)) < pts(80.0));
    // Exact halvings: the rounded value is exact.
    assert_eq!(e.score(&lead, t(7 * DAY)), pts(120.0), "40 + 80");
    assert_eq!(e.score(&lead, t(14 * DAY)), pts(60.0), "20 + 40");
    assert_eq!(
        e.score(&lead, t(-1)),
        pts(0.0),
        "nothing counts before it happened"
    );
    let card = e.score_card(&lead, t(14 * DAY));
    let decayed: Vec<_> = card.groups[0].entries.iter().map(|x| x.decayed).collect();
    assert_eq!(decayed, [pts(20.0), pts(40.0)]);
    assert_eq!(card.groups[0].entries[0].points, pts(80.0));
}

#[test]
fn periodic_decay_steps_at_epoch_aligned_boundaries() {
    // 25% lost at every 1-day boundary (UTC midnight). t(0) is 09:00.
    let e = decay_engine(r#"{"percent_per_period": {"percent": 25, "period": "1d"}}"#);
    let lead = e.replay("l", [activity("a", "l", 0, "visit", &[])]);
    assert_eq!(e.score(&lead, t(14 * 60)), pts(80.0), "23:00 same day");
    assert_eq!(e.score(&lead, t(15 * 60)), pts(60.0), "after midnight");
    assert_eq!(
        e.score(&lead, t(15 * 60 + DAY)),
        pts(45.0),
        "after two midnights"
    );
}

#[test]
fn expiry_counts_points_only_within_the_timeframe() {
    let e = decay_engine(r#"{"expire_after": "30d"}"#);
    let lead = e.replay(
        "l",
        [
            activity("a", "l", 0, "visit", &[]),
            activity("b", "l", 10 * DAY, "visit", &[]),
        ],
    );
    assert_eq!(e.score(&lead, t(30 * DAY - 1)), pts(160.0));
    assert_eq!(e.score(&lead, t(30 * DAY)), pts(80.0));
    assert_eq!(e.score(&lead, t(40 * DAY)), pts(0.0));
    assert!(
        e.score_card(&lead, t(40 * DAY)).groups[0]
            .entries
            .is_empty()
    );
}

#[test]
fn manual_adjustments_add_subtract_set_reset() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    e.apply(&mut lead, activity("a", "l", 0, "demo_request", &[]))
        .unwrap(); // 50
    let out = e
        .apply(
            &mut lead,
            adjust("b", "l", 1, None, Adjustment::Add(pts(7.0))),
        )
        .unwrap();
    assert_eq!(out.points, pts(7.0));
    e.apply(
        &mut lead,
        adjust(
            "c",
            "l",
            2,
            Some("engagement"),
            Adjustment::Subtract(pts(2.0)),
        ),
    )
    .unwrap();
    assert_eq!(e.score(&lead, t(3)), pts(55.0));
    let out = e
        .apply(
            &mut lead,
            adjust("d", "l", 4, Some("engagement"), Adjustment::Set(pts(30.0))),
        )
        .unwrap();
    assert_eq!(out.points, pts(-25.0));
    let card = e.score_card(&lead, t(5));
    assert_eq!(card.total, pts(30.0));
    assert_eq!(
        card.groups[0].entries.len(),
        1,
        "set replaces the group's history"
    );
    assert_eq!(card.groups[0].entries[0].rule, None);
    e.apply(
        &mut lead,
        activity("e", "l", 6, "form_submit", &[("asset", s("roi-guide"))]),
    )
    .unwrap();
    e.apply(
        &mut lead,
        adjust("f", "l", 7, Some("engagement"), Adjustment::Add(pts(1.0))),
    )
    .unwrap();
    assert_eq!(e.score(&lead, t(8)), pts(46.0));
    let out = e
        .apply(&mut lead, adjust("g", "l", 9, None, Adjustment::Reset))
        .unwrap();
    assert_eq!(out.points, pts(-46.0));
    let card = e.score_card(&lead, t(10));
    assert_eq!(card.total, pts(0.0));
    assert!(
        card.groups.iter().all(|g| g.entries.is_empty()),
        "a reset is clean"
    );
    // After a reset, points accrue again; once-rules stay spent.
    e.apply(&mut lead, activity("h", "l", 11, "demo_request", &[]))
        .unwrap();
    assert_eq!(e.score(&lead, t(12)), pts(0.0));
    let err = e
        .apply(
            &mut lead,
            adjust("i", "l", 13, Some("nope"), Adjustment::Add(pts(1.0))),
        )
        .unwrap_err();
    assert!(matches!(err.kind, EventErrorKind::UnknownGroup { ref group } if group == "nope"));
    let err = e
        .apply(
            &mut lead,
            adjust("j", "l", 13, None, Adjustment::Add(pts(0.0000001))),
        )
        .unwrap_err();
    assert!(
        matches!(err.kind, EventErrorKind::OutOfRange { ref max, .. } if max.contains("decimal places")),
        "{err}"
    );
}

#[test]
fn score_card_explains_every_point() {
    let e = scoring_engine();
    let lead = e.replay(
        "l",
        [
            activity("a", "l", 0, "page_view", &[("url", s("/pricing"))]),
            activity("b", "l", 1, "form_submit", &[("asset", s("roi-guide"))]),
            adjust("c", "l", 2, Some("product"), Adjustment::Add(pts(3.0))),
        ],
    );
    let card = e.score_card(&lead, t(10));
    let rows: Vec<(
        String,
        Option<String>,
        Option<String>,
        rust_decimal::Decimal,
    )> = card
        .groups
        .iter()
        .flat_map(|g| {
            g.entries.iter().map(move |x| {
                (
                    g.group.clone(),
                    x.rule.clone(),
                    x.activity.clone(),
                    x.points,
                )
            })
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "engagement".into(),
                Some("pricing".into()),
                Some("page_view".into()),
                pts(10.0)
            ),
            (
                "engagement".into(),
                Some("any-page".into()),
                Some("page_view".into()),
                pts(1.0)
            ),
            (
                "product".into(),
                Some("whitepaper".into()),
                Some("form_submit".into()),
                pts(15.0)
            ),
            ("product".into(), None, None, pts(3.0)),
        ]
    );
    assert_eq!(card.groups[1].entries[1].event.as_str(), "c");
    assert_eq!(card.total, pts(29.0));
}

#[test]
fn grading_on_pardots_scale() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    assert_eq!(lead.grade(), None, "ungraded until a criterion is known");
    e.apply(&mut lead, activity("a", "l", 0, "page_view", &[]))
        .unwrap();
    assert_eq!(lead.grade(), None);
    let out = e
        .apply(
            &mut lead,
            attrs("b", "l", 1, &[("industry", s("Software"))], &[]),
        )
        .unwrap();
    assert_eq!(
        (out.grade_before, out.grade_after),
        (None, Some("C".parse().unwrap())),
        "D + 3 thirds"
    );
    e.apply(
        &mut lead,
        attrs("c", "l", 2, &[("employees", n(20.0))], &[]),
    )
    .unwrap();
    assert_eq!(lead.grade(), Some("D+".parse().unwrap()), "C - 2 thirds");
    e.apply(
        &mut lead,
        attrs(
            "d",
            "l",
            3,
            &[
                ("employees", n(500.0)),
                ("title", s("svp sales")),
                ("company", s(" ACME ")),
            ],
            &[],
        ),
    )
    .unwrap();
    assert_eq!(lead.grade(), Some("A".parse().unwrap()), "D + 9 thirds");
    let card = e.grade_card(&lead);
    assert_eq!(card.fit, 100);
    assert!(card.criteria.iter().all(|c| c.verdict == Verdict::Matched));
    e.apply(
        &mut lead,
        attrs(
            "f",
            "l",
            4,
            &[
                ("industry", s("retail")),
                ("company", s("Initech")),
                ("title", s("intern")),
            ],
            &[],
        ),
    )
    .unwrap();
    assert_eq!(
        lead.grade(),
        Some("F".parse().unwrap()),
        "D - 7 + 2 thirds clamps at F"
    );
    let card = e.grade_card(&lead);
    assert_eq!(card.fit, 22, "2 of 9 weight thirds");
    e.apply(
        &mut lead,
        attrs(
            "g",
            "l",
            5,
            &[],
            &["industry", "employees", "title", "company"],
        ),
    )
    .unwrap();
    assert_eq!(lead.grade(), None, "all unknown again");
    assert!(
        e.grade_card(&lead)
            .criteria
            .iter()
            .all(|c| c.verdict == Verdict::Unknown)
    );
}

#[test]
fn grade_scale_order_parse_and_clamp() {
    let all = [
        "F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+",
    ];
    let grades: Vec<Grade> = all.iter().map(|g| g.parse().unwrap()).collect();
    assert!(grades.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        grades.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
        all
    );
    assert!("E".parse::<Grade>().is_err());
    assert_eq!(Grade::D.raised(100), Grade::A_PLUS);
    assert_eq!(Grade::D.raised(-100), Grade::F);
    assert_eq!(serde_json::to_string(&Grade::B_MINUS).unwrap(), "\"B-\"");
}

#[test]
fn priority_matrix_crosses_fit_and_engagement() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    assert_eq!(e.priority(&lead, t(0)), None);
    e.apply(
        &mut lead,
        attrs(
            "a",
            "l",
            0,
            &[("industry", s("fintech")), ("company", s("Globex"))],
            &[],
        ),
    )
    .unwrap();
    // D + 6 thirds = B; no engagement yet: band 4.
    assert_eq!(e.priority(&lead, t(1)).unwrap().to_string(), "B4");
    e.apply(&mut lead, activity("b", "l", 2, "demo_request", &[]))
        .unwrap();
    assert_eq!(e.priority(&lead, t(3)).unwrap().to_string(), "B2");
    e.apply(
        &mut lead,
        attrs("c", "l", 4, &[("industry", s("retail"))], &[]),
    )
    .unwrap();
    // D - 3 + 3 = D; score 50 → band 2.
    assert_eq!(e.priority(&lead, t(5)).unwrap().to_string(), "D2");
}

#[test]
fn mql_rule_fires_on_upward_crossing_as_a_system_transition() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    e.apply(
        &mut lead,
        attrs("a", "l", 0, &[("industry", s("software"))], &[]),
    )
    .unwrap(); // C
    e.apply(&mut lead, activity("b", "l", 1, "demo_request", &[]))
        .unwrap(); // 50
    e.apply(
        &mut lead,
        activity("c", "l", 2, "webinar_attended", &[("minutes", n(40.0))]),
    )
    .unwrap(); // 70
    assert_eq!(
        e.lifecycle().name(lead.stage().current()),
        "Anonymous",
        "grade C < B-"
    );
    let out = e
        .apply(
            &mut lead,
            attrs("d", "l", 3, &[("employees", n(200.0))], &[]),
        )
        .unwrap(); // B-
    assert_eq!(out.transitions.len(), 1);
    let tr = &out.transitions[0];
    assert_eq!(e.lifecycle().name(tr.to), "MQL");
    assert_eq!(tr.actor, Actor::System);
    let reason = tr.reason.as_ref().unwrap();
    assert_eq!(
        (reason.code, reason.note.as_deref()),
        (ReasonCode::RuleFired, Some("mql"))
    );
    // Sales recycles; the rule re-arms on the new cycle. The recycle itself
    // makes the condition true (stage Recycled, score 70) but a person's
    // move sets the baseline: no firing on the spot, nor on a later event
    // while the condition merely stays true.
    let out = e
        .apply(&mut lead, recycle("e", "l", 10, ReasonCode::Timing))
        .unwrap();
    assert_eq!(out.transitions.len(), 1, "the recycle alone");
    let out = e
        .apply(&mut lead, activity("f", "l", 11, "page_view", &[]))
        .unwrap();
    assert!(out.transitions.is_empty(), "no crossing: 70 -> 71");
    // A drop never fires; the next upward crossing does.
    let careers = activity("g", "l", 12, "page_view", &[("url", s("/careers"))]);
    let out = e.apply(&mut lead, careers).unwrap();
    assert!(out.transitions.is_empty(), "a drop to 42 never fires");
    let out = e
        .apply(
            &mut lead,
            activity("h", "l", 13, "webinar_attended", &[("minutes", n(45.0))]),
        )
        .unwrap();
    assert_eq!(out.transitions.len(), 1, "42 -> 62 crosses 60 again");
    assert_eq!(lead.stage().cycle(), 2);
    assert_eq!(e.lifecycle().name(lead.stage().current()), "MQL");
    let fired = lead
        .history()
        .iter()
        .filter(|t| t.actor == Actor::System && t.kind == TransitionKind::Advanced)
        .count();
    assert_eq!(fired, 2);
}

#[test]
fn rearm_policies_never_and_hysteresis() {
    let config = |rearm: &str| {
        format!(
            r#"{{"lifecycle": {{"stages": [
              {{"name": "New", "rank": 0, "kind": "open"}}, {{"name": "Hot", "rank": 1, "kind": "open"}},
              {{"name": "Pool", "rank": -1, "kind": "recycled"}}], "initial": "New"}},
             "scoring": {{"rules": [{{"id": "r", "when": {{"kind": "visit"}}, "points": 10}},
                                   {{"id": "n", "when": {{"kind": "bounce"}}, "points": -10}}]}},
             "qualification": [{{"id": "hot", "when": {{"score": {{"min": 20}}, "stages": ["New", "Pool"]}}, "then": "Hot", "rearm": {rearm}}}]}}"#
        )
    };
    let run = |rearm: &str| {
        let e = Engine::from_json(&config(rearm)).unwrap();
        let mut lead = e.new_lead("l");
        let seq = [
            "visit", "visit", "recycle", "bounce", "bounce", "visit", "visit",
        ];
        let mut fired = Vec::new();
        for (i, kind) in seq.iter().enumerate() {
            let id = format!("e{i}");
            let ev = if *kind == "recycle" {
                recycle(&id, "l", i as i64, ReasonCode::Nurture)
            } else {
                activity(&id, "l", i as i64, kind, &[])
            };
            let out = e.apply(&mut lead, ev).unwrap();
            fired.push(out.transitions.iter().any(|t| {
                t.reason
                    .as_ref()
                    .is_some_and(|r| r.code == ReasonCode::RuleFired)
            }));
        }
        fired
    };
    // Score: 10, 20 (fires), recycle, 10, 0, 10, 20.
    assert_eq!(
        run(r#""never""#),
        [false, true, false, false, false, false, false]
    );
    // Hysteresis 5: re-arms below 15 (at 10), fires again back at 20.
    assert_eq!(
        run(r#"{"hysteresis": 5}"#),
        [false, true, false, false, false, false, true]
    );
    // Hysteresis 15: re-arms only below 5 (at 0).
    assert_eq!(
        run(r#"{"hysteresis": 15}"#),
        [false, true, false, false, false, false, true]
    );
    // Hysteresis 25: never falls below -5.
    assert_eq!(
        run(r#"{"hysteresis": 25}"#),
        [false, true, false, false, false, false, false]
    );
}

#[test]
fn qualification_needs_the_lead_to_be_able_to_move() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    e.apply(&mut lead, created("a", "l", 0, "SQL", Source::Sales))
        .unwrap();
    e.apply(
        &mut lead,
        attrs(
            "b",
            "l",
            1,
            &[("industry", s("software")), ("employees", n(100.0))],
            &[],
        ),
    )
    .unwrap();
    let out = e
        .apply(&mut lead, activity("c", "l", 2, "demo_request", &[]))
        .unwrap();
    let out2 = e
        .apply(
            &mut lead,
            activity("d", "l", 3, "webinar_attended", &[("minutes", n(99.0))]),
        )
        .unwrap();
    assert!(out.transitions.is_empty() && out2.transitions.is_empty());
    assert_eq!(e.lifecycle().name(lead.stage().current()), "SQL");
}

#[test]
fn rescoring_is_replay_under_an_edited_config() {
    let e = scoring_engine();
    let events = vec![
        activity("a", "l", 0, "demo_request", &[]),
        activity("b", "l", 1, "page_view", &[("url", s("/pricing"))]),
    ];
    let lead = e.replay("l", events.clone());
    assert_eq!(e.score(&lead, t(5)), pts(61.0));
    let mut config: EngineConfig = serde_json::from_str(SCORING_CONFIG).unwrap();
    config.scoring.rules[2].points = pts(5.0); // demo is worth less now
    let edited = Engine::new(config).unwrap();
    let rescored = edited.replay("l", lead.events().to_vec());
    assert_eq!(edited.score(&rescored, t(5)), pts(16.0));
}

#[test]
fn batch_ingest_refolds_once_and_counts() {
    let e = scoring_engine();
    let mut lead = e.new_lead("l");
    e.ingest(&mut lead, activity("z", "l", 100, "demo_request", &[]));
    let batch = e.ingest_batch(
        &mut lead,
        [
            activity("a", "l", 0, "page_view", &[]),
            activity("z", "l", 100, "demo_request", &[]),
            adjust("b", "l", 1, Some("nope"), Adjustment::Add(pts(1.0))),
            activity("c", "l", 200, "page_view", &[]),
        ],
    );
    assert!(batch.refolded);
    assert_eq!(batch.applied, 2);
    assert_eq!(batch.duplicates, 1);
    assert_eq!(batch.ignored.len(), 1);
    let expected = e.replay("l", lead.events().to_vec());
    assert_eq!(lead, expected);
    // In-order batches do not refold.
    let batch = e.ingest_batch(&mut lead, [activity("d", "l", 300, "page_view", &[])]);
    assert!(!batch.refolded);
    assert_eq!(batch.applied, 1);
    let out = e.ingest(&mut lead, activity("d", "l", 300, "page_view", &[]));
    assert_eq!(out.status, IngestStatus::Duplicate);
}

#[test]
fn scoring_config_errors_name_the_item() {
    let base: serde_json::Value = serde_json::from_str(SCORING_CONFIG).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "/scoring/decay",
            serde_json::json!({"half_life": 0}),
            "scoring.decay.half_life",
        ),
        (
            "/scoring/decay",
            serde_json::json!({"percent_per_period": {"percent": 0, "period": "1d"}}),
            "scoring.decay.percent_per_period.percent",
        ),
        ("/scoring/groups/1/min", 100.into(), "scoring.groups[1].min"),
        (
            "/scoring/rules/1/id",
            "pricing".into(),
            "scoring.rules[1].id",
        ),
        (
            "/scoring/rules/1/group",
            "nope".into(),
            "scoring.rules[1].group",
        ),
        (
            "/scoring/rules/0/when/attrs/0/value",
            serde_json::Value::Null,
            "scoring.rules[0].when.attrs[0].value",
        ),
        (
            "/grading/criteria/1/id",
            "industry".into(),
            "grading.criteria[1].id",
        ),
        (
            "/grading/criteria/1/weight",
            4.into(),
            "grading.criteria[1].weight",
        ),
        (
            "/grading/criteria/1/weight",
            0.into(),
            "grading.criteria[1].weight",
        ),
        (
            "/grading/criteria/3/when/list",
            "nope".into(),
            "grading.criteria[3].when.list",
        ),
        (
            "/qualification/0/then",
            "Nirvana".into(),
            "qualification[0].then",
        ),
        (
            "/qualification/0/when/stages/1",
            "Nowhere".into(),
            "qualification[0].when.stages[1]",
        ),
        (
            "/qualification/0/when/score",
            serde_json::json!({"group": "nope", "min": 1}),
            "qualification[0].when.score.group",
        ),
        (
            "/qualification/0/when",
            serde_json::json!({}),
            "qualification[0].when",
        ),
        (
            "/qualification/0/rearm",
            serde_json::json!({"hysteresis": -1}),
            "qualification[0].rearm.hysteresis",
        ),
    ];
    for (pointer, value, path) in cases {
        let mut config = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match config.pointer_mut(parent).unwrap() {
            serde_json::Value::Object(m) => {
                m.insert(key.to_owned(), value);
            }
            serde_json::Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
            _ => panic!("{pointer}"),
        }
        let err = Engine::from_json(&config.to_string()).expect_err(pointer);
        assert_eq!(err.path(), path, "{pointer}: {err}");
        assert!(
            !matches!(err.kind(), ConfigErrorKind::Syntax { .. }),
            "{err}"
        );
    }
    let mut config = base.clone();
    config["scoring"]["rules"][0]["pointz"] = 3.into();
    let err = Engine::from_json(&config.to_string()).unwrap_err();
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("pointz"))
    );
    let err = Engine::from_json(
        r#"{"lifecycle": {"preset": "default"}, "scoring": {"decay": {"half_life": "-3d"}}}"#,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("-3d")),
        "{err}"
    );
    let err = Engine::from_json(r#"{"lifecycle": {"preset": "default"}, "qualification": [{"id": "q", "when": {"min_grade": "E"}, "then": "MQL"}]}"#).unwrap_err();
    assert!(
        matches!(err.kind(), ConfigErrorKind::Syntax { message } if message.contains("\"E\"")),
        "{err}"
    );
    let msg = {
        let mut config = base.clone();
        config["scoring"]["rules"][3]["when"]["attrs"][0]["op"] = "containz".into();
        Engine::from_json(&config.to_string())
            .unwrap_err()
            .to_string()
    };
    assert!(
        msg.starts_with("scoring.rules[3].when.attrs[0].op: unknown operator \"containz\""),
        "{msg}"
    );
}

#[test]
fn engine_config_round_trips_and_engine_is_shareable() {
    let config: EngineConfig = serde_json::from_str(SCORING_CONFIG).unwrap();
    let back: EngineConfig =
        serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
    let engine = Engine::new(config).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let lead = engine.replay(
                    format!("l{i}"),
                    [activity("a", "l", 0, "demo_request", &[])],
                );
                engine.score(&lead, t(1))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), pts(50.0));
    }
}

#[test]
fn graded_numbers_read_as_people_type_them_and_junk_is_unknown() {
    let e = Engine::from_json(r#"{"lifecycle": {"preset": "default"},
      "grading": {"criteria": [{"id": "size", "when": {"attr": "employees", "op": "range", "min": 500, "max": 5000}, "weight": 3}]}}"#).unwrap();
    let grade_of = |v: AttrValue| {
        let lead = e.replay("l", [attrs("a", "l", 0, &[("employees", v)], &[])]);
        lead.grade().map(|g| g.to_string())
    };
    // A match raises D by a letter; a mismatch lowers it; unknown leaves the
    // lead ungraded.
    for text in [
        "1,000", "1 000", "1_000", "$1,000", "1000+", " 750 ", "4,999.5",
    ] {
        assert_eq!(grade_of(s(text)), Some("C".into()), "{text}");
    }
    for text in ["50,000", "100", "12,00"] {
        let want = if text == "12,00" {
            None
        } else {
            Some("F".into())
        };
        assert_eq!(grade_of(s(text)), want, "{text}");
    }
    for junk in ["lots", "1,0000", "ten", "5e", ""] {
        assert_eq!(grade_of(s(junk)), None, "{junk:?} is unknown");
    }
}

#[test]
fn each_group_can_decay_its_own_way() {
    let e = Engine::from_json(
        r#"{"lifecycle": {"preset": "default"},
      "scoring": {
        "decay": {"expire_after": "10d"},
        "groups": [{"name": "web", "decay": {"half_life": "1d"}}, {"name": "events"}],
        "rules": [{"id": "v", "when": {"kind": "visit"}, "points": 40, "group": "web"},
                  {"id": "m", "when": {"kind": "meetup"}, "points": 30, "group": "events"}]}}"#,
    )
    .unwrap();
    let lead = e.replay(
        "l",
        [
            activity("a", "l", 0, "visit", &[]),
            activity("b", "l", 0, "meetup", &[]),
        ],
    );
    let day = 24 * 60;
    let card = e.score_card(&lead, t(day));
    assert_eq!(card.group("web"), Some(pts(20.0)), "its own half-life");
    assert_eq!(
        card.group("events"),
        Some(pts(30.0)),
        "the model's expiry, not yet"
    );
    // 40 × 2^-11 = 0.01953125, rounded to six places (half away from zero).
    assert_eq!(e.score(&lead, t(11 * day)), pts(0.019531));
    let err = Engine::from_json(
        r#"{"lifecycle": {"preset": "default"},
      "scoring": {"groups": [{"name": "web", "decay": {"half_life": 0}}]}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), "scoring.groups[0].decay.half_life");
}

#[test]
fn a_config_change_can_be_previewed_on_a_store() {
    let old = scoring_engine();
    let mut store = leadflow::LeadStore::new(old.clone());
    store.ingest_all([
        attrs(
            "a",
            "ada",
            0,
            &[("industry", s("software")), ("employees", n(200.0))],
            &[],
        ),
        activity("b", "ada", 1, "demo_request", &[]),
        activity("c", "bob", 1, "page_view", &[]),
    ]);
    // Demos worth 70 instead of 50: ada crosses the MQL bar, bob is unchanged.
    let config = SCORING_CONFIG.replace(r#""points": 50"#, r#""points": 70"#);
    let new = Engine::from_json(&config).unwrap();
    let changes = store.preview(&new, t(10));
    assert_eq!(changes.len(), 1);
    let ada = &changes[0];
    assert_eq!(ada.lead.as_str(), "ada");
    assert_eq!((ada.score_before, ada.score_after), (pts(50.0), pts(70.0)));
    assert_eq!(ada.stage_before.as_deref(), Some("Anonymous"));
    assert_eq!(ada.stage_after.as_deref(), Some("MQL"));
    // The store itself is untouched.
    assert_eq!(
        old.score(store.lead(&"ada".into()).unwrap(), t(10)),
        pts(50.0)
    );
}

#[test]
fn each_persona_has_its_own_grading_profile_and_a_change_regrades() {
    let e = Engine::from_json(r#"{"lifecycle": {"preset": "default"},
      "grading": {
        "criteria": [{"id": "size", "when": {"attr": "employees", "op": "range", "min": 100}, "weight": 3}],
        "profiles": [
          {"id": "developer", "when": {"attr": "persona", "op": "equals", "value": "developer"},
           "criteria": [{"id": "github", "when": {"attr": "github", "op": "exists"}, "weight": 3},
                        {"id": "title", "when": {"attr": "title", "op": "contains", "value": "engineer"}, "weight": 3}]}
        ]}}"#).unwrap();
    let dev = e.replay(
        "d",
        [attrs(
            "1",
            "d",
            0,
            &[
                ("persona", s("developer")),
                ("github", s("ada")),
                ("title", s("Staff Engineer")),
                ("employees", n(5.0)),
            ],
            &[],
        )],
    );
    // The developer profile: two matches, D + 6 = B; the size criterion
    // (a mismatch for 5 employees) does not apply.
    assert_eq!(dev.grade().map(|g| g.to_string()), Some("B".into()));
    let card = e.grade_card(&dev);
    assert_eq!(card.profile.as_deref(), Some("developer"));
    assert_eq!(card.criteria.len(), 2);
    // Leaving the persona regrades under the default profile: F.
    let moved = e.replay(
        "d",
        dev.events()
            .iter()
            .cloned()
            .chain([attrs("2", "d", 5, &[], &["persona"])]),
    );
    assert_eq!(
        moved.grade().map(|g| g.to_string()),
        Some("F".into()),
        "5 employees: D - 3"
    );
    assert_eq!(e.grade_card(&moved).profile, None);
    let err = Engine::from_json(r#"{"lifecycle": {"preset": "default"}, "grading": {"profiles": [
        {"id": "p", "when": {"attr": "persona", "op": "equals", "value": "x"}, "criteria": [{"id": "c", "when": {"attr": "a", "op": "exists"}, "weight": 4}]}]}}"#).unwrap_err();
    assert_eq!(err.path(), "grading.profiles[0].criteria[0].weight");
}

#[test]
fn a_persons_verdict_on_a_criterion_overrides_the_attributes_until_cleared() {
    let e = scoring_engine();
    let verdict = |id: &str, m, criterion: &str, v: Option<&str>| -> leadflow::Event {
        let mut body =
            serde_json::json!({"type": "verdict", "criterion": criterion, "actor": "sales"});
        if let Some(v) = v {
            body["verdict"] = serde_json::json!(v);
        }
        serde_json::from_value(serde_json::json!({"id": id, "lead": "l", "at": t(m), "body": body}))
            .unwrap()
    };
    let mut lead = e.new_lead("l");
    e.apply(
        &mut lead,
        attrs("a", "l", 0, &[("industry", s("retail"))], &[]),
    )
    .unwrap(); // D - 3 = F
    assert_eq!(lead.grade().map(|g| g.to_string()), Some("F".into()));
    e.apply(&mut lead, verdict("v", 1, "industry", Some("matched")))
        .unwrap(); // D + 3 = C
    assert_eq!(lead.grade().map(|g| g.to_string()), Some("C".into()));
    let card = e.grade_card(&lead);
    assert_eq!(
        card.criteria
            .iter()
            .find(|c| c.criterion == "industry")
            .unwrap()
            .verdict,
        Verdict::Matched
    );
    e.apply(&mut lead, verdict("w", 2, "industry", None))
        .unwrap();
    assert_eq!(
        lead.grade().map(|g| g.to_string()),
        Some("F".into()),
        "cleared: the attribute speaks again"
    );
    assert_eq!(
        e.grade_at(&lead, t(1)).map(|g| g.to_string()),
        Some("C".into())
    );
    let err = e
        .apply(&mut lead, verdict("x", 3, "nope", Some("matched")))
        .unwrap_err();
    assert!(
        matches!(err.kind, EventErrorKind::UnknownCriterion { .. }),
        "{err}"
    );
    let back = e
        .restore(serde_json::from_str(&serde_json::to_string(&lead).unwrap()).unwrap())
        .unwrap();
    assert_eq!(back, lead);
}

// ------------------------------------------------------------ exact points

fn tenths_engine(min: &str) -> Engine {
    Engine::from_json(&format!(
        r#"{{"lifecycle": {{"preset": "default"}},
        "scoring": {{"rules": [{{"id": "tenth", "when": {{"kind": "visit"}}, "points": 0.1}}]}},
        "qualification": [{{"id": "mql", "when": {{"score": {{"min": {min}}}}}, "then": "MQL"}}]}}"#
    ))
    .unwrap()
}

#[test]
fn ten_tenths_are_exactly_one_and_reach_a_threshold_of_one() {
    let e = tenths_engine("1");
    let evs: Vec<_> = (0..10)
        .map(|i| activity(&format!("v{i}"), "l", i, "visit", &[]))
        .collect();
    let lead = e.replay("l", evs.clone());
    assert_eq!(e.score(&lead, t(10)), rust_decimal::Decimal::ONE);
    assert_eq!(e.score(&lead, t(10)).to_string(), "1");
    assert_eq!(path(&e, &lead), ["Anonymous", "MQL"], "fires at the tenth");
    assert_eq!(lead.history().last().unwrap().event.as_str(), "v9");
    // A threshold one millionth above is exactly out of reach.
    let e = tenths_engine("1.000001");
    assert_eq!(path(&e, &e.replay("l", evs)), ["Anonymous"]);
}

#[test]
fn points_beyond_six_places_or_the_bound_are_refused_with_their_path() {
    let config = |rule: &str| {
        format!(
            r#"{{"lifecycle": {{"preset": "default"}},
            "scoring": {{"rules": [{{"id": "r", "when": {{"kind": "visit"}}, "points": {rule}}}]}}}}"#
        )
    };
    for bad in ["0.0000001", "1e308", "1000000000000.5", "\"0.12345678\""] {
        let err = Engine::from_json(&config(bad)).unwrap_err();
        assert_eq!(err.path(), "scoring.rules[0].points", "{bad}: {err}");
    }
    // A string keeps digits a JSON number would lose.
    let e = Engine::from_json(&config("\"123456789012.123456\"")).unwrap();
    let lead = e.replay("l", [activity("a", "l", 0, "visit", &[])]);
    assert_eq!(e.score(&lead, t(0)).to_string(), "123456789012.123456");
    // Events: an adjustment that cannot be exact does not parse or is
    // refused; the limit itself sums exactly.
    let line = r#"{"id": "x", "lead": "l", "at": "2026-03-02T09:00:00Z",
        "type": "score_adjusted", "change": {"subtract": 1e308}, "actor": "sales", "reason": "r"}"#;
    assert!(serde_json::from_str::<leadflow::Event>(line).is_err());
}

#[test]
fn caps_and_bands_are_exact_decimals() {
    let e = Engine::from_json(
        r#"{"lifecycle": {"preset": "default"},
        "scoring": {"groups": [{"name": "g", "max": 0.3}],
                    "rules": [{"id": "r", "when": {"kind": "visit"}, "points": 0.1}]},
        "grading": {"criteria": [{"id": "c", "when": {"attr": "x", "op": "exists"}, "weight": 3}],
                    "matrix": {"bands": [0.3, 0.2, 0.1]}}}"#,
    )
    .unwrap();
    let mut evs = vec![attrs("p", "l", 0, &[("x", s("y"))], &[])];
    evs.extend((1..=5).map(|i| activity(&format!("v{i}"), "l", i, "visit", &[])));
    let lead = e.replay("l", evs);
    let card = e.score_card(&lead, t(5));
    assert_eq!(card.groups[0].raw, pts(0.5));
    assert_eq!(card.total, pts(0.3));
    // 0.1 + 0.1 + 0.1 is exactly the first band.
    assert_eq!(e.priority(&lead, t(3)).unwrap().engagement, 1);
    assert_eq!(e.priority(&lead, t(2)).unwrap().engagement, 2);
    assert_eq!(e.priority(&lead, t(1)).unwrap().engagement, 3);
}

/// Digits a decimal cannot hold exactly are refused, never rounded away:
/// 29 places in a string, 1e-30 as a number, in configs and in events.
#[test]
fn decimals_beyond_exact_are_refused_not_rounded() {
    let rule = |points: &str| {
        format!(
            r#"{{"lifecycle": {{"preset": "default"}},
            "scoring": {{"rules": [{{"id": "r", "when": {{"kind": "visit"}}, "points": {points}}}]}}}}"#
        )
    };
    for bad in ["\"0.10000000000000000000000000001\"", "1e-30"] {
        let err = Engine::from_json(&rule(bad)).unwrap_err();
        assert_eq!(err.path(), "scoring.rules[0].points", "{bad}: {err}");
    }
    let threshold = r#"{"lifecycle": {"preset": "default"},
        "qualification": [{"id": "q", "when": {"score": {"min": "1.00000000000000000000000000001"}}, "then": "MQL"}]}"#;
    let err = Engine::from_json(threshold).unwrap_err();
    assert_eq!(err.path(), "qualification[0].when.score.min", "{err}");
    let total = r#"{"lifecycle": {"preset": "default"}, "scoring": {"total_max": "0.00000000000000000000000000001"}}"#;
    assert_eq!(
        Engine::from_json(total).unwrap_err().path(),
        "scoring.total_max"
    );
    let event = r#"{"id": "x", "lead": "l", "at": "2026-03-02T09:00:00Z", "body": {"type": "score_adjusted",
        "change": {"add": "0.10000000000000000000000000001"}, "actor": "sales", "reason": "r"}}"#;
    assert!(serde_json::from_str::<leadflow::Event>(event).is_err());
    // The plain forms still read exactly.
    let event = event.replace("0.10000000000000000000000000001", "0.1");
    let ev: leadflow::Event = serde_json::from_str(&event).unwrap();
    assert!(
        matches!(ev.body, leadflow::EventBody::ScoreAdjusted { change: Adjustment::Add(d), .. } if d == pts(0.1))
    );
}
