//! Helpers shared by the test modules.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use leadflow::{Actor, Engine, Event, EventBody, Preset, Reason, ReasonCode, Source, Timestamp};

/// Minute `m` after a fixed epoch (2026-03-02 09:00 UTC).
pub fn t(m: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::TimeDelta::minutes(m)
}

pub fn engine(preset: Preset) -> Engine {
    let name = match preset {
        Preset::Default => "default",
        Preset::Waterfall => "waterfall",
    };
    Engine::from_json(&format!(r#"{{"lifecycle": {{"preset": "{name}"}}}}"#)).unwrap()
}

pub fn created(id: &str, lead: &str, m: i64, stage: &str, source: Source) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Created {
            stage: stage.into(),
            source,
            actor: Actor::Marketing,
        },
    )
}

pub fn advance(id: &str, lead: &str, m: i64, to: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Advanced {
            to: to.into(),
            actor: Actor::Sales,
            reason: None,
        },
    )
}

pub fn advance_because(id: &str, lead: &str, m: i64, to: &str, code: ReasonCode) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Advanced {
            to: to.into(),
            actor: Actor::Sales,
            reason: Some(Reason::new(code)),
        },
    )
}

pub fn recycle(id: &str, lead: &str, m: i64, code: ReasonCode) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Recycled {
            actor: Actor::Sales,
            reason: Reason::new(code).with_note("not this quarter"),
        },
    )
}

pub fn regress(id: &str, lead: &str, m: i64, to: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Regressed {
            to: to.into(),
            actor: Actor::Sales,
            reason: Reason::new(ReasonCode::Other),
        },
    )
}

pub fn identified(id: &str, lead: &str, m: i64, visitor: &str) -> Event {
    Event::new(
        id,
        lead,
        t(m),
        EventBody::Identified {
            visitor: visitor.into(),
        },
    )
}

/// Stage names of a lead's history, as `from->to` strings.
pub fn path(engine: &Engine, lead: &leadflow::Lead) -> Vec<String> {
    let lc = engine.lifecycle();
    lead.history()
        .iter()
        .map(|tr| lc.name(tr.to).to_owned())
        .collect()
}
