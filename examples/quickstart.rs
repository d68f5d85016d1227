//! The lead lifecycle in one short story: three leads walk through the
//! default lifecycle, and an MQL left waiting shows its SLA status.
//!
//! Run with `cargo run --example quickstart`.

use chrono::{TimeDelta, TimeZone, Utc};
use leadflow::{
    Actor, Engine, Event, EventBody, Lead, LeadStore, Reason, ReasonCode, SlaState, Source,
    Timestamp, TransitionKind,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("bad date")?;
    let at = |hours: i64| start + TimeDelta::hours(hours);
    let mut store = LeadStore::new(engine.clone());
    let mut n = 0;
    let mut event = |lead: &str, hours: i64, body: EventBody| {
        n += 1;
        Event::new(format!("evt-{n:03}"), lead, at(hours), body)
    };
    let advance = |to: &str, actor| EventBody::Advanced {
        to: to.into(),
        actor,
        reason: None,
    };

    // 1. An anonymous visitor browses, then fills in a form as ada@acme.test.
    let story = vec![
        event(
            "visitor-42",
            0,
            EventBody::Created {
                stage: "Anonymous".into(),
                source: Source::Marketing,
                actor: Actor::System,
            },
        ),
        event(
            "ada@acme.test",
            2,
            EventBody::Created {
                stage: "Anonymous".into(),
                source: Source::Marketing,
                actor: Actor::Marketing,
            },
        ),
        event(
            "ada@acme.test",
            2,
            EventBody::Identified {
                visitor: "visitor-42".into(),
            },
        ),
        event("ada@acme.test", 3, advance("MQL", Actor::Marketing)),
        event("ada@acme.test", 5, advance("SQL", Actor::Sales)),
        event("ada@acme.test", 48, advance("Opportunity", Actor::Sales)),
        event("ada@acme.test", 400, advance("Won", Actor::Sales)),
        // 2. Bob becomes an MQL; sales rejects him with a reason: recycled.
        event(
            "bob@globex.test",
            1,
            EventBody::Created {
                stage: "MQL".into(),
                source: Source::Marketing,
                actor: Actor::Marketing,
            },
        ),
        event(
            "bob@globex.test",
            20,
            EventBody::Recycled {
                actor: Actor::Sales,
                reason: Reason::new(ReasonCode::NoBudget).with_note("budget frozen until Q3"),
            },
        ),
        // 3. Carol is sales-sourced, straight to Opportunity.
        event(
            "carol@initech.test",
            10,
            EventBody::Created {
                stage: "Opportunity".into(),
                source: Source::Sales,
                actor: Actor::Sales,
            },
        ),
        // 4. Dan becomes an MQL and waits for sales.
        event("dan@umbrella.test", 30, advance("MQL", Actor::Marketing)),
    ];
    for e in story {
        store.ingest(e);
    }

    // A strict command that breaks the rules is refused with a typed error.
    let mut ada = store
        .lead(&"ada@acme.test".into())
        .ok_or("ada missing")?
        .clone();
    let refused = engine.apply(
        &mut ada,
        event("ada@acme.test", 401, advance("MQL", Actor::Sales)),
    );
    if let Err(err) = refused {
        println!("refused: {err}\n");
    }

    for lead in store.leads() {
        print_history(&engine, lead, start);
    }

    let now = at(50);
    let dan = store
        .lead(&"dan@umbrella.test".into())
        .ok_or("dan missing")?;
    if let Some(sla) = engine.sla(dan, now) {
        let state = match sla.state {
            SlaState::Within => "within SLA",
            SlaState::DueSoon => "due soon",
            SlaState::PastDue => "PAST DUE",
        };
        println!(
            "SLA at {}: {} waits in {} since {}, due {} -> {state}",
            now.format("%a %d %b %H:%M"),
            dan.id(),
            engine.lifecycle().name(sla.stage),
            sla.entered_at.format("%a %H:%M"),
            sla.due_at.format("%a %H:%M"),
        );
    }
    let report = store.sla_report(now);
    if let Some(c) = report.compliance() {
        println!("MQL SLA compliance so far: {:.0}%", c * 100.0);
    }
    Ok(())
}

fn print_history(engine: &Engine, lead: &Lead, start: Timestamp) {
    let lc = engine.lifecycle();
    let state = lead.stage();
    println!(
        "{} (source: {}, cycle {}, now {}, furthest {})",
        lead.id(),
        state
            .source()
            .map_or("unknown".into(), |s| format!("{s:?}").to_lowercase()),
        state.cycle(),
        lc.name(state.current()),
        lc.name(state.furthest()),
    );
    for tr in lead.history() {
        let hours = (tr.at - start).num_hours();
        let from = tr.from.map_or("(new)", |s| lc.name(s));
        let verb = match tr.kind {
            TransitionKind::Entered => "entered",
            TransitionKind::Advanced => "advanced",
            TransitionKind::Recycled => "recycled",
            TransitionKind::Regressed => "regressed",
        };
        let mut line = format!(
            "  +{hours:>3}h  {from:>11} -> {:<11} {verb} by {:?}",
            lc.name(tr.to),
            tr.actor
        );
        if let Some(reason) = &tr.reason {
            line += &format!(", reason {:?}", reason.code);
            if let Some(note) = &reason.note {
                line += &format!(" ({note})");
            }
        }
        if !tr.skipped.is_empty() {
            let skipped: Vec<&str> = tr.skipped.iter().map(|&s| lc.name(s)).collect();
            line += &format!(", skipped {}", skipped.join(", "));
        }
        println!("{line}");
    }
    if !state.merges().is_empty() {
        for m in state.merges() {
            println!("  merged anonymous visitor {}", m.visitor);
        }
    }
    println!();
}
