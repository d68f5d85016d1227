//! A lead's scoring state (contributions and running group values) and the
//! score card that explains it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Decay, KindCache, Model};
use crate::attr::{AttrValue, Attrs, lookup};
use crate::event::Change;
use crate::event::{Event, EventBody};
use crate::exact::apportion;
use crate::points::{decimal, round};
use crate::types::{EventId, Timestamp};

/// The `rule` of a contribution made by a manual adjustment.
const MANUAL: u32 = u32::MAX;

/// One scored contribution: points a rule (or a manual adjustment) added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contribution {
    pub(crate) at: Timestamp,
    /// Millionths of a point (at most 10^18 in magnitude).
    pub(crate) points: i64,
    pub(crate) group: u16,
    /// The rule's index; [`MANUAL`] for a manual adjustment (a plain
    /// `u32`, not an `Option`: it keeps a contribution at 32 bytes, and a
    /// lead holds one or two per activity).
    pub(crate) rule: u32,
    /// The event's index in the lead's log.
    pub(crate) event: u32,
}

/// A group's running value, kept current at contribution times so
/// qualification costs O(groups touched) per event instead of
/// O(contributions). Only groups a lead has contributions in have one (a
/// model with thousands of groups costs a lead nothing for the groups it
/// never touched).
///
/// Without decay and under `expire_after`, `sum` is the exact value in
/// millionths. Under half-life and periodic decay, `decayed` is the value
/// at `at` (the last contribution), folded by the recurrence
/// `v ← v × factor(previous, now) + points` at each contribution; the
/// value at a later time is `round(v × factor(at, then))`. The score card
/// runs the very same recurrence over the same contributions, so the card
/// and qualification read one number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    group: u16,
    sum: i128,
    decayed: f64,
    at: Option<Timestamp>,
    /// For expiry: contributions before this index have been subtracted.
    live_from: u32,
    /// Contributions of events before this log index were replaced by a
    /// `set` or `reset` and no longer count.
    cut: u32,
}

impl Run {
    /// The group's raw value at `at` (not before its last contribution),
    /// in millionths, under the group's `decay` (expired contributions
    /// already subtracted).
    fn value_at(&self, decay: Decay, at: Timestamp) -> i128 {
        match decay {
            Decay::None | Decay::Expire { .. } => self.sum,
            Decay::HalfLife { .. } | Decay::Periodic { .. } => {
                round(step(decay, self.decayed, self.at, at))
            }
        }
    }
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

    /// Scores one activity; returns the points (millionths) it added,
    /// `None` when no rule fired.
    pub(crate) fn activity<'m>(
        &mut self,
        model: &'m Model,
        event: u32,
        at: Timestamp,
        activity: &ActivityRef<'_>,
        kinds: Option<&mut KindCache<'m>>,
    ) -> Option<i128> {
        let ActivityRef {
            kind,
            channel,
            campaign,
            attrs,
        } = *activity;
        let mut added = None;
        let index = match kinds {
            Some(cache) => model.candidates_cached(kind, cache)?,
            None => model.candidates(kind)?,
        };
        // Each attribute the kind's rules read, looked up once.
        let mut small: [Option<&AttrValue>; INLINE_ATTRS] = [None; INLINE_ATTRS];
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
        for cand in &index.rules {
            let r = cand.rule;
            // A rule without predicates (any activity of the kind) skips
            // the slice and the loop.
            if cand.from != cand.to
                && !index
                    .preds
                    .get(cand.from as usize..cand.to as usize)
                    .unwrap_or(&[])
                    .iter()
                    .all(|(slot, p)| p.test(values.get(*slot).copied().flatten()) == Some(true))
            {
                continue;
            }
            if cand.guarded
                && !model
                    .rules
                    .get(r as usize)
                    .is_some_and(|rule| rule.guards_pass(at, channel, campaign))
            {
                continue;
            }
            // Only rules with a frequency limit need their firings counted
            // (after every other check: counting is the one side effect).
            if cand.limited
                && let Some(rule) = model.rules.get(r as usize)
                && !self.count_firing(rule, r, at)
            {
                continue;
            }
            self.add(
                model,
                Contribution {
                    at,
                    points: cand.points,
                    group: cand.group,
                    rule: r,
                    event,
                },
            );
            added = Some(added.unwrap_or(0) + i128::from(cand.points));
        }
        added
    }

    /// Counts a firing of limited rule `rule` (index `r`) at `at`, if its
    /// frequency policy allows one; returns whether it did.
    fn count_firing(&mut self, rule: &super::Rule, r: u32, at: Timestamp) -> bool {
        let slot = self.hits.binary_search_by_key(&r, |h| h.rule);
        let (count, last) = match slot {
            Ok(i) => self
                .hits
                .get(i)
                .map_or((0, None), |h| (h.count, Some(h.last))),
            Err(_) => (0, None),
        };
        if !rule.allows(at, count, last) {
            return false;
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
        true
    }

    /// Applies a manual change to one group (or, for a reset with no
    /// group, to all); returns the change in raw points (millionths) it
    /// made at its place.
    pub(crate) fn adjust(
        &mut self,
        model: &Model,
        event: u32,
        at: Timestamp,
        group: Option<u16>,
        change: Change,
    ) -> i128 {
        let g = group.unwrap_or(0);
        let delta = |points| Contribution {
            at,
            points,
            group: g,
            rule: MANUAL,
            event,
        };
        match change {
            Change::Add(p) => {
                self.add(model, delta(p));
                i128::from(p)
            }
            Change::Set(value) => {
                let before = self.raw(model, g, at);
                self.supersede(event, at, Some(g));
                self.add(model, delta(value));
                i128::from(value) - before
            }
            Change::Reset => {
                let before: i128 = match group {
                    Some(g) => self.raw(model, g, at),
                    None => {
                        let mut sum = 0;
                        for i in 0..self.runs.len() {
                            if let Some(g) = self.runs.get(i).map(|r| r.group) {
                                sum += self.raw(model, g, at);
                            }
                        }
                        sum
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
                run.sum = 0;
                run.decayed = 0.0;
                run.at = Some(at);
                run.cut = event;
            }
        }
    }

    /// The run of group `g`, created at zero if the lead had none (always
    /// `Some`: found, or just inserted).
    #[inline]
    fn run_mut(&mut self, g: u16) -> Option<&mut Run> {
        // A lead touches few groups: a scan beats a binary search there.
        if self.runs.len() <= 8
            && let Some(i) = self.runs.iter().position(|r| r.group == g)
        {
            return self.runs.get_mut(i);
        }
        let i = match self.runs.binary_search_by_key(&g, |r| r.group) {
            Ok(i) => i,
            Err(i) => {
                self.runs.insert(
                    i,
                    Run {
                        group: g,
                        sum: 0,
                        decayed: 0.0,
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
        let decay = model.decay_of(c.group);
        if let Decay::Expire { .. } = decay {
            self.expire(decay, c.group, c.at);
        }
        if let Some(run) = self.run_mut(c.group) {
            match decay {
                // A sum's value does not depend on when it was last
                // added to: `at` is only kept for decaying values.
                Decay::None | Decay::Expire { .. } => run.sum += i128::from(c.points),
                Decay::HalfLife { .. } | Decay::Periodic { .. } => {
                    run.decayed = step(decay, run.decayed, run.at, c.at) + c.points as f64;
                    if run.at.is_none_or(|prev| c.at > prev) {
                        run.at = Some(c.at);
                    }
                }
            }
        }
        self.contributions.push(c);
    }

    /// Under `expire_after`, subtracts from group `g`'s sum the
    /// contributions that have expired by `at` (queries come in time
    /// order, so each contribution is subtracted once).
    fn expire(&mut self, decay: Decay, g: u16, at: Timestamp) {
        let Decay::Expire { secs } = decay else {
            return;
        };
        let Ok(ri) = self.runs.binary_search_by_key(&g, |r| r.group) else {
            return;
        };
        let Some(run) = self.runs.get_mut(ri) else {
            return;
        };
        let mut i = run.live_from as usize;
        while let Some(c) = self.contributions.get(i) {
            if super::age(c.at, at).num_seconds() < secs {
                break;
            }
            if c.group == g && c.event >= run.cut {
                run.sum -= i128::from(c.points);
            }
            i += 1;
        }
        run.live_from = i as u32;
    }

    /// A group's raw (uncapped) value at `at` (not before its last
    /// contribution), in millionths.
    fn raw(&mut self, model: &Model, g: u16, at: Timestamp) -> i128 {
        let decay = model.decay_of(g);
        self.expire(decay, g, at);
        let Some(run) = self
            .runs
            .binary_search_by_key(&g, |r| r.group)
            .ok()
            .and_then(|i| self.runs.get(i))
        else {
            return 0;
        };
        run.value_at(decay, at)
    }

    /// A group's capped score at `at`, as qualification sees it.
    pub(crate) fn group_now(&mut self, model: &Model, g: u16, at: Timestamp) -> i128 {
        let raw = self.raw(model, g, at);
        model.clamp(g, raw)
    }

    /// The capped total at `at`, as qualification sees it: groups the lead
    /// never touched count as a raw 0 clamped to their caps.
    pub(crate) fn total_now(&mut self, model: &Model, at: Timestamp) -> i128 {
        if model.has_expiry {
            // By position: `expire` never adds a run (no allocation).
            for i in 0..self.runs.len() {
                if let Some(g) = self.runs.get(i).map(|r| r.group) {
                    self.expire(model.decay_of(g), g, at);
                }
            }
        }
        // Each run read in place, as `raw` reads it: this runs for every
        // qualification rule at every event.
        let mut sum = model.zero_total;
        for run in &self.runs {
            let g = run.group;
            let raw = run.value_at(model.decay_of(g), at);
            sum += model.clamp(g, raw) - model.clamp(g, 0);
        }
        sum.min(model.total_max)
    }

    /// Walks the contributions that count at `at` (events at or before
    /// `at`; a `set` or `reset` after `at` does not yet hide what it
    /// replaces) through the same recurrence as the running values, and
    /// returns each group's raw value at `at` in millionths. `visit` sees
    /// each contribution with its share of the value at `at` (real
    /// millionths; exact without decay).
    fn walk<'s>(
        &'s self,
        model: &Model,
        at: Timestamp,
        mut visit: impl FnMut(&'s Contribution, f64),
    ) -> Vec<i128> {
        let n = model.groups.len();
        let mut sums = vec![0i128; n];
        let mut decayed = vec![0f64; n];
        let mut last: Vec<Option<Timestamp>> = vec![None; n];
        let mut cuts = vec![0u32; n];
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
            let g = usize::from(c.group);
            let cut = cuts.get(g).copied().unwrap_or(0).max(cut_all);
            if c.event < cut {
                continue;
            }
            let (Some(sum), Some(v), Some(l)) =
                (sums.get_mut(g), decayed.get_mut(g), last.get_mut(g))
            else {
                continue;
            };
            let decay = model.decay_of(c.group);
            match decay {
                Decay::None => {
                    *sum += i128::from(c.points);
                    visit(c, c.points as f64);
                }
                Decay::Expire { secs } => {
                    if super::age(c.at, at).num_seconds() < secs {
                        *sum += i128::from(c.points);
                        visit(c, c.points as f64);
                    }
                }
                Decay::HalfLife { .. } | Decay::Periodic { .. } => {
                    *v = step(decay, *v, *l, c.at) + c.points as f64;
                    if l.is_none_or(|prev| c.at > prev) {
                        *l = Some(c.at);
                    }
                    visit(c, c.points as f64 * decay.factor(c.at, at));
                }
            }
        }
        (0..n)
            .map(|g| {
                let decay = model.decay_of(g as u16);
                match decay {
                    Decay::None | Decay::Expire { .. } => sums.get(g).copied().unwrap_or(0),
                    Decay::HalfLife { .. } | Decay::Periodic { .. } => round(step(
                        decay,
                        decayed.get(g).copied().unwrap_or(0.0),
                        last.get(g).copied().flatten(),
                        at,
                    )),
                }
            })
            .collect()
    }

    /// The capped total at `at`, without building a card.
    pub(crate) fn total_at(&self, model: &Model, at: Timestamp) -> i128 {
        let raws = self.walk(model, at, |_, _| {});
        model.total(&raws).1
    }

    /// A group's capped score at `at`, without building a card.
    pub(crate) fn group_at(&self, model: &Model, g: u16, at: Timestamp) -> i128 {
        let raws = self.walk(model, at, |_, _| {});
        model.clamp(g, raws.get(usize::from(g)).copied().unwrap_or(0))
    }

    /// The score card at `at`: the values of [`walk`](Self::walk), with
    /// every contribution listed.
    pub(crate) fn card(&self, model: &Model, events: &[Event], at: Timestamp) -> ScoreCard {
        let mut listed: Vec<Vec<(&Contribution, f64)>> = vec![Vec::new(); model.groups.len()];
        let raws = self.walk(model, at, |c, share| {
            // A contribution decayed to exactly nothing is not listed.
            if share != 0.0
                && let Some(l) = listed.get_mut(usize::from(c.group))
            {
                l.push((c, share));
            }
        });
        let mut groups = Vec::with_capacity(model.groups.len());
        for ((g, raw), contributions) in model.groups.iter().zip(&raws).zip(listed) {
            let shares: Vec<f64> = contributions.iter().map(|(_, s)| *s).collect();
            // Decayed shares are real: split the group's rounded value in
            // whole millionths so that the entries sum to it exactly.
            let parts = apportion(*raw, &shares);
            let entries = contributions
                .iter()
                .zip(parts)
                .filter_map(|((c, _), part)| {
                    let event = events.get(c.event as usize)?;
                    Some(CardEntry {
                        event: event.id.clone(),
                        at: c.at,
                        // `MANUAL` is no rule index: `get` gives `None`.
                        rule: model.rules.get(c.rule as usize).map(|r| r.id.clone()),
                        activity: match &event.body {
                            EventBody::Activity { kind, .. } => Some(kind.to_string()),
                            _ => None,
                        },
                        points: decimal(i128::from(c.points)),
                        decayed: decimal(part),
                    })
                })
                .collect();
            groups.push(GroupCard {
                group: g.name.clone(),
                entries,
                raw: decimal(*raw),
                score: decimal((*raw).clamp(g.min, g.max)),
                min: (g.min != i128::MIN).then(|| decimal(g.min)),
                max: (g.max != i128::MAX).then(|| decimal(g.max)),
            });
        }
        let (uncapped, total) = model.total(&raws);
        ScoreCard {
            at,
            total: decimal(total),
            uncapped_total: decimal(uncapped),
            total_max: (model.total_max != i128::MAX).then(|| decimal(model.total_max)),
            groups,
        }
    }
}

/// The value `v` held at `from` carried to `to` by the decay (`v` itself
/// when `to` is not later).
fn step(decay: Decay, v: f64, from: Option<Timestamp>, to: Timestamp) -> f64 {
    match from {
        Some(prev) if to > prev => v * decay.factor(prev, to),
        _ => v,
    }
}

/// Why a lead has its score at a point in time: every contributing rule and
/// activity, per group, with points after decay and caps.
///
/// Every value is an exact decimal. `total` is exactly
/// `min(Σ group.score, total_max)`; each `group.score` is exactly
/// `clamp(raw, min, max)`, and each group's entries sum exactly to its
/// `raw`. Without decay (and under `expire_after`) an entry's `decayed` is
/// its `points`. Under half-life or periodic decay the group's `raw` is the
/// decayed value rounded to [`POINTS_DECIMALS`](crate::POINTS_DECIMALS)
/// places (the very number qualification compares), and the entries split
/// it in proportion to each contribution's decayed points (largest
/// remainder), so each is within a millionth of its own decayed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreCard {
    /// The time the card is about.
    pub at: Timestamp,
    /// The score.
    pub total: Decimal,
    /// The sum of the group scores before the total cap.
    pub uncapped_total: Decimal,
    /// The total cap, if any.
    pub total_max: Option<Decimal>,
    /// One card per group, in config order.
    pub groups: Vec<GroupCard>,
}

impl std::fmt::Display for ScoreCard {
    /// The score, then each group and its contributions:
    ///
    /// ```text
    /// score 65 at 2026-03-02 15:00 UTC
    ///   default 65
    ///     2026-03-02 10:00 UTC  pricing  page_view  +15, now 15  [e1]
    /// ```
    ///
    /// Each line is one contribution: the points it earned and what they
    /// are worth now, after decay (the lines of a group sum to its value).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "score {} at {}",
            self.total,
            self.at.format("%Y-%m-%d %H:%M UTC")
        )?;
        if self.uncapped_total != self.total {
            write!(f, " (capped from {})", self.uncapped_total)?;
        }
        for g in &self.groups {
            write!(f, "\n  {} {}", g.group, g.score)?;
            if g.raw != g.score {
                write!(f, " (capped from {})", g.raw)?;
            }
            if g.min.is_some() || g.max.is_some() {
                let bound = |b: Option<Decimal>| b.map_or(String::new(), |d| d.to_string());
                write!(f, " (caps {}..{})", bound(g.min), bound(g.max))?;
            }
            // Columns as wide as their widest entry.
            let rule = |e: &CardEntry| e.rule.as_deref().unwrap_or("manual").to_owned();
            let kind = |e: &CardEntry| e.activity.as_deref().unwrap_or("adjustment").to_owned();
            let points = |e: &CardEntry| format!("{:+}", e.points);
            let width = |col: &dyn Fn(&CardEntry) -> String| {
                g.entries
                    .iter()
                    .map(|e| col(e).chars().count())
                    .max()
                    .unwrap_or(0)
            };
            let (wr, wk, wp) = (width(&rule), width(&kind), width(&points));
            for e in &g.entries {
                write!(
                    f,
                    "\n    {}  {:<wr$}  {:<wk$}  {:>wp$}, now {}  [{}]",
                    e.at.format("%Y-%m-%d %H:%M UTC"),
                    rule(e),
                    kind(e),
                    points(e),
                    e.decayed,
                    e.event
                )?;
            }
        }
        Ok(())
    }
}

impl ScoreCard {
    /// A group's score by name.
    pub fn group(&self, name: &str) -> Option<Decimal> {
        self.groups
            .iter()
            .find(|g| g.group == name)
            .map(|g| g.score)
    }
}

/// Attributes a kind's rules read that are looked up on the stack; more
/// spill to the heap.
const INLINE_ATTRS: usize = 8;

/// An activity as scoring reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActivityRef<'a> {
    pub(crate) kind: &'a str,
    pub(crate) channel: Option<&'a str>,
    pub(crate) campaign: Option<&'a str>,
    pub(crate) attrs: &'a Attrs,
}

/// One group's part of a score card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupCard {
    /// The group's name.
    pub group: String,
    /// The contributions that count at the card's time, oldest first.
    pub entries: Vec<CardEntry>,
    /// The group's value before its caps: the sum of the entries' `decayed`.
    pub raw: Decimal,
    /// `raw` clamped to the group's caps.
    pub score: Decimal,
    /// The group's lower cap.
    pub min: Option<Decimal>,
    /// The group's upper cap.
    pub max: Option<Decimal>,
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
    pub points: Decimal,
    /// Its part of the group's value at the card's time (after decay).
    pub decayed: Decimal,
}
