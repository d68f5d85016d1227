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

/// One recorded stage move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The highest-ranked stage the lead ever entered (its high-water mark).
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
    /// When the first `created` event happened.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.created_at
    }
    /// Every stage move, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.history
    }
    /// Visitors merged into the lead.
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// When the lead first reached a milestone: entered the milestone's stage
    /// or jumped over it.
    pub fn milestone_at(&self, lifecycle: &Lifecycle, role: Milestone) -> Option<Timestamp> {
        let stage = lifecycle.milestone(role)?;
        self.history
            .iter()
            .find(|t| t.to == stage || t.skipped.contains(&stage))
            .map(|t| t.at)
    }

    /// Applies one event, or returns why it is rejected, leaving the state
    /// unchanged. The first event of any kind enters the lead into the
    /// initial stage, unless it is a `created` at another stage.
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
                if self.source.is_none() {
                    self.source = Some(*source);
                    self.created_at = Some(event.at);
                }
                if !started {
                    let skipped = lc.between(i32::MIN, lc.rank(to));
                    self.record(
                        lc,
                        event,
                        TransitionKind::Entered,
                        to,
                        *actor,
                        None,
                        skipped,
                    );
                } else if lc.rank(to) > lc.rank(self.current)
                    && !lc.kind(self.current).is_terminal()
                    && lc.kind(to) != StageKind::Recycled
                {
                    let skipped = lc.between(lc.rank(self.current), lc.rank(to));
                    self.record(
                        lc,
                        event,
                        TransitionKind::Advanced,
                        to,
                        *actor,
                        None,
                        skipped,
                    );
                }
                return Ok(());
            }
            EventBody::Advanced { to, actor, reason } => {
                let to = lc.find(to).ok_or_else(|| unknown(to))?;
                self.check_advance(lc, to, reason.is_some())?;
                let skipped = lc.between(lc.rank(self.current), lc.rank(to));
                Some((
                    TransitionKind::Advanced,
                    to,
                    *actor,
                    reason.clone(),
                    skipped,
                ))
            }
            EventBody::Recycled { actor, reason } => {
                let to = lc.recycled().ok_or(EventErrorKind::NoRecycleStage)?;
                if started && self.current == to {
                    return Err(EventErrorKind::AlreadyInStage {
                        stage: lc.name(to).to_owned(),
                    });
                }
                Some((
                    TransitionKind::Recycled,
                    to,
                    *actor,
                    Some(reason.clone()),
                    Vec::new(),
                ))
            }
            EventBody::Regressed { to, actor, reason } => {
                let to = lc.find(to).ok_or_else(|| unknown(to))?;
                self.check_regress(lc, to)?;
                Some((
                    TransitionKind::Regressed,
                    to,
                    *actor,
                    Some(reason.clone()),
                    Vec::new(),
                ))
            }
            EventBody::Activity { .. }
            | EventBody::Attributes { .. }
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
            let initial = lc.initial();
            self.record(
                lc,
                event,
                TransitionKind::Entered,
                initial,
                Actor::System,
                None,
                Vec::new(),
            );
        }
        if let Some((kind, to, actor, reason, skipped)) = planned {
            self.record(lc, event, kind, to, actor, reason, skipped);
        }
        Ok(())
    }

    /// A qualification rule's move: an ordinary forward move by the system,
    /// made only if it is allowed now. Returns whether the lead moved.
    pub(crate) fn fire(&mut self, lc: &Lifecycle, event: &Event, to: StageId, rule: &str) -> bool {
        if self.check_advance(lc, to, true).is_err() {
            return false;
        }
        let skipped = lc.between(lc.rank(self.current), lc.rank(to));
        let reason = Reason::new(crate::types::ReasonCode::RuleFired).with_note(rule);
        self.record(
            lc,
            event,
            TransitionKind::Advanced,
            to,
            Actor::System,
            Some(reason),
            skipped,
        );
        true
    }

    /// Whether an ordinary move to `to` is allowed now.
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

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        lc: &Lifecycle,
        event: &Event,
        kind: TransitionKind,
        to: StageId,
        actor: Actor,
        reason: Option<Reason>,
        skipped: Vec<StageId>,
    ) {
        if kind == TransitionKind::Recycled {
            self.cycle = self.cycle.saturating_add(1);
        }
        let from =
            (kind != TransitionKind::Entered || !self.history.is_empty()).then_some(self.current);
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
        if self.history.len() == 1 || lc.rank(to) > lc.rank(self.furthest) {
            self.furthest = to;
        }
        self.current = to;
        self.entered_at = Some(event.at);
    }
}
