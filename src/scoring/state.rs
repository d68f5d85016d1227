//! A lead's scoring state (contributions and running group values) and the
//! score card that explains it.

use serde::{Deserialize, Serialize};

use super::{Decay, Model};
use crate::attr::{AttrValue, Attrs, lookup};
use crate::event::{Event, EventBody};
use crate::types::{EventId, Timestamp};

/// One scored contribution: points a rule (or a manual adjustment) added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contribution {
    pub(crate) at: Timestamp,
    pub(crate) points: f64,
    pub(crate) group: u16,
    /// The rule's index; `None` for a manual adjustment.
    pub(crate) rule: Option<u32>,
    /// The event's index in the lead's log.
    pub(crate) event: u32,
}

/// A group's running value, kept current at event times so qualification
/// costs O(groups) per event instead of O(contributions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    value: f64,
    at: Option<Timestamp>,
    /// For expiry: contributions before this index have been subtracted.
    live_from: u32,
}

/// A rule's firings for one lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Hit {
    rule: u32,
    count: u32,
    last: Timestamp,
}

/// The scoring part of a lead's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreState {
    contributions: Vec<Contribution>,
    runs: Vec<Run>,
    hits: Vec<Hit>,
}

/// A manual score change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Adjustment {
    /// Add points.
    Add(f64),
    /// Subtract points.
    Subtract(f64),
    /// Make the group's score exactly this, replacing its contributions.
    Set(f64),
    /// Set to zero.
    Reset,
}

impl ScoreState {
    pub(crate) fn new(model: &Model) -> Self {
        Self {
            contributions: Vec::new(),
            runs: vec![
                Run {
                    value: 0.0,
                    at: None,
                    live_from: 0,
                };
                model.groups.len()
            ],
            hits: Vec::new(),
        }
    }

    /// Makes room for `n` more contributions (a refold's estimate).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.contributions.reserve(n);
    }

    /// Scores one activity; returns the points it added, `None` when no
    /// rule fired.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn activity(
        &mut self,
        model: &Model,
        event: u32,
        at: Timestamp,
        kind: &str,
        channel: Option<&str>,
        campaign: Option<&str>,
        attrs: &Attrs,
    ) -> Option<f64> {
        let mut added = None;
        let index = model.candidates(kind)?;
        // Each attribute the kind's rules read, looked up once.
        let mut small: [Option<&AttrValue>; 8] = [None; 8];
        let large: Vec<Option<&AttrValue>>;
        let values: &[Option<&AttrValue>] = if index.attrs.len() <= small.len() {
            for (v, name) in small.iter_mut().zip(&index.attrs) {
                *v = lookup(attrs, name);
            }
            &small[..index.attrs.len()]
        } else {
            large = index.attrs.iter().map(|name| lookup(attrs, name)).collect();
            &large
        };
        for &r in &index.rules {
            let Some(rule) = model.rules.get(r as usize) else {
                continue;
            };
            if !rule.matches(at, channel, campaign, values) {
                continue;
            }
            // Only rules with a frequency limit need their firings counted.
            if rule.is_limited() {
                let slot = self.hits.binary_search_by_key(&r, |h| h.rule);
                let (count, last) = match slot {
                    Ok(i) => self
                        .hits
                        .get(i)
                        .map_or((0, None), |h| (h.count, Some(h.last))),
                    Err(_) => (0, None),
                };
                if !rule.allows(at, count, last) {
                    continue;
                }
                match slot {
                    Ok(i) => {
                        if let Some(h) = self.hits.get_mut(i) {
                            h.count = h.count.saturating_add(1);
                            h.last = at;
                        }
                    }
                    Err(i) => self.hits.insert(
                        i,
                        Hit {
                            rule: r,
                            count: 1,
                            last: at,
                        },
                    ),
                }
            }
            self.add(
                model,
                Contribution {
                    at,
                    points: rule.points,
                    group: rule.group,
                    rule: Some(r),
                    event,
                },
            );
            added = Some(added.unwrap_or(0.0) + rule.points);
        }
        added
    }

    /// Applies a manual adjustment to one group (or, for a reset with no
    /// group, to all); returns the change in raw points.
    pub(crate) fn adjust(
        &mut self,
        model: &Model,
        event: u32,
        at: Timestamp,
        group: Option<u16>,
        change: Adjustment,
    ) -> f64 {
        let g = group.unwrap_or(0);
        let delta = |points| Contribution {
            at,
            points,
            group: g,
            rule: None,
            event,
        };
        match change {
            Adjustment::Add(p) => {
                self.add(model, delta(p));
                p
            }
            Adjustment::Subtract(p) => {
                self.add(model, delta(-p));
                -p
            }
            Adjustment::Set(value) => {
                let before = self.raw(model, g, at);
                self.replace(model, at, Some(g), Some(delta(value)));
                value - before
            }
            Adjustment::Reset => {
                let groups: Vec<u16> = match group {
                    Some(g) => vec![g],
                    None => (0..model.groups.len() as u16).collect(),
                };
                let before: f64 = groups.iter().map(|&g| self.raw(model, g, at)).sum();
                self.replace(model, at, group, None);
                -before
            }
        }
    }

    /// Drops the contributions of `group` (all groups if `None`) and adds
    /// `with`, then rebuilds the running values.
    fn replace(
        &mut self,
        model: &Model,
        at: Timestamp,
        group: Option<u16>,
        with: Option<Contribution>,
    ) {
        self.contributions
            .retain(|c| group.is_some_and(|g| c.group != g));
        if let Some(c) = with {
            self.contributions.push(c);
        }
        for (g, run) in self.runs.iter_mut().enumerate() {
            let mut value = 0.0;
            let mut live_from = self.contributions.len() as u32;
            for (i, c) in self.contributions.iter().enumerate() {
                let f = model.decay.factor(c.at, at);
                if f > 0.0 && (i as u32) < live_from {
                    live_from = i as u32;
                }
                if usize::from(c.group) == g {
                    value += c.points * f;
                }
            }
            *run = Run {
                value,
                at: Some(at),
                live_from,
            };
        }
    }

    fn add(&mut self, model: &Model, c: Contribution) {
        let g = usize::from(c.group);
        self.advance(model, g, c.at);
        if let Some(run) = self.runs.get_mut(g) {
            run.value += c.points;
        }
        self.contributions.push(c);
    }

    /// Brings a group's running value to time `at` (not before its last
    /// update).
    fn advance(&mut self, model: &Model, g: usize, at: Timestamp) {
        let Some(run) = self.runs.get_mut(g) else {
            return;
        };
        match model.decay {
            Decay::None => {}
            Decay::HalfLife { .. } | Decay::Periodic { .. } => {
                if let Some(prev) = run.at
                    && at > prev
                {
                    run.value *= model.decay.factor(prev, at);
                }
            }
            Decay::Expire { secs } => {
                let mut i = run.live_from as usize;
                while let Some(c) = self.contributions.get(i) {
                    if (at - c.at).num_seconds() < secs {
                        break;
                    }
                    if usize::from(c.group) == g {
                        run.value -= c.points;
                    }
                    i += 1;
                }
                run.live_from = i as u32;
            }
        }
        if run.at.is_none_or(|prev| at > prev) {
            run.at = Some(at);
        }
    }

    /// A group's raw (uncapped) running value at `at`.
    fn raw(&mut self, model: &Model, g: u16, at: Timestamp) -> f64 {
        self.advance(model, usize::from(g), at);
        self.runs.get(usize::from(g)).map_or(0.0, |r| r.value)
    }

    /// A group's capped running score at `at`, as qualification sees it.
    pub(crate) fn group_now(&mut self, model: &Model, g: u16, at: Timestamp) -> f64 {
        let raw = self.raw(model, g, at);
        model
            .groups
            .get(usize::from(g))
            .map_or(raw, |grp| raw.clamp(grp.min, grp.max))
    }

    /// The capped running total at `at`, as qualification sees it.
    pub(crate) fn total_now(&mut self, model: &Model, at: Timestamp) -> f64 {
        let sum: f64 = (0..model.groups.len() as u16)
            .map(|g| self.group_now(model, g, at))
            .sum();
        sum.min(model.total_max)
    }

    /// The points the event at log index `event` contributed.
    pub(crate) fn points_of(&self, event: u32) -> f64 {
        self.contributions
            .iter()
            .filter(|c| c.event == event)
            .map(|c| c.points)
            .sum()
    }

    /// The score card at `at`, in closed form.
    pub(crate) fn card(&self, model: &Model, events: &[Event], at: Timestamp) -> ScoreCard {
        let mut groups: Vec<GroupCard> = model
            .groups
            .iter()
            .map(|g| GroupCard {
                group: g.name.clone(),
                entries: Vec::new(),
                raw: 0.0,
                score: 0.0,
                min: g.min.is_finite().then_some(g.min),
                max: g.max.is_finite().then_some(g.max),
            })
            .collect();
        for c in &self.contributions {
            if c.at > at {
                continue;
            }
            let factor = model.decay.factor(c.at, at);
            if factor == 0.0 {
                continue;
            }
            let Some(card) = groups.get_mut(usize::from(c.group)) else {
                continue;
            };
            let event = events.get(c.event as usize);
            let activity = match event.map(|e| &e.body) {
                Some(EventBody::Activity { kind, .. }) => Some(kind.clone()),
                _ => None,
            };
            let decayed = c.points * factor;
            card.raw += decayed;
            card.entries.push(CardEntry {
                event: event
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| EventId::new("?")),
                at: c.at,
                rule: c
                    .rule
                    .and_then(|r| model.rules.get(r as usize))
                    .map(|r| r.id.clone()),
                activity,
                points: c.points,
                decayed,
            });
        }
        let mut raw_total = 0.0;
        for (card, g) in groups.iter_mut().zip(&model.groups) {
            card.score = card.raw.clamp(g.min, g.max);
            raw_total += card.score;
        }
        ScoreCard {
            at,
            total: raw_total.min(model.total_max),
            uncapped_total: raw_total,
            total_max: model.total_max.is_finite().then_some(model.total_max),
            groups,
        }
    }
}

/// Why a lead has its score at a point in time: every contributing rule and
/// activity, per group, with points after decay and caps.
///
/// `total` is exactly `min(Σ group.score, total_max)`, and each
/// `group.score` is exactly `clamp(Σ entry.decayed, min, max)`, summed in
/// the order listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreCard {
    /// The time the card is about.
    pub at: Timestamp,
    /// The score.
    pub total: f64,
    /// The sum of the group scores before the total cap.
    pub uncapped_total: f64,
    /// The total cap, if any.
    pub total_max: Option<f64>,
    /// One card per group, in config order.
    pub groups: Vec<GroupCard>,
}

impl ScoreCard {
    /// A group's score by name.
    pub fn group(&self, name: &str) -> Option<f64> {
        self.groups
            .iter()
            .find(|g| g.group == name)
            .map(|g| g.score)
    }
}

/// One group's part of a score card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupCard {
    /// The group's name.
    pub group: String,
    /// The contributions that count at the card's time, oldest first.
    pub entries: Vec<CardEntry>,
    /// The sum of the decayed points.
    pub raw: f64,
    /// `raw` clamped to the group's caps.
    pub score: f64,
    /// The group's lower cap.
    pub min: Option<f64>,
    /// The group's upper cap.
    pub max: Option<f64>,
}

/// One contribution on a score card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CardEntry {
    /// The event that earned it.
    pub event: EventId,
    /// When.
    pub at: Timestamp,
    /// The rule that fired, `None` for a manual adjustment.
    pub rule: Option<String>,
    /// The activity kind, for activities.
    pub activity: Option<String>,
    /// The points as earned.
    pub points: f64,
    /// The points after decay at the card's time.
    pub decayed: f64,
}
