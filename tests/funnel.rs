//! Funnel analytics: every definition by hand, the planner by hand, and the
//! properties (arrival order, partitions, advanced ≤ entered) against a
//! naive model written here.

use std::collections::BTreeMap;

use crate::common::*;
use leadflow::funnel::{
    Cut, Funnel, FunnelOptions, FunnelReport, FunnelTally, Granularity, Period,
};
use leadflow::{
    Actor, Engine, Event, EventBody, Lead, LeadStore, Mergeable, Preset, ReasonCode, Source,
    TransitionKind,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Day `d` of 2026 at 09:00 UTC (day 1 = 1 January).
fn day(d: i64) -> leadflow::Timestamp {
    chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, 9, 0, 0).unwrap()
        + chrono::TimeDelta::days(d - 1)
}

fn ev(id: &str, lead: &str, d: i64, body: EventBody) -> Event {
    Event::new(id, lead, day(d), body)
}

fn create(id: &str, lead: &str, d: i64, stage: &str) -> Event {
    ev(
        id,
        lead,
        d,
        EventBody::Created {
            stage: stage.into(),
            source: Source::Marketing,
            actor: Actor::Marketing,
        },
    )
}

fn to(id: &str, lead: &str, d: i64, stage: &str) -> Event {
    ev(
        id,
        lead,
        d,
        EventBody::Advanced {
            to: stage.into(),
            actor: Actor::Sales,
            reason: None,
        },
    )
}

fn lose(id: &str, lead: &str, d: i64, stage: &str, code: ReasonCode) -> Event {
    ev(
        id,
        lead,
        d,
        EventBody::Advanced {
            to: stage.into(),
            actor: Actor::Sales,
            reason: Some(leadflow::Reason::new(code)),
        },
    )
}

fn deal(id: &str, lead: &str, d: i64, amount: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "id": id, "lead": lead, "at": day(d), "body": {"type": "deal", "amount": amount}
    }))
    .unwrap()
}

fn report(e: &Engine, leads: &[Lead], options: FunnelOptions) -> FunnelReport {
    let f = Funnel::new(e, options).unwrap();
    f.report(&f.tally(leads))
}

fn row<'a>(
    r: &'a FunnelReport,
    period: &str,
    stage: &str,
) -> Option<&'a leadflow::funnel::StageRow> {
    r.stages
        .iter()
        .find(|x| x.period.to_string() == period && x.stage == stage)
}

fn q1() -> FunnelOptions {
    FunnelOptions::new(day(1), day(91), day(120))
}

#[test]
fn a_lead_created_at_sql_skips_mql_and_mql_to_disqualified_advances_nothing() {
    let e = engine(Preset::Waterfall);
    let sales = e.replay(
        "s",
        [create("1", "s", 3, "SQL"), to("2", "s", 10, "Opportunity")],
    );
    let dq = e.replay(
        "d",
        [
            create("1", "d", 5, "MQL"),
            lose("2", "d", 6, "Disqualified", ReasonCode::PoorFit),
        ],
    );
    let r = report(&e, &[sales, dq], q1());
    assert!(row(&r, "2026-01", "Inquiry").is_none());
    let mql = row(&r, "2026-01", "MQL").unwrap();
    assert_eq!(
        (mql.entered, mql.advanced),
        (1, 0),
        "only the disqualified lead entered MQL"
    );
    assert_eq!(mql.conversion, Some(0.0));
    assert_eq!(mql.median_days, None);
    let sql = row(&r, "2026-01", "SQL").unwrap();
    assert_eq!(
        (sql.entered, sql.advanced, sql.median_days),
        (1, 1, Some(7.0))
    );
    let opp = row(&r, "2026-01", "Opportunity").unwrap();
    assert_eq!((opp.entered, opp.advanced), (1, 0));
    // The disqualification is a reason by stage and by source.
    assert!(
        r.reasons
            .iter()
            .any(|x| x.code == ReasonCode::PoorFit && x.count == 1)
    );
}

#[test]
fn recycled_cycles_count_again_unless_first_cycle_only() {
    let e = engine(Preset::Default);
    let lead = e.replay(
        "l",
        [
            create("1", "l", 2, "MQL"),
            recycle("2", "l", 0, ReasonCode::Timing),
            to("3", "l", 20, "MQL"),
            to("4", "l", 24, "SQL"),
        ]
        .into_iter()
        .map(|mut x| {
            if x.id.as_str() == "2" {
                x.at = day(10);
            }
            x
        }),
    );
    let all = report(&e, std::slice::from_ref(&lead), q1());
    let mql = row(&all, "2026-01", "MQL").unwrap();
    assert_eq!(
        (mql.entered, mql.advanced),
        (2, 1),
        "two cycles, the second advanced"
    );
    assert_eq!(mql.median_days, Some(4.0));
    let first = report(&e, &[lead], q1().first_cycle_only(true));
    let mql = row(&first, "2026-01", "MQL").unwrap();
    assert_eq!((mql.entered, mql.advanced), (1, 0));
    assert!(row(&first, "2026-01", "SQL").is_none());
}

#[test]
fn wins_are_valued_at_the_deal_in_effect_and_without_one_at_zero() {
    let e = engine(Preset::Default);
    let a = e.replay(
        "a",
        [
            create("1", "a", 2, "SQL"),
            deal("2", "a", 3, "12000.00"),
            deal("3", "a", 4, "12500.10"),
            to("4", "a", 40, "Won"),
            deal("5", "a", 41, "99999"),
        ],
    );
    let b = e.replay("b", [create("1", "b", 2, "SQL"), to("2", "b", 45, "Won")]);
    // A recycle drops the open deal: the second cycle's win is worth 0.
    let c = e.replay(
        "c",
        [
            create("1", "c", 2, "SQL"),
            deal("2", "c", 3, "500"),
            recycle("3", "c", 0, ReasonCode::NoBudget),
            to("4", "c", 50, "Won"),
        ]
        .into_iter()
        .map(|mut x| {
            if x.id.as_str() == "3" {
                x.at = day(5);
            }
            x
        }),
    );
    assert_eq!(a.wins()[0].amount, Decimal::new(1_250_010, 2));
    let r = report(&e, &[a, b, c], q1());
    let feb: Vec<_> = r
        .wins
        .iter()
        .filter(|w| w.period.to_string() == "2026-02")
        .collect();
    assert_eq!(feb.len(), 1);
    assert_eq!(feb[0].wins, 3);
    assert_eq!(feb[0].won_value, Decimal::new(1_250_010, 2));
    assert_eq!(feb[0].won_value.to_string(), "12500.10");
}

#[test]
fn deal_amounts_read_exactly_and_refuse_negatives() {
    let e = engine(Preset::Default);
    let number: Event = serde_json::from_str(
        r#"{"id": "d", "lead": "l", "at": "2026-03-01T00:00:00Z", "body": {"type": "deal", "amount": 0.1}}"#,
    )
    .unwrap();
    let EventBody::Deal { amount } = &number.body else {
        panic!()
    };
    assert_eq!(amount.to_string(), "0.1");
    let back: Event = serde_json::from_str(&serde_json::to_string(&number).unwrap()).unwrap();
    assert_eq!(back, number);
    let mut lead = e.new_lead("l");
    let err = e.apply(&mut lead, deal("n", "l", 1, "-5")).unwrap_err();
    assert!(
        matches!(err.kind, leadflow::EventErrorKind::NegativeAmount { .. }),
        "{err}"
    );
    assert!(serde_json::from_str::<Event>(
        r#"{"id": "d", "lead": "l", "at": "2026-03-01T00:00:00Z", "body": {"type": "deal", "amount": "12,000"}}"#
    )
    .is_err());
}

#[test]
fn units_entered_before_from_count_only_as_period_advances() {
    let e = engine(Preset::Default);
    let early = e.replay("x", [create("1", "x", 1, "MQL"), to("2", "x", 40, "SQL")]);
    let window = FunnelOptions::new(day(32), day(60), day(90));
    let r = report(&e, &[early], window);
    let mql = row(&r, "2026-02", "MQL").unwrap();
    assert_eq!(
        (mql.entered, mql.advanced, mql.advances_in_period),
        (0, 0, 1)
    );
    assert_eq!(mql.period_conversion, None, "no unit entered in February");
    let sql = row(&r, "2026-02", "SQL").unwrap();
    assert_eq!(sql.entered, 1);
}

#[test]
fn velocity_statistics_by_hand() {
    let e = engine(Preset::Default);
    let leads: Vec<Lead> = [1, 2, 4, 10]
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let id = format!("l{i}");
            e.replay(
                id.as_str(),
                [create("1", &id, 2, "MQL"), to("2", &id, 2 + d, "SQL")],
            )
        })
        .collect();
    let r = report(&e, &leads, q1());
    let mql = row(&r, "2026-01", "MQL").unwrap();
    assert_eq!(mql.median_days, Some(3.0), "mean of 2 and 4");
    assert_eq!(mql.mean_days, Some(4.25));
    assert_eq!(mql.p90_days, Some(10.0), "nearest rank: 4th of 4");
    assert_eq!(mql.conversion, Some(1.0));
}

#[test]
fn volumes_sla_and_periods() {
    let e = engine(Preset::Default);
    let on_time = e.replay("a", [create("1", "a", 2, "MQL"), to("2", "a", 2, "SQL")]);
    let late = e.replay("b", [create("1", "b", 2, "MQL"), to("2", "b", 5, "SQL")]);
    let waiting = e.replay("c", [create("1", "c", 89, "MQL")]);
    let options = FunnelOptions::new(day(1), day(91), day(89) + chrono::TimeDelta::hours(1));
    let r = report(&e, &[on_time, late, waiting], options.clone());
    let sla = r.sla.iter().find(|s| s.stage == "MQL").unwrap();
    assert_eq!((sla.met, sla.missed, sla.due), (1, 1, 1));
    let jan_sql = r
        .volumes
        .iter()
        .find(|v| v.period.to_string() == "2026-01" && v.stage == "SQL")
        .unwrap();
    assert_eq!((jan_sql.inflow, jan_sql.balance), (2, 2));
    let jan_mql = r
        .volumes
        .iter()
        .find(|v| v.period.to_string() == "2026-01" && v.stage == "MQL")
        .unwrap();
    assert_eq!(
        (jan_mql.inflow, jan_mql.outflow, jan_mql.balance),
        (2, 2, 0)
    );
    let mar_mql = r
        .volumes
        .iter()
        .find(|v| v.period.to_string() == "2026-03" && v.stage == "MQL")
        .unwrap();
    assert_eq!(mar_mql.balance, 1);
    // Quarters and weeks are written as such.
    let by_q = report(
        &e,
        &[e.replay("q", [create("1", "q", 2, "MQL")])],
        options.clone().by(Granularity::Quarter),
    );
    assert_eq!(by_q.stages[0].period.to_string(), "2026-Q1");
    let by_w = report(
        &e,
        &[e.replay("w", [create("1", "w", 6, "MQL")])],
        options.by(Granularity::Week),
    );
    assert_eq!(by_w.stages[0].period.to_string(), "2026-W02");
    assert_eq!(Period::parse("2026-W02"), Some(by_w.stages[0].period));
}

#[test]
fn cuts_split_by_source_channel_and_attribute() {
    let e = engine(Preset::Default);
    let touch = |id: &str, lead: &str, d, channel: &str| {
        ev(
            id,
            lead,
            d,
            EventBody::Activity {
                kind: "visit".into(),
                channel: Some(channel.into()),
                campaign: None,
                attrs: Default::default(),
            },
        )
    };
    let a = e.replay(
        "a",
        [
            touch("0", "a", 1, "email"),
            create("1", "a", 2, "MQL"),
            touch("2", "a", 3, "ads"),
        ],
    );
    let b = e.replay(
        "b",
        [
            create("1", "b", 2, "MQL"),
            attrs(
                "2",
                "b",
                2,
                &[("industry", leadflow::AttrValue::from("software"))],
                &[],
            ),
        ],
    );
    let r = report(&e, &[a.clone(), b.clone()], q1().cut(Cut::Channel));
    let cuts: BTreeMap<&str, u64> = r
        .stages
        .iter()
        .filter(|x| x.stage == "MQL")
        .map(|x| (x.cut.as_str(), x.entered))
        .collect();
    assert_eq!(cuts, BTreeMap::from([("(none)", 1), ("email", 1)]));
    let r = report(&e, &[a, b], q1().cut(Cut::Attr("industry".into())));
    let cuts: Vec<&str> = r.stages.iter().map(|x| x.cut.as_str()).collect();
    assert_eq!(cuts, ["(none)", "software"]);
}

#[test]
fn the_reverse_planner_by_hand() {
    let e = engine(Preset::Default);
    let mut leads = Vec::new();
    // 10 MQL units, 4 advance to SQL; 4 SQL units, 2 to Opportunity;
    // 2 Opportunity units, both won, worth 30 000.00 in all.
    for i in 0..10 {
        let id = format!("l{i}");
        let mut evs = vec![create("1", &id, 2, "MQL")];
        if i < 4 {
            evs.push(to("2", &id, 5, "SQL"));
        }
        if i < 2 {
            evs.push(to("3", &id, 9, "Opportunity"));
            evs.push(deal(
                "4",
                &id,
                10,
                if i == 0 { "10000.00" } else { "20000" },
            ));
            evs.push(to("5", &id, 20, "Won"));
        }
        leads.push(e.replay(id.as_str(), evs));
    }
    let r = report(&e, &leads, q1());
    let plan = r.plan(Decimal::new(100_000, 0)).unwrap();
    let got: Vec<(&str, u128)> = plan.iter().map(|p| (p.stage.as_str(), p.needed)).collect();
    // won: ⌈100000 × 2 / 30000⌉ = 7; Opportunity: ⌈7 × 2 / 2⌉ = 7;
    // SQL: ⌈7 × 4 / 2⌉ = 14; MQL: ⌈14 × 10 / 4⌉ = 35.
    assert_eq!(
        got,
        [("won", 7), ("Opportunity", 7), ("SQL", 14), ("MQL", 35)]
    );
    assert!(matches!(
        r.plan(Decimal::new(-1, 0)),
        Err(leadflow::funnel::PlanError::NegativeTarget { .. })
    ));
    let none = report(&e, &leads[5..], q1());
    assert!(matches!(
        none.plan(Decimal::ONE),
        Err(leadflow::funnel::PlanError::NoWonValue)
    ));
}

#[test]
fn an_empty_window_is_an_error() {
    let e = engine(Preset::Default);
    assert!(Funnel::new(&e, FunnelOptions::new(day(5), day(5), day(5))).is_err());
}

// ------------------------------------------------------------- properties

fn funnel_body() -> impl Strategy<Value = EventBody> {
    let stage = proptest::sample::select(vec![
        "Anonymous",
        "MQL",
        "SQL",
        "Opportunity",
        "Won",
        "Lost",
    ]);
    prop_oneof![
        1 => stage.clone().prop_map(|s| EventBody::Created { stage: s.into(), source: Source::Sales, actor: Actor::Sales }),
        3 => stage.clone().prop_map(|s| EventBody::Advanced { to: s.into(), actor: Actor::Sales,
            reason: Some(leadflow::Reason::new(ReasonCode::Competitor)) }),
        1 => Just(EventBody::Recycled { actor: Actor::Sales, reason: leadflow::Reason::new(ReasonCode::Timing) }),
        1 => stage.prop_map(|s| EventBody::Regressed { to: s.into(), actor: Actor::Sales, reason: leadflow::Reason::new(ReasonCode::Other) }),
        1 => (0..5000i64).prop_map(|c| serde_json::from_value::<EventBody>(serde_json::json!({"type": "deal", "amount": format!("{}.{:02}", c, c % 100)})).unwrap()),
    ]
}

fn population() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0..6usize, 0..80i64, funnel_body()), 0..60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (l, d, body))| {
                Event::new(
                    format!("p{i:03}"),
                    format!("lead{l}").as_str(),
                    day(d) + chrono::TimeDelta::hours(i as i64 % 7),
                    body,
                )
            })
            .collect()
    })
}

/// The cohort counts by hand: for each lead's transitions, the first entry
/// per (cycle, stage) of MQL/SQL/Opportunity in the window, and whether a
/// later transition of the same cycle reached a higher path or won stage.
fn model(e: &Engine, leads: &[Lead], o: &FunnelOptions) -> BTreeMap<(String, String), (u64, u64)> {
    let lc = e.lifecycle();
    let rank = |n: &str| {
        ["Anonymous", "MQL", "SQL", "Opportunity", "Won"]
            .iter()
            .position(|x| *x == n)
    };
    let mut out = BTreeMap::new();
    for lead in leads {
        let h: Vec<_> = lead.history().iter().filter(|t| t.at <= o.as_of).collect();
        let mut seen = std::collections::HashSet::new();
        for (i, t) in h.iter().enumerate() {
            let name = lc.name(t.to);
            let Some(r) = rank(name) else { continue };
            if r == 0
                || name == "Won"
                || t.kind == TransitionKind::Recycled
                || !seen.insert((t.cycle, name))
            {
                continue;
            }
            if !(t.at >= o.from && t.at < o.to) {
                continue;
            }
            let advanced = h[i + 1..]
                .iter()
                .take_while(|n| n.cycle == t.cycle)
                .any(|n| rank(lc.name(n.to)).is_some_and(|nr| nr > r));
            let cell = out
                .entry((Period::containing(o.by, t.at).to_string(), name.to_owned()))
                .or_insert((0, 0));
            cell.0 += 1;
            cell.1 += u64::from(advanced);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_report_is_a_function_of_the_event_set_and_merges_exactly(
        (set, arrival) in shuffled_with_duplicates(population()),
        cut_at in 0..7usize,
        by_month in any::<bool>(),
    ) {
        let e = engine(Preset::Default);
        let options = FunnelOptions::new(day(10), day(70), day(75))
            .by(if by_month { Granularity::Month } else { Granularity::Week });
        let funnel = Funnel::new(&e, options.clone()).unwrap();
        let mut one = LeadStore::new(e.clone());
        for ev in arrival {
            one.ingest(ev);
        }
        let mut bulk = LeadStore::new(e.clone());
        bulk.ingest_all(set.clone());
        let leads: Vec<Lead> = one.leads().cloned().collect();
        let single = funnel.tally(&leads);
        prop_assert_eq!(&single, &funnel.tally(bulk.leads()));
        let report = funnel.report(&single);
        // Against the by-hand cohort model.
        let got: BTreeMap<(String, String), (u64, u64)> = report.stages.iter()
            .filter(|r| r.entered > 0)
            .map(|r| ((r.period.to_string(), r.stage.clone()), (r.entered, r.advanced)))
            .collect();
        prop_assert_eq!(got, model(&e, &leads, &options));
        for r in &report.stages {
            prop_assert!(r.advanced <= r.entered);
            prop_assert_eq!(r.median_days.is_some(), r.advanced > 0);
        }
        // Partitions merged in any grouping equal the single pass.
        let cut = cut_at.min(leads.len());
        let (a, b) = leads.split_at(cut);
        let mut left = funnel.tally(a);
        left.merge(funnel.tally(b));
        prop_assert_eq!(&left, &single);
        let mut right = funnel.tally(b);
        right.merge(funnel.tally(a));
        prop_assert_eq!(funnel.report(&right), report.clone());
        let parts: Vec<FunnelTally> = leads.iter().map(|l| funnel.tally([l])).collect();
        prop_assert_eq!(&FunnelTally::merge_all(parts), &single);
        let mut with_identity = single.clone();
        with_identity.merge(FunnelTally::default());
        prop_assert_eq!(&with_identity, &single);
        // The tally ships between workers.
        let shipped: FunnelTally = serde_json::from_str(&serde_json::to_string(&single).unwrap()).unwrap();
        prop_assert_eq!(&shipped, &single);
    }
}

#[test]
fn max_amount_is_ten_to_the_fifteenth_and_bounds_deals() {
    assert_eq!(leadflow::funnel::MAX_AMOUNT.to_string(), "1000000000000000");
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    let err = e
        .apply(&mut lead, deal("d", "l", 1, "1000000000000000.01"))
        .unwrap_err();
    assert!(
        matches!(err.kind, leadflow::EventErrorKind::OutOfRange { .. }),
        "{err}"
    );
    e.apply(&mut lead, deal("d2", "l", 1, "1000000000000000"))
        .unwrap();
}

#[test]
fn the_forecast_by_hand() {
    let e = engine(Preset::Default);
    // Window: 4 SQL units, 2 advance in 10 days; 2 Opportunity units, 1 won
    // in 20 days worth 1000. Two leads open at as_of: one in SQL, one in
    // Opportunity.
    let mut leads = Vec::new();
    for i in 0..4 {
        let id = format!("w{i}");
        let mut evs = vec![create("1", &id, 2, "SQL")];
        if i < 2 {
            evs.push(to("2", &id, 12, "Opportunity"));
        }
        if i == 0 {
            evs.push(deal("3", &id, 13, "1000"));
            evs.push(to("4", &id, 32, "Won"));
        }
        if i == 1 {
            evs.push(lose("4", &id, 32, "Lost", ReasonCode::Competitor));
        }
        leads.push(e.replay(id.as_str(), evs));
    }
    let open_sql = e.replay("s", [create("1", "s", 40, "SQL")]);
    let open_opp = e.replay("o", [create("1", "o", 41, "Opportunity")]);
    let options = FunnelOptions::new(day(1), day(60), day(59));
    let funnel = Funnel::new(&e, options).unwrap();
    let report = funnel.report(&funnel.tally(&leads));
    let rows = funnel.forecast(&report, [&open_sql, &open_opp]);
    // SQL: 2/4 × 1/2 = 0.25, in 10 + 20 = 30 days (March); Opportunity: 1/2
    // in 20 days (March too: day 59 + 20 = 20 March). Value 0.75 × 1000.
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].period.to_string(), "2026-03");
    assert!((rows[0].expected_wins - 0.75).abs() < 1e-12);
    assert_eq!(rows[0].expected_value, Decimal::new(750, 0));
}

// ------------------------------------------------ found by an outside probe

#[test]
fn the_source_cut_sees_only_events_up_to_as_of() {
    let e = engine(Preset::Waterfall);
    let lead = e.replay(
        "a",
        [
            to("1", "a", 6, "Inquiry"),
            lose("2", "a", 7, "Disqualified", ReasonCode::PoorFit),
            recycle("3", "a", 0, ReasonCode::Timing),
            create("4", "a", 61, "MQL"),
        ]
        .into_iter()
        .map(|mut x| {
            if x.id.as_str() == "3" {
                x.at = day(60);
            }
            x
        }),
    );
    let options = FunnelOptions::new(day(1), day(32), day(32)).cut(Cut::Source);
    let full = report(&e, std::slice::from_ref(&lead), options.clone());
    let past = e.replay(
        "a",
        lead.events()
            .iter()
            .filter(|x| x.at <= day(32))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(full, report(&e, &[past], options));
    assert!(
        full.stages.iter().all(|r| r.cut == "(none)"),
        "{:?}",
        full.stages
    );
}

#[test]
fn a_funnel_reads_leads_of_another_engine_as_its_own_engine_folds_them() {
    let waterfall = engine(Preset::Waterfall);
    let default = engine(Preset::Default);
    let lead = waterfall.replay(
        "l",
        [
            create("1", "l", 2, "MQL"),
            to("2", "l", 4, "SQL"),
            to("3", "l", 6, "Won"),
        ],
    );
    let mut adopted = lead.clone();
    default.adopt(&mut adopted);
    assert_eq!(
        report(&default, std::slice::from_ref(&lead), q1()),
        report(&default, &[adopted], q1())
    );
    assert_eq!(report(&default, &[lead], q1()).wins.len(), 1);
}

#[test]
fn extreme_times_and_received_reports_never_panic() {
    let e = engine(Preset::Default);
    assert!(
        Funnel::new(
            &e,
            FunnelOptions::new(day(1), day(2), chrono::DateTime::<chrono::Utc>::MAX_UTC)
        )
        .is_ok()
    );
    let mut r = report(
        &e,
        &[e.replay(
            "w",
            [
                create("1", "w", 2, "Opportunity"),
                deal("2", "w", 3, "10"),
                to("3", "w", 4, "Won"),
            ],
        )],
        q1(),
    );
    let mut json = serde_json::to_value(&r).unwrap();
    let row = json["wins"][0].clone();
    let mut big = row.clone();
    big["won_value"] = serde_json::json!("79228162514264337593543950335");
    json["wins"] = serde_json::json!([big.clone(), big]);
    r = serde_json::from_value(json).unwrap();
    assert!(matches!(
        r.plan(Decimal::ONE),
        Err(leadflow::funnel::PlanError::Overflow)
    ));
    // Periods before year 0 survive serde.
    let at = chrono::NaiveDate::from_ymd_opt(-5, 3, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let p = Period::containing(Granularity::Month, at);
    assert_eq!(p.to_string(), "-5-03");
    assert_eq!(Period::parse(&p.to_string()), Some(p));
}

#[test]
fn a_late_deal_that_changes_a_win_says_so_and_is_refused_strictly() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    for ev in [
        create("1", "l", 2, "Opportunity"),
        deal("2", "l", 8, "100"),
        to("3", "l", 10, "Won"),
    ] {
        e.apply(&mut lead, ev).unwrap();
    }
    let before = lead.clone();
    let err = e.apply(&mut lead, deal("4", "l", 9, "500")).unwrap_err();
    assert!(
        matches!(err.kind, leadflow::EventErrorKind::ChangesWin { .. }),
        "{err}"
    );
    assert_eq!(lead, before);
    let out = e.ingest(&mut lead, deal("4", "l", 9, "500"));
    assert_eq!(out.wins_retracted.len(), 1);
    assert_eq!(out.wins_retracted[0].amount, Decimal::new(100, 0));
    assert_eq!(out.wins_added[0].amount, Decimal::new(500, 0));
}

#[test]
fn deal_amounts_that_cannot_be_exact_are_refused() {
    let parse = |amount: serde_json::Value| {
        serde_json::from_value::<Event>(serde_json::json!({
            "id": "d", "lead": "l", "at": "2026-03-01T00:00:00Z", "body": {"type": "deal", "amount": amount}
        }))
    };
    assert!(
        parse(serde_json::json!("0.12345678901234567890123456789")).is_err(),
        "29 decimals"
    );
    assert!(
        parse(serde_json::json!(1e-30)).is_err(),
        "a positive amount never becomes 0"
    );
    assert!(parse(serde_json::json!("0.1234567890123456789012345678")).is_ok());
    assert!(parse(serde_json::json!(12000.07)).is_ok());
}

#[test]
fn first_cycle_only_keeps_volumes_balanced_across_a_recycle() {
    let e = engine(Preset::Default);
    let lead = e.replay(
        "l",
        [
            create("1", "l", 2, "MQL"),
            recycle("2", "l", 0, ReasonCode::Timing),
        ]
        .into_iter()
        .map(|mut x| {
            if x.id.as_str() == "2" {
                x.at = day(5);
            }
            x
        }),
    );
    let r = report(&e, &[lead], q1().first_cycle_only(true));
    let mql = r
        .volumes
        .iter()
        .find(|v| v.stage == "MQL" && v.period.to_string() == "2026-01")
        .unwrap();
    assert_eq!((mql.inflow, mql.outflow, mql.balance), (1, 1, 0));
}

// ------------------------------------------------------------ content

fn read(id: &str, lead: &str, d: i64, asset: &str) -> Event {
    ev(
        id,
        lead,
        d,
        EventBody::Activity {
            kind: "download".into(),
            channel: None,
            campaign: None,
            attrs: [("asset".to_owned(), leadflow::AttrValue::from(asset))]
                .into_iter()
                .collect(),
        },
    )
}

#[test]
fn content_by_stage_by_hand() {
    let e = engine(Preset::Default);
    let leads = vec![
        // Read the ROI guide in MQL, advanced.
        e.replay(
            "a",
            [
                create("1", "a", 2, "MQL"),
                read("2", "a", 3, "roi-guide"),
                to("3", "a", 5, "SQL"),
            ],
        ),
        // Read the ROI guide in MQL, did not advance.
        e.replay(
            "b",
            [create("1", "b", 2, "MQL"), read("2", "b", 3, "roi-guide")],
        ),
        // Read nothing in MQL, advanced; read the case study in SQL.
        e.replay(
            "c",
            [
                create("1", "c", 2, "MQL"),
                to("2", "c", 4, "SQL"),
                read("3", "c", 6, "case-study"),
            ],
        ),
        // Read the ROI guide before entering MQL: not in the stay.
        e.replay(
            "d",
            [read("1", "d", 1, "roi-guide"), create("2", "d", 2, "MQL")],
        ),
    ];
    let f = Funnel::new(&e, q1()).unwrap();
    let rows = f.content_report(&f.content(&leads, "asset"));
    let row = |stage: &str, asset: &str| {
        rows.iter()
            .find(|r| r.stage == stage && r.asset == asset)
            .unwrap()
    };
    let roi = row("MQL", "roi-guide");
    assert_eq!(
        (
            roi.units_with,
            roi.advanced_with,
            roi.units_without,
            roi.advanced_without
        ),
        (2, 1, 2, 1)
    );
    assert_eq!(
        (roi.conversion_with, roi.conversion_without, roi.lift),
        (Some(0.5), Some(0.5), Some(1.0))
    );
    let cs = row("SQL", "case-study");
    assert_eq!((cs.units_with, cs.units_without), (1, 1));
    assert_eq!(rows.len(), 2);
    // Partitions merge exactly.
    let mut merged = f.content(&leads[..2], "asset");
    merged.merge(f.content(&leads[2..], "asset"));
    assert_eq!(merged, f.content(&leads, "asset"));
}
