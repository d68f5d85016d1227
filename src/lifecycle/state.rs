//! A lead's lifecycle state and the fold step that advances it.

use serde::{Deserialize, Serialize};

use super::{Lifecycle, Milestone, StageId, StageKind};
use crate::error::EventErrorKind;
use crate::event::{Event, EventBody};
use crate::types::{Actor, EventId, LeadId, Reason, Source, Timestamp};

/// How a transition came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// The lead's first stage: the initial stage on its first event, or the
    /// stage it was created at.
    Entered,
    /// An ordinary forward move.
    Advanced,
    /// Sent to the recycled stage; the transition's cycle is the new one.
    Recycled,
    /// Moved down within the same cycle.
    Regressed,
}

crate::types::display_by_serde_name!(TransitionKind);

/// One recorded stage move.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transition {
    /// The event that caused it.
    pub event: EventId,
    /// When it happened.
    pub at: Timestamp,
    /// How it came about.
    pub kind: TransitionKind,
    /// The stage left (`None` for the first entry).
    pub from: Option<StageId>,
    /// The stage entered.
    pub to: StageId,
    /// Who moved the lead.
    pub actor: Actor,
    /// Why, when a reason was given or required.
    pub reason: Option<Reason>,
    /// On-path stages jumped over, recorded as skipped, never as entered.
    pub skipped: Vec<StageId>,
    /// The cycle the lead is in after the move (a recycle starts a new one).
    pub cycle: u32,
}

/// A visitor merged into the lead on identification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The visitor's id.
    pub visitor: LeadId,
    /// When the identification happened.
    pub at: Timestamp,
    /// The identifying event.
    pub event: EventId,
}

/// Where a lead is in its lifecycle, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    current: StageId,
    furthest: StageId,
    cycle: u32,
    entered_at: Option<Timestamp>,
    source: Option<Source>,
    created_at: Option<Timestamp>,
    history: Vec<Transition>,
    merges: Vec<Merge>,
}

/// The small part of a [`StageState`] and the lengths of its append-only
/// lists: enough to rewind the state to an earlier point of the fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageMark {
    current: StageId,
    furthest: StageId,
    cycle: u32,
    entered_at: Option<Timestamp>,
    source: Option<Source>,
    created_at: Option<Timestamp>,
    history: usize,
    merges: usize,
}

impl StageState {
    /// A fresh state with room for `n` transitions.
    pub(crate) fn with_capacity(lifecycle: &Lifecycle, n: usize) -> Self {
        let initial = lifecycle.initial();
        Self {
            current: initial,
            furthest: initial,
            cycle: 1,
            entered_at: None,
            source: None,
            created_at: None,
            history: Vec::with_capacity(n),
            merges: Vec::new(),
        }
    }

    /// The stage the lead is in.
    pub fn current(&self) -> StageId {
        self.current
    }
    /// The highest-ranked path or won stage the lead ever reached (its
    /// high-water mark). Lost, disqualified and recycled stages never count:
    /// a lead disqualified from MQL got no further than MQL.
    pub fn furthest(&self) -> StageId {
        self.furthest
    }
    /// The cycle number, from 1; each recycle starts a new cycle.
    pub fn cycle(&self) -> u32 {
        self.cycle
    }
    /// When the lead entered its current stage (`None` before any event).
    pub fn entered_at(&self) -> Option<Timestamp> {
        self.entered_at
    }
    /// Where the lead came from, once a `created` event said so.
    pub fn source(&self) -> Option<Source> {
        self.source
    }
    /// When the first accepted `created` event happened.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.created_at
    }
    /// Every stage move, oldest first (sorted by time).
    pub fn history(&self) -> &[Transition] {
        &self.history
    }
    /// Identifications this lead made (`identified` events in its log),
    /// oldest first. Which of them a [`LeadStore`](crate::LeadStore)
    /// accepted is the store's call: see
    /// [`LeadStore::identity_conflicts`](crate::LeadStore::identity_conflicts).
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// The transitions at or before `at`: the history as it stood then.
    pub fn history_until(&self, at: Timestamp) -> &[Transition] {
        let n = self.history.partition_point(|t| t.at <= at);
        self.history.get(..n).unwrap_or(&[])
    }

    /// The stage the lead was in at `at` (`None` before its first event).
    pub fn stage_at(&self, at: Timestamp) -> Option<StageId> {
        self.history_until(at).last().map(|t| t.to)
    }

    /// When the lead first reached a milestone, in any cycle: entered the
    /// milestone's stage or passed it on the path (skipped it on the way to
    /// a higher path or won stage).
    pub fn milestone_at(&self, lifecycle: &Lifecycle, role: Milestone) -> Option<Timestamp> {
        let stage = lifecycle.milestone(role)?;
        self.history
            .iter()
            .find(|t| t.to == stage || t.skipped.contains(&stage))
            .map(|t| t.at)
    }

    /// When the lead first reached a milestone within `cycle` (see
    /// [`StageState::milestone_at`]).
    pub fn milestone_in_cycle(
        &self,
        lifecycle: &Lifecycle,
        role: Milestone,
        cycle: u32,
    ) -> Option<Timestamp> {
        let stage = lifecycle.milestone(role)?;
        self.history
            .iter()
            .find(|t| t.cycle == cycle && (t.to == stage || t.skipped.contains(&stage)))
            .map(|t| t.at)
    }

    /// The rewind point for the state as it is now.
    pub(crate) fn mark(&self) -> StageMark {
        StageMark {
            current: self.current,
            furthest: self.furthest,
            cycle: self.cycle,
            entered_at: self.entered_at,
            source: self.source,
            created_at: self.created_at,
            history: self.history.len(),
            merges: self.merges.len(),
        }
    }

    /// Rewinds to `mark`, returning the transitions recorded since.
    pub(crate) fn rewind(&mut self, mark: &StageMark) -> Vec<Transition> {
        self.current = mark.current;
        self.furthest = mark.furthest;
        self.cycle = mark.cycle;
        self.entered_at = mark.entered_at;
        self.source = mark.source;
        self.created_at = mark.created_at;
        self.merges.truncate(mark.merges);
        if mark.history < self.history.len() {
            self.history.split_off(mark.history)
        } else {
            Vec::new()
        }
    }

    /// Applies one event, or returns why it is rejected, leaving the state
    /// unchanged. The first event of any kind enters the lead into the
    /// initial stage, unless it is a `created` at another stage.
    ///
    /// Every move passes one guard ([`StageState::check_advance`] for
    /// ordinary moves, [`StageState::check_entry`] for a first `created`):
    /// the recycled stage is entered only by `recycled`, lost and
    /// disqualified only with a reason, and `allowed` rules bind every
    /// ordinary move, a later `created` included.
    #[inline]
    pub(crate) fn step(&mut self, lc: &Lifecycle, event: &Event) -> Result<(), EventErrorKind> {
        let started = !self.history.is_empty();
        let unknown = |name: &str| EventErrorKind::UnknownStage {
            name: name.to_owned(),
        };
        let planned = match &event.body {
            EventBody::Created {
                stage,
                source,
                actor,
            } => {
                let to = lc.find(stage).ok_or_else(|| unknown(stage))?;
                return self.created(lc, event, to, *source, *actor);
            }
            EventBody::Advanced { to, actor, reason } => {
                let to = lc.find(to).ok_or_else(|| unknown(to))?;
                self.check_advance(lc, to, reason.is_some())?;
                Some(Move {
                    kind: TransitionKind::Advanced,
                    to,
                    actor: *actor,
                    reason: reason.clone(),
                    skipped: lc.skipped_on_way(Some(self.current), to),
                })
            }
            EventBody::Recycled { actor, reason } => {
                let to = lc.recycled().ok_or(EventErrorKind::NoRecycleStage)?;
                if started && self.current == to {
                    return Err(EventErrorKind::AlreadyInStage {
                        stage: lc.name(to).to_owned(),
                    });
                }
                Some(Move::back(TransitionKind::Recycled, to, *actor, reason))
            }
            EventBody::Regressed { to, actor, reason } => {
                let to = lc.find(to).ok_or_else(|| unknown(to))?;
                self.check_regress(lc, to)?;
                Some(Move::back(TransitionKind::Regressed, to, *actor, reason))
            }
            EventBody::Activity { .. }
            | EventBody::Attributes { .. }
            | EventBody::Deal { .. }
            | EventBody::Verdict { .. }
            | EventBody::ScoreAdjusted { .. } => None,
            EventBody::Identified { visitor } => {
                self.merges.push(Merge {
                    visitor: visitor.clone(),
                    at: event.at,
                    event: event.id.clone(),
                });
                None
            }
        };
        if !started {
            // The same entry a `created` naming the initial stage makes:
            // path stages ranked below it are skipped, not lost.
            let entry = Move {
                kind: TransitionKind::Entered,
                to: lc.initial(),
                actor: Actor::System,
                reason: None,
                skipped: lc.skipped_on_way(None, lc.initial()),
            };
            self.record(lc, event, entry);
        }
        if let Some(m) = planned {
            self.record(lc, event, m);
        }
        Ok(())
    }

    /// A `created` event: the first enters the lead under the entry guard;
    /// a later one (a second system announcing the same lead) never moves
    /// it down or sideways, and a move up is an ordinary move under the
    /// same guard as `advanced`.
    fn created(
        &mut self,
        lc: &Lifecycle,
        event: &Event,
        to: StageId,
        source: crate::types::Source,
        actor: Actor,
    ) -> Result<(), EventErrorKind> {
        if self.history.is_empty() {
            check_entry(lc, to)?;
            self.source = Some(source);
            self.created_at = Some(event.at);
            let entry = Move {
                kind: TransitionKind::Entered,
                to,
                actor,
                reason: None,
                skipped: lc.skipped_on_way(None, to),
            };
            self.record(lc, event, entry);
            return Ok(());
        }
        let up = lc.rank(to) > lc.rank(self.current);
        if up {
            self.check_advance(lc, to, false)?;
        }
        if self.source.is_none() {
            self.source = Some(source);
            self.created_at = Some(event.at);
        }
        if up {
            let m = Move {
                kind: TransitionKind::Advanced,
                to,
                actor,
                reason: None,
                skipped: lc.skipped_on_way(Some(self.current), to),
            };
            self.record(lc, event, m);
        }
        Ok(())
    }

    /// A qualification rule's move: an ordinary forward move by the system,
    /// made only if it is allowed now. Returns whether the lead moved.
    pub(crate) fn fire(&mut self, lc: &Lifecycle, event: &Event, to: StageId, rule: &str) -> bool {
        if self.check_advance(lc, to, true).is_err() {
            return false;
        }
        let m = Move {
            kind: TransitionKind::Advanced,
            to,
            actor: Actor::System,
            reason: Some(Reason::new(crate::types::ReasonCode::RuleFired).with_note(rule)),
            skipped: lc.skipped_on_way(Some(self.current), to),
        };
        self.record(lc, event, m);
        true
    }

    /// The guard of every ordinary move to `to`: whether it is allowed now.
    pub(crate) fn check_advance(
        &self,
        lc: &Lifecycle,
        to: StageId,
        has_reason: bool,
    ) -> Result<(), EventErrorKind> {
        let name = |id| lc.name(id).to_owned();
        let to_kind = lc.kind(to);
        if to_kind == StageKind::Recycled {
            return Err(EventErrorKind::WrongCommand {
                to: name(to),
                hint: "send a recycle event with a reason".into(),
            });
        }
        if self.current == to {
            return Err(EventErrorKind::AlreadyInStage { stage: name(to) });
        }
        if lc.kind(self.current).is_terminal() {
            return Err(EventErrorKind::LeavingTerminal {
                from: name(self.current),
            });
        }
        if lc.rank(to) < lc.rank(self.current) {
            return Err(EventErrorKind::NotForward {
                from: name(self.current),
                to: name(to),
            });
        }
        if !lc.allows(self.current, to) {
            return Err(EventErrorKind::NotAllowed {
                from: name(self.current),
                to: name(to),
            });
        }
        if matches!(to_kind, StageKind::Lost | StageKind::Disqualified) && !has_reason {
            return Err(EventErrorKind::ReasonRequired { to: name(to) });
        }
        Ok(())
    }

    fn check_regress(&self, lc: &Lifecycle, to: StageId) -> Result<(), EventErrorKind> {
        let name = |id| lc.name(id).to_owned();
        if !lc.kind(to).is_on_path() {
            return Err(EventErrorKind::WrongCommand {
                to: name(to),
                hint: "regress goes to an open or sla stage; use recycle for the recycled stage"
                    .into(),
            });
        }
        if lc.kind(self.current).is_terminal() {
            return Err(EventErrorKind::LeavingTerminal {
                from: name(self.current),
            });
        }
        if lc.rank(to) >= lc.rank(self.current) {
            return Err(EventErrorKind::NotBackward {
                from: name(self.current),
                to: name(to),
            });
        }
        Ok(())
    }

    fn record(&mut self, lc: &Lifecycle, event: &Event, m: Move) {
        let Move {
            kind,
            to,
            actor,
            reason,
            skipped,
        } = m;
        if kind == TransitionKind::Recycled {
            self.cycle = self.cycle.saturating_add(1);
        }
        let first = self.history.is_empty();
        let from = (!first).then_some(self.current);
        self.history.push(Transition {
            event: event.id.clone(),
            at: event.at,
            kind,
            from,
            to,
            actor,
            reason,
            skipped,
            cycle: self.cycle,
        });
        let counts = lc.kind(to).is_on_path() || lc.kind(to) == StageKind::Won;
        if first {
            // The first entry sets the high-water mark; the config guarantees
            // the initial stage is on the path, and a `created` never enters
            // lost, disqualified or recycled stages.
            self.furthest = if counts { to } else { lc.initial() };
        } else if counts && lc.rank(to) > lc.rank(self.furthest) {
            self.furthest = to;
        }
        self.current = to;
        self.entered_at = Some(event.at);
    }
}

/// A move about to be recorded.
struct Move {
    kind: TransitionKind,
    to: StageId,
    actor: Actor,
    reason: Option<Reason>,
    skipped: Vec<StageId>,
}

impl Move {
    /// A move down (recycle or regress): with its reason, skipping
    /// nothing.
    fn back(kind: TransitionKind, to: StageId, actor: Actor, reason: &Reason) -> Self {
        Self {
            kind,
            to,
            actor,
            reason: Some(reason.clone()),
            skipped: Vec::new(),
        }
    }
}

/// The guard of a lead's entry by its first `created` event: any path or won
/// stage (a sales-sourced lead may start at SQL, an import at Won); the
/// recycled stage only through `recycled`; lost and disqualified need a
/// reason, which `created` does not carry, so they are entered by an
/// `advanced` event after the entry.
fn check_entry(lc: &Lifecycle, to: StageId) -> Result<(), EventErrorKind> {
    let name = lc.name(to).to_owned();
    match lc.kind(to) {
        StageKind::Recycled => Err(EventErrorKind::WrongCommand {
            to: name,
            hint: "a lead enters the recycled stage only by a recycle event".into(),
        }),
        StageKind::Lost | StageKind::Disqualified => Err(EventErrorKind::WrongCommand {
            to: name,
            hint: "create the lead at a path stage, then advance it with a reason".into(),
        }),
        _ => Ok(()),
    }
}

/// A transition as saved: stages by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedTransition {
    event: EventId,
    at: Timestamp,
    kind: TransitionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    to: String,
    actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<String>,
    cycle: u32,
}

/// A [`StageState`] as saved: stages by name, so that a saved lead reads
/// on its own and cannot be misread under another lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedStage {
    current: String,
    furthest: String,
    cycle: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<Timestamp>,
    history: Vec<SavedTransition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    merges: Vec<Merge>,
}

impl StageState {
    /// The saved form, naming stages.
    pub(crate) fn to_saved(&self, lc: &Lifecycle) -> SavedStage {
        let name = |id: StageId| lc.name(id).to_owned();
        SavedStage {
            current: name(self.current),
            furthest: name(self.furthest),
            cycle: self.cycle,
            entered_at: self.entered_at,
            source: self.source,
            created_at: self.created_at,
            history: self
                .history
                .iter()
                .map(|t| SavedTransition {
                    event: t.event.clone(),
                    at: t.at,
                    kind: t.kind,
                    from: t.from.map(name),
                    to: name(t.to),
                    actor: t.actor,
                    reason: t.reason.clone(),
                    skipped: t.skipped.iter().copied().map(name).collect(),
                    cycle: t.cycle,
                })
                .collect(),
            merges: self.merges.clone(),
        }
    }

    /// The state from its saved form, or the first stage name the
    /// lifecycle does not know.
    pub(crate) fn from_saved(saved: SavedStage, lc: &Lifecycle) -> Result<Self, String> {
        let id = |name: &str| lc.find(name).ok_or_else(|| name.to_owned());
        let mut history = Vec::with_capacity(saved.history.len());
        for t in saved.history {
            history.push(Transition {
                event: t.event,
                at: t.at,
                kind: t.kind,
                from: t.from.as_deref().map(id).transpose()?,
                to: id(&t.to)?,
                actor: t.actor,
                reason: t.reason,
                skipped: t.skipped.iter().map(|s| id(s)).collect::<Result<_, _>>()?,
                cycle: t.cycle,
            });
        }
        Ok(Self {
            current: id(&saved.current)?,
            furthest: id(&saved.furthest)?,
            cycle: saved.cycle,
            entered_at: saved.entered_at,
            source: saved.source,
            created_at: saved.created_at,
            history,
            merges: saved.merges,
        })
    }
}
