//! A lead: its event log, the state folded from it, and the checkpoints
//! that let a late event refold only the part of the log after it.

use crate::attr::Attrs;
use crate::error::EventError;
use crate::event::Event;
use crate::grading::Grade;
use crate::hash::{IdHash, IdMap, IdTable};
use crate::lifecycle::{Lifecycle, StageMark, StageState, Transition};
use crate::scoring::{ScoreMark, ScoreState};
use crate::types::{EventId, LeadId, Timestamp};

/// How many log positions apart checkpoints are kept (32: a late event
/// refolds at most 32 events more than it must, for a checkpoint costing
/// about as much memory as one or two events). A late event refolds
/// from the nearest checkpoint at or before its place, so its cost is the
/// number of events after it plus at most this many; a checkpoint costs a
/// copy of the lead's small state (profile, rule hit counts, group values).
pub(crate) const CHECKPOINT_EVERY: usize = 32;

/// A lead (or an anonymous visitor): the deduplicated log of its events,
/// sorted by `(at, id)`, and the state folded from it.
///
/// Build one with [`Engine::new_lead`](crate::Engine::new_lead) or
/// [`Engine::replay`](crate::Engine::replay) and feed it with
/// [`Engine::ingest`](crate::Engine::ingest) or
/// [`Engine::apply`](crate::Engine::apply). A lead carries the fingerprint of
/// the engine config that folded it: fed to an engine compiled from another
/// config, it is refolded from its log first (see
/// [`Engine::adopt`](crate::Engine::adopt)).
///
/// A lead serializes (serde) to its log plus a cache of its state, with
/// stages by name; read one back with [`Engine::restore`](crate::Engine::restore).
///
/// Equality compares the id, the log, the conflicting duplicates, the
/// folded state and the fingerprint (not the checkpoints, which are a
/// cache).
#[derive(Debug, Clone)]
pub struct Lead {
    pub(crate) id: LeadId,
    /// Sorted by `(at, id)`, no two with the same id. Changed only by the
    /// log methods below, which keep it and `index` in step.
    events: Vec<Event>,
    /// The time of the kept copy of each id: with the id it locates the
    /// event in the sorted log by binary search.
    /// Keyed by host data, so hashed with a randomly seeded hash: crafted
    /// ids cannot make it quadratic.
    /// Built on first need: a lead in a store, whose ids the store checks,
    /// may never need one (it costs about 40 bytes per event). Once built,
    /// the log methods keep it in step.
    index: std::sync::OnceLock<IdTable<Timestamp>>,
    pub(crate) state: Folded,
    /// States after the first `pos` events, for `pos` a positive multiple
    /// of [`CHECKPOINT_EVERY`], increasing.
    pub(crate) checkpoints: Vec<Checkpoint>,
    /// Copies of ids in the log that differ from the kept copy, sorted by
    /// their canonical encoding.
    duplicates: Vec<Event>,
    pub(crate) fingerprint: u64,
    /// The lifecycle the state's stage ids belong to (for names when
    /// serializing).
    pub(crate) lifecycle: Lifecycle,
}

impl PartialEq for Lead {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.fingerprint == other.fingerprint
            && self.events == other.events
            && self.duplicates == other.duplicates
            && self.state == other.state
    }
}

/// A change of the fit grade at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct GradeChange {
    pub(crate) at: Timestamp,
    pub(crate) grade: Option<Grade>,
}

/// A win: the lead entered a won stage, with the deal amount in effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Win {
    /// The event that moved the lead (or set off the rule that did).
    pub event: EventId,
    /// When.
    pub at: Timestamp,
    /// The cycle it happened in.
    pub cycle: u32,
    /// The won stage entered.
    pub stage: crate::lifecycle::StageId,
    /// The value won: the open deal's amount at the win, 0 without one.
    pub amount: rust_decimal::Decimal,
}

/// A rule's arming state for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Arm {
    pub(crate) armed: bool,
    pub(crate) fired_cycle: u32,
}

impl Default for Arm {
    fn default() -> Self {
        Self {
            armed: true,
            fired_cycle: 0,
        }
    }
}

/// Everything folded from the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Folded {
    pub(crate) stage: StageState,
    pub(crate) score: ScoreState,
    pub(crate) attrs: Attrs,
    pub(crate) grade: Option<Grade>,
    /// Every change of the grade, oldest first.
    pub(crate) grades: Vec<GradeChange>,
    pub(crate) arms: Vec<Arm>,
    /// Events the fold rejected at their place in the log, in log order.
    pub(crate) ignored: Vec<EventError>,
    /// The amount of the open deal in the current cycle.
    pub(crate) deal: Option<rust_decimal::Decimal>,
    /// Every win, oldest first.
    pub(crate) wins: Vec<Win>,
    /// A person's verdicts on grading criteria.
    pub(crate) verdicts: crate::grading::Verdicts,
    /// Activities counted per kind the predictive model reads, in the
    /// order of its features' `activity_counts`.
    #[serde(default)]
    pub(crate) activity: Vec<u32>,
}

/// The state after the first `pos` events of the log.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    pub(crate) pos: usize,
    stage: StageMark,
    score: ScoreMark,
    attrs: Attrs,
    grade: Option<Grade>,
    grades: usize,
    arms: Vec<Arm>,
    ignored: usize,
    deal: Option<rust_decimal::Decimal>,
    wins: usize,
    verdicts: crate::grading::Verdicts,
    activity: Vec<u32>,
}

/// What a rewind took off the append-only parts of the state: compared
/// with what the refold puts back, it is the change a late event made.
#[derive(Debug, Default)]
pub(crate) struct Rewound {
    pub(crate) history: Vec<Transition>,
    pub(crate) ignored: Vec<EventError>,
    pub(crate) wins: Vec<Win>,
}

impl Folded {
    /// A checkpoint of the state as it is after `pos` events.
    pub(crate) fn checkpoint(&self, pos: usize) -> Checkpoint {
        Checkpoint {
            pos,
            stage: self.stage.mark(),
            score: self.score.mark(),
            attrs: self.attrs.clone(),
            grade: self.grade,
            grades: self.grades.len(),
            arms: self.arms.clone(),
            ignored: self.ignored.len(),
            deal: self.deal,
            wins: self.wins.len(),
            verdicts: self.verdicts.clone(),
            activity: self.activity.clone(),
        }
    }

    /// Rewinds to a checkpoint taken from this state's own past.
    pub(crate) fn rewind(&mut self, cp: &Checkpoint) -> Rewound {
        let history = self.stage.rewind(&cp.stage);
        self.score.rewind(&cp.score);
        self.attrs.clone_from(&cp.attrs);
        self.grade = cp.grade;
        self.grades.truncate(cp.grades);
        self.arms.clone_from(&cp.arms);
        self.deal = cp.deal;
        self.verdicts.clone_from(&cp.verdicts);
        self.activity.clone_from(&cp.activity);
        let wins = if cp.wins < self.wins.len() {
            self.wins.split_off(cp.wins)
        } else {
            Vec::new()
        };
        let ignored = if cp.ignored < self.ignored.len() {
            self.ignored.split_off(cp.ignored)
        } else {
            Vec::new()
        };
        Rewound {
            history,
            ignored,
            wins,
        }
    }
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

    /// The transition history as text, one move a line, stages by name:
    ///
    /// ```text
    /// 2026-03-02 09:00 UTC  (new) -> Anonymous  entered by system
    /// 2026-03-02 11:00 UTC  Anonymous -> MQL  advanced by system (rule_fired: mql)
    /// ```
    ///
    /// ```
    /// # use chrono::{TimeZone, Utc};
    /// # use leadflow::{Actor, Engine, Event, EventBody, Source};
    /// let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
    /// let mut lead = engine.new_lead("ada");
    /// engine.apply(&mut lead, Event::new("e1", "ada", Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ///     EventBody::Created { stage: "MQL".into(), source: Source::Marketing, actor: Actor::Marketing }))?;
    /// assert_eq!(lead.timeline().to_string(),
    ///     "2026-03-02 09:00 UTC  (new) -> MQL  entered by marketing, skipped Anonymous");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeline(&self) -> Timeline<'_> {
        Timeline { lead: self }
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

    /// The fit grade as it was at `at`: the grade of the lead replayed from
    /// its events at or before `at`.
    pub fn grade_at(&self, at: Timestamp) -> Option<Grade> {
        let n = self.state.grades.partition_point(|g| g.at <= at);
        n.checked_sub(1)
            .and_then(|i| self.state.grades.get(i))
            .and_then(|g| g.grade)
    }

    /// Every win (entry into a won stage), oldest first, with the value won.
    pub fn wins(&self) -> &[Win] {
        &self.state.wins
    }

    /// The amount of the open deal in the current cycle, if one was set.
    pub fn deal(&self) -> Option<rust_decimal::Decimal> {
        self.state.deal
    }

    /// Events in the log that the state machine rejected at their place in
    /// the `(at, id)` order, with the reason. They stay in the log so that the
    /// state does not depend on arrival order.
    pub fn ignored(&self) -> &[EventError] {
        &self.state.ignored
    }

    /// Copies of an id in the log whose content differs from the copy kept
    /// (the host sent two different events under one id). The kept copy is
    /// the one whose canonical JSON encoding is smallest, whatever the
    /// arrival order; the others are listed here, sorted the same way.
    pub fn conflicting_duplicates(&self) -> &[Event] {
        &self.duplicates
    }

    /// Whether the log holds an event with this id. The first call on a
    /// lead that has no id index yet (a lead in a store never needs one)
    /// builds it, linear in the log and about 40 bytes per event, and keeps
    /// it; later calls are O(1).
    pub fn contains(&self, id: &EventId) -> bool {
        self.index().contains(id)
    }

    /// The lead's first accepted `created` event at or before `at`: when it
    /// happened and the source it gave (the view at `at` of
    /// [`StageState::created_at`] and [`StageState::source`]).
    pub(crate) fn created_until(&self, at: Timestamp) -> Option<(Timestamp, crate::types::Source)> {
        let ignored = |id: &EventId| self.state.ignored.iter().any(|e| &e.event == id);
        self.events
            .iter()
            .take_while(|e| e.at <= at)
            .find_map(|e| match &e.body {
                crate::event::EventBody::Created { source, .. } if !ignored(&e.id) => {
                    Some((e.at, *source))
                }
                _ => None,
            })
    }

    /// The profile attributes as they were at `at`, each with when it was
    /// set.
    pub(crate) fn attrs_until(
        &self,
        at: Timestamp,
    ) -> std::collections::BTreeMap<&str, (Timestamp, &crate::attr::AttrValue)> {
        let mut attrs = std::collections::BTreeMap::new();
        for e in self.events.iter().take_while(|e| e.at <= at) {
            if let crate::event::EventBody::Attributes { set, unset } = &e.body {
                for (k, v) in set {
                    attrs.insert(k.as_str(), (e.at, v));
                }
                for k in unset {
                    attrs.remove(k.as_str());
                }
            }
        }
        attrs
    }

    /// The log position of the kept copy of `id`; when the log does not
    /// hold it, the id index's hash of it, for [`push`](Self::push) to file
    /// it without hashing it again.
    pub(crate) fn locate(&self, id: &EventId) -> Result<usize, Option<IdHash>> {
        match self.index().find_or_hash(id) {
            Ok(at) => self
                .events
                .binary_search_by(|e| (e.at, &e.id).cmp(&(*at, id)))
                .map_err(|_| None),
            Err(hash) => Err(Some(hash)),
        }
    }

    /// The log position of the kept copy of `id`, if any.
    pub(crate) fn position(&self, id: &EventId) -> Option<usize> {
        self.locate(id).ok()
    }

    // The log, its id index and the conflicting copies change only here.
    // Between a batch's admission (`claim`) and the end of the batch the
    // index may hold ids whose events are still on their way in; every
    // other time it is not built, or holds exactly the log's ids.

    /// The id index, built from the log if it was not.
    fn index(&self) -> &IdTable<Timestamp> {
        self.index.get_or_init(|| index_of(&self.events))
    }

    /// Runs `f` on the id index, built first if it was not.
    fn with_index<R>(&mut self, f: impl FnOnce(&mut IdTable<Timestamp>) -> R) -> R {
        // Taken out and put back (a move of the map's handle, not of its
        // table): `OnceLock` has no stable mutable get-or-init.
        let mut index = std::mem::take(&mut self.index)
            .into_inner()
            .unwrap_or_else(|| index_of(&self.events));
        let out = f(&mut index);
        self.index = std::sync::OnceLock::from(index);
        out
    }

    /// Records ids in the index if it is built (a log change the index
    /// must follow); an index not built yet will be built from the log.
    fn index_note(&mut self, id: &EventId, at: Timestamp) {
        if let Some(index) = self.index.get_mut() {
            index.insert(id.clone(), at);
        }
    }

    /// A lead with an empty log.
    pub(crate) fn empty(id: LeadId, state: Folded, fingerprint: u64, lifecycle: Lifecycle) -> Self {
        Self {
            id,
            events: Vec::new(),
            index: std::sync::OnceLock::new(),
            state,
            checkpoints: Vec::new(),
            duplicates: Vec::new(),
            fingerprint,
            lifecycle,
        }
    }

    /// The log (read only) beside the folded state and the checkpoints, for
    /// a fold that reads the one and writes the others.
    pub(crate) fn fold_parts(&mut self) -> (&[Event], &mut Folded, &mut Vec<Checkpoint>) {
        (&self.events, &mut self.state, &mut self.checkpoints)
    }

    /// Makes room in the id index for `n` more ids.
    pub(crate) fn reserve_ids(&mut self, n: usize) {
        self.with_index(|index| index.reserve(n));
    }

    /// Records the ids of batch events the host vouches are new to the log
    /// and distinct (a store checks ids globally): nothing to claim, and an
    /// index not built yet stays so.
    pub(crate) fn note_fresh(&mut self, events: &[Event]) {
        if let Some(index) = self.index.get_mut() {
            index.reserve(events.len());
            for e in events {
                index.insert(e.id.clone(), e.at);
            }
        }
    }

    /// Claims `id` for an event of the batch on its way in; false when the
    /// id is already claimed (in the log or earlier in the batch).
    pub(crate) fn claim(&mut self, id: &EventId, at: Timestamp) -> bool {
        self.with_index(|index| match index.vacant(id) {
            Some(slot) => {
                slot.insert(at);
                true
            }
            None => false,
        })
    }

    /// Points `id` at the copy that will be kept (settled among copies).
    pub(crate) fn reclaim(&mut self, id: EventId, at: Timestamp) {
        self.with_index(|index| index.insert(id, at));
    }

    /// Appends an event that sorts after the whole log, of an id the log
    /// does not hold; `hash` is what [`locate`](Self::locate) gave for it,
    /// if it was located (the index has not changed since).
    #[inline(always)]
    pub(crate) fn push(&mut self, event: Event, hash: Option<IdHash>) {
        match (self.index.get_mut(), hash) {
            (Some(index), Some(hash)) => index.insert_new(hash, event.id.clone(), event.at),
            _ => self.index_note(&event.id, event.at),
        }
        self.events.push(event);
    }

    /// Inserts an event at its place in the log; returns its position.
    pub(crate) fn place(&mut self, event: Event) -> usize {
        let pos = self.events.partition_point(|e| e.key() < event.key());
        self.index_note(&event.id, event.at);
        self.events.insert(pos, event);
        pos
    }

    /// Takes the event at `pos` out of the log and the index.
    pub(crate) fn unplace(&mut self, pos: usize) -> Option<Event> {
        if pos >= self.events.len() {
            return None;
        }
        let event = self.events.remove(pos);
        if let Some(index) = self.index.get_mut() {
            index.remove(&event.id);
        }
        Some(event)
    }

    /// Replaces the log's copy at `pos` by another copy of its id (the old
    /// one becomes a conflicting duplicate); returns the first position
    /// that changed.
    pub(crate) fn replace_copy(&mut self, pos: usize, event: Event) -> usize {
        if pos < self.events.len() {
            let old = self.events.remove(pos);
            insert_duplicate(&mut self.duplicates, old);
        }
        pos.min(self.place(event))
    }

    /// Keeps a copy that lost to another copy of its id.
    pub(crate) fn keep_duplicate(&mut self, event: Event) {
        insert_duplicate(&mut self.duplicates, event);
    }

    /// Keeps copies that lost to other copies of their ids, all at once:
    /// O((d + k) log(d + k)) encodings and moves for k copies into d kept
    /// ones (inserting one by one moved the list k times).
    pub(crate) fn keep_duplicates(&mut self, copies: Vec<Event>) {
        if copies.len() <= 1 {
            for c in copies {
                self.keep_duplicate(c);
            }
            return;
        }
        let mut coded: Vec<(String, Event)> = std::mem::take(&mut self.duplicates)
            .into_iter()
            .chain(copies)
            .map(|e| (canonical(&e), e))
            .collect();
        // Stable: of equal copies the one kept before stays.
        coded.sort_by(|a, b| a.0.cmp(&b.0));
        coded.dedup_by(|a, b| a.0 == b.0);
        self.duplicates = coded.into_iter().map(|(_, e)| e).collect();
    }

    /// Moves the log's copies at `positions` to the conflicting duplicates
    /// (their ids stay claimed by the copies replacing them), in one pass
    /// over the log.
    pub(crate) fn retire(&mut self, mut positions: Vec<usize>) {
        positions.sort_unstable();
        positions.dedup();
        let mut retired = Vec::with_capacity(positions.len());
        let mut next = positions.iter().peekable();
        let mut kept = Vec::with_capacity(self.events.len());
        for (i, e) in std::mem::take(&mut self.events).into_iter().enumerate() {
            if next.peek() == Some(&&i) {
                next.next();
                retired.push(e);
            } else {
                kept.push(e);
            }
        }
        self.events = kept;
        self.keep_duplicates(retired);
    }

    /// Merges sorted events (already claimed) into the log.
    pub(crate) fn merge_in(&mut self, events: Vec<Event>) {
        let old = std::mem::take(&mut self.events);
        self.events = merge_sorted(old, events);
    }

    /// Makes sorted, claimed events the whole log of a lead that had none.
    pub(crate) fn adopt_log(&mut self, mut events: Vec<Event>) {
        // A log is long-lived: give back the slack of the batch's growth
        // (shrinking reallocates in place).
        events.shrink_to_fit();
        self.events = events;
    }

    /// The log from a set of events in any order: sorted, one copy per id
    /// (the smallest encoding), the others kept as conflicting duplicates.
    pub(crate) fn load(&mut self, mut events: Vec<Event>) {
        crate::event::sort_events(&mut events);
        self.events = events;
        // Without repeated ids no index is needed now (it is built on
        // first need).
        self.index = std::sync::OnceLock::new();
        if !distinct_ids(&self.events) {
            let (kept, others) = dedup_set(std::mem::take(&mut self.events));
            self.events = kept;
            self.duplicates = others;
        }
    }

    /// A saved log and its conflicting duplicates, as saved; when an id
    /// repeats in the log, nothing is kept and both come back.
    #[allow(clippy::type_complexity)]
    pub(crate) fn restore_log(
        &mut self,
        events: Vec<Event>,
        duplicates: Vec<Event>,
    ) -> Result<(), (Vec<Event>, Vec<Event>)> {
        self.events = events;
        self.index = std::sync::OnceLock::new();
        if distinct_ids(&self.events) {
            self.duplicates = duplicates;
            Ok(())
        } else {
            Err((std::mem::take(&mut self.events), duplicates))
        }
    }

    /// The log and the conflicting duplicates, taken out.
    pub(crate) fn into_events(self) -> (Vec<Event>, Vec<Event>) {
        (self.events, self.duplicates)
    }

    /// Drops the checkpoints that lie after log position `pos` (their
    /// prefix of the log changed) and returns the last one left, if any.
    pub(crate) fn checkpoint_at_or_before(&mut self, pos: usize) -> Option<&Checkpoint> {
        let keep = self.checkpoints.partition_point(|c| c.pos <= pos);
        self.checkpoints.truncate(keep);
        self.checkpoints.last()
    }
}

/// The canonical encoding of an event: its JSON text. Two copies of an id
/// are the same event when their encodings are equal; otherwise the one
/// with the smaller encoding is kept.
pub(crate) fn canonical(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_else(|_| format!("{event:?}"))
}

/// Keeps, for each id of a set known to repeat ids, the copy with the
/// smallest canonical encoding; returns the kept events sorted by
/// `(at, id)` and the distinct other copies (sorted by encoding).
pub(crate) fn dedup_set(events: Vec<Event>) -> (Vec<Event>, Vec<Event>) {
    let mut by_id: IdMap<EventId, Vec<Event>> = IdMap::default();
    for e in events {
        by_id.entry(e.id.clone()).or_default().push(e);
    }
    let mut kept = Vec::with_capacity(by_id.len());
    let mut others = Vec::new();
    for (_, copies) in by_id {
        if let Some((keep, rest)) = choose(copies) {
            kept.push(keep);
            others.extend(rest);
        }
    }
    crate::event::sort_events(&mut kept);
    others.sort_by_cached_key(canonical);
    (kept, others)
}

/// Of several copies of one id, the copy to keep and the distinct others
/// (`None` for no copies).
pub(crate) fn choose(copies: Vec<Event>) -> Option<(Event, Vec<Event>)> {
    let mut coded: Vec<(String, Event)> = copies.into_iter().map(|e| (canonical(&e), e)).collect();
    coded.sort_by(|a, b| a.0.cmp(&b.0));
    coded.dedup_by(|a, b| a.0 == b.0);
    let mut it = coded.into_iter().map(|(_, e)| e);
    let first = it.next()?;
    Some((first, it.collect()))
}

/// Whether no two events share an id.
fn distinct_ids(events: &[Event]) -> bool {
    let mut seen: crate::hash::IdSet<&str> =
        crate::hash::IdSet::with_capacity_and_hasher(events.len(), Default::default());
    events.iter().all(|e| seen.insert(e.id.as_str()))
}

/// The id index of a log: the time of each id's event.
fn index_of(events: &[Event]) -> IdTable<Timestamp> {
    let mut index = IdTable::default();
    index.reserve(events.len());
    for e in events {
        index.insert(e.id.clone(), e.at);
    }
    index
}

/// Inserts `copy` into a list sorted by canonical encoding, unless an equal
/// copy is there.
pub(crate) fn insert_duplicate(list: &mut Vec<Event>, copy: Event) {
    let code = canonical(&copy);
    match list.binary_search_by(|e| canonical(e).cmp(&code)) {
        Ok(_) => {}
        Err(i) => list.insert(i, copy),
    }
}

/// A lead's history as text (see [`Lead::timeline`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    lead: &'a Lead,
}

impl std::fmt::Display for Timeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lc = &self.lead.lifecycle;
        for (i, t) in self.lead.history().iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let from = t.from.map_or("(new)", |s| lc.name(s));
            write!(
                f,
                "{}  {from} -> {}  {} by {}",
                t.at.format("%Y-%m-%d %H:%M UTC"),
                lc.name(t.to),
                t.kind,
                t.actor
            )?;
            if let Some(r) = &t.reason {
                match &r.note {
                    Some(note) => write!(f, " ({}: {note})", r.code)?,
                    None => write!(f, " ({})", r.code)?,
                }
            }
            if !t.skipped.is_empty() {
                let names: Vec<&str> = t.skipped.iter().map(|s| lc.name(*s)).collect();
                write!(f, ", skipped {}", names.join(", "))?;
            }
        }
        Ok(())
    }
}

/// Merges two logs sorted by `(at, id)` into one.
fn merge_sorted(a: Vec<Event>, b: Vec<Event>) -> Vec<Event> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.key() <= y.key(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b.next() };
        if let Some(e) = next {
            out.push(e);
        }
    }
    out
}
