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
/// costs O(groups touched) per event instead of O(contributions). Only
/// groups a lead has contributions in have one (a model with thousands of
/// groups costs a lead nothing for the groups it never touched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    group: u16,
    value: f64,
    at: Option<Timestamp>,
    /// For expiry: contributions before this index have been subtracted.
    live_from: u32,
    /// Contributions of events before this log index were replaced by a
    /// `set` or `reset` and no longer count.
    cut: u32,
}

/// A `set` or `reset`: from its time on, the group's (or every group's)
/// earlier contributions no longer count. Kept as a record instead of
/// deleting contributions, so that a query at an earlier time still sees
/// them (the score at `t` is the score of the events at or before `t`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Supersession {
    event: u32,
    at: Timestamp,
    group: Option<u16>,
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
pub(crate) struct ScoreState {
    contributions: Vec<Contribution>,
    supersessions: Vec<Supersession>,
    runs: Vec<Run>,
    hits: Vec<Hit>,
}

/// A rewind point of a [`ScoreState`]: the lengths of its append-only lists
/// and copies of its small parts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoreMark {
    contributions: usize,
    supersessions: usize,
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
    /// Make the group's score exactly this from the event on, replacing its
    /// earlier contributions.
    Set(f64),
    /// Set to zero.
    Reset,
}

impl ScoreState {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Makes room for `n` more contributions (a refold's estimate).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.contributions.reserve(n);
    }

    /// The rewind point for the state as it is now.
    pub(crate) fn mark(&self) -> ScoreMark {
        ScoreMark {
            contributions: self.contributions.len(),
            supersessions: self.supersessions.len(),
            runs: self.runs.clone(),
            hits: self.hits.clone(),
        }
    }

    /// Rewinds to `mark`.
    pub(crate) fn rewind(&mut self, mark: &ScoreMark) {
        self.contributions.truncate(mark.contributions);
        self.supersessions.truncate(mark.supersessions);
        self.runs.clone_from(&mark.runs);
        self.hits.clone_from(&mark.hits);
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
    /// group, to all); returns the change in raw points at the event's time.
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
                self.supersede(event, at, Some(g));
                self.add(model, delta(value));
                value - before
            }
            Adjustment::Reset => {
                let before: f64 = match group {
                    Some(g) => self.raw(model, g, at),
                    None => {
                        let groups: Vec<u16> = self.runs.iter().map(|r| r.group).collect();
                        groups.into_iter().map(|g| self.raw(model, g, at)).sum()
                    }
                };
                self.supersede(event, at, group);
                -before
            }
        }
    }

    /// From `event` on, the contributions of `group` (every group if
    /// `None`) made before it no longer count.
    fn supersede(&mut self, event: u32, at: Timestamp, group: Option<u16>) {
        self.supersessions.push(Supersession { event, at, group });
        if let Some(g) = group {
            let _ = self.run_mut(g);
        }
        for run in &mut self.runs {
            if group.is_none_or(|g| g == run.group) {
                run.value = 0.0;
                run.at = Some(at);
                run.cut = event;
            }
        }
    }

    /// The run of group `g`, created at zero if the lead had none (always
    /// `Some`: found, or just inserted).
    fn run_mut(&mut self, g: u16) -> Option<&mut Run> {
        let i = match self.runs.binary_search_by_key(&g, |r| r.group) {
            Ok(i) => i,
            Err(i) => {
                self.runs.insert(
                    i,
                    Run {
                        group: g,
                        value: 0.0,
                        at: None,
                        live_from: 0,
                        cut: 0,
                    },
                );
                i
            }
        };
        self.runs.get_mut(i)
    }

    fn add(&mut self, model: &Model, c: Contribution) {
        self.advance(model, c.group, c.at);
        if let Some(run) = self.run_mut(c.group) {
            run.value += c.points;
        }
        self.contributions.push(c);
    }

    /// Brings a group's running value to time `at` (not before its last
    /// update).
    fn advance(&mut self, model: &Model, g: u16, at: Timestamp) {
        let Ok(ri) = self.runs.binary_search_by_key(&g, |r| r.group) else {
            return;
        };
        let Some(run) = self.runs.get_mut(ri) else {
            return;
        };
        let decay = model.decay_of(g);
        match decay {
            Decay::None => {}
            Decay::HalfLife { .. } | Decay::Periodic { .. } => {
                if let Some(prev) = run.at
                    && at > prev
                {
                    run.value *= decay.factor(prev, at);
                }
            }
            Decay::Expire { secs } => {
                let mut i = run.live_from as usize;
                while let Some(c) = self.contributions.get(i) {
                    if (at - c.at).num_seconds() < secs {
                        break;
                    }
                    if c.group == g && c.event >= run.cut {
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
        self.advance(model, g, at);
        self.runs
            .binary_search_by_key(&g, |r| r.group)
            .ok()
            .and_then(|i| self.runs.get(i))
            .map_or(0.0, |r| r.value)
    }

    /// A group's capped running score at `at`, as qualification sees it.
    pub(crate) fn group_now(&mut self, model: &Model, g: u16, at: Timestamp) -> f64 {
        let raw = self.raw(model, g, at);
        model
            .groups
            .get(usize::from(g))
            .map_or(raw, |grp| raw.clamp(grp.min, grp.max))
    }

    /// The capped running total at `at`, as qualification sees it: groups
    /// the lead never touched count as a raw 0 clamped to their caps.
    pub(crate) fn total_now(&mut self, model: &Model, at: Timestamp) -> f64 {
        let mut sum = model.zero_total;
        // By position: `group_now` may advance a run but never adds one, and
        // this runs for every rule at every event (no allocation).
        for i in 0..self.runs.len() {
            let Some(g) = self.runs.get(i).map(|r| r.group) else {
                break;
            };
            let zero = model
                .groups
                .get(usize::from(g))
                .map_or(0.0, |grp| 0f64.clamp(grp.min, grp.max));
            sum += self.group_now(model, g, at) - zero;
        }
        sum.min(model.total_max)
    }

    /// The score card at `at`, in closed form, from the contributions of the
    /// events at or before `at` (a `set` or `reset` after `at` does not yet
    /// hide what it replaces).
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
        let mut cuts = vec![0u32; model.groups.len()];
        let mut cut_all = 0u32;
        for s in self.supersessions.iter().take_while(|s| s.at <= at) {
            match s.group {
                None => cut_all = cut_all.max(s.event),
                Some(g) => {
                    if let Some(c) = cuts.get_mut(usize::from(g)) {
                        *c = (*c).max(s.event);
                    }
                }
            }
        }
        for c in self.contributions.iter().take_while(|c| c.at <= at) {
            let cut = cuts
                .get(usize::from(c.group))
                .copied()
                .unwrap_or(0)
                .max(cut_all);
            if c.event < cut {
                continue;
            }
            let factor = model.decay_of(c.group).factor(c.at, at);
            if factor == 0.0 {
                continue;
            }
            let Some(card) = groups.get_mut(usize::from(c.group)) else {
                continue;
            };
            let Some(event) = events.get(c.event as usize) else {
                continue;
            };
            let activity = match &event.body {
                EventBody::Activity { kind, .. } => Some(kind.clone()),
                _ => None,
            };
            let decayed = c.points * factor;
            card.raw += decayed;
            card.entries.push(CardEntry {
                event: event.id.clone(),
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
