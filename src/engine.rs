//! The host's entry point: a config compiled into an immutable [`Engine`]
//! that folds events into leads.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::compile_lists;
use crate::error::{ConfigError, ConfigErrorKind, EventError, EventErrorKind};
use crate::event::Adjustment;
use crate::event::{Event, EventBody};
use crate::grading::{Engagement, Grade, GradeCard, GradingConfig, Priority, Profile};
use crate::hash::{IdMap, hash_str};
use crate::lead::{CHECKPOINT_EVERY, Folded, GradeChange, Lead, Rewound, Win, canonical, choose};
use crate::lifecycle::{Lifecycle, LifecycleConfig, SlaStatus, StageId, StageState, Transition};
use crate::points::PointsProblem;
use crate::predict::{Explanation, PredictiveConfig};
use crate::qualify::{QualificationConfig, Qualifier, Runtime};
use crate::scoring::{KindCache, Model, ScoreCard, ScoreState, ScoringConfig};
use crate::types::{EventId, LeadId, Symbol, Timestamp};

/// The version of the serialized lead format ([`Engine::restore`] refuses
/// other versions). Part of every engine's fingerprint.
pub const FORMAT_VERSION: u32 = 3;

/// Everything an engine is compiled from, as one serde document.
///
/// ```
/// let config: leadflow::EngineConfig =
///     serde_json::from_str(r#"{"lifecycle": {"preset": "default"}}"#).unwrap();
/// let engine = leadflow::Engine::new(config)?;
/// assert_eq!(engine.lifecycle().stages().len(), 7);
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The stages and the moves between them.
    pub lifecycle: LifecycleConfig,
    /// Behavioural scoring rules.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// The fit grading profile.
    #[serde(default)]
    pub grading: GradingConfig,
    /// Qualification rules, evaluated in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualification: Vec<QualificationConfig>,
    /// Named lists for the `in_list` operator (target accounts …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, Vec<String>>,
    /// A fitted predictive model: each lead's probability beside its
    /// score, readable by qualification rules and the priority matrix (see
    /// [`PredictiveConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive: Option<PredictiveConfig>,
}

/// Checks the predictive model against its features and the items that
/// read it.
fn check_predictive(config: &EngineConfig) -> Result<(), ConfigError> {
    let Some(p) = &config.predictive else {
        if config.grading.matrix.engagement == Engagement::Probability {
            return Err(ConfigError::new(
                "grading.matrix.engagement",
                ConfigErrorKind::Needs {
                    what: "engagement by probability".into(),
                    needs: "a predictive model (`predictive`)".into(),
                },
            ));
        }
        return Ok(());
    };
    let names = p.features.names();
    for (feature, _) in p.model.features() {
        if !names.iter().any(|n| n == feature) {
            return Err(ConfigError::new(
                "predictive.model",
                ConfigErrorKind::Needs {
                    what: "the model".into(),
                    needs: format!(
                        "feature {feature:?} (list it in predictive.features: an attribute, \
                         or activity_counts for activities.<kind>)"
                    ),
                },
            ));
        }
    }
    Ok(())
}

/// The largest product of two history suffixes compared pair by pair;
/// longer ones are matched through a hash map.
const PAIRWISE_DIFF_MAX: usize = 256;

/// Qualification rules whose before-state is held on the stack during a
/// step; more spill to the heap.
const INLINE_RULES: usize = 16;

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
    fingerprint: u64,
    config: EngineConfig,
    lifecycle: Lifecycle,
    scoring: Model,
    grading: Profile,
    qualifiers: Vec<Qualifier>,
    /// Per stage (by index): whether no qualification rule can hold while
    /// a lead is in it (every rule names stages, none this one). A fold
    /// then skips the rules' conditions at events there.
    quiet: Vec<bool>,
    /// Whether some qualification rule re-arms after firing.
    rearms: bool,
}

/// What ingesting one event did: its status and the whole change it caused
/// to the lead.
///
/// The lead's state is the fold of its event set, so a late event can change
/// what happened after its place: a move made by a qualification rule may
/// no longer happen, an event that was valid may now be rejected. The
/// outcome says so: `transitions` lists every transition the event added
/// (its own, rule firings, and moves of later events that now happen
/// differently), `retracted` every recorded transition that is gone, and
/// `now_ignored` / `unignored` the other events whose status changed. A
/// host can read "this lead is no longer an MQL" from the outcome alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outcome {
    /// Whether the event was applied, a duplicate, ignored or rejected.
    pub status: IngestStatus,
    /// The lead's stage before the event.
    pub stage_before: StageId,
    /// The lead's stage after the event.
    pub stage_after: StageId,
    /// Transitions added to the history.
    pub transitions: Vec<Transition>,
    /// Transitions that were in the history and no longer are.
    pub retracted: Vec<Transition>,
    /// Other events of the log that the fold now rejects at their place.
    pub now_ignored: Vec<EventError>,
    /// Other events of the log that were rejected and now take effect.
    pub unignored: Vec<EventId>,
    /// Wins recorded by this change (a new win, or a win whose value
    /// changed: a late `deal` before it).
    pub wins_added: Vec<Win>,
    /// Wins that were recorded and no longer are (as they were).
    pub wins_retracted: Vec<Win>,
    /// The raw points the event added to the score at its place (before
    /// caps; for a `set` or `reset`, the change it made there), exact.
    pub points: Decimal,
    /// The grade before the event.
    pub grade_before: Option<Grade>,
    /// The grade after the event.
    pub grade_after: Option<Grade>,
    /// Whether part of the log was refolded (a late event, a replaced
    /// duplicate, or a lead adopted from another engine).
    pub refolded: bool,
}

/// Whether an event took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IngestStatus {
    /// The event is in the log and took effect.
    Applied,
    /// An event with the same id and the same content was already in the
    /// log: nothing changed.
    Duplicate,
    /// An event with the same id but different content is in the log. The
    /// copy with the smallest canonical encoding is kept, whatever the
    /// arrival order; `replaced` says whether that is this one (the lead was
    /// refolded with it). The other copy is listed in
    /// [`Lead::conflicting_duplicates`].
    ConflictingDuplicate {
        /// Whether this copy replaced the one in the log.
        replaced: bool,
    },
    /// The event is in the log, but the state machine rejected it at its
    /// place in the `(at, id)` order.
    Ignored(EventError),
    /// The event is malformed on its own (an empty id, another lead's
    /// event) and was not added to the log.
    Rejected(EventError),
}

impl std::fmt::Display for IngestStatus {
    /// `applied`, `duplicate`, `conflicting_duplicate (replaced)`,
    /// `ignored: …`, `rejected: …` — the serde names, with the error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Applied => f.write_str("applied"),
            Self::Duplicate => f.write_str("duplicate"),
            Self::ConflictingDuplicate { replaced: true } => {
                f.write_str("conflicting_duplicate (replaced)")
            }
            Self::ConflictingDuplicate { replaced: false } => {
                f.write_str("conflicting_duplicate (kept the other)")
            }
            Self::Ignored(e) => write!(f, "ignored: {e}"),
            Self::Rejected(e) => write!(f, "rejected: {e}"),
        }
    }
}

/// Where a batch's events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The host: each event is checked on its own and must name the lead.
    Host,
    /// A store's routing: each event was checked there, and merged
    /// visitors' events name their visitor.
    Store,
    /// As `Store`, for events whose ids the store has never held (it
    /// checks ids globally): none repeats the log or another event of the
    /// batch, so none is claimed, and the lead's id index is not built.
    StoreFresh,
}

/// A batch event's verdict (see `Engine::admit`).
#[derive(Debug, PartialEq)]
enum Admit {
    New,
    Repeat,
    Rejected(EventErrorKind),
}

/// The change to a lead, gathered while folding.
#[derive(Debug, Default)]
pub(crate) struct Change {
    added: Vec<Transition>,
    retracted: Vec<Transition>,
    now_ignored: Vec<EventError>,
    unignored: Vec<EventId>,
    wins_added: Vec<Win>,
    wins_retracted: Vec<Win>,
    refolded: bool,
}

impl Change {
    fn absorb(&mut self, other: Change) {
        self.added.extend(other.added);
        self.retracted.extend(other.retracted);
        self.now_ignored.extend(other.now_ignored);
        self.unignored.extend(other.unignored);
        self.wins_added.extend(other.wins_added);
        self.wins_retracted.extend(other.wins_retracted);
        self.refolded |= other.refolded;
    }

    /// Takes the rejection of `id` out of `now_ignored`, if it is there.
    fn take_own(&mut self, id: &EventId) -> Option<EventError> {
        let i = self.now_ignored.iter().position(|e| &e.event == id)?;
        Some(self.now_ignored.remove(i))
    }
}

/// Whether `insert` refuses (strict) or keeps as ignored (lenient) an event
/// the fold rejects, and whether the event must name the lead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    strict: bool,
    own_lead: bool,
    /// The event's id is new to the lead (a store checked it globally).
    fresh: bool,
}

impl Mode {
    /// Lenient, for events a store routes to a lead after identity
    /// resolution (they may name a merged visitor).
    pub(crate) const ROUTED: Mode = Mode {
        strict: false,
        own_lead: false,
        fresh: false,
    };

    /// As [`Mode::ROUTED`], for an event whose id the store has never held.
    pub(crate) const ROUTED_FRESH: Mode = Mode {
        fresh: true,
        ..Mode::ROUTED
    };
}

impl Engine {
    /// Compiles and validates a config.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first offending item.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        let lifecycle = Lifecycle::compile(config.lifecycle.clone(), "lifecycle.")?;
        let lists = compile_lists(&config.lists);
        let scoring = Model::compile(&config.scoring, &lists)?;
        let groups = scoring.group_names();
        let grading = Profile::compile(&config.grading, &lists, &groups)?;
        check_predictive(&config)?;
        let qualifiers = Qualifier::compile_all(
            &config.qualification,
            &crate::qualify::Context {
                lifecycle: &lifecycle,
                groups: &groups,
                lists: &lists,
                has_model: config.predictive.is_some(),
            },
        )?;
        let quiet = Qualifier::quiet_stages(&qualifiers, lifecycle.stages().len());
        let rearms = qualifiers
            .iter()
            .any(|q| q.rearm != crate::qualify::Rearm::Never);
        let text = serde_json::to_string(&config).unwrap_or_else(|_| format!("{config:?}"));
        let fingerprint = hash_str(&format!("leadflow/{FORMAT_VERSION}/{text}"));
        Ok(Self {
            inner: Arc::new(Inner {
                fingerprint,
                config,
                lifecycle,
                scoring,
                grading,
                qualifiers,
                quiet,
                rearms,
            }),
        })
    }

    /// Parses a JSON config and compiles it.
    ///
    /// A JSON-level mistake names the item it is in, in the same form as the
    /// validation errors: an unknown field `pointz` in the first scoring rule
    /// is reported at `scoring.rules[0].pointz`, a malformed duration at
    /// `lifecycle.stages[1].within`. Text that is not JSON at all is
    /// reported at `config`.
    ///
    /// # Errors
    /// [`ConfigErrorKind::Syntax`] when the text is not valid JSON of the
    /// config's shape (unknown fields included; the message keeps the line
    /// and column), or any error of [`Engine::new`].
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        use serde_path_to_error::Segment;
        // The path in our form (`scoring.rules[0].pointz`), the serde message
        // as it is (with line and column).
        let syntax = |segments: &[Segment], e: serde_json::Error| {
            let mut path = String::new();
            for segment in segments {
                match segment {
                    Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(key);
                    }
                    Segment::Unknown => {}
                }
            }
            let message = e.to_string();
            // The path names an unknown field itself, except inside serde's
            // buffered (tagged or untagged) enums, where it ends at the item
            // holding it: then name the field from the message.
            if let Some((field, _)) = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'))
                && path.rsplit(['.', ']']).next() != Some(field)
            {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(field);
            }
            if path.is_empty() {
                path.push_str("config");
            }
            ConfigError::new(path, ConfigErrorKind::Syntax { message })
        };
        let mut de = serde_json::Deserializer::from_str(json);
        let config: EngineConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let segments: Vec<Segment> = e.path().iter().cloned().collect();
            syntax(&segments, e.into_inner())
        })?;
        // Trailing characters after the document.
        de.end().map_err(|e| syntax(&[], e))?;
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

    /// A fingerprint of the compiled config and the state format: two
    /// engines with the same fingerprint fold every event set to the same
    /// state. A lead carries the fingerprint of the engine that folded it.
    pub fn fingerprint(&self) -> u64 {
        self.inner.fingerprint
    }

    /// How many qualification rules the engine has.
    pub(crate) fn qualifier_count(&self) -> usize {
        self.inner.qualifiers.len()
    }

    /// The engine's own copy of an activity kind its scoring rules name; a
    /// new symbol for any other name.
    ///
    /// An activity whose kind is the engine's own copy finds its rules by
    /// the text's address, without hashing it, which one-by-one
    /// [`ingest`](Self::ingest) notices most (a replay keeps a per-pass
    /// cache of the kinds it met). A
    /// host that builds events itself can take its kinds from here; an
    /// [`EventReader`](crate::EventReader) does it when built
    /// [`with_symbols_of`](crate::EventReader::with_symbols_of) the engine.
    /// Any copy of a kind's text gives the same result: this is speed, not
    /// meaning. Kinds match exactly (case matters: `Page_View` is not
    /// `page_view`). A name no rule names gets a new copy at every call:
    /// keep the result, or ask only for the rules' kinds. Clones of an
    /// engine share its copies; another engine built from the same config
    /// has its own.
    ///
    /// ```
    /// use leadflow::Engine;
    /// let engine = Engine::from_json(r#"{
    ///     "lifecycle": {"preset": "waterfall"},
    ///     "scoring": {"rules": [
    ///         {"id": "demo", "when": {"kind": "demo_request"}, "points": 40}
    ///     ]}
    /// }"#)?;
    /// let kind = engine.symbol("demo_request");
    /// assert_eq!(kind, "demo_request");
    /// // The same copy each time; any other name is a copy of its own.
    /// assert!(std::ptr::eq(kind.as_str(), engine.symbol("demo_request").as_str()));
    /// assert_eq!(engine.symbol("page_view"), "page_view");
    /// # Ok::<(), leadflow::ConfigError>(())
    /// ```
    pub fn symbol(&self, name: &str) -> Symbol {
        self.inner
            .scoring
            .symbol(name)
            .cloned()
            .unwrap_or_else(|| Symbol::from(name))
    }

    /// The kinds the engine's scoring rules name, as its own copies.
    pub(crate) fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.inner.scoring.symbols()
    }

    /// A lead with no events, in the initial stage.
    pub fn new_lead(&self, id: impl Into<LeadId>) -> Lead {
        self.lead_sized(id.into(), 0)
    }

    /// A lead with an empty log whose history has room for `moves`
    /// transitions (capped, as [`fresh`](Self::fresh) caps it).
    fn lead_sized(&self, id: LeadId, moves: usize) -> Lead {
        Lead::empty(
            id,
            self.fresh(moves),
            self.inner.fingerprint,
            self.inner.lifecycle.clone(),
        )
    }

    fn fresh(&self, events: usize) -> Folded {
        Folded {
            // Most events of a busy lead are not stage moves: cap the guess.
            stage: StageState::with_capacity(self.lifecycle(), events.min(16)),
            score: ScoreState::new(),
            attrs: crate::attr::Attrs::new(),
            grade: None,
            grades: Vec::new(),
            arms: vec![crate::lead::Arm::default(); self.inner.qualifiers.len()],
            ignored: Vec::new(),
            deal: None,
            wins: Vec::new(),
            verdicts: Default::default(),
            activity: vec![
                0;
                self.inner
                    .config
                    .predictive
                    .as_ref()
                    .map_or(0, |p| p.features.activity_counts.len())
            ],
        }
    }

    /// Folds a lead from scratch. Of several copies of one id, the one
    /// whose canonical JSON encoding is smallest is kept (the others are
    /// listed in [`Lead::conflicting_duplicates`]); the log is sorted by
    /// `(at, id)` and folded in that order. The same events under the same
    /// engine always give the same lead, in any order; replaying under an
    /// edited config is how a host rescores. Events malformed on their own
    /// (an empty id, a NaN or infinite attribute) are left out, as `ingest`
    /// rejects them; [`Engine::ingest_batch`] lists them. Events are folded
    /// whatever lead they name: a lead's log may hold the events of the
    /// visitors merged into it (a [`LeadStore`](crate::LeadStore) keeps
    /// such logs), where `ingest` and `ingest_batch` refuse an event
    /// naming another lead.
    pub fn replay(&self, id: impl Into<LeadId>, events: impl IntoIterator<Item = Event>) -> Lead {
        // Of several copies of an id, the log keeps the smallest encoding.
        // `retain` moves nothing when every event is well formed (a
        // filtering `collect` would move each one twice).
        let mut events: Vec<Event> = events.into_iter().collect();
        events.retain(|e| Self::check_alone(e, None).is_ok());
        // The history sized for the log's moves, its entry and a rule
        // firing or two: most replays never grow it.
        let moves = events
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    EventBody::Created { .. }
                        | EventBody::Advanced { .. }
                        | EventBody::Recycled { .. }
                        | EventBody::Regressed { .. }
                )
            })
            .count();
        let mut lead = self.lead_sized(id.into(), moves + 1 + self.inner.qualifiers.len().min(2));
        lead.load(events);
        self.fold_all(&mut lead);
        lead
    }

    /// Makes `lead` this engine's: a lead folded by an engine with another
    /// fingerprint (another config, or an older format) is refolded from its
    /// log. Returns whether it was. [`Engine::ingest`], [`Engine::apply`]
    /// and [`Engine::ingest_batch`] adopt the lead first on their own;
    /// queries on a lead that is not this engine's answer from an adopted
    /// copy (correct, but a refold per query: adopt once instead).
    pub fn adopt(&self, lead: &mut Lead) -> bool {
        self.adopt_change(lead).is_some()
    }

    /// [`adopt`](Self::adopt), with what the refold changed. Inlined: on
    /// every insertion, and nearly every lead is this engine's already.
    #[inline]
    fn adopt_change(&self, lead: &mut Lead) -> Option<Change> {
        if lead.fingerprint == self.inner.fingerprint {
            return None;
        }
        Some(self.refold_foreign(lead))
    }

    /// Refolds a lead folded by another engine as this engine's.
    fn refold_foreign(&self, lead: &mut Lead) -> Change {
        lead.fingerprint = self.inner.fingerprint;
        lead.lifecycle = self.inner.lifecycle.clone();
        lead.checkpoints.clear();
        // Stage ids of another lifecycle mean nothing here: the diff of a
        // foreign history is reported as a full retraction.
        let fresh = self.fresh(lead.events().len());
        let old = std::mem::replace(&mut lead.state, fresh);
        self.fold_all(lead);
        Change {
            retracted: old.stage.history().to_vec(),
            added: lead.state.stage.history().to_vec(),
            now_ignored: lead.state.ignored.clone(),
            unignored: old.ignored.into_iter().map(|e| e.event).collect(),
            wins_retracted: old.wins,
            wins_added: lead.state.wins.clone(),
            refolded: true,
        }
    }

    /// The lead as this engine folds it: itself when it is this engine's, an
    /// adopted copy otherwise.
    pub(crate) fn view<'a>(&self, lead: &'a Lead) -> Cow<'a, Lead> {
        if lead.fingerprint == self.inner.fingerprint {
            Cow::Borrowed(lead)
        } else {
            let mut copy = lead.clone();
            self.adopt(&mut copy);
            Cow::Owned(copy)
        }
    }

    /// Adds one event to a lead, leniently: a duplicate id changes nothing
    /// (of two different copies of an id, the smaller canonical encoding is
    /// kept, whatever the arrival order); a late event is inserted at its
    /// place and the log after it refolded; an event the state machine
    /// rejects stays in the log as ignored (see [`Lead::ignored`]) so that
    /// the final state never depends on arrival order. An event malformed on
    /// its own (empty id, another lead's id) is rejected and not kept. The
    /// [`Outcome`] lists the whole change. Use [`Engine::apply`] to refuse
    /// rejected events instead.
    pub fn ingest(&self, lead: &mut Lead, event: Event) -> Outcome {
        let mode = Mode {
            strict: false,
            own_lead: true,
            fresh: false,
        };
        self.insert(lead, event, mode)
            .unwrap_or_else(|err| self.outcome(lead, IngestStatus::Rejected(err)))
    }

    /// Adds one event to a lead strictly: like [`Engine::ingest`], but an
    /// event that is rejected, or that would rewrite recorded history, is not
    /// kept and the lead is left as it was (but for adoption: a lead folded
    /// by another engine is refolded by this one first, as every call does,
    /// and stays so).
    ///
    /// # Errors
    /// An [`EventError`] naming the event and saying why: a move the state
    /// machine refuses (backward move without recycle or regress, leaving a
    /// terminal stage, a move the lifecycle forbids, a missing reason, an
    /// unknown stage); an empty id or another lead's event; a copy of an id
    /// in the log with different content; or, for a late event, the later
    /// event it would invalidate ([`EventErrorKind::ConflictsWithLater`]) or
    /// the recorded transition it would retract
    /// ([`EventErrorKind::RewritesHistory`]).
    pub fn apply(&self, lead: &mut Lead, event: Event) -> Result<Outcome, EventError> {
        let mode = Mode {
            strict: true,
            own_lead: true,
            fresh: false,
        };
        self.insert(lead, event, mode)
    }

    pub(crate) fn outcome(&self, lead: &Lead, status: IngestStatus) -> Outcome {
        let stage = lead.state.stage.current();
        Outcome {
            status,
            stage_before: stage,
            stage_after: stage,
            transitions: Vec::new(),
            retracted: Vec::new(),
            now_ignored: Vec::new(),
            unignored: Vec::new(),
            wins_added: Vec::new(),
            wins_retracted: Vec::new(),
            points: Decimal::ZERO,
            grade_before: lead.state.grade,
            grade_after: lead.state.grade,
            refolded: false,
        }
    }

    /// What is wrong with an event on its own, whatever the lead's state.
    pub(crate) fn check_alone(event: &Event, lead: Option<&LeadId>) -> Result<(), EventErrorKind> {
        if let Some(what) = blank_id(event) {
            return Err(EventErrorKind::EmptyId { what: what.into() });
        }
        if let Some(lead) = lead
            && &event.lead != lead
        {
            return Err(EventErrorKind::WrongLead {
                lead: lead.clone(),
                named: event.lead.clone(),
            });
        }
        // A NaN or infinite attribute has no JSON form (it would encode as
        // `null`), so copies could not be told apart and the lead could not
        // be saved: refused like any malformed event.
        let attrs = match &event.body {
            EventBody::Activity { attrs, .. } => Some(attrs),
            EventBody::Attributes { set, .. } => Some(set),
            _ => None,
        };
        if let Some((name, value)) = attrs.and_then(|a| {
            a.iter()
                .find(|(_, v)| matches!(v, crate::attr::AttrValue::Number(n) if !n.is_finite()))
        }) {
            return Err(EventErrorKind::OutOfRange {
                what: format!("attribute {name:?}"),
                value: value.to_string(),
                max: "a finite number".into(),
            });
        }
        Ok(())
    }

    /// The shared body of `ingest` (lenient) and `apply` (strict).
    #[inline(always)]
    pub(crate) fn insert(
        &self,
        lead: &mut Lead,
        event: Event,
        mode: Mode,
    ) -> Result<Outcome, EventError> {
        Self::check_alone(&event, mode.own_lead.then_some(&lead.id)).map_err(|kind| {
            EventError {
                event: event.id.clone(),
                kind,
            }
        })?;
        let before = (lead.state.stage.current(), lead.state.grade);
        let mut status = IngestStatus::Applied;
        // Moved only when there is one: a change is 150 bytes.
        let mut change = Change::default();
        if let Some(adopted) = self.adopt_change(lead) {
            change = adopted;
        }
        let mut points = 0;
        // A fresh id is not looked up; another is, and when the log does
        // not hold it, its hash is kept for filing it.
        let copy = if mode.fresh {
            Err(None)
        } else {
            lead.locate(&event.id)
        };
        if let Ok(pos) = copy {
            status = self.insert_copy(lead, event, pos, mode, &mut change)?;
        } else if lead
            .events()
            .last()
            .is_none_or(|last| last.key() < event.key())
        {
            // In order: one fold step; it leaves the state untouched on error.
            let tail = tail_of(lead);
            match self.append(lead, event, mode.strict, copy.err().flatten()) {
                Ok(p) => points = p,
                Err(err) if mode.strict => return Err(err),
                Err(err) => status = IngestStatus::Ignored(err),
            }
            added_since(lead, tail, &mut change);
        } else {
            let (c, p, own) = self.insert_late(lead, event, mode)?;
            points = p;
            if let Some(err) = own {
                status = IngestStatus::Ignored(err);
            }
            change.absorb(c);
        }
        // Built once, at the end: an outcome is a few hundred bytes.
        Ok(Outcome {
            status,
            stage_before: before.0,
            stage_after: lead.state.stage.current(),
            transitions: change.added,
            retracted: change.retracted,
            now_ignored: change.now_ignored,
            unignored: change.unignored,
            wins_added: change.wins_added,
            wins_retracted: change.wins_retracted,
            points: crate::points::decimal(points),
            grade_before: before.1,
            grade_after: lead.state.grade,
            refolded: change.refolded,
        })
    }

    /// Adds a batch of events to a lead leniently, with the same result as
    /// [`Engine::ingest`] one by one in any order, but refolding at most
    /// once: when every new event comes after the log they are applied in
    /// `(at, id)` order; otherwise the log from the earliest new event on is
    /// refolded. This is the way to load a stream that arrives far out of
    /// order (a fully reversed stream costs O(n log n) here, O(n²) event by
    /// event).
    pub fn ingest_batch(&self, lead: &mut Lead, events: impl IntoIterator<Item = Event>) -> Batch {
        self.insert_batch(lead, events.into_iter().collect(), Origin::Host)
    }

    /// Whether a batch's event goes in as new, is a copy of an id already
    /// in the log or earlier in the batch, or is refused on its own.
    fn admit(lead: &mut Lead, event: &Event, origin: Origin) -> Admit {
        if origin == Origin::Host
            && let Err(kind) = Self::check_alone(event, Some(&lead.id))
        {
            return Admit::Rejected(kind);
        }
        if lead.claim(&event.id, event.at) {
            Admit::New
        } else {
            Admit::Repeat
        }
    }

    /// A second copy of an event already in the log (at `pos`): the same
    /// encoding is a duplicate; otherwise the smaller encoding is kept
    /// (strict mode refuses the conflict).
    fn insert_copy(
        &self,
        lead: &mut Lead,
        event: Event,
        pos: usize,
        mode: Mode,
        change: &mut Change,
    ) -> Result<IngestStatus, EventError> {
        let Some(kept) = lead.events().get(pos) else {
            return Ok(IngestStatus::Applied);
        };
        // Copies are the same event when their encodings are: equal
        // values written differently (`100.0` and `100.00`) are
        // different copies, settled by the smallest encoding like any
        // other, whatever the order they arrive in.
        let (new_code, old_code) = (canonical(&event), canonical(kept));
        if new_code == old_code {
            Ok(IngestStatus::Duplicate)
        } else if mode.strict {
            Err(EventError {
                event: event.id,
                kind: EventErrorKind::ConflictingDuplicate,
            })
        } else if new_code < old_code {
            let from = lead.replace_copy(pos, event);
            let (c, _) = self.refold_from(lead, from, None);
            change.absorb(c);
            Ok(IngestStatus::ConflictingDuplicate { replaced: true })
        } else {
            lead.keep_duplicate(event);
            Ok(IngestStatus::ConflictingDuplicate { replaced: false })
        }
    }

    /// A late event: inserted at its place and the log refolded from the
    /// checkpoint before it. Strict mode takes it out again when it is
    /// rejected there or rewrites what is recorded. Returns the change,
    /// the points it earned and its own rejection, if lenient.
    fn insert_late(
        &self,
        lead: &mut Lead,
        event: Event,
        mode: Mode,
    ) -> Result<(Change, i128, Option<EventError>), EventError> {
        let id = event.id.clone();
        let pos = lead.place(event);
        let (mut c, points) = self.refold_from(lead, pos, Some(pos));
        let own = c.take_own(&id);
        if mode.strict
            && let Some(err) = own.clone().or_else(|| self.rewrite_refusal(&id, &c))
        {
            lead.unplace(pos);
            self.refold_from(lead, pos, None);
            return Err(err);
        }
        Ok((c, points, own))
    }

    /// Why strict mode refuses a late event that was accepted at its
    /// place: it made a later event invalid, retracted a transition, or
    /// changed a win.
    fn rewrite_refusal(&self, id: &EventId, c: &Change) -> Option<EventError> {
        let kind = if let Some(later) = c.now_ignored.first() {
            EventErrorKind::ConflictsWithLater {
                later: later.event.clone(),
                problem: Box::new(later.kind.clone()),
            }
        } else if let Some(t) = c.retracted.first() {
            EventErrorKind::RewritesHistory {
                later: t.event.clone(),
                stage: self.lifecycle().name(t.to).to_owned(),
            }
        } else {
            let w = c.wins_retracted.first()?;
            EventErrorKind::ChangesWin {
                win: w.event.clone(),
                value: w.amount.to_string(),
            }
        };
        Some(EventError {
            event: id.clone(),
            kind,
        })
    }

    /// The body of `ingest_batch`, for events from the host (each checked
    /// here, and each must name the lead) or routed by a store (checked
    /// there; merged visitors' events name their visitor).
    pub(crate) fn insert_batch(
        &self,
        lead: &mut Lead,
        events: Vec<Event>,
        origin: Origin,
    ) -> Batch {
        let mut summary = Batch {
            stage_before: lead.state.stage.current(),
            stage_after: lead.state.stage.current(),
            ..Batch::default()
        };
        let mut change = self.adopt_change(lead).unwrap_or_default();
        let (mut new_events, repeats) = Self::split_batch(lead, events, origin, &mut summary);
        let (removed_from, removals) =
            Self::settle_repeats(lead, repeats, &mut new_events, &mut summary);
        crate::event::sort_events(&mut new_events);
        let in_order = removals.is_empty()
            && new_events.first().is_none_or(|first| {
                lead.events()
                    .last()
                    .is_none_or(|last| last.key() < first.key())
            });
        if in_order && lead.events().is_empty() {
            // A new lead: the batch becomes its log and is folded in place,
            // without moving each event again.
            let offered = new_events.len();
            lead.adopt_log(new_events);
            let (mut c, _) = self.refold_from(lead, 0, None);
            summary.ignored = std::mem::take(&mut c.now_ignored);
            summary.applied = offered.saturating_sub(summary.ignored.len());
            change.absorb(c);
        } else if in_order {
            let tail = tail_of(lead);
            for event in new_events {
                match self.append(lead, event, false, None) {
                    Ok(_) => summary.applied += 1,
                    Err(err) => summary.ignored.push(err),
                }
            }
            added_since(lead, tail, &mut change);
        } else if !new_events.is_empty() {
            let c = self.merge_batch(lead, new_events, removals, removed_from, &mut summary);
            change.absorb(c);
        }
        summary.stage_after = lead.state.stage.current();
        summary.transitions = change.added;
        summary.retracted = change.retracted;
        summary.now_ignored = change.now_ignored;
        summary.unignored = change.unignored;
        summary.wins_added = change.wins_added;
        summary.wins_retracted = change.wins_retracted;
        summary.refolded = change.refolded;
        summary
    }

    /// The batch's new events, and the copies of ids already in the log
    /// or earlier in the batch (set aside, settled together as the set
    /// decides; rare). The leading run of new events stays where it is (no
    /// move per event); the rest, if any, is sorted one by one. Refused
    /// events go to `summary.rejected`.
    fn split_batch(
        lead: &mut Lead,
        events: Vec<Event>,
        origin: Origin,
        summary: &mut Batch,
    ) -> (Vec<Event>, Vec<Event>) {
        let mut new_events = events;
        if origin == Origin::StoreFresh {
            lead.note_fresh(&new_events);
            return (new_events, Vec::new());
        }
        // Sized once for the batch: claiming grows no table step by step.
        lead.reserve_ids(new_events.len());
        let mut clean = 0;
        for event in &new_events {
            if Self::admit(lead, event, origin) != Admit::New {
                break;
            }
            clean += 1;
        }
        // The event that ended the run is judged again below: a repeat or a
        // refusal changed nothing, so the second verdict is the same.
        let rest = new_events.split_off(clean);
        let mut repeats: Vec<Event> = Vec::new();
        for event in rest {
            match Self::admit(lead, &event, origin) {
                Admit::New => new_events.push(event),
                Admit::Repeat => repeats.push(event),
                Admit::Rejected(kind) => summary.rejected.push(EventError {
                    event: event.id.clone(),
                    kind,
                }),
            }
        }
        (new_events, repeats)
    }

    /// Settles the copies of each repeated id (with the log's copy, if
    /// any): the smallest encoding wins and joins `new_events`; a log copy
    /// it replaces is listed for removal. Returns the first log position
    /// removed and the positions.
    fn settle_repeats(
        lead: &mut Lead,
        repeats: Vec<Event>,
        new_events: &mut Vec<Event>,
        summary: &mut Batch,
    ) -> (usize, Vec<usize>) {
        let mut removed_from = usize::MAX;
        let mut removals = Vec::new();
        if repeats.is_empty() {
            return (removed_from, removals);
        }
        let mut groups: IdMap<EventId, Vec<Event>> = IdMap::default();
        for e in repeats {
            groups.entry(e.id.clone()).or_default().push(e);
        }
        let (taken, kept_new): (Vec<Event>, Vec<Event>) = std::mem::take(new_events)
            .into_iter()
            .partition(|e| groups.contains_key(&e.id));
        *new_events = kept_new;
        for e in taken {
            groups.entry(e.id.clone()).or_default().push(e);
        }
        // The losing copies, kept together at the end.
        let mut lost = Vec::new();
        for (id, mut copies) in groups {
            let offered = copies.len();
            // `position` finds only copies in the log, not in the batch.
            let existing = lead.position(&id);
            let kept = existing.and_then(|p| lead.events().get(p)).cloned();
            let kept_code = kept.as_ref().map(canonical);
            if let Some(k) = kept {
                copies.push(k);
            }
            let Some((winner, losers)) = choose(copies) else {
                continue;
            };
            let distinct = 1 + losers.len();
            let known_before = kept_code.is_some();
            let win_code = canonical(&winner);
            lost.extend(losers);
            // Copies offered beyond the distinct new contents are plain
            // duplicates; distinct contents beyond one are conflicts.
            let new_distinct = distinct - usize::from(known_before);
            summary.duplicates += offered - new_distinct;
            summary.conflicting_duplicates += distinct - 1;
            match (existing, kept_code) {
                (Some(p), Some(code)) if code != win_code => {
                    removed_from = removed_from.min(p);
                    removals.push(p);
                    lead.reclaim(id, winner.at);
                    new_events.push(winner);
                }
                (Some(_), _) => {}
                (None, _) => {
                    lead.reclaim(id, winner.at);
                    new_events.push(winner);
                }
            }
        }
        lead.keep_duplicates(lost);
        (removed_from, removals)
    }

    /// Merges sorted new events into the log (after taking out the log
    /// copies they replace) and refolds from the first change; the batch's
    /// own rejections go to `summary`, the rest of the change is returned.
    fn merge_batch(
        &self,
        lead: &mut Lead,
        new_events: Vec<Event>,
        removals: Vec<usize>,
        removed_from: usize,
        summary: &mut Batch,
    ) -> Change {
        let new_ids: Vec<EventId> = new_events.iter().map(|e| e.id.clone()).collect();
        lead.retire(removals);
        let first = new_events
            .first()
            .map_or(usize::MAX, |f| {
                lead.events().partition_point(|e| e.key() < f.key())
            })
            .min(removed_from);
        lead.merge_in(new_events);
        let (mut c, _) = self.refold_from(lead, first, None);
        let own: std::collections::HashSet<&EventId> = new_ids.iter().collect();
        let (mine, others): (Vec<EventError>, Vec<EventError>) = c
            .now_ignored
            .into_iter()
            .partition(|e| own.contains(&e.event));
        c.now_ignored = others;
        summary.applied = new_ids.len().saturating_sub(mine.len());
        summary.ignored = mine;
        c
    }

    /// Folds one event that comes after the whole log and appends it. A
    /// rejected event is appended as ignored, unless `strict`: then neither
    /// the log nor the state changes. Returns the event's points.
    #[inline(always)]
    fn append(
        &self,
        lead: &mut Lead,
        event: Event,
        strict: bool,
        hash: Option<crate::hash::IdHash>,
    ) -> Result<i128, EventError> {
        // Appended first and folded in place: an event is 144 bytes, and
        // each move through the step costs a copy. A strict refusal takes
        // it back out (the step leaves the state untouched on error).
        let pos = lead.events().len();
        lead.push(event, hash);
        let (events, state, checkpoints) = lead.fold_parts();
        checkpoint_if_due(state, checkpoints, pos);
        let Some(event) = events.get(pos) else {
            return Ok(0);
        };
        // One event: a kind cache would be filled and dropped unread.
        match self.step(state, event, pos as u32, None) {
            Ok(points) => Ok(points),
            Err(kind) => {
                let err = EventError {
                    event: event.id.clone(),
                    kind,
                };
                if strict {
                    lead.unplace(pos);
                } else {
                    lead.state.ignored.push(err.clone());
                }
                Err(err)
            }
        }
    }

    /// Refolds the log from position `pos` on: rewinds the state to the
    /// nearest checkpoint at or before `pos` and folds the rest of the log.
    /// Returns the change against the state before, and the points of the
    /// event at `track`.
    pub(crate) fn refold_from(
        &self,
        lead: &mut Lead,
        pos: usize,
        track: Option<usize>,
    ) -> (Change, i128) {
        let (start, rewound) = self.rewind(lead, pos);
        let hist_from = lead.state.stage.history().len();
        let ign_from = lead.state.ignored.len();
        let win_from = lead.state.wins.len();
        let points = self.fold_log(lead, start, track);
        let change = diff(
            rewound,
            lead.state.stage.history().get(hist_from..).unwrap_or(&[]),
            lead.state.ignored.get(ign_from..).unwrap_or(&[]),
            lead.state.wins.get(win_from..).unwrap_or(&[]),
        );
        (change, points)
    }

    /// Folds the whole log into the lead's state, which the caller has
    /// just made fresh (a replay's new lead, an adoption), for callers
    /// that need the folded lead and not the change: no rewind, no copy
    /// of the history.
    fn fold_all(&self, lead: &mut Lead) {
        self.fold_log(lead, 0, None);
    }

    /// Rewinds the state to the nearest checkpoint at or before `pos` (the
    /// fresh state when there is none); returns where folding resumes and
    /// what the rewind took off.
    fn rewind(&self, lead: &mut Lead, pos: usize) -> (usize, Rewound) {
        match lead.checkpoint_at_or_before(pos).cloned() {
            Some(cp) => (cp.pos, lead.state.rewind(&cp)),
            None => {
                let zero = self.fresh(0).checkpoint(0);
                (0, lead.state.rewind(&zero))
            }
        }
    }

    /// Folds the log from position `start` on into the state, recording
    /// rejected events as ignored; returns the points of the event at
    /// `track`.
    fn fold_log(&self, lead: &mut Lead, start: usize, track: Option<usize>) -> i128 {
        if start == 0 && !self.inner.scoring.rules.is_empty() {
            lead.state.score.reserve(lead.events().len());
        }
        let mut points = 0;
        let (events, state, checkpoints) = lead.fold_parts();
        // The log is borrowed for the whole pass: its kinds' addresses
        // stay theirs.
        let mut kinds = KindCache::default();
        for (i, event) in events.iter().enumerate().skip(start) {
            checkpoint_if_due(state, checkpoints, i);
            match self.step(state, event, i as u32, Some(&mut kinds)) {
                Ok(p) => {
                    if track == Some(i) {
                        points = p;
                    }
                }
                Err(kind) => {
                    let err = EventError {
                        event: event.id.clone(),
                        kind,
                    };
                    state.ignored.push(err);
                }
            }
        }
        points
    }

    /// The lead's SLA status at `now`: the SLA of the stage it was in at
    /// `now`, if that stage has one. Only history at or before `now` counts.
    /// `None` also when the deadline would fall after the last date chrono
    /// holds (the year 262 142).
    pub fn sla(&self, lead: &Lead, now: Timestamp) -> Option<SlaStatus> {
        self.view(lead).state.stage.sla(self.lifecycle(), now)
    }

    /// The stage the lead was in at `at` (`None` before its first event).
    pub fn stage_at(&self, lead: &Lead, at: Timestamp) -> Option<StageId> {
        self.view(lead).state.stage.stage_at(at)
    }

    /// The score at `at`: the total of the score card (decay and caps
    /// applied; events after `at` not counted), exact — the very value
    /// qualification compares at an event at `at`.
    pub fn score(&self, lead: &Lead, at: Timestamp) -> Decimal {
        let lead = self.view(lead);
        crate::points::decimal(lead.state.score.total_at(&self.inner.scoring, at))
    }

    /// Every contribution to the score at `at`, per group, after decay and
    /// caps; its totals are the score. Only events at or before `at` count:
    /// the card is the one of the lead replayed from those events.
    pub fn score_card(&self, lead: &Lead, at: Timestamp) -> ScoreCard {
        let lead = self.view(lead);
        lead.state
            .score
            .card(&self.inner.scoring, lead.events(), at)
    }

    /// The lead's grade and which criteria matched, did not, or were unknown.
    pub fn grade_card(&self, lead: &Lead) -> GradeCard {
        let lead = self.view(lead);
        self.inner
            .grading
            .card(&lead.state.attrs, &lead.state.verdicts)
    }

    /// The grade the engine's profile gives a set of attributes.
    pub(crate) fn grade_of(&self, attrs: &crate::attr::Attrs) -> Option<Grade> {
        self.inner.grading.grade(attrs)
    }

    /// The fit grade at `at` (see [`Lead::grade_at`]).
    pub fn grade_at(&self, lead: &Lead, at: Timestamp) -> Option<Grade> {
        self.view(lead).grade_at(at)
    }

    /// The fit × engagement cell (`A1` … `D4`) at `at`, once the lead is
    /// graded at `at`. Engagement is the total score, or the matrix's group.
    pub fn priority(&self, lead: &Lead, at: Timestamp) -> Option<Priority> {
        let lead = self.view(lead);
        let grade = lead.grade_at(at)?;
        let model = &self.inner.scoring;
        let score = &lead.state.score;
        let engagement = match (
            &self.inner.grading.engagement,
            &self.inner.grading.matrix_group,
        ) {
            (Engagement::Probability, _) => {
                let p = self.probability(&lead, at)?;
                return Some(self.inner.grading.priority_by_probability(grade, p));
            }
            (_, Some(g)) => model
                .group_index(g)
                .map_or(0, |g| score.group_at(model, g, at)),
            (_, None) => score.total_at(model, at),
        };
        Some(self.inner.grading.priority(grade, engagement))
    }

    /// The predictive model's probability for the lead at `at` (its
    /// profile and activity counts then), `None` without a model.
    pub fn probability(&self, lead: &Lead, at: Timestamp) -> Option<f64> {
        let (predictive, record) = self.predictive_record(lead, at)?;
        Some(predictive.model.probability(&record))
    }

    /// The probability at `at` and the factors behind it, `None` without a
    /// model.
    pub fn explain_probability(&self, lead: &Lead, at: Timestamp) -> Option<Explanation> {
        let (predictive, record) = self.predictive_record(lead, at)?;
        Some(predictive.model.explain(&record))
    }

    /// The model and the lead's features at `at`, read from the lead as
    /// this engine folds it.
    fn predictive_record(
        &self,
        lead: &Lead,
        at: Timestamp,
    ) -> Option<(&PredictiveConfig, crate::attr::Attrs)> {
        let predictive = self.inner.config.predictive.as_ref()?;
        let lead = self.view(lead);
        Some((predictive, predictive.features.record(&lead, at)))
    }

    /// The lead's priority tier at `at`, 1 (most likely quarter) to 4, by
    /// the model's tiers; `None` without a model or tiers.
    pub fn tier(&self, lead: &Lead, at: Timestamp) -> Option<u8> {
        let tiers = self.inner.config.predictive.as_ref()?.tiers?;
        Some(tiers.tier(self.probability(lead, at)?))
    }

    /// One fold step over every part of the state; returns the raw points
    /// the event added. On error nothing changed.
    /// The qualification rules at run time.
    fn rules(&self) -> Runtime<'_> {
        Runtime {
            rules: &self.inner.qualifiers,
            scoring: &self.inner.scoring,
            predictive: self.inner.config.predictive.as_ref(),
            lifecycle: &self.inner.lifecycle,
            quiet: &self.inner.quiet,
            rearms: self.inner.rearms,
        }
    }

    fn step<'m>(
        &'m self,
        st: &mut Folded,
        event: &Event,
        index: u32,
        mut kinds: Option<&mut KindCache<'m>>,
    ) -> Result<i128, EventErrorKind> {
        if let Some(points) = self.quiet_activity(st, event, index, &mut kinds) {
            return Ok(points);
        }
        // Validate what can fail before anything mutates.
        let adjustment = self.check_adjustment(event)?;
        if let EventBody::Verdict { criterion, .. } = &event.body
            && !self.inner.grading.has_criterion(criterion)
        {
            return Err(EventErrorKind::UnknownCriterion {
                criterion: criterion.clone(),
            });
        }
        if let EventBody::Deal { amount } = &event.body {
            crate::event::check_deal(*amount)?;
        }
        let qualifiers = &self.inner.qualifiers;
        let started = !st.stage.history().is_empty();
        let stage_before = st.stage.current();
        let moves_before = st.stage.history().len();
        st.stage.step(self.lifecycle(), event)?;
        match &event.body {
            EventBody::Recycled { .. } => st.deal = None,
            EventBody::Deal { amount } => st.deal = Some(*amount),
            _ => {}
        }
        // Which rules held just before the event, at its time: a rule fires
        // only when its condition goes from false to true at an event.
        // A stage move (advanced, recycled, regressed) sets a new baseline
        // and never fires a rule itself: a person's move is not undone on
        // the spot by a rule whose condition the move made true.
        let moves = matches!(
            event.body,
            EventBody::Advanced { .. } | EventBody::Recycled { .. } | EventBody::Regressed { .. }
        );
        // Held inline for the usual handful of rules: no allocation per event.
        let mut inline = [false; INLINE_RULES];
        let mut spilled = Vec::new();
        let before: &mut [bool] = if qualifiers.len() <= inline.len() {
            inline.get_mut(..qualifiers.len()).unwrap_or(&mut [])
        } else {
            spilled.resize(qualifiers.len(), false);
            &mut spilled
        };
        // In a stage where no rule can hold, every condition is false:
        // nothing to evaluate.
        if started && !moves && !self.rules().quiet(stage_before) {
            self.rules().conditions(st, stage_before, event.at, before);
        }
        if !qualifiers.is_empty() {
            self.rules().rearm(st, event.at);
        }
        let mut points = self.apply_body(st, event, index, kinds);
        if let Some((group, change)) = adjustment {
            points = st
                .score
                .adjust(&self.inner.scoring, index, event.at, group, change);
        }
        if !qualifiers.is_empty() && !moves {
            self.rules().fire(st, event, before);
        }
        self.record_wins(st, moves_before);
        Ok(points)
    }

    /// The short cut of [`step`](Self::step) for most of a busy lead's
    /// events: an activity of a started lead in a stage where no
    /// qualification rule can hold. Nothing can fail, the stage machine has
    /// nothing to do, and (an activity moving no stage) the stage stays
    /// quiet, so no rule fires: the step is re-arming around the points.
    /// `None` for every other event, which takes the full step.
    fn quiet_activity<'m>(
        &'m self,
        st: &mut Folded,
        event: &Event,
        index: u32,
        kinds: &mut Option<&mut KindCache<'m>>,
    ) -> Option<i128> {
        let rules = self.rules();
        if !matches!(event.body, EventBody::Activity { .. })
            || st.stage.history().is_empty()
            || !rules.quiet(st.stage.current())
        {
            return None;
        }
        rules.rearm(st, event.at);
        let points = self.apply_body(st, event, index, kinds.as_deref_mut());
        rules.rearm(st, event.at);
        Some(points)
    }

    /// A score adjustment's group and change, checked; `None` for other
    /// events.
    fn check_adjustment(
        &self,
        event: &Event,
    ) -> Result<Option<(Option<u16>, crate::event::Change)>, EventErrorKind> {
        let EventBody::ScoreAdjusted { group, change, .. } = &event.body else {
            return Ok(None);
        };
        let checked = change.change().map_err(|problem| {
            let value = match change {
                Adjustment::Add(n) | Adjustment::Subtract(n) | Adjustment::Set(n) => n.to_string(),
                Adjustment::Reset => String::new(),
            };
            let max = match problem {
                PointsProblem::TooPrecise => {
                    format!("at most {} decimal places", crate::points::POINTS_DECIMALS)
                }
                PointsProblem::TooLarge => {
                    format!("at most {} in magnitude", crate::points::MAX_POINTS)
                }
            };
            EventErrorKind::OutOfRange {
                what: "the adjustment".into(),
                value,
                max,
            }
        })?;
        let g = match group {
            None => None,
            Some(name) => Some(self.inner.scoring.group_index(name).ok_or_else(|| {
                EventErrorKind::UnknownGroup {
                    group: name.clone(),
                }
            })?),
        };
        Ok(Some((g, checked)))
    }

    /// The event's effects on scoring, profile, verdicts and the counts the
    /// predictive model reads; returns the points an activity earned.
    fn apply_body<'m>(
        &'m self,
        st: &mut Folded,
        event: &Event,
        index: u32,
        kinds: Option<&mut KindCache<'m>>,
    ) -> i128 {
        match &event.body {
            EventBody::Activity {
                kind,
                channel,
                campaign,
                attrs,
            } => {
                if let Some(predictive) = &self.inner.config.predictive
                    && let Some(i) = predictive
                        .features
                        .activity_counts
                        .iter()
                        .position(|k| k == kind)
                    && let Some(n) = st.activity.get_mut(i)
                {
                    *n = n.saturating_add(1);
                }
                let activity = crate::scoring::ActivityRef {
                    kind,
                    channel: channel.as_deref(),
                    campaign: campaign.as_deref(),
                    attrs,
                };
                st.score
                    .activity(&self.inner.scoring, index, event.at, &activity, kinds)
                    .unwrap_or(0)
            }
            EventBody::Verdict {
                criterion, verdict, ..
            } => {
                match verdict {
                    Some(v) => st.verdicts.insert(criterion.clone(), *v),
                    None => st.verdicts.remove(criterion),
                };
                self.regrade(st, event.at);
                0
            }
            EventBody::Attributes { set, unset } => {
                for (k, v) in set {
                    st.attrs.insert(k.clone(), v.clone());
                }
                for k in unset {
                    st.attrs.remove(k);
                }
                self.regrade(st, event.at);
                0
            }
            _ => 0,
        }
    }

    /// Grades the lead's attributes and verdicts again; a change of grade
    /// is recorded at `at`.
    fn regrade(&self, st: &mut Folded, at: Timestamp) {
        let grade = self.inner.grading.grade_with(&st.attrs, &st.verdicts);
        if grade != st.grade {
            st.grade = grade;
            st.grades.push(GradeChange { at, grade });
        }
    }

    /// Records a win for every move into a won stage since history
    /// position `from`, valued at the open deal's amount.
    fn record_wins(&self, st: &mut Folded, from: usize) {
        let lc = self.lifecycle();
        let amount = st.deal.unwrap_or_default();
        for t in st.stage.history().get(from..).unwrap_or(&[]) {
            if lc.kind(t.to) == crate::lifecycle::StageKind::Won {
                st.wins.push(crate::lead::Win {
                    event: t.event.clone(),
                    at: t.at,
                    cycle: t.cycle,
                    stage: t.to,
                    amount,
                });
            }
        }
    }
}

/// Pushes the checkpoint for log position `pos` when one is due there.
fn checkpoint_if_due(state: &Folded, checkpoints: &mut Vec<crate::lead::Checkpoint>, pos: usize) {
    if pos > 0
        && pos.is_multiple_of(CHECKPOINT_EVERY)
        && checkpoints.last().is_none_or(|c| c.pos < pos)
    {
        checkpoints.push(state.checkpoint(pos));
    }
}

/// Where the lead's append-only history and wins end now.
fn tail_of(lead: &Lead) -> (usize, usize) {
    (lead.state.stage.history().len(), lead.state.wins.len())
}

/// Adds to `change` the transitions and wins recorded since `tail`.
fn added_since(lead: &Lead, tail: (usize, usize), change: &mut Change) {
    let history = lead.state.stage.history();
    change
        .added
        .extend_from_slice(history.get(tail.0..).unwrap_or(&[]));
    change
        .wins_added
        .extend_from_slice(lead.state.wins.get(tail.1..).unwrap_or(&[]));
}

/// The change between what a rewind took off and what the refold put back.
fn diff(old: Rewound, history: &[Transition], ignored: &[EventError], wins: &[Win]) -> Change {
    let (added, retracted) = multiset_diff(&old.history, history);
    let (now_ignored, no_longer) = multiset_diff(&old.ignored, ignored);
    let (wins_added, wins_retracted) = multiset_diff(&old.wins, wins);
    Change {
        added,
        retracted,
        now_ignored,
        unignored: no_longer
            .into_iter()
            .filter(|e| !ignored.iter().any(|n| n.event == e.event))
            .map(|e| e.event)
            .collect(),
        wins_added,
        wins_retracted,
        refolded: true,
    }
}

/// `(in new but not old, in old but not new)`, counting repeats, after the
/// common prefix.
pub(crate) fn multiset_diff<T: Clone + Eq + std::hash::Hash>(
    old: &[T],
    new: &[T],
) -> (Vec<T>, Vec<T>) {
    let same = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old, new) = (
        old.get(same..).unwrap_or(&[]),
        new.get(same..).unwrap_or(&[]),
    );
    if old.is_empty() || new.is_empty() {
        return (new.to_vec(), old.to_vec());
    }
    if old.len() * new.len() <= PAIRWISE_DIFF_MAX {
        // Short suffixes (the common case): match pairwise, no hashing.
        let mut used = vec![false; old.len()];
        let mut added = Vec::new();
        for t in new {
            let free = old
                .iter()
                .zip(used.iter_mut())
                .find(|(o, u)| !**u && *o == t);
            match free {
                Some((_, u)) => *u = true,
                None => added.push(t.clone()),
            }
        }
        let retracted = old
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(t, _)| t.clone())
            .collect();
        return (added, retracted);
    }
    let mut count: crate::hash::TextMap<&T, isize> = Default::default();
    for t in old {
        *count.entry(t).or_default() += 1;
    }
    let mut added = Vec::new();
    for t in new {
        match count.get_mut(t) {
            Some(c) if *c > 0 => *c -= 1,
            _ => added.push(t.clone()),
        }
    }
    let mut retracted = Vec::new();
    for t in old {
        if let Some(c) = count.get_mut(t)
            && *c > 0
        {
            *c -= 1;
            retracted.push(t.clone());
        }
    }
    (added, retracted)
}

/// What ingesting a batch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Batch {
    /// New events that took effect.
    pub applied: usize,
    /// Events whose id and content the lead already had (or that repeated
    /// within the batch).
    pub duplicates: usize,
    /// Distinct copies of an id beyond the one kept (same id, different
    /// content); listed in [`Lead::conflicting_duplicates`].
    pub conflicting_duplicates: usize,
    /// New events kept in the log but rejected at their place.
    pub ignored: Vec<EventError>,
    /// Events malformed on their own, not added.
    pub rejected: Vec<EventError>,
    /// The lead's stage before the batch.
    pub stage_before: StageId,
    /// The lead's stage after the batch.
    pub stage_after: StageId,
    /// Transitions added to the history.
    pub transitions: Vec<Transition>,
    /// Transitions that were in the history and no longer are.
    pub retracted: Vec<Transition>,
    /// Events already in the log that the fold now rejects.
    pub now_ignored: Vec<EventError>,
    /// Events already in the log that were rejected and now take effect.
    pub unignored: Vec<EventId>,
    /// Wins recorded by the batch (new, or with a changed value).
    pub wins_added: Vec<Win>,
    /// Wins that were recorded and no longer are (as they were).
    pub wins_retracted: Vec<Win>,
    /// Whether part of the log was refolded.
    pub refolded: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            applied: 0,
            duplicates: 0,
            conflicting_duplicates: 0,
            ignored: Vec::new(),
            rejected: Vec::new(),
            stage_before: StageId::FIRST,
            stage_after: StageId::FIRST,
            transitions: Vec::new(),
            retracted: Vec::new(),
            now_ignored: Vec::new(),
            unignored: Vec::new(),
            wins_added: Vec::new(),
            wins_retracted: Vec::new(),
            refolded: false,
        }
    }
}

/// Which of an event's ids is empty or only whitespace, if one is: the
/// one rule the engine and the NDJSON reader apply.
pub(crate) fn blank_id(event: &Event) -> Option<&'static str> {
    // An id that starts with a visible ASCII character is not blank: the
    // common case, decided without scanning the id.
    let blank = |id: &str| match id.as_bytes().first() {
        Some(b) if b.is_ascii_graphic() => false,
        _ => id.trim().is_empty(),
    };
    if blank(event.id.as_str()) {
        Some("event id")
    } else if blank(event.lead.as_str()) {
        Some("lead id")
    } else if let EventBody::Identified { visitor } = &event.body
        && blank(visitor.as_str())
    {
        Some("visitor id")
    } else {
        None
    }
}
