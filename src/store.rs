//! An in-memory book of leads that routes events by lead id and merges
//! anonymous visitors into known leads on identification, with an
//! order-independent claim rule.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, IngestStatus, Mode, Origin, Outcome, multiset_diff};
use crate::error::EventError;
use crate::event::{Event, EventBody};
use crate::hash::{IdMap, IdSet, IdTable};
use crate::lead::{Lead, canonical, choose};
use crate::lifecycle::{SlaState, StageKind, sla_status};
use crate::persist::{RestoreError, SavedLead};
use crate::types::{EventId, LeadId, Timestamp};
use std::num::NonZeroUsize;

/// Leads keyed by id, with identity resolution.
///
/// # Identity claims
///
/// An [`EventBody::Identified`] event on lead `L` naming visitor `V` is a
/// *claim*: `V`'s events, past and future, belong to `L`. Claims are
/// resolved as a function of the set of claims, never of arrival order:
///
/// * Claims are taken in `(at, event id)` order. A claim is **accepted**
///   when no earlier claim took `V` and `V` does not already resolve to the
///   same lead as `L` (which would close a cycle or claim a lead for
///   itself). Otherwise it is a **conflict**, kept and reported by
///   [`LeadStore::identity_conflicts`].
/// * So a visitor is claimed by at most one lead: two known leads that
///   identify the same shared device are never merged; the earliest claim
///   takes the visitor.
/// * Accepted claims form chains (`A` identifies `B`, `B` identifies `C`):
///   every member resolves to the one member nobody claimed, whose id the
///   merged lead carries. A cycle (`A` identifies `B`, `B` identifies `A`)
///   keeps its earliest claim.
/// * The merged lead is the fold of the union of its members' events, so
///   it does not matter whether the visitor's events arrive before or after
///   the identification.
///
/// Cost: a claim that arrives after every claim already seen, or whose
/// visitor has no other claim, merges in time proportional to the smaller
/// of the two logs (chains delivered in any order stay near linear); a
/// claim on a visitor already claimed earlier in time loses at once. Any
/// other late claim (one that may change which claim wins: a displaced
/// shared visitor, a cycle) re-resolves every claim, linear in the claims,
/// and refolds the leads whose members changed. [`LeadStore::ingest_all`] resolves a whole stream once.
///
/// # Persistence
///
/// [`LeadStore::save`] gives a serializable [`SavedStore`] (every lead's log
/// and state cache, and the alias map for readers);
/// [`LeadStore::restore`] validates it against the engine and rebuilds the
/// claims from the logs. Events stay the source of truth: a store can
/// always be rebuilt with [`LeadStore::ingest_all`] from the events.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use leadflow::{Actor, Engine, Event, EventBody, LeadStore, Source};
///
/// let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
/// let mut store = LeadStore::new(engine);
/// let t = |h| Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap();
/// store.ingest(Event::new("v1", "visitor-7", t(9), EventBody::Created {
///     stage: "Anonymous".into(), source: Source::Marketing, actor: Actor::System }));
/// store.ingest(Event::new("e2", "ada", t(10), EventBody::Identified { visitor: "visitor-7".into() }));
/// // A second lead on the same device does not take the visitor.
/// store.ingest(Event::new("e3", "bob", t(11), EventBody::Identified { visitor: "visitor-7".into() }));
/// let ada = store.lead(&"visitor-7".into()).unwrap();
/// assert_eq!(ada.id().as_str(), "ada");
/// assert_eq!(ada.events().len(), 2);
/// assert_eq!(store.identity_conflicts().len(), 1);
/// assert_eq!(store.len(), 2);
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LeadStore {
    engine: Engine,
    /// Leads by root id.
    leads: BTreeMap<LeadId, Lead>,
    /// Members of a merged group to the group's slot; ids without an entry
    /// are their own root.
    group_of: IdMap<LeadId, usize>,
    groups: Vec<Group>,
    /// Every claim seen, by `(at, event id)`.
    claims: BTreeMap<(Timestamp, EventId), Claim>,
    /// The key of each claim event id (to find a second copy of it).
    claim_keys: IdMap<EventId, Timestamp>,
    /// How many claims name each visitor.
    visitor_claims: IdMap<LeadId, u32>,
    /// Every event id the store holds, and the lead its kept copy names.
    ids: IdTable<LeadId>,
    /// The accepted claim of each claimed visitor.
    accepted: IdMap<LeadId, (Timestamp, EventId)>,
    conflicts: BTreeMap<(Timestamp, EventId), IdentityConflict>,
    /// Threads a large `ingest_all` folds its leads on.
    threads: NonZeroUsize,
}

/// A batch of at least this many events has its leads folded on several
/// threads (below it, starting threads would cost more than it saves).
pub const PARALLEL_FOLD_EVENTS: usize = 1 << 16;

/// One lead's share of a batch: the lead, its events, how they were routed.
type FoldJob<'a> = (&'a mut Lead, Vec<Event>, Origin);

/// Runs `work` on each job on up to `threads` threads (the calling one
/// included), in the order of `size`, largest first, each thread taking
/// the next job when done. A helper the system refuses to start leaves its
/// share to the others.
fn on_threads<J: Send>(
    mut jobs: Vec<J>,
    size: impl Fn(&J) -> usize,
    threads: NonZeroUsize,
    work: impl Fn(J) + Sync,
) {
    // Taken from the back: the largest last in the list, first out.
    jobs.sort_by_key(size);
    let helpers = threads.get().min(jobs.len()).saturating_sub(1);
    let queue = std::sync::Mutex::new(jobs);
    let drain = || {
        loop {
            // A poisoned queue (a job panicked on another thread, which
            // the scope re-raises) still hands out its jobs.
            let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(job) = job else {
                break;
            };
            work(job);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            let started = std::thread::Builder::new()
                .name("leadflow-fold".into())
                .spawn_scoped(scope, drain);
            if started.is_err() {
                break;
            }
        }
        drain();
    });
}

/// The claims decided: accepted claims by visitor, each visitor's
/// claimer, and the conflicts.
#[derive(Default)]
struct Decided {
    accepted: IdMap<LeadId, (Timestamp, EventId)>,
    parent: IdMap<LeadId, LeadId>,
    conflicts: BTreeMap<(Timestamp, EventId), IdentityConflict>,
}

#[derive(Debug, Clone)]
struct Group {
    root: LeadId,
    members: Vec<LeadId>,
}

#[derive(Debug, Clone)]
struct Claim {
    lead: LeadId,
    visitor: LeadId,
}

/// An identification the store did not accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdentityConflict {
    /// The `identified` event.
    pub event: EventId,
    /// When it happened.
    pub at: Timestamp,
    /// The lead that made the claim.
    pub lead: LeadId,
    /// The visitor it claimed.
    pub visitor: LeadId,
    /// Why it was not accepted.
    pub reason: ConflictReason,
}

/// Why a claim was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictReason {
    /// An earlier claim (by `(at, id)`) took the visitor.
    AlreadyClaimed {
        /// The accepted claim's event.
        by: EventId,
        /// The lead that holds the visitor.
        lead: LeadId,
    },
    /// The visitor already resolves to the claiming lead (a lead claiming
    /// itself, or a claim that would close a cycle).
    SameLead,
}

/// Counts of leads against their SLA at a point in time, and the historical
/// compliance of SLA stays left by then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaReport {
    /// Leads in an SLA stage with time left.
    pub within: Vec<LeadId>,
    /// Leads in an SLA stage whose deadline is within the warning window.
    pub due_soon: Vec<LeadId>,
    /// Leads in an SLA stage past its deadline.
    pub past_due: Vec<LeadId>,
    /// SLA stays left on time by `now` (any move out counts: accepted,
    /// recycled, disqualified).
    pub met: u64,
    /// SLA stays left late by `now`.
    pub missed: u64,
}

impl SlaReport {
    /// The share of SLA stays left on time, counting leads still in an SLA
    /// stage past due as missed; `None` when there is nothing to count.
    pub fn compliance(&self) -> Option<f64> {
        let missed = self.missed + self.past_due.len() as u64;
        let total = self.met + missed;
        (total > 0).then(|| self.met as f64 / total as f64)
    }
}

/// How one lead would change under another config (see
/// [`LeadStore::preview`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RescoreChange {
    /// The lead.
    pub lead: LeadId,
    /// Its stage now (by name; `None` before its first event).
    pub stage_before: Option<String>,
    /// Its stage under the new config.
    pub stage_after: Option<String>,
    /// Its score now.
    pub score_before: rust_decimal::Decimal,
    /// Its score under the new config.
    pub score_after: rust_decimal::Decimal,
}

/// A whole store as saved: every lead (log and state cache) and, for
/// readers, the alias map. See [`LeadStore::save`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedStore {
    /// The leads.
    pub leads: Vec<SavedLead>,
    /// Every merged member's root (informational: restore recomputes it
    /// from the claims in the logs and checks it).
    pub aliases: BTreeMap<LeadId, LeadId>,
}

impl LeadStore {
    /// An empty store folding with `engine`.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            leads: BTreeMap::new(),
            group_of: IdMap::default(),
            groups: Vec::new(),
            claims: BTreeMap::new(),
            claim_keys: IdMap::default(),
            visitor_claims: IdMap::default(),
            ids: IdTable::default(),
            accepted: IdMap::default(),
            conflicts: BTreeMap::new(),
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// The same store, folding the leads of a large
    /// [`LeadStore::ingest_all`] batch (at least [`PARALLEL_FOLD_EVENTS`]
    /// events) on up to `threads` threads: the calling thread and scoped
    /// helpers, ended before the call returns. The default is the
    /// machine's available parallelism; one thread folds everything on
    /// the calling thread. Leads fold independently, so the result is the
    /// same whatever the number.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// let engine = leadflow::Engine::from_json(r#"{"lifecycle": {"preset": "waterfall"}}"#)?;
    /// let store = leadflow::LeadStore::new(engine).with_threads(NonZeroUsize::MIN);
    /// assert_eq!(store.threads().get(), 1);
    /// # Ok::<(), leadflow::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_threads(mut self, threads: NonZeroUsize) -> Self {
        self.threads = threads;
        self
    }

    /// The most threads a large batch is folded on (see
    /// [`LeadStore::with_threads`]).
    pub fn threads(&self) -> NonZeroUsize {
        self.threads
    }

    /// Whether `events` events over `leads` leads are folded on several
    /// threads.
    fn spreads(&self, events: usize, leads: usize) -> bool {
        self.threads.get() > 1 && events >= PARALLEL_FOLD_EVENTS && leads > 1
    }

    /// The engine the store folds with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The lead an id resolves to (following identifications).
    pub fn lead(&self, id: &LeadId) -> Option<&Lead> {
        self.leads.get(&self.resolve(id))
    }

    /// All leads, ordered by id. Merged visitors are not listed separately.
    pub fn leads(&self) -> impl Iterator<Item = &Lead> {
        self.leads.values()
    }

    /// How many leads the store holds.
    pub fn len(&self) -> usize {
        self.leads.len()
    }

    /// Whether the store holds no lead.
    pub fn is_empty(&self) -> bool {
        self.leads.is_empty()
    }

    /// The id that `id` resolves to after identifications.
    pub fn resolve(&self, id: &LeadId) -> LeadId {
        self.group_of
            .get(id)
            .and_then(|&g| self.groups.get(g))
            .map_or_else(|| id.clone(), |g| g.root.clone())
    }

    /// Every merged member and the root it resolves to, by member id.
    pub fn aliases(&self) -> BTreeMap<LeadId, LeadId> {
        self.group_of
            .iter()
            .filter_map(|(m, &g)| {
                let root = &self.groups.get(g)?.root;
                (m != root).then(|| (m.clone(), root.clone()))
            })
            .collect()
    }

    /// Identifications not accepted, in `(at, event id)` order.
    pub fn identity_conflicts(&self) -> Vec<IdentityConflict> {
        self.conflicts.values().cloned().collect()
    }

    /// Routes an event to its lead (creating the lead on its first event)
    /// and ingests it leniently, as [`Engine::ingest`] does. An accepted
    /// identification first merges the visitor's lead into the identifying
    /// one; the outcome's change is the whole change to the lead the event
    /// names, merges included.
    ///
    /// Event ids are global in a store: two copies of one id are one event,
    /// even when they name different leads, and the copy with the smallest
    /// canonical encoding is kept (so only a kept `identified` copy is a
    /// claim). A conflicting copy that spans two leads or involves an
    /// identification rebuilds the store from its event set (rare, and
    /// linear in the store).
    pub fn ingest(&mut self, event: Event) -> Outcome {
        if let Err(kind) = Engine::check_alone(&event, None) {
            let err = EventError {
                event: event.id.clone(),
                kind,
            };
            let target = self.engine.new_lead(event.lead.clone());
            return self.engine.outcome(&target, IngestStatus::Rejected(err));
        }
        let claim = matches!(event.body, EventBody::Identified { .. });
        let known = self.ids.get(&event.id).cloned();
        let fresh = known.is_none();
        if let Some(member) = known {
            let kept = self.kept_copy(&member, &event.id);
            let same_content = kept
                .as_ref()
                .is_some_and(|k| canonical(k) == canonical(&event));
            let simple = kept.as_ref().is_some_and(|k| {
                !claim
                    && !matches!(k.body, EventBody::Identified { .. })
                    && self.resolve(&member) == self.resolve(&event.lead)
            });
            if !same_content && !simple {
                return self.rebuild_with(event);
            }
        }
        let snapshot = claim.then(|| self.snapshot(&event.lead));
        if let EventBody::Identified { visitor } = &event.body {
            self.add_claim(&event, visitor);
        }
        let target = self.resolve(&event.lead);
        let id = event.id.clone();
        let member = event.lead.clone();
        let engine = &self.engine;
        let lead = self
            .leads
            .entry(target.clone())
            .or_insert_with(|| engine.new_lead(target));
        // An id the store never held is new to the lead too: the lead's
        // own id index is not consulted (nor built).
        let mode = if fresh {
            Mode::ROUTED_FRESH
        } else {
            Mode::ROUTED
        };
        let mut out = match engine.insert(lead, event, mode) {
            Ok(out) => out,
            Err(err) => engine.outcome(lead, IngestStatus::Rejected(err)),
        };
        match out.status {
            IngestStatus::Applied
            | IngestStatus::Ignored(_)
            | IngestStatus::ConflictingDuplicate { replaced: true } => {
                self.ids.insert(id, member.clone());
            }
            _ => {}
        }
        if let Some(before) = snapshot {
            self.report_since(&before, &member, &mut out);
        }
        out
    }

    /// The copy of `id` kept in the log of `member`'s lead.
    fn kept_copy(&self, member: &LeadId, id: &EventId) -> Option<Event> {
        let lead = self.lead(member)?;
        lead.position(id)
            .and_then(|p| lead.events().get(p))
            .cloned()
    }

    /// The lead `member` resolves to, as it is now: what an outcome's
    /// change is measured against.
    fn snapshot(&self, member: &LeadId) -> Snapshot {
        match self.lead(member) {
            Some(lead) => Snapshot {
                stage: lead.state.stage.current(),
                grade: lead.state.grade,
                history: lead.history().to_vec(),
                ignored: lead.ignored().to_vec(),
                wins: lead.wins().to_vec(),
            },
            None => Snapshot {
                stage: self.engine.lifecycle().initial(),
                grade: None,
                history: Vec::new(),
                ignored: Vec::new(),
                wins: Vec::new(),
            },
        }
    }

    /// Replaces the outcome's change by the change from `before` to the lead
    /// `member` resolves to now.
    fn report_since(&self, before: &Snapshot, member: &LeadId, out: &mut Outcome) {
        let Some(lead) = self.lead(member) else {
            return;
        };
        let (added, retracted) = multiset_diff(&before.history, lead.history());
        let (now_ignored, gone) = multiset_diff(&before.ignored, lead.ignored());
        let (wins_added, wins_retracted) = multiset_diff(&before.wins, lead.wins());
        out.wins_added = wins_added;
        out.wins_retracted = wins_retracted;
        out.stage_before = before.stage;
        out.stage_after = lead.state.stage.current();
        out.grade_before = before.grade;
        out.grade_after = lead.state.grade;
        out.transitions = added;
        out.retracted = retracted;
        out.unignored = gone
            .into_iter()
            .filter(|e| !lead.ignored().iter().any(|n| n.event == e.event))
            .map(|e| e.event)
            .collect();
        out.now_ignored = now_ignored
            .into_iter()
            .filter(|e| !matches!(&out.status, IngestStatus::Ignored(own) if own.event == e.event))
            .collect();
        out.refolded = true;
    }

    /// Adds `event` by rebuilding the store from its event set.
    fn rebuild_with(&mut self, event: Event) -> Outcome {
        let before = self.snapshot(&event.lead);
        let member = event.lead.clone();
        let id = event.id.clone();
        let code = canonical(&event);
        let mut all = self.take_events();
        all.push(event);
        self.load(all);
        let kept_is_new = self
            .ids
            .get(&id)
            .and_then(|m| self.kept_copy(m, &id))
            .is_some_and(|k| canonical(&k) == code);
        let mut out = match self.lead(&member) {
            Some(lead) => self.engine.outcome(
                lead,
                IngestStatus::ConflictingDuplicate {
                    replaced: kept_is_new,
                },
            ),
            None => {
                let lead = self.engine.new_lead(member.clone());
                self.engine.outcome(
                    &lead,
                    IngestStatus::ConflictingDuplicate {
                        replaced: kept_is_new,
                    },
                )
            }
        };
        self.report_since(&before, &member, &mut out);
        out
    }

    /// Every event the store holds (kept copies and conflicting ones),
    /// leaving it empty.
    fn take_events(&mut self) -> Vec<Event> {
        let mut all = Vec::new();
        for (_, lead) in std::mem::take(&mut self.leads) {
            let (events, duplicates) = lead.into_events();
            all.extend(events);
            all.extend(duplicates);
        }
        *self = Self::new(self.engine.clone()).with_threads(self.threads);
        all
    }

    /// Fills an empty store from an event set: one kept copy per id (the
    /// smallest canonical encoding), claims from the kept `identified`
    /// copies, then each lead folded once from its members' events.
    fn load(&mut self, events: Vec<Event>) {
        let mut by_id: IdMap<EventId, Vec<Event>> = IdMap::default();
        for e in events {
            by_id.entry(e.id.clone()).or_default().push(e);
        }
        let mut chosen: Vec<(Event, Vec<Event>)> = Vec::with_capacity(by_id.len());
        for (_, copies) in by_id {
            if let Some(pick) = choose(copies) {
                chosen.push(pick);
            }
        }
        for (kept, _) in &chosen {
            self.ids.insert(kept.id.clone(), kept.lead.clone());
            if let EventBody::Identified { visitor } = &kept.body {
                self.record_claim(kept, visitor);
            }
        }
        self.reresolve();
        let mut by_root: IdMap<LeadId, Vec<Event>> = IdMap::default();
        for (kept, others) in chosen {
            let events = by_root.entry(self.resolve(&kept.lead)).or_default();
            events.push(kept);
            events.extend(others);
        }
        let total: usize = by_root.values().map(Vec::len).sum();
        if self.spreads(total, by_root.len()) {
            // Replayed on several threads, like a large batch.
            let done = std::sync::Mutex::new(Vec::with_capacity(by_root.len()));
            let engine = &self.engine;
            on_threads(
                by_root.into_iter().collect(),
                |(_, events)| events.len(),
                self.threads,
                |(root, events): (LeadId, Vec<Event>)| {
                    let lead = engine.replay(root.clone(), events);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((root, lead));
                },
            );
            self.leads
                .extend(done.into_inner().unwrap_or_else(|e| e.into_inner()));
        } else {
            for (root, events) in by_root {
                let lead = self.engine.replay(root.clone(), events);
                self.leads.insert(root, lead);
            }
        }
    }

    /// Ingests many events. The result equals calling
    /// [`LeadStore::ingest`] on each, in any order, but claims are resolved
    /// once and each lead takes its events as one batch (at most one refold
    /// per lead). A batch that repeats an id the store or the batch already
    /// has with other content is loaded by rebuilding the store from the
    /// union of the event sets. A batch of at least
    /// [`PARALLEL_FOLD_EVENTS`] events folds (or rebuilds) its leads on up
    /// to [`LeadStore::threads`] threads, scoped to the call; the result
    /// is the same on one. Returns the events the engine refuses on their
    /// own (a blank id, a non-finite attribute), in arrival order: they are
    /// not kept, as [`LeadStore::ingest`] would report them `Rejected`.
    /// Events the fold ignores (a move the lifecycle refuses) are kept and
    /// listed by [`Lead::ignored`](crate::Lead::ignored), as always.
    ///
    /// Cost: O(n) to route the events plus one fold per lead touched
    /// (sorting a lead's events when they arrive out of order:
    /// O(n log n) at worst).
    pub fn ingest_all(&mut self, events: impl IntoIterator<Item = Event>) -> Vec<EventError> {
        // New ids go straight to the list of the lead they name: one map
        // lookup per event, one move. Events naming the same lead share
        // one copy of its id (the first event's). Ids seen before (in the
        // store or earlier in the batch) are set aside and settled after
        // (rare).
        let mut by_name: IdMap<LeadId, (LeadId, Vec<Event>)> = IdMap::default();
        let mut repeats: Vec<Event> = Vec::new();
        let mut rejected = Vec::new();
        for mut event in events {
            if let Err(kind) = Engine::check_alone(&event, None) {
                rejected.push(EventError {
                    event: event.id,
                    kind,
                });
                continue;
            }
            let Some(slot) = self.ids.vacant(&event.id) else {
                repeats.push(event);
                continue;
            };
            let list = match by_name.get_mut(&event.lead) {
                Some((name, list)) => {
                    event.lead = name.clone();
                    list
                }
                None => {
                    let name = event.lead.clone();
                    &mut by_name.entry(name.clone()).or_insert((name, Vec::new())).1
                }
            };
            slot.insert(event.lead.clone());
            if let EventBody::Identified { visitor } = &event.body {
                // Claims are recorded as they come; a conflict below
                // rebuilds the store from scratch anyway.
                let visitor = visitor.clone();
                self.record_claim(&event, &visitor);
            }
            list.push(event);
        }
        let (conflict, late) = self.settle_repeats(&by_name, repeats);
        if conflict {
            // The ids and claims just recorded go with the rebuild's fresh
            // store.
            let mut all = self.take_events();
            for (_, (_, list)) in by_name {
                all.extend(list);
            }
            all.extend(late);
            self.load(all);
            return rejected;
        }
        self.insert_routed(by_name, late);
        rejected
    }

    /// The second half of `ingest_all`: each lead takes the lists of its
    /// names (ids new to the store) and the repeats settled as simple, as
    /// one batch.
    fn insert_routed(&mut self, by_name: IdMap<LeadId, (LeadId, Vec<Event>)>, late: Vec<Event>) {
        self.reresolve();
        // Per lead: the lists of ids new to the store, and whether a
        // repeat of an id it holds goes with them.
        let mut by_root: IdMap<LeadId, (Vec<Vec<Event>>, bool)> = IdMap::default();
        for (name, (_, list)) in by_name {
            by_root.entry(self.resolve(&name)).or_default().0.push(list);
        }
        for event in late {
            let (lists, repeats) = by_root.entry(self.resolve(&event.lead)).or_default();
            lists.push(vec![event]);
            *repeats = true;
        }
        let mut work: IdMap<LeadId, (Vec<Event>, Origin)> = IdMap::default();
        let mut total = 0;
        for (root, (lists, repeats)) in by_root {
            let engine = &self.engine;
            self.leads
                .entry(root.clone())
                .or_insert_with(|| engine.new_lead(root.clone()));
            // One list (the usual case) goes in as it is.
            let all: Vec<Event> = if lists.len() == 1 {
                lists.into_iter().next().unwrap_or_default()
            } else {
                lists.into_iter().flatten().collect()
            };
            total += all.len();
            // Without repeats every id is new to the lead (the store checks
            // ids globally): nothing to claim, no id index to build.
            let origin = if repeats {
                Origin::Store
            } else {
                Origin::StoreFresh
            };
            work.insert(root, (all, origin));
        }
        if self.spreads(total, work.len()) {
            // Each lead once, by walking the map (one pass, disjoint
            // borrows).
            let jobs: Vec<FoldJob<'_>> = self
                .leads
                .iter_mut()
                .filter_map(|(id, lead)| work.remove(id).map(|(events, o)| (lead, events, o)))
                .collect();
            let engine = &self.engine;
            on_threads(
                jobs,
                |(_, events, _)| events.len(),
                self.threads,
                |(lead, events, origin)| {
                    engine.insert_batch(lead, events, origin);
                },
            );
        } else {
            for (root, (events, origin)) in work {
                if let Some(lead) = self.leads.get_mut(&root) {
                    self.engine.insert_batch(lead, events, origin);
                }
            }
        }
    }

    /// Sorts the batch's repeated ids: a copy equal to one already seen
    /// is dropped; any other copy is kept for later, and whether a copy
    /// conflicts with a different one (in the batch or the store) is
    /// returned, since a conflict rebuilds the store.
    fn settle_repeats(
        &self,
        by_name: &IdMap<LeadId, (LeadId, Vec<Event>)>,
        repeats: Vec<Event>,
    ) -> (bool, Vec<Event>) {
        let mut conflict = false;
        let mut late: Vec<Event> = Vec::new();
        if repeats.is_empty() {
            return (conflict, late);
        }
        let wanted: IdSet<&EventId> = repeats.iter().map(|e| &e.id).collect();
        let mut seen: IdMap<EventId, Event> = by_name
            .values()
            .flat_map(|(_, list)| list)
            .filter(|e| wanted.contains(&e.id))
            .map(|e| (e.id.clone(), e.clone()))
            .collect();
        for event in repeats {
            if let Some(copy) = seen.get(&event.id) {
                if canonical(copy) == canonical(&event) {
                    continue;
                }
                // Another copy of an id in the batch: keep it for the
                // rebuild, which chooses between them.
                conflict = true;
                late.push(event);
                continue;
            }
            // An id the store had before the batch.
            conflict |= self
                .ids
                .get(&event.id)
                .and_then(|m| self.kept_copy(m, &event.id))
                .is_some_and(|k| canonical(&k) != canonical(&event));
            seen.insert(event.id.clone(), event.clone());
            late.push(event);
        }
        (conflict, late)
    }

    /// Records a claim in the set; returns whether it is new. A second copy
    /// of a claim's id reaches here only with the same content: copies that
    /// differ rebuild the store from its event set (see `ingest`).
    fn record_claim(&mut self, event: &Event, visitor: &LeadId) -> bool {
        if self.claim_keys.contains_key(&event.id) {
            return false;
        }
        self.insert_claim(event, visitor);
        true
    }

    fn insert_claim(&mut self, event: &Event, visitor: &LeadId) {
        self.claim_keys.insert(event.id.clone(), event.at);
        *self.visitor_claims.entry(visitor.clone()).or_default() += 1;
        self.claims.insert(
            (event.at, event.id.clone()),
            Claim {
                lead: event.lead.clone(),
                visitor: visitor.clone(),
            },
        );
    }

    /// Adds a claim and brings the store to the resolution of the new claim
    /// set (the outcome's change is measured by the caller).
    fn add_claim(&mut self, event: &Event, visitor: &LeadId) {
        if !self.record_claim(event, visitor) {
            return;
        }
        let key = (event.at, event.id.clone());
        let root_v = self.resolve(visitor);
        // After the visitor's accepted claim in `(at, id)` order, a claim
        // loses to it whenever it arrives, and a losing claim changes no
        // other claim's fate: no re-resolve.
        if let Some(by) = self.accepted.get(visitor).cloned()
            && by < key
        {
            let holder = self
                .claims
                .get(&by)
                .map_or_else(|| root_v.clone(), |c| c.lead.clone());
            self.conflicts.insert(
                key,
                conflict(
                    event,
                    visitor,
                    ConflictReason::AlreadyClaimed {
                        by: by.1,
                        lead: holder,
                    },
                ),
            );
            return;
        }
        let last = self.claims.keys().next_back() == Some(&key);
        let only = self.visitor_claims.get(visitor).copied() == Some(1);
        let root_l = self.resolve(&event.lead);
        if !(last || (only && root_l != root_v)) {
            self.reresolve();
            return;
        }
        // Taken after every other claim (or touching nothing another claim
        // touches): deciding it now gives the sorted order's answer.
        if root_l == root_v {
            self.conflicts
                .insert(key, conflict(event, visitor, ConflictReason::SameLead));
            return;
        }
        self.accepted.insert(visitor.clone(), key);
        self.merge(&root_l, &root_v);
    }

    /// Merges the group rooted at `v` into the group rooted at `l`; `l`
    /// stays the root.
    fn merge(&mut self, l: &LeadId, v: &LeadId) {
        let gl = self.group_slot(l);
        let gv = self.group_slot(v);
        let (from, into) = match (self.groups.get(gl), self.groups.get(gv)) {
            (Some(a), Some(b)) if a.members.len() >= b.members.len() => (gv, gl),
            _ => (gl, gv),
        };
        let moved = self
            .groups
            .get_mut(from)
            .map(|g| std::mem::take(&mut g.members))
            .unwrap_or_default();
        for m in &moved {
            self.group_of.insert(m.clone(), into);
        }
        if let Some(g) = self.groups.get_mut(into) {
            g.members.extend(moved);
            g.root = l.clone();
        }
        let base = self.leads.remove(l);
        let other = self.leads.remove(v);
        let merged = match (base, other) {
            (Some(b), None) => b,
            (None, Some(mut o)) => {
                o.id = l.clone();
                o
            }
            (None, None) => return,
            (Some(b), Some(o)) => {
                // The larger log stays in place; the smaller one's events
                // go in as one batch.
                let (mut big, small) = if b.events().len() >= o.events().len() {
                    (b, o)
                } else {
                    (o, b)
                };
                big.id = l.clone();
                let (mut events, duplicates) = small.into_events();
                events.extend(duplicates);
                self.engine.insert_batch(&mut big, events, Origin::Store);
                big
            }
        };
        self.leads.insert(l.clone(), merged);
    }

    /// The group slot of a root, made on first use.
    fn group_slot(&mut self, root: &LeadId) -> usize {
        if let Some(&g) = self.group_of.get(root) {
            return g;
        }
        let g = self.groups.len();
        self.groups.push(Group {
            root: root.clone(),
            members: vec![root.clone()],
        });
        self.group_of.insert(root.clone(), g);
        g
    }

    /// Resolves the whole claim set in `(at, id)` order and refolds the
    /// leads whose members changed.
    fn reresolve(&mut self) {
        let decided = self.decide_claims();
        let new_root = self.new_roots(&decided.parent);
        let mut affected: IdSet<LeadId> = IdSet::default();
        for (id, new) in &new_root {
            let old = self.resolve(id);
            if old != *new {
                affected.insert(old);
                affected.insert(new.clone());
            }
        }
        self.rebuild_groups(&new_root, &decided.parent);
        self.accepted = decided.accepted;
        self.conflicts = decided.conflicts;
        self.refold_affected(&affected);
    }

    /// Every claim decided in `(at, id)` order, with a union-find for
    /// "already the same lead".
    fn decide_claims(&self) -> Decided {
        let mut dsu = Dsu::default();
        let mut decided = Decided::default();
        for (key, c) in &self.claims {
            let reason = if let Some(by) = decided.accepted.get(&c.visitor) {
                let lead = self
                    .claims
                    .get(by)
                    .map_or_else(|| c.visitor.clone(), |w| w.lead.clone());
                Some(ConflictReason::AlreadyClaimed {
                    by: by.1.clone(),
                    lead,
                })
            } else if dsu.find(&c.lead) == dsu.find(&c.visitor) {
                Some(ConflictReason::SameLead)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    decided.conflicts.insert(
                        key.clone(),
                        IdentityConflict {
                            event: key.1.clone(),
                            at: key.0,
                            lead: c.lead.clone(),
                            visitor: c.visitor.clone(),
                            reason,
                        },
                    );
                }
                None => {
                    decided.accepted.insert(c.visitor.clone(), key.clone());
                    decided.parent.insert(c.visitor.clone(), c.lead.clone());
                    dsu.union(&c.lead, &c.visitor);
                }
            }
        }
        decided
    }

    /// Every id the store knows (leads, members, claim parties, the leads
    /// events name) and the root it resolves to under `parent`.
    fn new_roots(&self, parent: &IdMap<LeadId, LeadId>) -> IdMap<LeadId, LeadId> {
        let mut ids: BTreeSet<LeadId> = self.leads.keys().cloned().collect();
        ids.extend(self.group_of.keys().cloned());
        for c in self.claims.values() {
            ids.insert(c.lead.clone());
            ids.insert(c.visitor.clone());
        }
        for lead in self.leads.values() {
            for e in lead.events() {
                ids.insert(e.lead.clone());
            }
        }
        let mut new_root: IdMap<LeadId, LeadId> = IdMap::default();
        for id in &ids {
            let root = root_of(parent, id, &mut new_root);
            new_root.insert(id.clone(), root);
        }
        new_root
    }

    /// The groups rebuilt from the new roots: every root that claims and
    /// every member.
    fn rebuild_groups(&mut self, new_root: &IdMap<LeadId, LeadId>, parent: &IdMap<LeadId, LeadId>) {
        self.groups.clear();
        self.group_of.clear();
        let claimers: HashSet<&LeadId> = parent.values().collect();
        let mut slots: IdMap<LeadId, usize> = IdMap::default();
        for (id, root) in new_root {
            if id == root && !claimers.contains(id) {
                continue;
            }
            let g = *slots.entry(root.clone()).or_insert_with(|| {
                self.groups.push(Group {
                    root: root.clone(),
                    members: Vec::new(),
                });
                self.groups.len() - 1
            });
            if let Some(group) = self.groups.get_mut(g) {
                group.members.push(id.clone());
            }
            self.group_of.insert(id.clone(), g);
        }
        for group in &mut self.groups {
            group.members.sort();
        }
    }

    /// Pools the events of the affected leads and refolds them by their
    /// new roots.
    fn refold_affected(&mut self, affected: &IdSet<LeadId>) {
        let mut pooled: IdMap<LeadId, Vec<Event>> = IdMap::default();
        for root in affected {
            if let Some(lead) = self.leads.remove(root) {
                // A conflicting copy goes where the copy kept for its id
                // goes, whatever lead it names itself.
                let (events, duplicates) = lead.into_events();
                let owner: IdMap<&EventId, &LeadId> =
                    events.iter().map(|e| (&e.id, &e.lead)).collect();
                for e in &duplicates {
                    let named = owner.get(&e.id).copied().unwrap_or(&e.lead);
                    pooled
                        .entry(self.resolve(named))
                        .or_default()
                        .push(e.clone());
                }
                drop(owner);
                for e in events {
                    let r = self.resolve(&e.lead);
                    pooled.entry(r).or_default().push(e);
                }
            }
        }
        for (root, mut events) in pooled {
            if let Some(existing) = self.leads.remove(&root) {
                let (kept, duplicates) = existing.into_events();
                events.extend(kept);
                events.extend(duplicates);
            }
            let lead = self.engine.replay(root.clone(), events);
            self.leads.insert(root, lead);
        }
    }

    /// Every lead's SLA status at `now`, and the compliance of SLA stays
    /// left by `now`. Only history at or before `now` counts: each lead's
    /// part is the one of the lead replayed from its events at or before
    /// `now`. Identity is the store's current one: a visitor identified
    /// after `now` counts as part of its lead at `now` too (it was that
    /// person all along), so one person is never counted twice.
    pub fn sla_report(&self, now: Timestamp) -> SlaReport {
        let lc = self.engine.lifecycle();
        let mut report = SlaReport::default();
        for lead in self.leads.values() {
            let history = lead.state.stage.history_until(now);
            if let Some(last) = history.last()
                && let Some(status) = sla_status(lc, last.to, last.at, now)
            {
                let bucket = match status.state {
                    SlaState::Within => &mut report.within,
                    SlaState::DueSoon => &mut report.due_soon,
                    SlaState::PastDue => &mut report.past_due,
                };
                bucket.push(lead.id.clone());
            }
            for pair in history.windows(2) {
                let [entered, left] = pair else { continue };
                if let StageKind::Sla { within, .. } = lc.kind(entered.to) {
                    match within.after(entered.at) {
                        Some(due) if left.at <= due => report.met += 1,
                        _ => report.missed += 1,
                    }
                }
            }
        }
        report
    }

    /// What a config change would do, without doing it: every lead
    /// refolded under `engine` (a dry run) and compared with its state
    /// under the store's engine at `now` — stage and score. Only leads whose
    /// stage or score would change are listed, by id. The store is not
    /// touched; adopt the new engine with a new store (`ingest_all` of the
    /// events, or [`LeadStore::restore`] of a save).
    pub fn preview(&self, engine: &Engine, now: Timestamp) -> Vec<RescoreChange> {
        let mut out = Vec::new();
        for lead in self.leads.values() {
            let mut next = lead.clone();
            engine.adopt(&mut next);
            let stage_before = self.engine.stage_at(lead, now);
            let stage_after = engine.stage_at(&next, now);
            let score_before = self.engine.score(lead, now);
            let score_after = engine.score(&next, now);
            if stage_before != stage_after || score_before != score_after {
                let name = |e: &Engine, s: Option<crate::lifecycle::StageId>| {
                    s.map(|s| e.lifecycle().name(s).to_owned())
                };
                out.push(RescoreChange {
                    lead: lead.id.clone(),
                    stage_before: name(&self.engine, stage_before),
                    stage_after: name(engine, stage_after),
                    score_before,
                    score_after,
                });
            }
        }
        out
    }

    /// The store as saved data: every lead's log and state cache, and the
    /// alias map.
    pub fn save(&self) -> SavedStore {
        SavedStore {
            leads: self.leads.values().map(SavedLead::from).collect(),
            aliases: self.aliases(),
        }
    }

    /// A store restored from saved data: each lead is restored with
    /// [`Engine::restore`] (its cache used when the fingerprint matches,
    /// refolded otherwise), and the claims are rebuilt from the
    /// `identified` events in the logs.
    ///
    /// # Errors
    /// [`RestoreError`] when a lead cannot be restored, when two saved leads
    /// share an id, or when the saved alias map is not the one the logs'
    /// claims give.
    pub fn restore(engine: Engine, saved: SavedStore) -> Result<Self, RestoreError> {
        let mut store = Self::new(engine);
        for s in saved.leads {
            // A saved event the engine would refuse (edited by hand) is an
            // error here, not dropped on the way in.
            let refused = s.events().iter().find_map(|e| {
                Engine::check_alone(e, None)
                    .err()
                    .map(|kind| (e.id.clone(), kind))
            });
            if let Some((event, kind)) = refused {
                return Err(RestoreError::Inconsistent {
                    problem: format!("saved event {:?}: {kind}", event.as_str()),
                });
            }
            let lead = store.engine.restore(s)?;
            if store.leads.contains_key(&lead.id) {
                return Err(RestoreError::DuplicateLead {
                    lead: lead.id.clone(),
                });
            }
            for e in lead.events() {
                if store.ids.insert(e.id.clone(), e.lead.clone()).is_some() {
                    return Err(RestoreError::Inconsistent {
                        problem: format!("event id {:?} is in two saved leads", e.id.as_str()),
                    });
                }
                if let EventBody::Identified { visitor } = &e.body {
                    store.insert_claim(e, visitor);
                }
            }
            store.leads.insert(lead.id.clone(), lead);
        }
        // Put the saved grouping in place as the old one, then resolve the
        // claims: a consistent save changes nothing and refolds nothing.
        for (member, root) in &saved.aliases {
            let g = store.group_slot(root);
            store.group_of.insert(member.clone(), g);
            if let Some(group) = store.groups.get_mut(g) {
                group.members.push(member.clone());
            }
        }
        let before: BTreeSet<LeadId> = store.leads.keys().cloned().collect();
        store.reresolve();
        let after: BTreeSet<LeadId> = store.leads.keys().cloned().collect();
        if store.aliases() != saved.aliases || before != after {
            return Err(RestoreError::Inconsistent {
                problem: "the saved alias map is not the one the claims in the logs give".into(),
            });
        }
        // Every kept event sits in the lead its lead id resolves to (a
        // losing copy of an id may name another lead).
        for lead in store.leads.values() {
            if let Some(e) = lead
                .events()
                .iter()
                .find(|e| store.resolve(&e.lead) != lead.id)
            {
                return Err(RestoreError::Inconsistent {
                    problem: format!(
                        "event {:?} names lead {:?} but is saved in lead {:?}",
                        e.id.as_str(),
                        e.lead.as_str(),
                        lead.id.as_str()
                    ),
                });
            }
        }
        Ok(store)
    }
}

/// A lead's stage, grade, history and ignored events at one moment.
struct Snapshot {
    stage: crate::lifecycle::StageId,
    grade: Option<crate::grading::Grade>,
    history: Vec<crate::lifecycle::Transition>,
    ignored: Vec<EventError>,
    wins: Vec<crate::lead::Win>,
}

fn conflict(event: &Event, visitor: &LeadId, reason: ConflictReason) -> IdentityConflict {
    IdentityConflict {
        event: event.id.clone(),
        at: event.at,
        lead: event.lead.clone(),
        visitor: visitor.clone(),
        reason,
    }
}

/// The root of `id` under accepted claims (`parent`: visitor → claimer),
/// memoised in `known`. Accepted claims never form a cycle.
fn root_of(
    parent: &IdMap<LeadId, LeadId>,
    id: &LeadId,
    known: &mut IdMap<LeadId, LeadId>,
) -> LeadId {
    let mut path = Vec::new();
    let mut cur = id.clone();
    let root = loop {
        if let Some(r) = known.get(&cur) {
            break r.clone();
        }
        match parent.get(&cur) {
            // The bound guards against a cycle, which acceptance rules out.
            Some(p) if path.len() <= parent.len() => {
                path.push(cur.clone());
                cur = p.clone();
            }
            _ => break cur,
        }
    };
    for p in path {
        known.insert(p, root.clone());
    }
    root
}

/// A union-find over lead ids.
#[derive(Default)]
struct Dsu {
    index: IdMap<LeadId, usize>,
    parent: Vec<usize>,
}

impl Dsu {
    fn slot(&mut self, id: &LeadId) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.index.insert(id.clone(), i);
        i
    }

    fn find(&mut self, id: &LeadId) -> usize {
        let mut i = self.slot(id);
        let mut path = Vec::new();
        while let Some(&p) = self.parent.get(i) {
            if p == i {
                break;
            }
            path.push(i);
            i = p;
        }
        for j in path {
            if let Some(slot) = self.parent.get_mut(j) {
                *slot = i;
            }
        }
        i
    }

    fn union(&mut self, a: &LeadId, b: &LeadId) {
        let (ra, rb) = (self.find(a), self.find(b));
        if let Some(slot) = self.parent.get_mut(rb) {
            *slot = ra;
        }
    }
}
