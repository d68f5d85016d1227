//! Journeys from leads and campaign ROI: every definition by hand, and the
//! properties (arrival order, exact credit sums, partitions merged).

use std::collections::BTreeMap;

use crate::common::*;
use leadflow::attribution::{
    Attributor, ConversionPoint, FirstTouch, JourneyOptions, Linear, TouchRequirement, journeys_of,
};
use leadflow::funnel::{Roi, RoiOptions, RoiTally};
use leadflow::{Actor, Event, EventBody, Lead, LeadStore, Mergeable, Preset, Source};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn touch(id: &str, lead: &str, m: i64, channel: &str, campaign: Option<&str>) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Activity {
            kind: "visit".into(),
            channel: Some(channel.into()),
            campaign: campaign.map(Into::into),
            attrs: Default::default(),
        },
    )
}

fn deal(id: &str, lead: &str, m: i64, amount: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "id": id, "lead": lead, "at": t(m), "body": {"type": "deal", "amount": amount}
    }))
    .unwrap()
}

fn win(id: &str, lead: &str, m: i64) -> Event {
    advance(id, lead, m, "Won")
}

fn window() -> RoiOptions {
    RoiOptions::new(t(0), t(10_000), t(10_000))
}

#[test]
fn journeys_end_at_the_win_and_carry_the_cycles_milestones() {
    let e = engine(Preset::Default);
    let lead = e.replay(
        "l",
        [
            touch("1", "l", 1, "email", Some("spring")),
            created("2", "l", 2, "MQL", Source::Marketing),
            touch("3", "l", 3, "ads", None),
            advance("4", "l", 4, "Opportunity"),
            deal("5", "l", 5, "1000"),
            win("6", "l", 6),
            touch("7", "l", 7, "email", Some("after")),
        ],
    );
    let js = journeys_of(&e, &lead, &JourneyOptions::default());
    assert_eq!(js.len(), 2);
    let won = &js[0];
    assert_eq!(
        won.touches
            .iter()
            .map(|t| t.channel.as_str())
            .collect::<Vec<_>>(),
        ["email", "ads"]
    );
    assert_eq!(won.touches[0].kind.as_deref(), Some("visit"));
    assert_eq!(won.conversion.unwrap().value, Decimal::new(1000, 0));
    assert_eq!(
        (
            won.milestones.lead_created,
            won.milestones.opportunity_created,
            won.milestones.closed_won
        ),
        (Some(t(2)), Some(t(4)), Some(t(6)))
    );
    assert!(
        js[1].conversion.is_none(),
        "the touch after the win is a null path"
    );
    // Campaign touches only, converting on reaching MQL.
    let options = JourneyOptions {
        require: TouchRequirement::Campaign,
        converts: ConversionPoint::Stage("MQL".into()),
        ..JourneyOptions::default()
    };
    let js = journeys_of(&e, &lead, &options);
    assert_eq!(js[0].touches.len(), 1);
    assert_eq!(js[0].conversion.unwrap().at, t(2));
}

#[test]
fn roi_by_hand() {
    let e = engine(Preset::Default);
    let leads: Vec<Lead> = vec![
        // Acquired by "spring"; won 100.00 over three touches, two of them
        // "spring": linear cents 33.34 + 33.33 to spring, 33.33 to "fall".
        e.replay(
            "a",
            [
                touch("1", "a", 1, "email", Some("spring")),
                created("2", "a", 2, "MQL", Source::Marketing),
                touch("3", "a", 3, "ads", Some("fall")),
                touch("4", "a", 4, "email", Some("spring")),
                advance("5", "a", 5, "Opportunity"),
                deal("6", "a", 6, "100.00"),
                win("7", "a", 7),
                touch("8", "a", 8, "email", Some("fall")),
            ],
        ),
        // No campaign touch before creation: no acquisition campaign; a win
        // without an amount is worth 0.
        e.replay(
            "b",
            [
                created("1", "b", 1, "SQL", Source::Sales),
                touch("2", "b", 2, "ads", Some("fall")),
                win("3", "b", 3),
            ],
        ),
        // Acquired by "fall", reached SQL (MQL passed), lost.
        e.replay(
            "c",
            [
                touch("1", "c", 1, "ads", Some("fall")),
                created("2", "c", 2, "SQL", Source::Marketing),
            ],
        ),
    ];
    let roi = Roi::new(&e, window(), Attributor::new());
    let tally = roi.tally(&leads, &Linear).unwrap();
    let costs = BTreeMap::from([
        ("spring".to_owned(), Decimal::new(5000, 2)),
        ("fall".to_owned(), Decimal::ZERO),
    ]);
    let report = roi.report(&tally, &costs);
    assert_eq!(report.stages, ["MQL", "SQL", "Opportunity", "Won"]);
    let row = |name: &str| report.rows.iter().find(|r| r.campaign == name).unwrap();
    let spring = row("spring");
    assert_eq!(spring.leads, 1);
    assert_eq!(
        spring.reached.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [1, 1, 1, 1]
    );
    assert_eq!(spring.won_value, Decimal::new(10000, 2));
    assert_eq!(spring.attributed_revenue, Decimal::new(6667, 2));
    // (66.67 - 50) / 50
    assert_eq!(spring.roi, Some(Decimal::new(3334, 4)));
    assert_eq!(spring.cost_per_lead, Some(Decimal::new(5000, 2)));
    let fall = row("fall");
    assert_eq!((fall.leads, fall.won_value), (1, Decimal::ZERO));
    assert_eq!(
        fall.reached.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [1, 1, 0, 0],
        "MQL passed, SQL entered"
    );
    assert_eq!(
        fall.attributed_revenue,
        Decimal::new(3333, 2),
        "b's win is worth 0; the touch after a's win counts nothing"
    );
    assert_eq!(fall.roi, None, "zero cost");
    let (value, credited) = tally.totals();
    assert_eq!(value, credited);
    // Another model through the same trait.
    let first = roi.report(&roi.tally(&leads, &FirstTouch).unwrap(), &costs);
    assert_eq!(
        first
            .rows
            .iter()
            .find(|r| r.campaign == "spring")
            .unwrap()
            .attributed_revenue,
        Decimal::new(10000, 2)
    );
}

fn roi_stream() -> impl Strategy<Value = Vec<Event>> {
    let body = prop_oneof![
        3 => (0..3usize, 0..3usize).prop_map(|(c, k)| EventBody::Activity {
            kind: "visit".into(),
            channel: Some(["email", "ads", "social"][c].into()),
            campaign: [Some("spring"), Some("fall"), None][k].map(Into::into),
            attrs: Default::default() }),
        1 => proptest::sample::select(vec!["MQL", "SQL", "Opportunity"]).prop_map(|s| EventBody::Created { stage: s.into(), source: Source::Marketing, actor: Actor::Marketing }),
        1 => proptest::sample::select(vec!["SQL", "Opportunity", "Won"]).prop_map(|s| EventBody::Advanced { to: s.into(), actor: Actor::Sales, reason: None }),
        1 => (1..100_000i64).prop_map(|c| serde_json::from_value::<EventBody>(serde_json::json!({"type": "deal", "amount": format!("{}.{:02}", c / 100, c % 100)})).unwrap()),
        1 => Just(EventBody::Recycled { actor: Actor::Sales, reason: leadflow::Reason::new(leadflow::ReasonCode::Timing) }),
    ];
    proptest::collection::vec((0..4usize, 0..30i64, body), 0..40).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (l, m, b))| Event::new(format!("r{i:03}"), format!("L{l}").as_str(), t(m), b))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn roi_is_a_function_of_the_event_set_credits_are_exact_and_partitions_merge(
        (set, arrival) in shuffled_with_duplicates(roi_stream()),
        split in 0..5usize,
    ) {
        let e = engine(Preset::Default);
        let roi = Roi::new(&e, RoiOptions::new(t(3), t(25), t(28)), Attributor::new());
        let mut one = LeadStore::new(e.clone());
        for ev in arrival {
            one.ingest(ev);
        }
        let mut bulk = LeadStore::new(e.clone());
        bulk.ingest_all(set);
        let leads: Vec<Lead> = one.leads().cloned().collect();
        let single = roi.tally(&leads, &Linear).unwrap();
        prop_assert_eq!(&single, &roi.tally(bulk.leads(), &Linear).unwrap());
        // Credits sum exactly to the value of every won journey with a touch.
        let (value, credited) = single.totals();
        prop_assert_eq!(value, credited);
        let mut by_hand = Decimal::ZERO;
        for lead in &leads {
            for j in journeys_of(&e, lead, &JourneyOptions::default()) {
                if let Some(c) = j.conversion && !j.touches.is_empty() && c.at >= t(3) && c.at < t(25) {
                    by_hand += c.value;
                }
            }
        }
        prop_assert_eq!(value, by_hand);
        let (a, b) = leads.split_at(split.min(leads.len()));
        let mut merged = roi.tally(b, &Linear).unwrap();
        merged.merge(roi.tally(a, &Linear).unwrap());
        prop_assert_eq!(&merged, &single);
        let parts: Vec<RoiTally> = leads.iter().map(|l| roi.tally([l], &Linear).unwrap()).collect();
        prop_assert_eq!(&RoiTally::merge_all(parts), &single);
        let shipped: RoiTally = serde_json::from_str(&serde_json::to_string(&single).unwrap()).unwrap();
        prop_assert_eq!(&shipped, &single);
    }
}

#[test]
fn roi_example_csv_on_the_shipped_data() {
    let root = env!("CARGO_MANIFEST_DIR");
    let csv = run_example(
        "roi",
        &[
            format!("{root}/examples/data/engine.json"),
            format!("{root}/examples/data/funnel.ndjson"),
            format!("{root}/examples/data/costs.csv"),
        ],
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "campaign,cost,leads,Inquiry,MQL,SAL,SQL,Opportunity,Won,won_value,attributed_revenue,roi"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "rows by name");
    assert!(
        names.contains(&"Trade Show"),
        "a campaign with a cost and no event has a row"
    );
    for r in &rows {
        assert_eq!(r.len(), 12);
        let stages: Vec<u64> = r[3..9].iter().map(|x| x.parse().unwrap()).collect();
        let leads: u64 = r[2].parse().unwrap();
        assert!(
            stages[0] <= leads && stages.windows(2).all(|w| w[1] <= w[0]),
            "reaching a stage passes the ones below: {r:?}"
        );
        if let (Ok(cost), Ok(rev)) = (r[1].parse::<Decimal>(), r[10].parse::<Decimal>())
            && !cost.is_zero()
        {
            let roi: Decimal = r[11].parse().unwrap();
            assert_eq!(roi, ((rev - cost) / cost).round_dp(6), "{r:?}");
            assert_eq!(r[11].split('.').nth(1).map(str::len), Some(6));
        }
    }
}

#[test]
fn accounts_roll_up_score_grade_and_stage() {
    use leadflow::funnel::{AccountConfig, Accounts, ScoreRollup};
    let e = scoring_engine();
    let leads: Vec<Lead> = vec![
        e.replay(
            "ada",
            [
                member("ada", "acme", 0),
                activity("1", "ada", 1, "demo_request", &[]),
                attrs(
                    "2",
                    "ada",
                    2,
                    &[("industry", leadflow::AttrValue::from("software"))],
                    &[],
                ),
            ],
        ),
        e.replay(
            "bob",
            [
                member("bob", "acme", 0),
                activity(
                    "1",
                    "bob",
                    1,
                    "webinar_attended",
                    &[("minutes", leadflow::AttrValue::from(45.0))],
                ),
                advance("2", "bob", 3, "SQL"),
                attrs(
                    "3",
                    "bob",
                    4,
                    &[("employees", leadflow::AttrValue::from(300.0))],
                    &[],
                ),
            ],
        ),
        e.replay("cy", [member("cy", "globex", 0)]),
        e.replay("dee", [activity("1", "dee", 1, "demo_request", &[])]),
    ];
    let acc = Accounts::new(&e, AccountConfig::default()).unwrap();
    let rows = acc.at(&leads, t(10));
    assert_eq!(
        rows.iter().map(|r| r.account.as_str()).collect::<Vec<_>>(),
        ["acme", "globex"],
        "dee has no account"
    );
    let acme = &rows[0];
    assert_eq!(
        acme.members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["ada", "bob"]
    );
    assert_eq!(acme.score, pts(50.0 + 20.0));
    // The account's attributes: software (ada) and 300 employees (bob):
    // D + 3 + 2 thirds = B-.
    assert_eq!(acme.grade.map(|g| g.to_string()), Some("B-".into()));
    assert_eq!(acme.furthest.as_deref(), Some("SQL"));
    let max = Accounts::new(
        &e,
        AccountConfig {
            score: ScoreRollup::Max,
            ..AccountConfig::default()
        },
    )
    .unwrap();
    assert_eq!(max.at(&leads, t(10))[0].score, pts(50.0));
    let bad: AccountConfig = serde_json::from_str(r#"{"profile": {"criteria": [{"id": "x", "when": {"attr": "a", "op": "range"}, "weight": 1}]}}"#).unwrap();
    let err = Accounts::new(&e, bad).unwrap_err();
    assert!(
        err.path().starts_with("accounts.profile.criteria[0]"),
        "{err}"
    );
}

#[test]
fn buying_groups_count_accounts_not_leads() {
    use leadflow::funnel::{Funnel, FunnelOptions};
    let e = engine(Preset::Default);
    let leads: Vec<Lead> = vec![
        // Two members of acme enter MQL; the second one reaches SQL later.
        e.replay(
            "ada",
            [
                touch("0", "ada", 0, "email", Some("spring")),
                member("ada", "acme", 0),
                created("1", "ada", 1, "MQL", Source::Marketing),
            ],
        ),
        e.replay(
            "bob",
            [
                touch("0", "bob", 2, "ads", Some("fall")),
                member("bob", "acme", 2),
                created("1", "bob", 3, "MQL", Source::Marketing),
                advance("2", "bob", 7, "SQL"),
                deal("3", "bob", 8, "40.00"),
                win("4", "bob", 9),
            ],
        ),
        e.replay(
            "cy",
            [
                touch("0", "cy", 0, "ads", Some("fall")),
                member("cy", "globex", 0),
                created("1", "cy", 4, "MQL", Source::Marketing),
            ],
        ),
    ];
    let f = Funnel::new(&e, FunnelOptions::new(t(0), t(10_000), t(10_000))).unwrap();
    let r = f.report(&f.tally_accounts(&leads, "account"));
    let mql: Vec<(&str, u64, u64)> = r
        .stages
        .iter()
        .filter(|x| x.stage == "MQL")
        .map(|x| (x.cut.as_str(), x.entered, x.advanced))
        .collect();
    assert_eq!(
        mql,
        [("acme", 1, 1), ("globex", 1, 0)],
        "one acme unit, entered by ada, advanced by bob"
    );
    let acme = r
        .stages
        .iter()
        .find(|x| x.cut == "acme" && x.stage == "MQL")
        .unwrap();
    assert_eq!(
        acme.median_days,
        Some((t(7) - t(1)).num_seconds() as f64 / 86_400.0)
    );
    assert_eq!(
        r.wins
            .iter()
            .map(|w| (w.cut.as_str(), w.won_value))
            .collect::<Vec<_>>(),
        [("acme", Decimal::new(4000, 2))]
    );
    // ROI by account: acme is acquired by ada's campaign (its first member).
    let roi = Roi::new(&e, window(), Attributor::new());
    let report = roi.report(
        &roi.tally_accounts(&leads, &Linear, "account").unwrap(),
        &BTreeMap::new(),
    );
    let row = |name: &str| report.rows.iter().find(|r| r.campaign == name).unwrap();
    assert_eq!(
        (row("spring").leads, row("spring").won_value),
        (1, Decimal::new(4000, 2))
    );
    assert_eq!(row("fall").leads, 1, "globex");
    assert_eq!(
        row("fall").attributed_revenue,
        Decimal::new(4000, 2),
        "bob's only touch is fall"
    );
    // The store gives every lead's journeys.
    let mut store = LeadStore::new(e.clone());
    store.ingest_all(leads.iter().flat_map(|l| l.events().to_vec()));
    let journeys = leadflow::attribution::journeys_of_store(&store, &JourneyOptions::default());
    assert_eq!(
        journeys
            .iter()
            .filter(|(_, j)| j.conversion.is_some())
            .count(),
        1
    );
}

// ------------------------------------------------ found by an outside probe

#[test]
fn account_attributes_survive_one_members_unset_and_ties_do_not_depend_on_order() {
    use leadflow::funnel::{AccountConfig, Accounts};
    let e = scoring_engine();
    let set = |id: &str, lead: &str, m, kv: &[(&str, &str)]| {
        let vals: Vec<(&str, leadflow::AttrValue)> = kv
            .iter()
            .map(|(k, v)| (*k, leadflow::AttrValue::from(*v)))
            .collect();
        attrs(id, lead, m, &vals, &[])
    };
    let u = e.replay(
        "u",
        [set(
            "1",
            "u",
            2,
            &[("account", "M"), ("industry", "software")],
        )],
    );
    let v = e.replay(
        "v",
        [
            set("1", "v", 3, &[("account", "M"), ("industry", "software")]),
            attrs("2", "v", 4, &[], &["industry"]),
        ],
    );
    let acc = Accounts::new(&e, AccountConfig::default()).unwrap();
    let alone = acc.at([&u], t(10))[0].grade;
    assert!(alone.is_some());
    assert_eq!(
        acc.at([&u, &v], t(10))[0].grade,
        alone,
        "v's unset leaves u's value"
    );
    let p = e.replay(
        "p",
        [set(
            "1",
            "p",
            2,
            &[("account", "K"), ("industry", "software")],
        )],
    );
    let q = e.replay(
        "q",
        [set(
            "1",
            "q",
            2,
            &[("account", "K"), ("industry", "retail")],
        )],
    );
    assert_eq!(
        acc.at([&p, &q], t(10))[0].grade,
        acc.at([&q, &p], t(10))[0].grade
    );
}

#[test]
fn roi_costs_of_zero_give_no_ratios_and_stage_journeys_stop_at_their_conversion() {
    let e = engine(Preset::Default);
    let lead = e.replay(
        "a",
        [
            touch("1", "a", 1, "email", Some("spring")),
            created("2", "a", 2, "MQL", Source::Marketing),
            advance("3", "a", 3, "Opportunity"),
            win("4", "a", 4),
        ],
    );
    let roi = Roi::new(&e, window(), Attributor::new());
    let report = roi.report(
        &roi.tally([&lead], &Linear).unwrap(),
        &BTreeMap::from([("spring".to_owned(), Decimal::ZERO)]),
    );
    let row = &report.rows[0];
    assert_eq!((row.roi, row.cost_per_lead), (None, None));
    assert!(row.cost_per_stage.iter().all(|(_, c)| c.is_none()));
    let options = JourneyOptions {
        converts: ConversionPoint::Stage("SQL".into()),
        ..JourneyOptions::default()
    };
    let j = &journeys_of(&e, &lead, &options)[0];
    assert_eq!(
        j.conversion.unwrap().at,
        t(3),
        "SQL passed on the way to Opportunity"
    );
    assert_eq!(
        j.milestones.closed_won, None,
        "the win comes after the conversion"
    );
    assert_eq!(j.milestones.opportunity_created, Some(t(3)));
}

#[test]
fn deal_amounts_have_at_most_six_decimals_so_sums_stay_exact() {
    let e = engine(Preset::Default);
    let mut lead = e.new_lead("l");
    let err = e
        .apply(
            &mut lead,
            deal("d", "l", 1, "99999999999999.99999999999999"),
        )
        .unwrap_err();
    assert!(
        matches!(err.kind, leadflow::EventErrorKind::OutOfRange { .. }),
        "{err}"
    );
    e.apply(&mut lead, deal("d2", "l", 1, "99999999999999.999999"))
        .unwrap();
    e.apply(&mut lead, deal("d3", "l", 2, "12.500000000"))
        .unwrap();
}

#[test]
fn the_first_member_of_an_account_decides_its_acquisition() {
    let e = engine(Preset::Default);
    let leads = vec![
        e.replay(
            "e",
            [
                member("e", "Z", 1),
                created("1", "e", 2, "MQL", Source::Sales),
            ],
        ),
        e.replay(
            "f",
            [
                touch("0", "f", 1, "ads", Some("Q")),
                member("f", "Z", 1),
                created("1", "f", 5, "MQL", Source::Marketing),
            ],
        ),
    ];
    let roi = Roi::new(&e, window(), Attributor::new());
    let report = roi.report(
        &roi.tally_accounts(&leads, &Linear, "account").unwrap(),
        &BTreeMap::new(),
    );
    assert!(
        report.rows.iter().all(|r| r.leads == 0),
        "e, the first member, has no campaign: {:?}",
        report.rows
    );
}

#[test]
fn the_roi_example_refuses_ambiguous_cost_files() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = example_binary("roi");
    let run = |costs: &str| {
        let path = std::env::temp_dir().join(format!(
            "leadflow-costs-{}-{}.csv",
            std::process::id(),
            costs.len()
        ));
        std::fs::write(&path, costs).unwrap();
        let out = std::process::Command::new(&bin)
            .args([
                format!("{root}/examples/data/engine.json"),
                format!("{root}/examples/data/funnel.ndjson"),
                path.display().to_string(),
            ])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for bad in [
        "campaign,cost\nX,1,000\n",
        "campaign,cost\nPartner Day,12000\nPartner Day,1\n",
        "Partner Day,12000\n",
        "campaign,cost\nQ1 Nurture,-8500\n",
    ] {
        let (code, _, err) = run(bad);
        assert_eq!(code, Some(1), "{bad:?}: {err}");
        assert!(err.contains("line"), "{err}");
    }
    let (code, out, _) = run("\ncampaign,cost\n\"Say \"\"hi\"\"\",5\n");
    assert_eq!(code, Some(0));
    assert!(out.contains("\"Say \"\"hi\"\"\",5.00,"), "{out}");
}

/// Lead `id`'s attributes naming its account, at minute `m`.
fn member(id: &str, account: &str, m: i64) -> Event {
    attrs(
        &format!("{id}-a"),
        id,
        m,
        &[("account", leadflow::AttrValue::from(account))],
        &[],
    )
}
