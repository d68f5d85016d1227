//! # leadflow
//!
//! The B2B lead lifecycle as an embeddable library: a stage machine whose
//! state is a deterministic fold over events (anonymous → MQL → SQL →
//! opportunity → won / lost / recycled), with SLAs, identity merging and full
//! history; behavioural scoring ([`ScoringConfig`]), fit grading ([`GradingConfig`]) and
//! qualification rules that move leads on their own ([`QualificationConfig`]);
//! multi-touch attribution with exact money, rule-based models and
//! exact data-driven models ([`attribution`]); funnel reports
//! ([`funnel`]); and predictive scoring learned from won and lost leads,
//! explained factor by factor ([`predict`]).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use leadflow::{Actor, Engine, Event, EventBody, Reason, ReasonCode, Source};
//!
//! let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
//! let t = |day| Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap();
//! let mut lead = engine.new_lead("ada@acme.test");
//!
//! engine.apply(&mut lead, Event::new("e1", "ada@acme.test", t(1), EventBody::Created {
//!     stage: "MQL".into(), source: Source::Marketing, actor: Actor::Marketing }))?;
//! engine.apply(&mut lead, Event::new("e2", "ada@acme.test", t(2), EventBody::Advanced {
//!     to: "SQL".into(), actor: Actor::Sales, reason: None }))?;
//!
//! // Moving down needs an explicit recycle with a reason: an ordinary move is refused.
//! let back = Event::new("e3", "ada@acme.test", t(3), EventBody::Advanced {
//!     to: "MQL".into(), actor: Actor::Sales, reason: None });
//! assert!(engine.apply(&mut lead, back).is_err());
//! engine.apply(&mut lead, Event::new("e4", "ada@acme.test", t(3), EventBody::Recycled {
//!     actor: Actor::Sales, reason: Reason::new(ReasonCode::Timing) }))?;
//!
//! let lc = engine.lifecycle();
//! assert_eq!(lc.name(lead.stage().current()), "Recycled");
//! assert_eq!(lc.name(lead.stage().furthest()), "SQL");
//! assert_eq!(lead.stage().cycle(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Design
//!
//! * **Pure core.** No clock, no I/O, no global state: every operation takes
//!   the time it is about.
//! * **Config → validate → compiled engine.** [`EngineConfig`] is plain serde
//!   data; [`Engine::new`] validates it once into an immutable, cheaply
//!   cloned, `Send + Sync` [`Engine`]. Every rejection is a [`ConfigError`]
//!   naming the item (`lifecycle.stages[2].within: an sla stage needs a
//!   duration`).
//! * **State is a fold over the event set.** A [`Lead`] keeps its
//!   deduplicated event log sorted by `(at, id)`; its state is the fold of
//!   that log, whatever the arrival order. A repeated id changes nothing (of
//!   two different copies, the smallest canonical encoding is kept); a late
//!   event is inserted at its place and the log after it refolded from the
//!   nearest checkpoint. [`Engine::ingest`] is lenient (a rejected event
//!   stays in the log as ignored, with its reason); [`Engine::apply`] is
//!   strict (a rejected event, or one that would rewrite recorded history,
//!   returns an [`EventError`] and leaves the lead unchanged). Every
//!   [`Outcome`] states the whole change, retracted transitions included.
//! * **Identity by claims.** A [`LeadStore`] merges visitors into the leads
//!   that identify them; claims are decided in `(at, id)` order, so a shared
//!   visitor never merges two known leads and the store does not depend on
//!   arrival order.
//! * **Persistence.** Events are the source of truth; a serialized lead is
//!   its log plus a state cache tied to the engine's fingerprint
//!   ([`Engine::restore`]).
//! * **Forward-only.** Ordinary moves go up by rank. Moving down takes a
//!   recycle or regress event carrying a [`Reason`]; there is no bypass.
//!
//! * **Explainable.** [`Engine::score_card`] lists every rule and activity
//!   behind a score, after decay and caps; [`Engine::grade_card`] every
//!   criterion behind a grade; each transition its actor and reason.
//!
//! The exact semantics are on the configs: [`LifecycleConfig`] (stages and
//! moves), [`ScoringConfig`] (rules, groups, decay), [`GradingConfig`]
//! (fit and the priority matrix) and [`QualificationConfig`].
//!
//! ## One path per item
//!
//! The core types live at the crate root. Three namespaces hold what is
//! theirs alone: [`attribution`] (journeys, models, path tables),
//! [`funnel`] (reports, ROI, planner) and [`predict`] (predictive
//! scoring); nothing is reachable by two paths.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attr;
pub mod attribution;
mod engine;
mod error;
mod event;
mod exact;
pub mod funnel;
mod grading;
mod hash;
mod lead;
mod lifecycle;
mod merge;
mod ndjson;
mod persist;
mod points;
pub mod predict;
mod qualify;
mod scoring;
mod store;
mod types;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use attr::{AttrValue, Attrs, Operator, PredicateConfig};
pub use engine::{Batch, Engine, EngineConfig, FORMAT_VERSION, IngestStatus, Outcome};
pub use error::{ConfigError, ConfigErrorKind, EventError, EventErrorKind};
pub use event::{Adjustment, Event, EventBody};
pub use grading::{
    CriterionConfig, CriterionResult, Engagement, Grade, GradeCard, GradeParseError, GradingConfig,
    MatrixConfig, PersonaConfig, Priority, Verdict,
};
pub use lead::{Lead, Timeline, Win};
pub use lifecycle::{
    AllowedMoves, Lifecycle, LifecycleConfig, Merge, Milestone, Preset, SlaState, SlaStatus, Stage,
    StageConfig, StageId, StageKind, StageKindName, StageState, Transition, TransitionKind,
};
pub use merge::Mergeable;
pub use ndjson::{BackgroundReader, DEFAULT_MAX_LINE_BYTES, EventReader, ReadError, ReadErrorKind};
pub use persist::{RestoreError, SavedLead};
pub use points::{MAX_POINTS, POINTS_DECIMALS};
pub use qualify::{ConditionConfig, ProbabilityAtLeast, QualificationConfig, Rearm, ScoreAtLeast};
pub use scoring::{
    CardEntry, DecayConfig, Frequency, GroupCard, GroupConfig, RuleConfig, ScoreCard,
    ScoringConfig, WhenConfig,
};
pub use store::{
    ConflictReason, IdentityConflict, LeadStore, PARALLEL_FOLD_EVENTS, RescoreChange, SavedStore,
    SlaReport,
};
pub use types::{
    Actor, EventId, LeadId, Reason, ReasonCode, Source, Span, SpanError, Symbol, Timestamp,
};
