//! leadflow in one screen: a config, one lead's events, and what the
//! engine makes of them — history, score card, grade, priority, SLA. The
//! longer story (several leads, merges, recycles, refusals) is
//! `cargo run --example story`.
//!
//! Run with `cargo run --example quickstart`.

use leadflow::{Engine, Event};

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

/// One lead's events, as a CRM integration would send them (NDJSON).
const EVENTS: &str = r#"
{"id": "e0", "lead": "ada@acme.test", "at": "2026-03-02T09:00:00Z", "body": {"type": "created", "stage": "Anonymous", "source": "marketing", "actor": "marketing"}}
{"id": "e1", "lead": "ada@acme.test", "at": "2026-03-02T10:00:00Z", "body": {"type": "attributes", "set": {"industry": "software"}}}
{"id": "e2", "lead": "ada@acme.test", "at": "2026-03-02T11:00:00Z", "body": {"type": "activity", "kind": "page_view", "channel": "web", "attrs": {"url": "/pricing/team"}}}
{"id": "e3", "lead": "ada@acme.test", "at": "2026-03-02T14:00:00Z", "body": {"type": "activity", "kind": "demo_request", "channel": "web"}}
{"id": "e4", "lead": "ada@acme.test", "at": "2026-03-03T15:00:00Z", "body": {"type": "advanced", "to": "SQL", "actor": "sales"}}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_json(CONFIG)?;
    let mut lead = engine.new_lead("ada@acme.test");
    // The same events in any order, or twice, give the same lead; the
    // demo request (65 points in all) fires the MQL rule on its own.
    for line in EVENTS.lines().filter(|l| !l.trim().is_empty()) {
        let event: Event = serde_json::from_str(line)?;
        engine.apply(&mut lead, event)?;
    }
    let at = |text: &str| text.parse::<leadflow::Timestamp>();

    println!("{}\n", lead.timeline());
    println!(
        "{}\n",
        engine.score_card(&lead, at("2026-03-02T15:00:00Z")?)
    );
    println!("{}", engine.grade_card(&lead));
    let priority = engine.priority(&lead, at("2026-03-02T15:00:00Z")?);
    println!("priority {}", priority.ok_or("no priority")?);
    if let Some(sla) = engine.sla(&lead, at("2026-03-03T05:00:00Z")?) {
        let stage = engine.lifecycle().name(sla.stage);
        println!("SLA in {stage}: due {} ({})", sla.due_at, sla.state);
    }
    Ok(())
}
