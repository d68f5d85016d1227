//! Service-level agreements on stages: is a lead within its SLA, due soon,
//! or past due at a given `now`?

use serde::{Deserialize, Serialize};

use super::{Lifecycle, StageId, StageKind, StageState};
use crate::types::Timestamp;

/// Where a lead stands against its stage's SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// More than the warning window is left.
    Within,
    /// The deadline is within the warning window.
    DueSoon,
    /// The deadline has passed.
    PastDue,
}

crate::types::display_by_serde_name!(SlaState);

/// A lead's SLA status in its current stage at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaStatus {
    /// The SLA stage the lead is in.
    pub stage: StageId,
    /// When it entered the stage.
    pub entered_at: Timestamp,
    /// When it must leave the stage by.
    pub due_at: Timestamp,
    /// Within, due soon or past due.
    pub state: SlaState,
}

impl StageState {
    /// The SLA status at `now`, or `None` when the stage the lead was in at
    /// `now` has no SLA (or the lead had no event yet at `now`). Only the
    /// history up to `now` is read: the answer is the one a lead replayed
    /// from its events at or before `now` would give.
    ///
    /// The deadline is the stage's entry time plus `within`; the lead is due
    /// soon from `due_at - due_soon` and past due strictly after `due_at`.
    pub fn sla(&self, lifecycle: &Lifecycle, now: Timestamp) -> Option<SlaStatus> {
        let entry = self.history_until(now).last()?;
        sla_status(lifecycle, entry.to, entry.at, now)
    }
}

/// The SLA status at `now` of a stay in `stage` that began at `entered_at`.
pub(crate) fn sla_status(
    lifecycle: &Lifecycle,
    stage: StageId,
    entered_at: Timestamp,
    now: Timestamp,
) -> Option<SlaStatus> {
    let StageKind::Sla { within, due_soon } = lifecycle.kind(stage) else {
        return None;
    };
    let due_at = within.after(entered_at)?;
    let warn_from = due_at.checked_sub_signed(due_soon.to_delta())?;
    let state = if now > due_at {
        SlaState::PastDue
    } else if now >= warn_from {
        SlaState::DueSoon
    } else {
        SlaState::Within
    };
    Some(SlaStatus {
        stage,
        entered_at,
        due_at,
        state,
    })
}
