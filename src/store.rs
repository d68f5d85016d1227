//! An in-memory book of leads that routes events by lead id and merges
//! anonymous visitors into known leads on identification.

use std::collections::{BTreeMap, HashMap};

use crate::engine::{Engine, Outcome};
use crate::event::{Event, EventBody};
use crate::lead::Lead;
use crate::lifecycle::{SlaState, StageKind};
use crate::types::{LeadId, Timestamp};

/// Leads keyed by id, with identity resolution.
///
/// When lead `L` is identified as visitor `V` (an
/// [`EventBody::Identified`] event on `L`), every event of `V` — those
/// already ingested and those that arrive later — belongs to `L`, and `V`
/// resolves to `L`. The merged lead is the fold of the union of both logs, so
/// the result does not depend on whether the visitor's events arrive before
/// or after the identification. Identification chains resolve
/// transitively; the first identification that joins two leads wins, and one
/// that would join a lead with itself only records the event.
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
/// let ada = store.lead(&"visitor-7".into()).unwrap();
/// assert_eq!(ada.id().as_str(), "ada");
/// assert_eq!(ada.events().len(), 2);
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LeadStore {
    engine: Engine,
    leads: BTreeMap<LeadId, Lead>,
    aliases: HashMap<LeadId, LeadId>,
}

/// Counts of leads against their SLA at a point in time, and the historical
/// compliance of SLA stages already left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SlaReport {
    /// Leads in an SLA stage with time left.
    pub within: Vec<LeadId>,
    /// Leads in an SLA stage whose deadline is within the warning window.
    pub due_soon: Vec<LeadId>,
    /// Leads in an SLA stage past its deadline.
    pub past_due: Vec<LeadId>,
    /// SLA stages left on time (any move out counts: accepted, recycled,
    /// disqualified).
    pub met: u64,
    /// SLA stages left late.
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

impl LeadStore {
    /// An empty store folding with `engine`.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            leads: BTreeMap::new(),
            aliases: HashMap::new(),
        }
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
        let mut cur = id;
        // Aliases always point at a lead that was a root when the alias was
        // made, so chains are acyclic; the bound is a second guard.
        for _ in 0..=self.aliases.len() {
            match self.aliases.get(cur) {
                Some(next) => cur = next,
                None => break,
            }
        }
        cur.clone()
    }

    /// Routes an event to its lead (creating the lead on its first event)
    /// and ingests it leniently, as [`Engine::ingest`] does. An
    /// identification first merges the visitor's lead into the identified one.
    pub fn ingest(&mut self, event: Event) -> Outcome {
        let target = self.resolve(&event.lead);
        if let EventBody::Identified { visitor } = &event.body {
            let root = self.resolve(visitor);
            if root != target {
                self.aliases.insert(root.clone(), target.clone());
                if let Some(merged) = self.leads.remove(&root) {
                    let lead = self
                        .leads
                        .entry(target.clone())
                        .or_insert_with(|| self.engine.new_lead(target.clone()));
                    let mut events = std::mem::take(&mut lead.events);
                    events.extend(merged.events);
                    *lead = self.engine.replay(target.clone(), events);
                }
            }
        }
        let lead = self
            .leads
            .entry(target.clone())
            .or_insert_with(|| self.engine.new_lead(target));
        self.engine.ingest(lead, event)
    }

    /// Ingests many events. Equivalent to calling [`LeadStore::ingest`] on
    /// each, but folds each lead once: identifications are resolved first,
    /// then every lead is replayed from its events.
    pub fn ingest_all(&mut self, events: impl IntoIterator<Item = Event>) {
        let events: Vec<Event> = events.into_iter().collect();
        for event in &events {
            if let EventBody::Identified { visitor } = &event.body {
                let target = self.resolve(&event.lead);
                let root = self.resolve(visitor);
                if root != target {
                    self.aliases.insert(root, target);
                }
            }
        }
        let mut grouped: HashMap<LeadId, Vec<Event>> = HashMap::new();
        for (id, lead) in std::mem::take(&mut self.leads) {
            let root = self.resolve(&id);
            grouped.entry(root).or_default().extend(lead.events);
        }
        for event in events {
            grouped
                .entry(self.resolve(&event.lead))
                .or_default()
                .push(event);
        }
        for (id, events) in grouped {
            let lead = self.engine.replay(id.clone(), events);
            self.leads.insert(id, lead);
        }
    }

    /// Every lead's SLA status at `now`, and the compliance of SLA stages
    /// already left.
    pub fn sla_report(&self, now: Timestamp) -> SlaReport {
        let lc = self.engine.lifecycle();
        let mut report = SlaReport::default();
        for lead in self.leads.values() {
            if let Some(status) = self.engine.sla(lead, now) {
                let bucket = match status.state {
                    SlaState::Within => &mut report.within,
                    SlaState::DueSoon => &mut report.due_soon,
                    SlaState::PastDue => &mut report.past_due,
                };
                bucket.push(lead.id.clone());
            }
            let history = lead.history();
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
}
