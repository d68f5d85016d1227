//! The host's entry point: a config compiled into an immutable [`Engine`]
//! that folds events into leads.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrorKind, EventError, EventErrorKind};
use crate::event::Event;
use crate::lead::Lead;
use crate::lifecycle::{Lifecycle, LifecycleConfig, SlaStatus, StageState, Transition};
use crate::types::{LeadId, Timestamp};

/// Everything an engine is compiled from, as one serde document.
///
/// ```
/// let config: leadflow::EngineConfig =
///     serde_json::from_str(r#"{"lifecycle": {"preset": "default"}}"#).unwrap();
/// let engine = leadflow::Engine::new(config)?;
/// assert_eq!(engine.lifecycle().stages().len(), 7);
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The stages and the moves between them.
    pub lifecycle: LifecycleConfig,
}

/// A compiled config: immutable, cheap to clone (an `Arc`), `Send + Sync`,
/// meant to be shared across threads.
///
/// The engine owns no leads: the host keeps them (or a
/// [`LeadStore`](crate::LeadStore)) and passes them in.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EngineConfig,
    lifecycle: Lifecycle,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Whether the event was applied, a duplicate, or rejected.
    pub status: IngestStatus,
    /// The stage moves this event caused.
    pub transitions: Vec<Transition>,
    /// Whether the event arrived late (before events already in the log)
    /// and the lead was refolded from its log.
    pub refolded: bool,
}

impl Outcome {
    fn ignored(err: EventError, refolded: bool) -> Self {
        Self {
            status: IngestStatus::Ignored(err),
            transitions: Vec::new(),
            refolded,
        }
    }
}

/// Whether an event took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestStatus {
    /// The event is in the log and took effect.
    Applied,
    /// An event with the same id was already in the log: nothing changed.
    Duplicate,
    /// The event is in the log, but the state machine rejected it at its
    /// place in the `(at, id)` order.
    Ignored(EventError),
}

impl Engine {
    /// Compiles and validates a config.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first offending item.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        let lifecycle = Lifecycle::compile(config.lifecycle.clone(), "lifecycle.")?;
        Ok(Self {
            inner: Arc::new(Inner { config, lifecycle }),
        })
    }

    /// Parses a JSON config and compiles it.
    ///
    /// # Errors
    /// [`ConfigErrorKind::Syntax`] when the text is not valid JSON of the
    /// config's shape (unknown fields included, with line and column), or any
    /// error of [`Engine::new`].
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: EngineConfig = serde_json::from_str(json).map_err(|e| {
            ConfigError::new(
                "config",
                ConfigErrorKind::Syntax {
                    message: e.to_string(),
                },
            )
        })?;
        Self::new(config)
    }

    /// The config the engine was compiled from.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The compiled lifecycle.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// A lead with no events, in the initial stage.
    pub fn new_lead(&self, id: impl Into<LeadId>) -> Lead {
        Lead {
            id: id.into(),
            events: Vec::new(),
            by_id: Vec::new(),
            stage: StageState::new(self.lifecycle()),
            ignored: Vec::new(),
        }
    }

    /// Folds a lead from scratch: deduplicates the events by id (first
    /// occurrence wins), sorts them by `(at, id)` and applies them in that
    /// order. The same events under the same engine always give the same
    /// lead; replaying under an edited config is how a host rescores.
    pub fn replay(&self, id: impl Into<LeadId>, events: impl IntoIterator<Item = Event>) -> Lead {
        let mut lead = self.new_lead(id);
        lead.set_log(events.into_iter().collect());
        self.refold(&mut lead);
        lead
    }

    /// Adds one event to a lead, leniently: a duplicate id changes nothing; a
    /// late event is inserted at its place and the lead refolded; an event
    /// the state machine rejects stays in the log as ignored (see
    /// [`Lead::ignored`]) so that the final state never depends on arrival
    /// order. Use [`Engine::apply`] to refuse rejected events instead.
    pub fn ingest(&self, lead: &mut Lead, event: Event) -> Outcome {
        self.insert(lead, event, false)
            .unwrap_or_else(|err| Outcome::ignored(err, false))
    }

    /// Adds one event to a lead strictly: like [`Engine::ingest`], but an
    /// event the state machine rejects is not kept and the lead is left
    /// exactly as it was.
    ///
    /// # Errors
    /// An [`EventError`] naming the event and saying why it was rejected
    /// (backward move without recycle or regress, leaving a terminal stage,
    /// a move the lifecycle forbids, a missing reason, an unknown stage), or,
    /// for a late event, naming the event already in the log that it would
    /// invalidate.
    pub fn apply(&self, lead: &mut Lead, event: Event) -> Result<Outcome, EventError> {
        self.insert(lead, event, true)
    }

    /// The shared body of `ingest` (lenient) and `apply` (strict).
    fn insert(&self, lead: &mut Lead, event: Event, strict: bool) -> Result<Outcome, EventError> {
        let Err(slot) = lead.id_slot(&event.id) else {
            return Ok(Outcome {
                status: IngestStatus::Duplicate,
                transitions: Vec::new(),
                refolded: false,
            });
        };
        let late = lead
            .events
            .last()
            .is_some_and(|last| last.key() > event.key());
        if !late {
            // In order: one fold step; it leaves the state untouched on error.
            let first_new = lead.stage.history().len();
            let status = match self.step(&mut lead.stage, &event) {
                Ok(()) => IngestStatus::Applied,
                Err(kind) => {
                    let err = EventError {
                        event: event.id.clone(),
                        kind,
                    };
                    if strict {
                        return Err(err);
                    }
                    lead.ignored.push(err.clone());
                    IngestStatus::Ignored(err)
                }
            };
            let transitions = lead
                .stage
                .history()
                .get(first_new..)
                .unwrap_or(&[])
                .to_vec();
            lead.by_id.insert(slot, lead.events.len() as u32);
            lead.events.push(event);
            return Ok(Outcome {
                status,
                transitions,
                refolded: false,
            });
        }
        // Late: insert at its place and refold; strict mode restores the
        // lead if the event turns out rejected there.
        let before = strict.then(|| lead.clone());
        let id = event.id.clone();
        let pos = lead.events.partition_point(|e| e.key() < event.key());
        lead.events.insert(pos, event);
        for i in &mut lead.by_id {
            if *i as usize >= pos {
                *i += 1;
            }
        }
        lead.by_id.insert(slot, pos as u32);
        self.refold(lead);
        if let Some(err) = lead.ignored.iter().find(|e| e.event == id).cloned() {
            if let Some(before) = before {
                *lead = before;
                return Err(err);
            }
            return Ok(Outcome::ignored(err, true));
        }
        if let Some(before) = before {
            // Strict: refuse a late event that invalidates one already in the log.
            let newly = lead
                .ignored
                .iter()
                .find(|e| !before.ignored.iter().any(|b| b.event == e.event))
                .cloned();
            if let Some(conflict) = newly {
                *lead = before;
                return Err(EventError {
                    event: id,
                    kind: EventErrorKind::ConflictsWithLater {
                        later: conflict.event,
                        problem: Box::new(conflict.kind),
                    },
                });
            }
        }
        let transitions = lead
            .stage
            .history()
            .iter()
            .filter(|t| t.event == id)
            .cloned()
            .collect();
        Ok(Outcome {
            status: IngestStatus::Applied,
            transitions,
            refolded: true,
        })
    }

    /// The lead's SLA status at `now`, if its current stage has an SLA.
    pub fn sla(&self, lead: &Lead, now: Timestamp) -> Option<SlaStatus> {
        lead.stage.sla(self.lifecycle(), now)
    }

    /// Refolds the lead's derived state from its log.
    pub(crate) fn refold(&self, lead: &mut Lead) {
        // Most events of a busy lead are not stage moves: cap the guess.
        lead.stage = StageState::with_capacity(self.lifecycle(), lead.events.len().min(16));
        lead.ignored.clear();
        for event in &lead.events {
            if let Err(kind) = self.step(&mut lead.stage, event) {
                lead.ignored.push(EventError {
                    event: event.id.clone(),
                    kind,
                });
            }
        }
    }

    /// One fold step over every part of the state. On error nothing changed.
    fn step(&self, stage: &mut StageState, event: &Event) -> Result<(), EventErrorKind> {
        stage.step(self.lifecycle(), event)
    }
}
