//! Funnel analytics from lead histories: cohort conversion and velocity per
//! stage, wins and value won, volumes, SLA compliance, reasons, and the
//! reverse planner — Forrester's four (volume, conversion, velocity, value)
//! as a mergeable partial state.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use leadflow::funnel::{Funnel, FunnelOptions};
//! use leadflow::{Actor, Engine, Event, EventBody, Mergeable, Source};
//!
//! let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
//! let t = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
//! let lead = engine.replay("ada", [
//!     Event::new("1", "ada", t(2), EventBody::Created {
//!         stage: "MQL".into(), source: Source::Marketing, actor: Actor::Marketing }),
//!     Event::new("2", "ada", t(4), EventBody::Advanced {
//!         to: "SQL".into(), actor: Actor::Sales, reason: None }),
//! ]);
//! let funnel = Funnel::new(&engine, FunnelOptions::new(t(1), t(31), t(30)))?;
//! let report = funnel.report(&funnel.tally([&lead]));
//! let mql = report.stages.iter().find(|r| r.stage == "MQL").unwrap();
//! assert_eq!((mql.entered, mql.advanced), (1, 1));
//! assert_eq!(mql.median_days, Some(2.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Definitions
//!
//! * A **unit** is one (lead, cycle, stage) for each path stage (open or
//!   SLA) ranked above the initial stage: the lead's first entry into that
//!   stage in that cycle, by any move (`created`, `advanced`, `regressed`,
//!   a rule firing). Stages jumped over are not entered. Each recycle starts
//!   a new cycle, so a recycled lead that comes back counts again, unless
//!   [`FunnelOptions::first_cycle_only`] is set (Forrester's "is a recycled
//!   unit net-new" policy).
//! * A unit's **cohort period** is the calendar period (UTC; month by
//!   default, week or quarter) of its entry. A report covers units entered
//!   in `[from, to)`, seen as of a time (`as_of`): nothing after it counts.
//! * A unit **advanced** when its lead, later in the same cycle and at or
//!   before `as_of`, moved to a path or won stage ranked above it. Moves to
//!   lost or disqualified are not advances. Its **velocity** is the time
//!   from entry to that first advance.
//! * Per (cut, period, stage): `entered`, `advanced`, `conversion` =
//!   advanced / entered, and the median (mean of the two middle values for
//!   an even count), mean and 90th percentile (nearest rank) of the
//!   velocity in days over advanced units, empty when none. Beside this
//!   cohort conversion, the **period** view: `advances_in_period` counts
//!   advances out of the stage that happened in the period, whatever the
//!   unit's cohort, and `period_conversion` divides them by the units
//!   entered in the same period.
//! * **Wins**: entries into a won stage (in the window, at or before
//!   `as_of`), per period of the win, with `won_value` the exact sum of the
//!   deal amounts in effect at each win (a win without a `deal` is worth 0).
//! * **Volumes** per stage and period: `inflow` (moves into the stage in
//!   the period), `outflow` (moves out of it), and `balance`, the leads in
//!   the stage at the period's end (or at `as_of`, if earlier).
//! * **SLA** per SLA stage, over stays entered in the window: `met` (left
//!   by the deadline, at or before `as_of`), `missed` (left late, or still
//!   there past the deadline at `as_of`), `due` (still there, deadline not
//!   passed at `as_of`).
//! * **Reasons**: recycles and moves into lost or disqualified in the
//!   window, counted by the stage left and reason code, and by the lead's
//!   source and reason code.
//! * **Cuts** ([`Cut`]): every aggregate can be split by the lead's source,
//!   its first-touch channel or campaign (the first activity in its log
//!   carrying one), or a profile attribute (as of the report's `as_of`).
//!   Leads without a value fall in the cut `(none)`; cut values are
//!   compared as text (the number 200 and the text `"200"` are one cut).
//!   The source is the one of the lead's first accepted `created` event at
//!   or before `as_of`.
//! * Velocities are measured to the second. Leads folded by an engine with
//!   another config are read as the funnel's engine folds them.
//!
//! Every aggregate lives in a [`FunnelTally`], a [`Mergeable`] partial
//! state: tally partitions of the leads separately, merge, and the report
//! is exactly the single-pass one (medians included: velocities are kept,
//! not summarized).
//!
//! # Content and accounts
//!
//! [`Funnel::content`]: for an activity attribute naming the content
//! (`asset`), per stage, the units that consumed each asset while in the
//! stage (from entry to the next move, or to `as_of`) against the units of
//! the stage that did not, with their conversions and the lift.
//! [`Accounts`]: leads grouped by a profile attribute (`account` by
//! default), with the members' scores rolled up (sum or max, each with its
//! decay), the account's grade under its own profile (or the engine's) over
//! the account's attributes (the value a member set last), and the furthest
//! stage any member reached. [`Funnel::tally_accounts`] counts buying groups
//! instead of leads: an account enters a stage when its first member does
//! (cutting by the account attribute, [`Cut::Attr`], counts its leads).
//!
//! # The reverse planner
//!
//! [`FunnelReport::plan`]: from a revenue target T, over the window's
//! totals, in exact integer arithmetic: needed(won) = ⌈T × wins / won
//! value⌉; then for each path stage S above the initial, from the highest
//! down, needed(S) = ⌈needed(next(S)) × entered(S) / advanced(S)⌉, where
//! next(S) is the next path stage by rank, and the won stages after the
//! highest one.

mod accounts;
mod content;
mod period;
mod roi;

pub use accounts::{AccountConfig, AccountRow, Accounts, ScoreRollup};
pub use content::{ContentRow, ContentTally};
pub use period::{Granularity, Period};
pub use roi::{Roi, RoiOptions, RoiReport, RoiRow, RoiTally};

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::event::EventBody;
use crate::lead::Lead;
use crate::lifecycle::{Lifecycle, StageId, StageKind, Transition, TransitionKind};
use crate::merge::Mergeable;
use crate::types::{ReasonCode, Timestamp};

pub use crate::event::{MAX_AMOUNT, MAX_AMOUNT_DECIMALS};

/// How to split a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cut {
    /// No split: one cut, named `""`.
    #[default]
    None,
    /// By the lead's source (`marketing`, `sales`, `partner`, `other`).
    Source,
    /// By the channel of the lead's first activity that has one.
    Channel,
    /// By the campaign of the lead's first activity that has one.
    Campaign,
    /// By a profile attribute's value as of the report's `as_of`.
    Attr(String),
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunnelOptions {
    /// Units entered at or after this time count.
    pub from: Timestamp,
    /// Units entered before this time count.
    pub to: Timestamp,
    /// Nothing after this time counts (advances, wins, balances).
    pub as_of: Timestamp,
    /// The period size.
    pub by: Granularity,
    /// Count only each lead's first cycle.
    pub first_cycle_only: bool,
    /// How to split the report.
    pub cut: Cut,
}

impl FunnelOptions {
    /// A monthly report of units entered in `[from, to)`, as of `as_of`,
    /// every cycle counted, no cut.
    pub fn new(from: Timestamp, to: Timestamp, as_of: Timestamp) -> Self {
        Self {
            from,
            to,
            as_of,
            by: Granularity::Month,
            first_cycle_only: false,
            cut: Cut::None,
        }
    }

    /// The same options with another period size.
    #[must_use]
    pub fn by(mut self, by: Granularity) -> Self {
        self.by = by;
        self
    }

    /// The same options counting first cycles only.
    #[must_use]
    pub fn first_cycle_only(mut self, yes: bool) -> Self {
        self.first_cycle_only = yes;
        self
    }

    /// The same options with a cut.
    #[must_use]
    pub fn cut(mut self, cut: Cut) -> Self {
        self.cut = cut;
        self
    }
}

/// Options that cannot make a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunnelError {
    /// `from` is not before `to`.
    #[error("the window is empty: from ({from}) must be before to ({to})")]
    EmptyWindow {
        /// The start given.
        from: Timestamp,
        /// The end given.
        to: Timestamp,
    },
}

/// A validated report definition over one engine's lifecycle.
#[derive(Debug, Clone)]
pub struct Funnel {
    options: FunnelOptions,
    /// The engine whose leads it reads: a lead of another engine is read as
    /// this engine folds it (an adopted copy).
    engine: Engine,
    lifecycle: Lifecycle,
    /// The periods of the window that start by `as_of`, with the time their
    /// balance is read at (the period's end, or `as_of` if earlier).
    balances: Vec<(Period, Timestamp)>,
}

/// A cell's key: cut (an index into the tally's names), period, stage.
type Key = (u32, Period, StageId);

/// Units of one (cut, period, stage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cell {
    entered: u64,
    advanced: u64,
    /// Advances out of the stage that happened in this period.
    advances_in_period: u64,
    /// Entry-to-advance times in seconds, in no particular order.
    velocities: Vec<i64>,
}

/// Wins of one (cut, period, won stage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Wins {
    wins: u64,
    value: Decimal,
}

/// Volumes of one (cut, period, stage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Volume {
    inflow: u64,
    outflow: u64,
    balance: u64,
}

/// SLA stays of one (cut, SLA stage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Sla {
    met: u64,
    missed: u64,
    due: u64,
}

/// The funnel's partial state: every aggregate of a set of leads, kept so
/// that two tallies [merge](Mergeable::merge) into exactly the tally of the
/// union (velocities are kept whole, so medians merge exactly). Build with
/// [`Funnel::tally`] or [`Funnel::add`]; read with [`Funnel::report`].
/// Equality compares velocities as multisets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunnelTally {
    #[serde(with = "crate::merge::entries")]
    cells: BTreeMap<Key, Cell>,
    #[serde(with = "crate::merge::entries")]
    wins: BTreeMap<Key, Wins>,
    #[serde(with = "crate::merge::entries")]
    volumes: BTreeMap<Key, Volume>,
    #[serde(with = "crate::merge::entries")]
    sla: BTreeMap<(u32, StageId), Sla>,
    #[serde(with = "crate::merge::entries")]
    by_stage: BTreeMap<(u32, StageId, ReasonCode), u64>,
    #[serde(with = "crate::merge::entries")]
    by_source: BTreeMap<(u32, u32, ReasonCode), u64>,
    leads: u64,
    /// Cut values and sources, interned: keys hold their index.
    names: Vec<String>,
    #[serde(skip)]
    ids: std::collections::HashMap<String, u32>,
}

impl FunnelTally {
    /// The index of a name, added on first use.
    fn intern(&mut self, name: String) -> u32 {
        if self.ids.len() != self.names.len() {
            // Deserialized: rebuild the lookup.
            self.ids = (0u32..)
                .zip(self.names.iter().cloned())
                .map(|(i, n)| (n, i))
                .collect();
        }
        if let Some(&i) = self.ids.get(&name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.clone());
        self.ids.insert(name, i);
        i
    }

    fn name(&self, i: u32) -> String {
        self.names.get(i as usize).cloned().unwrap_or_default()
    }

    /// Every aggregate keyed by names instead of indexes, velocities
    /// sorted: two tallies of the same leads have the same canonical form.
    #[allow(clippy::type_complexity)]
    fn canonical(
        &self,
    ) -> (
        BTreeMap<(String, Period, StageId), (u64, u64, u64, Vec<i64>)>,
        BTreeMap<(String, Period, StageId), Wins>,
        BTreeMap<(String, Period, StageId), Volume>,
        BTreeMap<(String, StageId), Sla>,
        BTreeMap<(String, StageId, ReasonCode), u64>,
        BTreeMap<(String, String, ReasonCode), u64>,
    ) {
        let n = |i: u32| self.name(i);
        (
            self.cells
                .iter()
                .map(|(k, c)| {
                    let mut v = c.velocities.clone();
                    v.sort_unstable();
                    (
                        (n(k.0), k.1, k.2),
                        (c.entered, c.advanced, c.advances_in_period, v),
                    )
                })
                .collect(),
            self.wins
                .iter()
                .map(|(k, w)| ((n(k.0), k.1, k.2), w.clone()))
                .collect(),
            self.volumes
                .iter()
                .map(|(k, v)| ((n(k.0), k.1, k.2), v.clone()))
                .collect(),
            self.sla
                .iter()
                .map(|(k, v)| ((n(k.0), k.1), v.clone()))
                .collect(),
            self.by_stage
                .iter()
                .map(|(k, v)| ((n(k.0), k.1, k.2), *v))
                .collect(),
            self.by_source
                .iter()
                .map(|(k, v)| ((n(k.0), n(k.1), k.2), *v))
                .collect(),
        )
    }
}

impl PartialEq for FunnelTally {
    fn eq(&self, other: &Self) -> bool {
        self.leads == other.leads && self.canonical() == other.canonical()
    }
}

impl Mergeable for FunnelTally {
    fn merge(&mut self, other: Self) {
        let remap: Vec<u32> = other.names.iter().map(|n| self.intern(n.clone())).collect();
        let r = |i: u32| remap.get(i as usize).copied().unwrap_or(u32::MAX);
        for (k, c) in other.cells {
            let mine = self.cells.entry((r(k.0), k.1, k.2)).or_default();
            mine.entered = mine.entered.saturating_add(c.entered);
            mine.advanced = mine.advanced.saturating_add(c.advanced);
            mine.advances_in_period = mine.advances_in_period.saturating_add(c.advances_in_period);
            mine.velocities.extend(c.velocities);
        }
        for (k, w) in other.wins {
            let mine = self.wins.entry((r(k.0), k.1, k.2)).or_default();
            mine.wins = mine.wins.saturating_add(w.wins);
            mine.value = mine.value.saturating_add(w.value);
        }
        for (k, v) in other.volumes {
            let mine = self.volumes.entry((r(k.0), k.1, k.2)).or_default();
            mine.inflow = mine.inflow.saturating_add(v.inflow);
            mine.outflow = mine.outflow.saturating_add(v.outflow);
            mine.balance = mine.balance.saturating_add(v.balance);
        }
        for (k, s) in other.sla {
            let mine = self.sla.entry((r(k.0), k.1)).or_default();
            mine.met = mine.met.saturating_add(s.met);
            mine.missed = mine.missed.saturating_add(s.missed);
            mine.due = mine.due.saturating_add(s.due);
        }
        for (k, n) in other.by_stage {
            let slot = self.by_stage.entry((r(k.0), k.1, k.2)).or_default();
            *slot = slot.saturating_add(n);
        }
        for (k, n) in other.by_source {
            let slot = self.by_source.entry((r(k.0), r(k.1), k.2)).or_default();
            *slot = slot.saturating_add(n);
        }
        self.leads = self.leads.saturating_add(other.leads);
    }
}

impl Funnel {
    /// A report definition for leads folded by `engine`.
    ///
    /// # Errors
    /// [`FunnelError::EmptyWindow`] when `from` is not before `to`.
    pub fn new(engine: &Engine, options: FunnelOptions) -> Result<Self, FunnelError> {
        if options.from >= options.to {
            return Err(FunnelError::EmptyWindow {
                from: options.from,
                to: options.to,
            });
        }
        let mut funnel = Self {
            options,
            engine: engine.clone(),
            lifecycle: engine.lifecycle().clone(),
            balances: Vec::new(),
        };
        let as_of = funnel.options.as_of;
        funnel.balances = funnel
            .periods()
            .into_iter()
            .filter(|p| p.start().and_hms_opt(0, 0, 0).map(|d| d.and_utc()) <= Some(as_of))
            .map(|p| {
                // The balance is read just before the period's end, or at
                // `as_of` itself (a move at `as_of` counts).
                let at_as_of = as_of
                    .checked_add_signed(chrono::TimeDelta::nanoseconds(1))
                    .unwrap_or(as_of);
                (p, p.end().map_or(at_as_of, |e| e.min(at_as_of)))
            })
            .collect();
        Ok(funnel)
    }

    /// The engine whose leads it reads.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The options.
    pub fn options(&self) -> &FunnelOptions {
        &self.options
    }

    /// The tally of a set of leads.
    pub fn tally<'a>(&self, leads: impl IntoIterator<Item = &'a Lead>) -> FunnelTally {
        let mut tally = FunnelTally::default();
        for lead in leads {
            self.add(&mut tally, lead);
        }
        tally
    }

    /// The periods the window covers, in order.
    fn periods(&self) -> Vec<Period> {
        let o = &self.options;
        let mut out = Vec::new();
        let mut p = Period::containing(o.by, o.from);
        while p.start().and_hms_opt(0, 0, 0).map(|d| d.and_utc()) < Some(o.to) {
            out.push(p);
            match p.end() {
                Some(end) => p = Period::containing(o.by, end),
                None => break,
            }
        }
        out
    }

    /// The lead's source as of `as_of`: the source of its first accepted
    /// `created` event at or before then, `(none)` without one.
    fn source_of(&self, lead: &Lead) -> String {
        lead.created_until(self.options.as_of)
            .map_or_else(|| "(none)".to_owned(), |(_, s)| s.name().to_owned())
    }

    fn cut_of(&self, lead: &Lead) -> String {
        const NONE: &str = "(none)";
        let first = |pick: fn(&EventBody) -> Option<&crate::Symbol>| {
            lead.events()
                .iter()
                .take_while(|e| e.at <= self.options.as_of)
                .find_map(|e| pick(&e.body))
                .map_or_else(|| NONE.to_owned(), |s| s.to_string())
        };
        match &self.options.cut {
            Cut::None => String::new(),
            Cut::Source => self.source_of(lead),
            Cut::Channel => first(|b| match b {
                EventBody::Activity { channel, .. } => channel.as_ref(),
                _ => None,
            }),
            Cut::Campaign => first(|b| match b {
                EventBody::Activity { campaign, .. } => campaign.as_ref(),
                _ => None,
            }),
            Cut::Attr(name) => lead
                .attrs_until(self.options.as_of)
                .get(name.as_str())
                .map_or_else(|| NONE.to_owned(), |(_, v)| v.to_string()),
        }
    }

    /// Adds one lead to a tally. A lead folded by an engine with another
    /// config is read as this funnel's engine folds it.
    pub fn add(&self, tally: &mut FunnelTally, lead: &Lead) {
        let lead = self.engine.view(lead);
        let lead: &Lead = &lead;
        let lc = &self.lifecycle;
        let cut = tally.intern(self.cut_of(lead));
        let initial_rank = lc.rank(lc.initial());
        let is_unit_stage = |s: StageId| lc.kind(s).is_on_path() && lc.rank(s) > initial_rank;
        let passes = |s: StageId| lc.kind(s).is_on_path() || lc.kind(s) == StageKind::Won;
        let history = lead.stage().history_until(self.options.as_of);
        tally.leads += 1;
        let mut seen: BTreeSet<(u32, StageId)> = BTreeSet::new();
        for (i, t) in history.iter().enumerate() {
            self.count_moves(tally, cut, lead, t);
            if !self.counts_cycle(t.cycle) {
                continue;
            }
            self.count_sla(tally, cut, history, i);
            self.count_win(tally, cut, lead, t);
            let unit_move = matches!(
                t.kind,
                TransitionKind::Entered | TransitionKind::Advanced | TransitionKind::Regressed
            );
            if !unit_move || !is_unit_stage(t.to) || !seen.insert((t.cycle, t.to)) {
                continue;
            }
            let rank = lc.rank(t.to);
            let advance = history
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|n| n.cycle == t.cycle)
                .find(|n| passes(n.to) && lc.rank(n.to) > rank);
            self.count_unit(tally, cut, t.to, t.at, advance.map(|a| a.at));
        }
        // Balances: the stage each lead is in at every period's end.
        for &(p, end) in &self.balances {
            let Some(last) = history
                .get(..history.partition_point(|t| t.at < end))
                .and_then(<[_]>::last)
            else {
                continue;
            };
            if self.counts_cycle(last.cycle) {
                tally.volumes.entry((cut, p, last.to)).or_default().balance += 1;
            }
        }
    }

    /// Whether a time lies in the report's window (and not after `as_of`).
    fn in_window(&self, at: Timestamp) -> bool {
        let o = &self.options;
        at >= o.from && at < o.to && at <= o.as_of
    }

    /// Whether a cycle counts (all, or the first only).
    fn counts_cycle(&self, cycle: u32) -> bool {
        !self.options.first_cycle_only || cycle <= 1
    }

    /// Volumes: a move into and out of a stage in the window, and the
    /// reason of a rejection. A move out belongs to the cycle of the stay
    /// it ends (a recycle's transition carries the new cycle).
    fn count_moves(&self, tally: &mut FunnelTally, cut: u32, lead: &Lead, t: &Transition) {
        if !self.in_window(t.at) {
            return;
        }
        let lc = &self.lifecycle;
        let left_cycle = if t.kind == TransitionKind::Recycled {
            t.cycle.saturating_sub(1)
        } else {
            t.cycle
        };
        let p = Period::containing(self.options.by, t.at);
        if self.counts_cycle(t.cycle) {
            tally.volumes.entry((cut, p, t.to)).or_default().inflow += 1;
        }
        let Some(from) = t.from else { return };
        if !self.counts_cycle(left_cycle) {
            return;
        }
        tally.volumes.entry((cut, p, from)).or_default().outflow += 1;
        let rejected = t.kind == TransitionKind::Recycled
            || matches!(lc.kind(t.to), StageKind::Lost | StageKind::Disqualified);
        if let (true, Some(reason)) = (rejected, &t.reason) {
            *tally.by_stage.entry((cut, from, reason.code)).or_default() += 1;
            let source = tally.intern(self.source_of(lead));
            *tally
                .by_source
                .entry((cut, source, reason.code))
                .or_default() += 1;
        }
    }

    /// An SLA stay entered in the window: met, missed or still due.
    fn count_sla(&self, tally: &mut FunnelTally, cut: u32, history: &[Transition], i: usize) {
        let Some(t) = history.get(i) else { return };
        let StageKind::Sla { within, .. } = self.lifecycle.kind(t.to) else {
            return;
        };
        if !self.in_window(t.at) {
            return;
        }
        let sla = tally.sla.entry((cut, t.to)).or_default();
        let due = within.after(t.at);
        match (history.get(i + 1), due) {
            (Some(next), Some(due)) if next.at <= due => sla.met += 1,
            (Some(_), _) => sla.missed += 1,
            (None, Some(due)) if self.options.as_of <= due => sla.due += 1,
            (None, _) => sla.missed += 1,
        }
    }

    /// A win in the window, with the value won.
    fn count_win(&self, tally: &mut FunnelTally, cut: u32, lead: &Lead, t: &Transition) {
        if self.lifecycle.kind(t.to) != StageKind::Won || !self.in_window(t.at) {
            return;
        }
        let w = tally
            .wins
            .entry((cut, Period::containing(self.options.by, t.at), t.to))
            .or_default();
        w.wins += 1;
        // Bounded amounts keep every sum far inside `Decimal`.
        w.value = w.value.saturating_add(
            lead.wins()
                .iter()
                .find(|w| w.event == t.event && w.at == t.at && w.stage == t.to)
                .map_or(Decimal::ZERO, |w| w.amount),
        );
    }

    /// The tally of buying groups instead of single leads (mergeable only
    /// across partitions that keep each account's members together: split
    /// the leads by account before tallying in parts): leads grouped
    /// by the profile attribute `attr` (its value at `as_of`; leads without
    /// one are left out), each account one cut of the report. An account's
    /// unit of a stage is the first entry into it by any member (in any
    /// cycle), in the window; it advanced when any member later moved to a
    /// path or won stage ranked above it by `as_of`; wins are its members'
    /// wins. Volumes, SLA and reasons are not counted for accounts.
    pub fn tally_accounts<'a>(
        &self,
        leads: impl IntoIterator<Item = &'a Lead>,
        attr: &str,
    ) -> FunnelTally {
        let o = &self.options;
        let lc = &self.lifecycle;
        let initial_rank = lc.rank(lc.initial());
        let passes = |s: StageId| lc.kind(s).is_on_path() || lc.kind(s) == StageKind::Won;
        let in_window = |at: Timestamp| at >= o.from && at < o.to && at <= o.as_of;
        let attr_cut = Funnel {
            options: FunnelOptions {
                cut: Cut::Attr(attr.to_owned()),
                ..o.clone()
            },
            engine: self.engine.clone(),
            lifecycle: self.lifecycle.clone(),
            balances: Vec::new(),
        };
        // Each account's members' moves and wins, merged in time order.
        let mut groups: BTreeMap<
            String,
            (
                Vec<crate::lifecycle::Transition>,
                Vec<crate::lead::Win>,
                u64,
            ),
        > = BTreeMap::new();
        for lead in leads {
            let lead = self.engine.view(lead);
            let account = attr_cut.cut_of(&lead);
            if account == "(none)" {
                continue;
            }
            let g = groups.entry(account).or_default();
            g.0.extend(lead.stage().history_until(o.as_of).iter().cloned());
            g.1.extend(lead.wins().iter().filter(|w| w.at <= o.as_of).cloned());
            g.2 += 1;
        }
        let mut tally = FunnelTally::default();
        for (account, (mut moves, wins, members)) in groups {
            moves.sort_by(|a, b| (a.at, &a.event).cmp(&(b.at, &b.event)));
            let cut = tally.intern(account);
            tally.leads += members;
            let mut seen: BTreeSet<StageId> = BTreeSet::new();
            for (i, t) in moves.iter().enumerate() {
                if !lc.kind(t.to).is_on_path()
                    || lc.rank(t.to) <= initial_rank
                    || !seen.insert(t.to)
                {
                    continue;
                }
                let rank = lc.rank(t.to);
                let advance = moves
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .find(|n| passes(n.to) && lc.rank(n.to) > rank);
                self.count_unit(&mut tally, cut, t.to, t.at, advance.map(|a| a.at));
            }
            for w in wins.iter().filter(|w| in_window(w.at)) {
                let cell = tally
                    .wins
                    .entry((cut, Period::containing(o.by, w.at), w.stage))
                    .or_default();
                cell.wins += 1;
                cell.value = cell.value.saturating_add(w.amount);
            }
        }
        tally
    }

    /// Counts one unit of `stage` entered at `at`, advanced at `advance`:
    /// in its cohort when entered in the window, and as an advance of the
    /// period it happened in.
    fn count_unit(
        &self,
        tally: &mut FunnelTally,
        cut: u32,
        stage: StageId,
        at: Timestamp,
        advance: Option<Timestamp>,
    ) {
        let o = &self.options;
        let in_window = |t: Timestamp| t >= o.from && t < o.to && t <= o.as_of;
        if let Some(a) = advance.filter(|a| in_window(*a)) {
            tally
                .cells
                .entry((cut, Period::containing(o.by, a), stage))
                .or_default()
                .advances_in_period += 1;
        }
        if !in_window(at) {
            return;
        }
        let cell = tally
            .cells
            .entry((cut, Period::containing(o.by, at), stage))
            .or_default();
        cell.entered += 1;
        if let Some(a) = advance {
            cell.advanced += 1;
            cell.velocities.push((a - at).num_seconds());
        }
    }

    /// The report of a tally.
    pub fn report(&self, tally: &FunnelTally) -> FunnelReport {
        let lc = &self.lifecycle;
        let name = |s: StageId| lc.name(s).to_owned();
        let rank = |s: StageId| lc.rank(s);
        let mut wins: Vec<WinRow> = tally
            .wins
            .iter()
            .map(|(k, w)| WinRow {
                cut: tally.name(k.0),
                period: k.1,
                stage: name(k.2),
                wins: w.wins,
                won_value: w.value,
            })
            .collect();
        wins.sort_by(|a, b| (&a.cut, a.period, &a.stage).cmp(&(&b.cut, b.period, &b.stage)));
        let mut volumes: Vec<VolumeRow> = tally
            .volumes
            .iter()
            .map(|(k, v)| VolumeRow {
                cut: tally.name(k.0),
                period: k.1,
                stage: name(k.2),
                inflow: v.inflow,
                outflow: v.outflow,
                balance: v.balance,
            })
            .collect();
        volumes.sort_by(|a, b| {
            let r = |s: &str| lc.find(s).map_or(i32::MAX, &rank);
            (&a.cut, a.period, r(&a.stage)).cmp(&(&b.cut, b.period, r(&b.stage)))
        });
        let mut sla: Vec<SlaRow> = tally
            .sla
            .iter()
            .map(|(k, s)| SlaRow {
                cut: tally.name(k.0),
                stage: name(k.1),
                met: s.met,
                missed: s.missed,
                due: s.due,
            })
            .collect();
        sla.sort_by(|a, b| (&a.cut, &a.stage).cmp(&(&b.cut, &b.stage)));
        let mut ranked: Vec<(i32, String)> = lc
            .stages()
            .iter()
            .filter(|st| {
                st.kind() == StageKind::Won
                    || (st.kind().is_on_path() && st.rank() > lc.rank(lc.initial()))
            })
            .map(|st| (st.rank(), st.name().to_owned()))
            .collect();
        ranked.sort();
        FunnelReport {
            stages: self.stage_rows(tally),
            wins,
            volumes,
            sla,
            reasons: reason_rows(tally, lc),
            ranked: ranked.into_iter().map(|(_, n)| n).collect(),
            path: self.path_names(),
            won: lc
                .stages()
                .iter()
                .filter(|s| s.kind() == StageKind::Won)
                .map(|s| s.name().to_owned())
                .collect(),
        }
    }

    /// One row per (cut, period, stage) with entries or advances: counts,
    /// conversion and velocity (median, mean and nearest-rank p90 days).
    fn stage_rows(&self, tally: &FunnelTally) -> Vec<StageRow> {
        let lc = &self.lifecycle;
        let rank = |s: StageId| lc.rank(s);
        let mut keys: Vec<&Key> = tally.cells.keys().collect();
        keys.sort_by(|a, b| {
            (tally.name(a.0), a.1, rank(a.2)).cmp(&(tally.name(b.0), b.1, rank(b.2)))
        });
        let mut stages = Vec::new();
        for key in keys {
            let Some(c) = tally.cells.get(key) else {
                continue;
            };
            if c.entered == 0 && c.advances_in_period == 0 {
                continue;
            }
            let mut v = c.velocities.clone();
            v.sort_unstable();
            let days = |secs: f64| secs / 86_400.0;
            let median = match v.len() {
                0 => None,
                n if n % 2 == 1 => v.get(n / 2).map(|&x| days(x as f64)),
                n => match (v.get(n / 2 - 1), v.get(n / 2)) {
                    (Some(&a), Some(&b)) => Some(days((a as f64 + b as f64) / 2.0)),
                    _ => None,
                },
            };
            let mean = (!v.is_empty())
                .then(|| days(v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64));
            // Nearest rank: the smallest value with at least 90 % at or below.
            let p90 = (!v.is_empty())
                .then(|| {
                    let k = (v.len() * 9).div_ceil(10).max(1);
                    v.get(k - 1).map(|&x| days(x as f64))
                })
                .flatten();
            let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
            stages.push(StageRow {
                cut: tally.name(key.0),
                period: key.1,
                stage: lc.name(key.2).to_owned(),
                entered: c.entered,
                advanced: c.advanced,
                conversion: ratio(c.advanced, c.entered),
                median_days: median,
                mean_days: mean,
                p90_days: p90,
                advances_in_period: c.advances_in_period,
                period_conversion: ratio(c.advances_in_period, c.entered),
            });
        }
        stages
    }

    /// The forward view: for each lead open in a unit stage S at `as_of`,
    /// its chance to be won is the product of the report's conversions
    /// (advanced / entered over the window) of S and every unit stage above
    /// it, and its expected time to the win the sum of their mean velocities;
    /// its expected value is that chance times the window's mean value per
    /// win. Summed per period of the expected win date. Leads in the initial
    /// stage, in terminal stages or recycled are not forecast. Stages whose
    /// units never entered or advanced in the window make the chance 0.
    pub fn forecast<'a>(
        &self,
        report: &FunnelReport,
        leads: impl IntoIterator<Item = &'a Lead>,
    ) -> Vec<ForecastRow> {
        let o = &self.options;
        let wins: u64 = report
            .wins
            .iter()
            .fold(0u64, |a, w| a.saturating_add(w.wins));
        let value = report
            .wins
            .iter()
            .fold(Decimal::ZERO, |a, w| a.saturating_add(w.won_value));
        let mean_value = if wins > 0 {
            value / Decimal::from(wins)
        } else {
            Decimal::ZERO
        };
        let chain = self.stage_chain(report);
        let mut out: BTreeMap<Period, (f64, Decimal)> = BTreeMap::new();
        for lead in leads {
            let lead = self.engine.view(lead);
            let Some(stage) = lead.stage().stage_at(o.as_of) else {
                continue;
            };
            let Some(start) = chain.iter().position(|c| c.0 == stage) else {
                continue;
            };
            let rest = chain.get(start..).unwrap_or(&[]);
            let chance: f64 = rest.iter().map(|c| c.1).product();
            let days: f64 = rest.iter().map(|c| c.2).sum();
            if chance <= 0.0 {
                continue;
            }
            let secs = (days * 86_400.0).round() as i64;
            let at = o
                .as_of
                .checked_add_signed(chrono::TimeDelta::seconds(secs))
                .unwrap_or(o.as_of);
            let cell = out.entry(Period::containing(o.by, at)).or_default();
            cell.0 += chance;
            let share = Decimal::from_f64(chance).unwrap_or_default();
            // Amounts are bounded (`MAX_AMOUNT`), so these cannot overflow;
            // checked all the same, since library code never panics.
            if let Some(sum) = share
                .checked_mul(mean_value)
                .and_then(|x| cell.1.checked_add(x))
            {
                cell.1 = sum;
            }
        }
        out.into_iter()
            .map(|(period, (w, v))| ForecastRow {
                period,
                expected_wins: w,
                expected_value: v.round_dp(2),
            })
            .collect()
    }

    /// Per unit stage, by rank: conversion and mean days to advance, over
    /// every cut and period of the report.
    fn stage_chain(&self, report: &FunnelReport) -> Vec<(StageId, f64, f64)> {
        let mut chain = Vec::new();
        for name in &report.path {
            let Some(id) = self.lifecycle.find(name) else {
                continue;
            };
            let rows = report.stages.iter().filter(|r| &r.stage == name);
            let (mut entered, mut advanced, mut days) = (0u64, 0u64, 0.0f64);
            for r in rows {
                entered += r.entered;
                advanced += r.advanced;
                days += r.mean_days.unwrap_or(0.0) * r.advanced as f64;
            }
            let conv = if entered > 0 {
                advanced as f64 / entered as f64
            } else {
                0.0
            };
            let mean = if advanced > 0 {
                days / advanced as f64
            } else {
                0.0
            };
            chain.push((id, conv, mean));
        }
        chain
    }

    /// The unit stages (path stages above the initial) by rank.
    fn path_names(&self) -> Vec<String> {
        let lc = &self.lifecycle;
        let initial = lc.rank(lc.initial());
        let mut path: Vec<(i32, String)> = lc
            .stages()
            .iter()
            .filter(|s| s.kind().is_on_path() && s.rank() > initial)
            .map(|s| (s.rank(), s.name().to_owned()))
            .collect();
        path.sort();
        path.into_iter().map(|(_, n)| n).collect()
    }
}
/// The reason counts by stage and by source, sorted by cut, kind, key and
/// code.
fn reason_rows(tally: &FunnelTally, lc: &Lifecycle) -> Vec<ReasonRow> {
    let mut reasons: Vec<ReasonRow> = tally
        .by_stage
        .iter()
        .map(|((cut, stage, code), n)| ReasonRow {
            cut: tally.name(*cut),
            by: ReasonKey::Stage(lc.name(*stage).to_owned()),
            code: *code,
            count: *n,
        })
        .chain(
            tally
                .by_source
                .iter()
                .map(|((cut, source, code), n)| ReasonRow {
                    cut: tally.name(*cut),
                    by: ReasonKey::Source(tally.name(*source)),
                    code: *code,
                    count: *n,
                }),
        )
        .collect();
    reasons.sort_by(|a, b| {
        let key = |r: &ReasonRow| {
            let (kind, v) = match &r.by {
                ReasonKey::Stage(v) => (0, v.clone()),
                ReasonKey::Source(v) => (1, v.clone()),
            };
            (r.cut.clone(), kind, v, r.code)
        };
        key(a).cmp(&key(b))
    });
    reasons
}

/// Expected wins and value in one coming period (see [`Funnel::forecast`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ForecastRow {
    /// The period the wins are expected in.
    pub period: Period,
    /// How many leads now open are expected to be won in it (a sum of
    /// probabilities).
    pub expected_wins: f64,
    /// Their expected value, rounded to the cent (an estimate, not money
    /// booked).
    pub expected_value: Decimal,
}

/// One (cut, period, stage) of a report: the cohort of units entered in the
/// period, and the period's advances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageRow {
    /// The cut (`""` without one).
    pub cut: String,
    /// The cohort period.
    pub period: Period,
    /// The stage.
    pub stage: String,
    /// Units entered in the period.
    pub entered: u64,
    /// Of those, units that advanced (by `as_of`).
    pub advanced: u64,
    /// `advanced / entered`.
    pub conversion: Option<f64>,
    /// Median days from entry to advance, over advanced units.
    pub median_days: Option<f64>,
    /// Mean days from entry to advance.
    pub mean_days: Option<f64>,
    /// 90th percentile (nearest rank) of days from entry to advance.
    pub p90_days: Option<f64>,
    /// Advances out of the stage that happened in the period (any cohort).
    pub advances_in_period: u64,
    /// `advances_in_period / entered`: the period-based conversion.
    pub period_conversion: Option<f64>,
}

/// Wins in one (cut, period, won stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WinRow {
    /// The cut.
    pub cut: String,
    /// The period of the wins.
    pub period: Period,
    /// The won stage.
    pub stage: String,
    /// How many wins.
    pub wins: u64,
    /// Their exact total value.
    pub won_value: Decimal,
}

/// Volumes of one (cut, period, stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeRow {
    /// The cut.
    pub cut: String,
    /// The period.
    pub period: Period,
    /// The stage.
    pub stage: String,
    /// Moves into the stage during the period.
    pub inflow: u64,
    /// Moves out of the stage during the period.
    pub outflow: u64,
    /// Leads in the stage at the period's end (or at `as_of`).
    pub balance: u64,
}

/// SLA compliance of one (cut, SLA stage) over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaRow {
    /// The cut.
    pub cut: String,
    /// The SLA stage.
    pub stage: String,
    /// Stays left by the deadline.
    pub met: u64,
    /// Stays left late, or still open past the deadline at `as_of`.
    pub missed: u64,
    /// Stays still open, deadline not passed at `as_of`.
    pub due: u64,
}

/// What a reason count is broken down by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonKey {
    /// The stage left.
    Stage(String),
    /// The lead's source.
    Source(String),
}

/// How many recycles, losses and disqualifications gave one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReasonRow {
    /// The cut.
    pub cut: String,
    /// By stage left or by source.
    pub by: ReasonKey,
    /// The reason code.
    pub code: ReasonCode,
    /// How many.
    pub count: u64,
}

/// A funnel report. See the [module docs](self) for every definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunnelReport {
    /// Cohort rows by cut, period, then stage rank.
    pub stages: Vec<StageRow>,
    /// Wins by cut, period and won stage.
    pub wins: Vec<WinRow>,
    /// Volumes by cut, period, then stage rank.
    pub volumes: Vec<VolumeRow>,
    /// SLA compliance by cut and SLA stage.
    pub sla: Vec<SlaRow>,
    /// Reasons by cut, stage or source, and code.
    pub reasons: Vec<ReasonRow>,
    /// The unit stages, by rank (the planner's path).
    pub path: Vec<String>,
    /// The won stages.
    pub won: Vec<String>,
    /// The unit and won stages together, by rank (the order of a report's
    /// rows within a period).
    pub ranked: Vec<String>,
}

/// How many of each stage a revenue target needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanRow {
    /// The stage (a unit stage, or `won` for the wins).
    pub stage: String,
    /// How many units (or wins) are needed.
    pub needed: u128,
}

/// Why a plan cannot be made from a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The target is negative.
    #[error("the revenue target {target} is negative")]
    NegativeTarget {
        /// The target.
        target: Decimal,
    },
    /// No win with a value in the window: no value per win to plan from.
    #[error("no win with a value in the window: the planner needs the value per win")]
    NoWonValue,
    /// A stage's units never advanced in the window (or none entered it).
    #[error(
        "no unit of stage {stage:?} advanced in the window ({entered} entered): its conversion is unknown or 0"
    )]
    NoAdvance {
        /// The stage.
        stage: String,
        /// How many units entered it.
        entered: u128,
    },
    /// The numbers do not fit 128-bit integers.
    #[error("the plan overflows 128-bit arithmetic")]
    Overflow,
}

impl FunnelReport {
    /// The reverse plan for a revenue target over the report's totals (every
    /// cut and period summed); see the [module docs](self). Rows run from the
    /// wins down to the lowest unit stage.
    ///
    /// # Errors
    /// [`PlanError`] for a negative target, a window without valued wins or
    /// with a stage that never advanced, or numbers beyond 128 bits.
    pub fn plan(&self, target: Decimal) -> Result<Vec<PlanRow>, PlanError> {
        if target.is_sign_negative() && !target.is_zero() {
            return Err(PlanError::NegativeTarget { target });
        }
        let wins: u128 = self.wins.iter().map(|w| u128::from(w.wins)).sum();
        let value = self
            .wins
            .iter()
            .try_fold(Decimal::ZERO, |a, w| a.checked_add(w.won_value))
            .ok_or(PlanError::Overflow)?;
        if wins == 0 || value.is_zero() {
            return Err(PlanError::NoWonValue);
        }
        // ⌈T × wins / V⌉ with T = t / 10^ts, V = v / 10^vs:
        // ⌈t × wins × 10^vs / (v × 10^ts)⌉.
        let (t, ts) = (target.mantissa().unsigned_abs(), target.scale());
        let (v, vs) = (value.mantissa().unsigned_abs(), value.scale());
        let pow = |e: u32| 10u128.checked_pow(e).ok_or(PlanError::Overflow);
        let num = t
            .checked_mul(wins)
            .and_then(|x| x.checked_mul(pow(vs).ok()?))
            .ok_or(PlanError::Overflow)?;
        let den = v.checked_mul(pow(ts)?).ok_or(PlanError::Overflow)?;
        let mut needed = num.div_ceil(den);
        let mut rows = vec![PlanRow {
            stage: "won".into(),
            needed,
        }];
        for stage in self.path.iter().rev() {
            let (entered, advanced) = self.stages.iter().filter(|r| &r.stage == stage).fold(
                (0u128, 0u128),
                |(e, a), r| {
                    (
                        e.saturating_add(u128::from(r.entered)),
                        a.saturating_add(u128::from(r.advanced)),
                    )
                },
            );
            if advanced == 0 {
                return Err(PlanError::NoAdvance {
                    stage: stage.clone(),
                    entered,
                });
            }
            needed = needed
                .checked_mul(entered)
                .ok_or(PlanError::Overflow)?
                .div_ceil(advanced);
            rows.push(PlanRow {
                stage: stage.clone(),
                needed,
            });
        }
        Ok(rows)
    }
}
