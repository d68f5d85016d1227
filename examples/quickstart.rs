//! leadflow in one screen: a config, one lead's events, and what the
//! engine makes of them — stage history, score card, grade, priority, SLA.
//! The longer story (several leads, merges, recycles, refusals) is
//! `cargo run --example story`.
//!
//! Run with `cargo run --example quickstart`.

use chrono::{TimeDelta, TimeZone, Utc};
use leadflow::{Actor, Engine, Event, EventBody, Source};

const CONFIG: &str = r#"{
  "lifecycle": {"preset": "default"},
  "scoring": {"rules": [
    {"id": "pricing", "when": {"kind": "page_view", "attrs": [{"attr": "url", "op": "starts_with", "value": "/pricing"}]}, "points": 15},
    {"id": "demo", "when": {"kind": "demo_request"}, "points": 50, "frequency": "once"}
  ]},
  "grading": {"criteria": [
    {"id": "software", "when": {"attr": "industry", "op": "equals", "value": "software"}, "weight": 3}
  ]},
  "qualification": [{"id": "mql", "when": {"score": {"min": 60}}, "then": "MQL"}]
}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_json(CONFIG)?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("date")?;
    let at = |h: i64| start + TimeDelta::hours(h);
    let activity = |kind: &str, url: &str| EventBody::Activity {
        kind: kind.into(),
        channel: Some("web".into()),
        campaign: None,
        attrs: [("url".to_owned(), url.into())].into(),
    };
    let events = [
        (
            0,
            EventBody::Created {
                stage: "Anonymous".into(),
                source: Source::Marketing,
                actor: Actor::Marketing,
            },
        ),
        (
            1,
            EventBody::Attributes {
                set: [("industry".to_owned(), "software".into())].into(),
                unset: vec![],
            },
        ),
        (2, activity("page_view", "/pricing/team")),
        (5, activity("demo_request", "/demo")), // 65 points: the MQL rule fires
        (
            30,
            EventBody::Advanced {
                to: "SQL".into(),
                actor: Actor::Sales,
                reason: None,
            },
        ),
    ];
    let mut lead = engine.new_lead("ada@acme.test");
    for (i, (h, body)) in events.into_iter().enumerate() {
        // The same events in any order, or twice, give the same lead.
        engine.apply(
            &mut lead,
            Event::new(format!("e{i}"), "ada@acme.test", at(h), body),
        )?;
    }

    let lc = engine.lifecycle();
    for t in lead.history() {
        let from = t.from.map_or("(new)", |s| lc.name(s));
        println!(
            "{}  {from:>9} -> {:<9} by {}",
            t.at.format("%a %H:%M"),
            lc.name(t.to),
            t.actor
        );
    }
    let card = engine.score_card(&lead, at(6));
    println!("score at +6h: {}", card.total);
    for entry in &card.groups[0].entries {
        println!(
            "  {:<8} {:>3} points",
            entry.rule.as_deref().unwrap_or("manual"),
            entry.points
        );
    }
    println!(
        "grade {}, priority {}",
        engine.grade_card(&lead).grade.ok_or("ungraded")?,
        engine.priority(&lead, at(6)).ok_or("no priority")?
    );
    if let Some(sla) = engine.sla(&lead, at(20)) {
        println!(
            "SLA in {}: due {} ({})",
            lc.name(sla.stage),
            sla.due_at.format("%a %H:%M"),
            sla.state
        );
    }
    Ok(())
}
