//! A lead: its event log and the state folded from it.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::attr::Attrs;
use crate::error::EventError;
use crate::event::Event;
use crate::grading::Grade;
use crate::hash::hash_str;
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
    /// `(hash of id, index into events)`, sorted by hash then id: the
    /// duplicate check costs one string comparison in the common case.
    pub(crate) by_id: Vec<(u64, u32)>,
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

    /// Where the id is (`Ok`) or would go (`Err`) in the id index.
    pub(crate) fn id_slot(&self, id: &EventId) -> Result<usize, Slot> {
        let hash = hash_str(id.as_str());
        self.by_id
            .binary_search_by(|&(h, i)| {
                h.cmp(&hash).then_with(|| {
                    self.events
                        .get(i as usize)
                        .map_or(Ordering::Less, |e| e.id.cmp(id))
                })
            })
            .map_err(|at| Slot { at, hash })
    }

    /// Records that the event at `index` has the id the slot was found for.
    pub(crate) fn record_id(&mut self, slot: Slot, index: u32) {
        self.by_id.insert(slot.at, (slot.hash, index));
    }

    /// Shifts indices at or after `pos` up by one (an event was inserted).
    pub(crate) fn shift_ids_from(&mut self, pos: usize) {
        for (_, i) in &mut self.by_id {
            if *i as usize >= pos {
                *i += 1;
            }
        }
    }

    /// Rebuilds the log from arbitrary events: keeps the first arrival of
    /// each id, sorts by `(at, id)`.
    pub(crate) fn set_log(&mut self, mut events: Vec<Event>) {
        let by_hash = |events: &[Event]| {
            let mut order: Vec<(u64, u32)> = events
                .iter()
                .enumerate()
                .map(|(i, e)| (hash_str(e.id.as_str()), i as u32))
                .collect();
            // By hash, then id, then arrival: the first arrival of an id
            // comes first among its equals.
            order.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| id_at(events, a.1).cmp(&id_at(events, b.1)))
                    .then(a.1.cmp(&b.1))
            });
            order
        };
        let mut order = by_hash(&events);
        let same = |a: &(u64, u32), b: &(u64, u32), events: &[Event]| {
            a.0 == b.0 && id_at(events, a.1) == id_at(events, b.1)
        };
        let has_dup = order
            .windows(2)
            .any(|w| matches!(w, [a, b] if same(a, b, &events)));
        if has_dup {
            order.dedup_by(|b, a| same(a, b, &events));
            let mut keep = vec![false; events.len()];
            for &(_, i) in &order {
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
            order = by_hash(&events);
        }
        self.events = events;
        self.by_id = order;
    }
}

/// Where an id goes in the id index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    at: usize,
    hash: u64,
}

/// The id of the event at an index (indices come from `0..events.len()`).
fn id_at(events: &[Event], i: u32) -> Option<&EventId> {
    events.get(i as usize).map(|e| &e.id)
}
