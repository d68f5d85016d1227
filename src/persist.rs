//! Persistence: a lead's saved form and its validation on load.
//!
//! Events are the source of truth. A lead's serialized form holds its log
//! (and the conflicting copies of ids) plus a *cache* of its folded state,
//! stamped with the [`FORMAT_VERSION`](crate::FORMAT_VERSION) and the
//! fingerprint of the engine config that folded it. Stages are saved by
//! name. [`Engine::restore`](crate::Engine::restore) validates a saved
//! lead: another format version is an error; a cache folded under another
//! config (another fingerprint), or one that does not fit this engine, is
//! dropped and the lead refolded from its log; a matching cache is used as
//! it is. The private id index and checkpoints are never saved: they are
//! rebuilt on load.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use leadflow::{Actor, Engine, Event, EventBody, SavedLead, Source};
//!
//! let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
//! let lead = engine.replay("ada", [Event::new("e1", "ada", at, EventBody::Created {
//!     stage: "MQL".into(), source: Source::Marketing, actor: Actor::Marketing })]);
//!
//! let json = serde_json::to_string(&lead)?;
//! assert!(json.contains(r#""current":"MQL""#));
//! let saved: SavedLead = serde_json::from_str(&json)?;
//! assert_eq!(engine.restore(saved)?, lead);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::attr::Attrs;
use crate::engine::{Engine, FORMAT_VERSION};
use crate::error::EventError;
use crate::event::Event;
use crate::grading::Grade;
use crate::lead::Arm;
use crate::lead::{Folded, GradeChange, Lead, Win};
use crate::lifecycle::{SavedStage, StageState};
use crate::scoring::ScoreState;
use crate::types::LeadId;

/// A lead as saved: its log, and a cache of its state tied to the config
/// fingerprint and the format version. Serialize a [`Lead`] to get one;
/// read it back with [`Engine::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedLead {
    format: u32,
    fingerprint: String,
    id: LeadId,
    events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conflicting_duplicates: Vec<Event>,
    state: SavedState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedState {
    stage: SavedStage,
    score: ScoreState,
    #[serde(default, skip_serializing_if = "Attrs::is_empty")]
    attrs: Attrs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade: Option<Grade>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    grades: Vec<GradeChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    arms: Vec<Arm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<EventError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deal: Option<rust_decimal::Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wins: Vec<SavedWin>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    verdicts: crate::grading::Verdicts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    activity: Vec<u32>,
}

/// A win as saved: the stage by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedWin {
    event: crate::types::EventId,
    at: crate::types::Timestamp,
    cycle: u32,
    stage: String,
    amount: rust_decimal::Decimal,
}

impl SavedLead {
    /// The saved lead's id.
    pub fn id(&self) -> &LeadId {
        &self.id
    }

    /// The saved log.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The format version it was saved in.
    pub fn format(&self) -> u32 {
        self.format
    }
}

impl From<&Lead> for SavedLead {
    fn from(lead: &Lead) -> Self {
        let st = &lead.state;
        Self {
            format: FORMAT_VERSION,
            fingerprint: format!("{:016x}", lead.fingerprint),
            id: lead.id.clone(),
            events: lead.events().to_vec(),
            conflicting_duplicates: lead.conflicting_duplicates().to_vec(),
            state: SavedState {
                stage: st.stage.to_saved(&lead.lifecycle),
                score: st.score.clone(),
                attrs: st.attrs.clone(),
                grade: st.grade,
                grades: st.grades.clone(),
                arms: st.arms.clone(),
                ignored: st.ignored.clone(),
                deal: st.deal,
                verdicts: st.verdicts.clone(),
                activity: st.activity.clone(),
                wins: st
                    .wins
                    .iter()
                    .map(|w| SavedWin {
                        event: w.event.clone(),
                        at: w.at,
                        cycle: w.cycle,
                        stage: lead.lifecycle.name(w.stage).to_owned(),
                        amount: w.amount,
                    })
                    .collect(),
            },
        }
    }
}

impl Serialize for Lead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SavedLead::from(self).serialize(s)
    }
}

/// A saved lead or store that could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Saved in a format version this build does not read.
    #[error("lead {lead:?} was saved in format {found}; this build reads format {expected}")]
    UnsupportedFormat {
        /// The lead.
        lead: LeadId,
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// Two saved leads have the same id.
    #[error("two saved leads have the id {lead:?}")]
    DuplicateLead {
        /// The repeated id.
        lead: LeadId,
    },
    /// The saved data contradicts itself.
    #[error("inconsistent saved store: {problem}")]
    Inconsistent {
        /// What does not fit.
        problem: String,
    },
}

impl Engine {
    /// Restores a saved lead (see the [`SavedLead`] docs): the cache is used
    /// when it was folded by an engine with this engine's fingerprint and
    /// its log is well formed; otherwise the lead is refolded from its log.
    ///
    /// # Errors
    /// [`RestoreError::UnsupportedFormat`] for another format version.
    pub fn restore(&self, saved: SavedLead) -> Result<Lead, RestoreError> {
        if saved.format != FORMAT_VERSION {
            return Err(RestoreError::UnsupportedFormat {
                lead: saved.id,
                found: saved.format,
                expected: FORMAT_VERSION,
            });
        }
        let fingerprint = format!("{:016x}", self.fingerprint());
        // Sorted, and nothing the engine would refuse on its own (a blank
        // id): otherwise the log is replayed, which drops such events.
        let well_formed = saved
            .events
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.key() < b.key()))
            && saved
                .events
                .iter()
                .all(|e| Engine::check_alone(e, None).is_ok());
        let mut lead = self.new_lead(saved.id.clone());
        let SavedLead {
            events,
            mut conflicting_duplicates,
            state: st,
            ..
        } = saved;
        let mut all = events;
        if fingerprint == saved.fingerprint
            && well_formed
            && st.arms.len() == self.qualifier_count()
            && let Ok(stage) = StageState::from_saved(st.stage, self.lifecycle())
            && let Some(wins) = st
                .wins
                .iter()
                .map(|w| {
                    Some(Win {
                        event: w.event.clone(),
                        at: w.at,
                        cycle: w.cycle,
                        stage: self.lifecycle().find(&w.stage)?,
                        amount: w.amount,
                    })
                })
                .collect::<Option<Vec<_>>>()
        {
            match lead.restore_log(all, conflicting_duplicates) {
                Ok(()) => {
                    lead.state = Folded {
                        stage,
                        score: st.score,
                        attrs: st.attrs,
                        grade: st.grade,
                        grades: st.grades,
                        arms: st.arms,
                        ignored: st.ignored,
                        deal: st.deal,
                        wins,
                        verdicts: st.verdicts,
                        activity: st.activity,
                    };
                    return Ok(lead);
                }
                Err((events, duplicates)) => {
                    all = events;
                    conflicting_duplicates = duplicates;
                }
            }
        }
        all.extend(conflicting_duplicates);
        Ok(self.replay(lead.id, all))
    }
}
