//! The lead lifecycle in one short story, on a full engine: scores rise,
//! the grade forms, the MQL rule fires on its own, sales takes over.
//!
//! Run with `cargo run --example story`. The short version is
//! `examples/quickstart.rs`.

use chrono::{TimeDelta, TimeZone, Utc};
use leadflow::{
    Actor, AttrValue, Attrs, Engine, Event, EventBody, Lead, LeadStore, Reason, ReasonCode,
    SlaState, Source, Timestamp, TransitionKind,
};

const CONFIG: &str = r#"{
  "lifecycle": {"preset": "default"},
  "lists": {"targets": ["Acme Corp", "Globex"]},
  "scoring": {
    "decay": {"half_life": "30d"},
    "rules": [
      {"id": "pricing-page", "when": {"kind": "page_view", "attrs": [{"attr": "url", "op": "starts_with", "value": "/pricing"}]}, "points": 15, "frequency": {"window": "1d"}},
      {"id": "any-page", "when": {"kind": "page_view"}, "points": 2, "max_count": 10},
      {"id": "careers-page", "when": {"kind": "page_view", "attrs": [{"attr": "url", "op": "contains", "value": "careers"}]}, "points": -20},
      {"id": "whitepaper", "when": {"kind": "form_submit", "attrs": [{"attr": "asset", "op": "exists"}]}, "points": 25},
      {"id": "webinar", "when": {"kind": "webinar_attended", "attrs": [{"attr": "minutes", "op": "range", "min": 20}]}, "points": 30},
      {"id": "demo-request", "when": {"kind": "demo_request"}, "points": 50, "frequency": "once"}
    ]
  },
  "grading": {
    "criteria": [
      {"id": "industry", "when": {"attr": "industry", "op": "one_of", "values": ["software", "fintech"]}, "weight": 3},
      {"id": "size", "when": {"attr": "employees", "op": "range", "min": 100, "max": 10000}, "weight": 2},
      {"id": "target-account", "when": {"attr": "company", "op": "in_list", "list": "targets"}, "weight": 3}
    ]
  },
  "qualification": [
    {"id": "mql", "when": {"score": {"min": 80}, "min_grade": "B-", "stages": ["Anonymous", "Recycled"]}, "then": "MQL", "rearm": "new_cycle"}
  ]
}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_json(CONFIG)?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("bad date")?;
    let at = |hours: i64| start + TimeDelta::hours(hours);
    let mut n = 0;
    let mut event = |lead: &str, hours: i64, body: EventBody| {
        n += 1;
        Event::new(format!("evt-{n:03}"), lead, at(hours), body)
    };

    // 1. Ada: an anonymous visitor browses, fills in a form, engages; the MQL
    //    rule moves her on its own; sales takes it from there.
    println!("Ada's journey, event by event:");
    let mut ada = engine.new_lead("ada@acme.test");
    let ada_story = vec![
        event(
            "visitor-42",
            0,
            activity("page_view", &[("url", "/blog/forecasting".into())]),
        ),
        event(
            "visitor-42",
            1,
            activity("page_view", &[("url", "/pricing".into())]),
        ),
        event(
            "ada@acme.test",
            2,
            EventBody::Identified {
                visitor: "visitor-42".into(),
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
            activity("form_submit", &[("asset", "roi-guide".into())]),
        ),
        event(
            "ada@acme.test",
            2,
            profile(&[
                ("company", "Acme Corp".into()),
                ("industry", "software".into()),
                ("employees", 1200.into()),
            ]),
        ),
        event(
            "ada@acme.test",
            30,
            activity("webinar_attended", &[("minutes", 45.into())]),
        ),
        event(
            "ada@acme.test",
            31,
            activity("page_view", &[("url", "/pricing/enterprise".into())]),
        ),
        event("ada@acme.test", 33, advance("SQL", Actor::Sales)),
        event("ada@acme.test", 80, advance("Opportunity", Actor::Sales)),
        event("ada@acme.test", 400, advance("Won", Actor::Sales)),
    ];
    for e in ada_story {
        let (what, when) = (describe(&e.body), e.at);
        let out = engine.ingest(&mut ada, e);
        let moved: Vec<String> = out
            .transitions
            .iter()
            .filter(|t| t.kind != TransitionKind::Entered)
            .map(|t| {
                let by = match &t.reason {
                    Some(r) if r.code == ReasonCode::RuleFired => {
                        format!("rule {}", r.note.as_deref().unwrap_or("?"))
                    }
                    _ => format!("{:?}", t.actor).to_lowercase(),
                };
                format!("  -> {} (by {by})", engine.lifecycle().name(t.to))
            })
            .collect();
        println!(
            "  +{:>3}h {:<40} score {:>6.1}  grade {:<3}{}",
            (when - start).num_hours(),
            what,
            engine.score(&ada, when),
            ada.grade().map_or("-".into(), |g| g.to_string()),
            moved.join("")
        );
    }
    // Score and grade cards print themselves: every contribution after
    // decay, every criterion's verdict.
    println!("{}", engine.score_card(&ada, at(33)));
    println!("{}", engine.grade_card(&ada));
    println!();

    // 2-4. Three more leads through a store (which routes events by lead).
    let mut store = LeadStore::new(engine.clone());
    let bob = "bob@globex.test";
    let others = vec![
        // Bob qualifies, but sales rejects him with a reason: recycled.
        event(
            bob,
            1,
            profile(&[("company", "Globex".into()), ("industry", "fintech".into())]),
        ),
        event(bob, 2, activity("demo_request", &[])),
        event(
            bob,
            3,
            activity("webinar_attended", &[("minutes", 50.into())]),
        ),
        event(bob, 4, activity("page_view", &[("url", "/pricing".into())])),
        event(
            bob,
            20,
            EventBody::Recycled {
                actor: Actor::Sales,
                reason: Reason::new(ReasonCode::NoBudget).with_note("budget frozen until Q3"),
            },
        ),
        // Carol is sales-sourced, straight to Opportunity.
        event(
            "carol@initech.test",
            10,
            EventBody::Created {
                stage: "Opportunity".into(),
                source: Source::Sales,
                actor: Actor::Sales,
            },
        ),
        // Dan becomes an MQL and waits for sales.
        event(
            "dan@umbrella.test",
            30,
            profile(&[("industry", "software".into()), ("employees", 400.into())]),
        ),
        event("dan@umbrella.test", 30, activity("demo_request", &[])),
        event(
            "dan@umbrella.test",
            31,
            activity("form_submit", &[("asset", "soc2-checklist".into())]),
        ),
        event(
            "dan@umbrella.test",
            31,
            activity("page_view", &[("url", "/pricing".into())]),
        ),
    ];
    store.ingest_all(others);

    // A strict command that breaks the rules is refused with a typed error.
    let mut won = ada.clone();
    if let Err(err) = engine.apply(
        &mut won,
        event("ada@acme.test", 401, advance("MQL", Actor::Sales)),
    ) {
        println!("refused: {err}\n");
    }

    print_history(&engine, &ada, start);
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
    if let Some(p) = engine.priority(dan, now) {
        println!(
            "{} is priority {p} on the fit x engagement matrix",
            dan.id()
        );
    }
    Ok(())
}

fn activity(kind: &str, attrs: &[(&str, AttrValue)]) -> EventBody {
    EventBody::Activity {
        kind: kind.into(),
        channel: None,
        campaign: None,
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Attrs>(),
    }
}

fn profile(set: &[(&str, AttrValue)]) -> EventBody {
    EventBody::Attributes {
        set: set
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        unset: Vec::new(),
    }
}

fn advance(to: &str, actor: Actor) -> EventBody {
    EventBody::Advanced {
        to: to.into(),
        actor,
        reason: None,
    }
}

fn describe(body: &EventBody) -> String {
    match body {
        EventBody::Activity { kind, attrs, .. } => match attrs.values().next() {
            Some(AttrValue::Text(t)) => format!("{kind} {t}"),
            Some(AttrValue::Number(x)) => format!("{kind} {x}"),
            None => kind.to_string(),
        },
        EventBody::Attributes { set, .. } => {
            format!(
                "profile: {}",
                set.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
        EventBody::Created { stage, .. } => format!("created at {stage}"),
        EventBody::Identified { visitor } => format!("identified as {visitor}"),
        EventBody::Advanced { to, .. } => format!("sales moves to {to}"),
        other => format!("{other:?}"),
    }
}

fn print_history(engine: &Engine, lead: &Lead, start: Timestamp) {
    let lc = engine.lifecycle();
    let state = lead.stage();
    println!(
        "{} (source: {}, cycle {}, now {}, furthest {}, grade {})",
        lead.id(),
        state
            .source()
            .map_or("unknown".into(), |s| format!("{s:?}").to_lowercase()),
        state.cycle(),
        lc.name(state.current()),
        lc.name(state.furthest()),
        lead.grade().map_or("-".into(), |g| g.to_string()),
    );
    for tr in lead.history() {
        let hours = (tr.at - start).num_hours();
        let from = tr.from.map_or("(new)", |s| lc.name(s));
        let mut line = format!(
            "  +{hours:>3}h  {from:>11} -> {:<11} {:?} by {:?}",
            lc.name(tr.to),
            tr.kind,
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
    for m in state.merges() {
        println!("  merged anonymous visitor {}", m.visitor);
    }
    println!();
}
