//! A lead: its event log and the state folded from it.

use serde::{Deserialize, Serialize};

use crate::attr::Attrs;
use crate::error::EventError;
use crate::event::Event;
use crate::grading::Grade;
use crate::lifecycle::{StageState, Transition};
use crate::qualify::Arm;
use crate::scoring::ScoreState;
use crate::types::{EventId, LeadId};

/// A lead (or an anonymous visitor): the deduplicated log of its events,
/// sorted by `(at, id)`, and the state folded from it.
///
/// Build one with [`Engine::new_lead`](crate::Engine::new_lead) or
/// [`Engine::replay`](crate::Engine::replay) and feed it with
/// [`Engine::ingest`](crate::Engine::ingest) or
/// [`Engine::apply`](crate::Engine::apply). A lead is only meaningful
/// together with the engine that folded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub(crate) id: LeadId,
    /// Sorted by `(at, id)`, no two with the same id.
    pub(crate) events: Vec<Event>,
    /// Indices into `events`, sorted by event id.
    pub(crate) by_id: Vec<u32>,
    pub(crate) state: Folded,
}

/// Everything folded from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Folded {
    pub(crate) stage: StageState,
    pub(crate) score: ScoreState,
    pub(crate) attrs: Attrs,
    pub(crate) grade: Option<Grade>,
    pub(crate) arms: Vec<Arm>,
    /// Events the fold rejected at their place in the log.
    pub(crate) ignored: Vec<EventError>,
}

impl Lead {
    /// The lead's id.
    pub fn id(&self) -> &LeadId {
        &self.id
    }

    /// The deduplicated event log, sorted by `(at, id)`.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The lifecycle state: current and furthest stage, cycle, history.
    pub fn stage(&self) -> &StageState {
        &self.state.stage
    }

    /// The transition history (shorthand for `stage().history()`).
    pub fn history(&self) -> &[Transition] {
        self.state.stage.history()
    }

    /// The current profile attributes.
    pub fn attrs(&self) -> &Attrs {
        &self.state.attrs
    }

    /// The fit grade, `None` while no grading criterion's attribute is known.
    pub fn grade(&self) -> Option<Grade> {
        self.state.grade
    }

    /// Events in the log that the state machine rejected at their place in
    /// the `(at, id)` order, with the reason. They stay in the log so that the
    /// state does not depend on arrival order.
    pub fn ignored(&self) -> &[EventError] {
        &self.state.ignored
    }

    /// Whether the log holds an event with this id.
    pub fn contains(&self, id: &EventId) -> bool {
        self.id_slot(id).is_ok()
    }

    pub(crate) fn id_slot(&self, id: &EventId) -> Result<usize, usize> {
        self.by_id.binary_search_by(|&i| {
            self.events
                .get(i as usize)
                .map_or(std::cmp::Ordering::Less, |e| e.id.cmp(id))
        })
    }

    /// Rebuilds the log from arbitrary events: keeps the first arrival of
    /// each id, sorts by `(at, id)`.
    pub(crate) fn set_log(&mut self, mut events: Vec<Event>) {
        // Sorting indices by (id, arrival) makes the first arrival of each
        // id the first of its run.
        let mut order: Vec<u32> = (0..events.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| ev(&events, a).id.cmp(&ev(&events, b).id).then(a.cmp(&b)));
        let has_dup = order
            .windows(2)
            .any(|w| matches!(w, [a, b] if ev(&events, *a).id == ev(&events, *b).id));
        if has_dup {
            order.dedup_by(|a, b| ev(&events, *a).id == ev(&events, *b).id);
            let mut keep = vec![false; events.len()];
            for &i in &order {
                if let Some(k) = keep.get_mut(i as usize) {
                    *k = true;
                }
            }
            let mut k = keep.into_iter();
            events.retain(|_| k.next().unwrap_or(false));
        }
        let sorted = events.is_sorted_by(|a, b| a.key() <= b.key());
        if !sorted {
            events.sort_by(|a, b| a.key().cmp(&b.key()));
        }
        if has_dup || !sorted {
            order = (0..events.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| ev(&events, a).id.cmp(&ev(&events, b).id));
        }
        self.events = events;
        self.by_id = order;
    }
}

/// The event at a u32 index that the caller got from the same vector.
fn ev(events: &[Event], i: u32) -> &Event {
    // Indices are produced from `0..events.len()` just above; the fallback
    // only exists so that no input can make this panic.
    events.get(i as usize).unwrap_or_else(|| &events[0])
}
