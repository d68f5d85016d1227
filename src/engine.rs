//! The host's entry point: a config compiled into an immutable [`Engine`]
//! that folds events into leads.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attr::compile_lists;
use crate::error::{ConfigError, ConfigErrorKind, EventError, EventErrorKind};
use crate::event::{Event, EventBody};
use crate::grading::{Grade, GradeCard, GradingConfig, Priority, Profile};
use crate::lead::{Folded, Lead};
use crate::lifecycle::{Lifecycle, LifecycleConfig, SlaStatus, StageState, Transition};
use crate::qualify::{Arm, QualificationConfig, Qualifier, Rearm, ScoreSource};
use crate::scoring::{Adjustment, Model, ScoreCard, ScoreState, ScoringConfig};
use crate::types::{EventId, LeadId, Timestamp};

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
    scoring: Model,
    grading: Profile,
    qualifiers: Vec<Qualifier>,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outcome {
    /// Whether the event was applied, a duplicate, or rejected.
    pub status: IngestStatus,
    /// The stage moves this event caused (its own, and qualification rules
    /// it set off).
    pub transitions: Vec<Transition>,
    /// The raw points the event added to the score (before decay and caps;
    /// for a `set` or `reset`, the change it made).
    pub points: f64,
    /// The grade before the event.
    pub grade_before: Option<Grade>,
    /// The grade after the event.
    pub grade_after: Option<Grade>,
    /// Whether the event arrived late (before events already in the log)
    /// and the lead was refolded from its log.
    pub refolded: bool,
}

impl Outcome {
    fn unchanged(status: IngestStatus, grade: Option<Grade>, refolded: bool) -> Self {
        Self {
            status,
            transitions: Vec::new(),
            points: 0.0,
            grade_before: grade,
            grade_after: grade,
            refolded,
        }
    }
}

/// Whether an event took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
        let lists = compile_lists(&config.lists);
        let scoring = Model::compile(&config.scoring, &lists)?;
        let groups = scoring.group_names();
        let grading = Profile::compile(&config.grading, &lists, &groups)?;
        let qualifiers =
            Qualifier::compile_all(&config.qualification, &lifecycle, &groups, &lists)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                lifecycle,
                scoring,
                grading,
                qualifiers,
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

    /// A lead with no events, in the initial stage.
    pub fn new_lead(&self, id: impl Into<LeadId>) -> Lead {
        Lead {
            id: id.into(),
            events: Vec::new(),
            by_id: Vec::new(),
            state: self.fresh(0),
        }
    }

    fn fresh(&self, events: usize) -> Folded {
        Folded {
            // Most events of a busy lead are not stage moves: cap the guess.
            stage: StageState::with_capacity(self.lifecycle(), events.min(16)),
            score: ScoreState::new(&self.inner.scoring),
            attrs: BTreeMap::new(),
            grade: None,
            arms: vec![Arm::default(); self.inner.qualifiers.len()],
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
            .unwrap_or_else(|err| Outcome::unchanged(IngestStatus::Ignored(err), None, false))
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
        let grade_before = lead.state.grade;
        let Err(slot) = lead.id_slot(&event.id) else {
            return Ok(Outcome::unchanged(
                IngestStatus::Duplicate,
                grade_before,
                false,
            ));
        };
        let late = lead
            .events
            .last()
            .is_some_and(|last| last.key() > event.key());
        if !late {
            // In order: one fold step; it leaves the state untouched on error.
            let first_new = lead.state.stage.history().len();
            let index = lead.events.len() as u32;
            let (status, points) = match self.step(&mut lead.state, &event, index) {
                Ok(points) => (IngestStatus::Applied, points),
                Err(kind) => {
                    let err = EventError {
                        event: event.id.clone(),
                        kind,
                    };
                    if strict {
                        return Err(err);
                    }
                    lead.state.ignored.push(err.clone());
                    (IngestStatus::Ignored(err), 0.0)
                }
            };
            let transitions = lead
                .state
                .stage
                .history()
                .get(first_new..)
                .unwrap_or(&[])
                .to_vec();
            lead.record_id(slot, index);
            lead.events.push(event);
            return Ok(Outcome {
                status,
                transitions,
                points,
                grade_before,
                grade_after: lead.state.grade,
                refolded: false,
            });
        }
        // Late: insert at its place and refold; strict mode restores the
        // lead if the event turns out rejected there or invalidates another.
        let before = strict.then(|| lead.clone());
        let id = event.id.clone();
        let pos = lead.events.partition_point(|e| e.key() < event.key());
        lead.events.insert(pos, event);
        lead.shift_ids_from(pos);
        lead.record_id(slot, pos as u32);
        self.refold(lead);
        if let Some(err) = lead.state.ignored.iter().find(|e| e.event == id).cloned() {
            if let Some(before) = before {
                *lead = before;
                return Err(err);
            }
            return Ok(Outcome::unchanged(
                IngestStatus::Ignored(err),
                grade_before,
                true,
            ));
        }
        if let Some(before) = before {
            let newly = lead
                .state
                .ignored
                .iter()
                .find(|e| !before.state.ignored.iter().any(|b| b.event == e.event))
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
            .state
            .stage
            .history()
            .iter()
            .filter(|t| t.event == id)
            .cloned()
            .collect();
        Ok(Outcome {
            status: IngestStatus::Applied,
            transitions,
            points: lead.state.score.points_of(pos as u32),
            grade_before,
            grade_after: lead.state.grade,
            refolded: true,
        })
    }

    /// Adds a batch of events to a lead leniently, as [`Engine::ingest`]
    /// would one by one, but refolds at most once: when every new event
    /// comes after the log, they are applied in `(at, id)` order; otherwise
    /// the log is merged and the lead refolded.
    pub fn ingest_batch(&self, lead: &mut Lead, events: impl IntoIterator<Item = Event>) -> Batch {
        let mut batch: Vec<Event> = events.into_iter().collect();
        batch.sort_by(|a, b| a.key().cmp(&b.key()));
        let last = lead.events.last().map(|e| (e.at, e.id.clone()));
        let in_order = batch.first().is_none_or(|first| {
            last.as_ref()
                .is_none_or(|(at, id)| (first.at, &first.id) > (*at, id))
        });
        let mut summary = Batch::default();
        if in_order {
            for event in batch {
                let out = self.ingest(lead, event);
                summary.add(out);
            }
            return summary;
        }
        let before = lead.events.len();
        let offered = batch.len();
        let new_ids: HashSet<EventId> = batch
            .iter()
            .filter(|e| !lead.contains(&e.id))
            .map(|e| e.id.clone())
            .collect();
        let mut all = std::mem::take(&mut lead.events);
        all.extend(batch);
        lead.set_log(all);
        self.refold(lead);
        let added = lead.events.len().saturating_sub(before);
        summary.refolded = true;
        summary.duplicates = offered.saturating_sub(added);
        summary.ignored = lead
            .state
            .ignored
            .iter()
            .filter(|e| new_ids.contains(&e.event))
            .cloned()
            .collect();
        summary.applied = added.saturating_sub(summary.ignored.len());
        let ids = new_ids;
        summary.transitions = lead
            .state
            .stage
            .history()
            .iter()
            .filter(|t| ids.contains(&t.event))
            .cloned()
            .collect();
        summary
    }

    /// The lead's SLA status at `now`, if its current stage has an SLA.
    pub fn sla(&self, lead: &Lead, now: Timestamp) -> Option<SlaStatus> {
        lead.state.stage.sla(self.lifecycle(), now)
    }

    /// The score at `at`: the total of the score card, in closed form
    /// (decay and caps applied; contributions after `at` not counted).
    pub fn score(&self, lead: &Lead, at: Timestamp) -> f64 {
        self.score_card(lead, at).total
    }

    /// Every contribution to the score at `at`, per group, after decay and
    /// caps; its totals are the score.
    pub fn score_card(&self, lead: &Lead, at: Timestamp) -> ScoreCard {
        lead.state.score.card(&self.inner.scoring, &lead.events, at)
    }

    /// The lead's grade and which criteria matched, did not, or were unknown.
    pub fn grade_card(&self, lead: &Lead) -> GradeCard {
        self.inner.grading.card(&lead.state.attrs)
    }

    /// The fit × engagement cell (`A1` … `D4`) at `at`, once the lead is
    /// graded. Engagement is the total score, or the matrix's group.
    pub fn priority(&self, lead: &Lead, at: Timestamp) -> Option<Priority> {
        let grade = lead.state.grade?;
        let card = self.score_card(lead, at);
        let engagement = match &self.inner.grading.matrix_group {
            Some(g) => card.group(g).unwrap_or(0.0),
            None => card.total,
        };
        Some(self.inner.grading.priority(grade, engagement))
    }

    /// Refolds the lead's derived state from its log.
    pub(crate) fn refold(&self, lead: &mut Lead) {
        lead.state = self.fresh(lead.events.len());
        if !self.inner.scoring.rules.is_empty() {
            lead.state.score.reserve(lead.events.len());
        }
        for (i, event) in lead.events.iter().enumerate() {
            if let Err(kind) = self.step(&mut lead.state, event, i as u32) {
                lead.state.ignored.push(EventError {
                    event: event.id.clone(),
                    kind,
                });
            }
        }
    }

    /// One fold step over every part of the state; returns the raw points
    /// the event added. On error nothing changed.
    fn step(&self, st: &mut Folded, event: &Event, index: u32) -> Result<f64, EventErrorKind> {
        let model = &self.inner.scoring;
        // Validate what can fail before anything mutates.
        let adjustment = match &event.body {
            EventBody::ScoreAdjusted { group, change, .. } => {
                let n = match change {
                    Adjustment::Add(n) | Adjustment::Subtract(n) | Adjustment::Set(n) => *n,
                    Adjustment::Reset => 0.0,
                };
                if !n.is_finite() {
                    return Err(EventErrorKind::NotFinite {
                        what: "the adjustment".into(),
                    });
                }
                let g = match group {
                    None => None,
                    Some(name) => Some(model.group_index(name).ok_or_else(|| {
                        EventErrorKind::UnknownGroup {
                            group: name.clone(),
                        }
                    })?),
                };
                Some((g, *change))
            }
            _ => None,
        };
        st.stage.step(self.lifecycle(), event)?;
        let qualifiers = &self.inner.qualifiers;
        if !qualifiers.is_empty() {
            self.rearm(st, event.at);
        }
        // Only score and profile changes set off qualification: a stage move
        // alone (a recycle, say) never re-qualifies a lead on the spot.
        let mut changed = false;
        let mut points = 0.0;
        match &event.body {
            EventBody::Activity {
                kind,
                channel,
                campaign,
                attrs,
            } => {
                if let Some(p) = st.score.activity(
                    model,
                    index,
                    event.at,
                    kind,
                    channel.as_deref(),
                    campaign.as_deref(),
                    attrs,
                ) {
                    points = p;
                    changed = true;
                }
            }
            EventBody::Attributes { set, unset } => {
                for (k, v) in set {
                    st.attrs.insert(k.clone(), v.clone());
                }
                for k in unset {
                    st.attrs.remove(k);
                }
                st.grade = self.inner.grading.grade(&st.attrs);
                changed = true;
            }
            _ => {}
        }
        if let Some((group, change)) = adjustment {
            points = st.score.adjust(model, index, event.at, group, change);
            changed = true;
        }
        if changed && !qualifiers.is_empty() {
            self.qualify(st, event);
        }
        Ok(points)
    }

    /// The score a qualification clause reads, at event time.
    fn clause_score(&self, st: &mut Folded, source: ScoreSource, at: Timestamp) -> f64 {
        let model = &self.inner.scoring;
        match source {
            ScoreSource::Total => st.score.total_now(model, at),
            ScoreSource::Group(g) => st.score.group_now(model, g, at),
        }
    }

    /// Re-arms disarmed rules whose re-arm condition holds now.
    fn rearm(&self, st: &mut Folded, at: Timestamp) {
        for (i, q) in self.inner.qualifiers.iter().enumerate() {
            let Some(arm) = st.arms.get(i).copied() else {
                continue;
            };
            if arm.armed {
                continue;
            }
            let rearm = match q.rearm {
                Rearm::Never => false,
                Rearm::NewCycle => st.stage.cycle() > arm.fired_cycle,
                Rearm::Hysteresis(h) => match q.score {
                    Some((source, min)) => self.clause_score(st, source, at) < min - h,
                    None => !q.holds_besides_score(st.grade, st.stage.current(), &st.attrs),
                },
            };
            if rearm && let Some(a) = st.arms.get_mut(i) {
                a.armed = true;
            }
        }
    }

    /// Fires armed rules whose condition holds now.
    fn qualify(&self, st: &mut Folded, event: &Event) {
        self.rearm(st, event.at);
        for (i, q) in self.inner.qualifiers.iter().enumerate() {
            if !st.arms.get(i).is_some_and(|a| a.armed) {
                continue;
            }
            if !q.holds_besides_score(st.grade, st.stage.current(), &st.attrs) {
                continue;
            }
            if let Some((source, min)) = q.score
                && self.clause_score(st, source, event.at) < min
            {
                continue;
            }
            let cycle = st.stage.cycle();
            if let Some(a) = st.arms.get_mut(i) {
                a.armed = false;
                a.fired_cycle = cycle;
            }
            st.stage.fire(self.lifecycle(), event, q.then, &q.id);
        }
    }
}

/// What ingesting a batch did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Batch {
    /// Events that took effect.
    pub applied: usize,
    /// Events whose id the lead already had (or that repeated within the
    /// batch).
    pub duplicates: usize,
    /// Events kept in the log but rejected at their place.
    pub ignored: Vec<EventError>,
    /// Stage moves the batch caused.
    pub transitions: Vec<Transition>,
    /// Whether the lead was refolded from its log.
    pub refolded: bool,
}

impl Batch {
    fn add(&mut self, out: Outcome) {
        match out.status {
            IngestStatus::Applied => self.applied += 1,
            IngestStatus::Duplicate => self.duplicates += 1,
            IngestStatus::Ignored(e) => self.ignored.push(e),
        }
        self.transitions.extend(out.transitions);
    }
}
