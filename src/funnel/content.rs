//! Content by stage: which assets units consumed while in a stage, and how
//! units that consumed one converted against units that did not.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Funnel;
use crate::event::EventBody;
use crate::lead::Lead;
use crate::lifecycle::{StageId, TransitionKind};
use crate::merge::Mergeable;

/// Units and advances of one stage, overall and per asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StageContent {
    units: u64,
    advanced: u64,
    /// Per asset: (units that consumed it, of those advanced).
    #[serde(with = "crate::merge::entries")]
    assets: BTreeMap<String, (u64, u64)>,
}

/// The content partial state: [`Mergeable`], serializable. Build with
/// [`Funnel::content`], read with [`Funnel::content_report`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentTally {
    #[serde(with = "crate::merge::entries")]
    stages: BTreeMap<StageId, StageContent>,
}

impl Mergeable for ContentTally {
    fn merge(&mut self, other: Self) {
        for (s, c) in other.stages {
            let mine = self.stages.entry(s).or_default();
            mine.units = mine.units.saturating_add(c.units);
            mine.advanced = mine.advanced.saturating_add(c.advanced);
            for (a, (u, v)) in c.assets {
                let slot = mine.assets.entry(a).or_default();
                slot.0 = slot.0.saturating_add(u);
                slot.1 = slot.1.saturating_add(v);
            }
        }
    }
}

/// One (stage, asset) row: the units of the stage that consumed the asset
/// while in it against those that did not, with the counts behind both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContentRow {
    /// The stage.
    pub stage: String,
    /// The asset (the attribute's value).
    pub asset: String,
    /// Units that consumed it while in the stage.
    pub units_with: u64,
    /// Of those, units that advanced.
    pub advanced_with: u64,
    /// Units of the stage that did not consume it.
    pub units_without: u64,
    /// Of those, units that advanced.
    pub advanced_without: u64,
    /// `advanced_with / units_with`.
    pub conversion_with: Option<f64>,
    /// `advanced_without / units_without`.
    pub conversion_without: Option<f64>,
    /// `conversion_with / conversion_without`: above 1, units that consumed
    /// the asset advanced more often. Small counts make it noise: read the
    /// counts beside it.
    pub lift: Option<f64>,
}

impl Funnel {
    /// The content tally of a set of leads: for every unit of the report
    /// (see the [module docs](super)), the distinct values of the activity
    /// attribute `attr` (`asset` by convention) of the activities the lead
    /// did while in the unit's stage — from its entry to the next move, or
    /// to `as_of`.
    pub fn content<'a>(
        &self,
        leads: impl IntoIterator<Item = &'a Lead>,
        attr: &str,
    ) -> ContentTally {
        let o = self.options();
        let lc = &self.lifecycle;
        let initial = lc.rank(lc.initial());
        let passes =
            |s: StageId| lc.kind(s).is_on_path() || lc.kind(s) == crate::lifecycle::StageKind::Won;
        let mut tally = ContentTally::default();
        for lead in leads {
            let lead = self.engine.view(lead);
            let history = lead.stage().history_until(o.as_of);
            let mut seen: BTreeSet<(u32, StageId)> = BTreeSet::new();
            for (i, t) in history.iter().enumerate() {
                let unit_move = matches!(
                    t.kind,
                    TransitionKind::Entered | TransitionKind::Advanced | TransitionKind::Regressed
                );
                if !unit_move
                    || !lc.kind(t.to).is_on_path()
                    || lc.rank(t.to) <= initial
                    || (o.first_cycle_only && t.cycle > 1)
                    || !seen.insert((t.cycle, t.to))
                    || t.at < o.from
                    || t.at >= o.to
                {
                    continue;
                }
                let rank = lc.rank(t.to);
                let later = history.get(i + 1..).unwrap_or(&[]);
                let advanced = later
                    .iter()
                    .take_while(|n| n.cycle == t.cycle)
                    .any(|n| passes(n.to) && lc.rank(n.to) > rank);
                // The stay: [entry, next move), or [entry, as_of] while the
                // lead is still in the stage.
                let (end, inclusive) = later.first().map_or((o.as_of, true), |n| (n.at, false));
                let events = lead.events();
                let start = events.partition_point(|e| e.at < t.at);
                let assets: BTreeSet<String> = events
                    .get(start..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|e| e.at < end || (inclusive && e.at <= end))
                    .filter_map(|e| match &e.body {
                        EventBody::Activity { attrs, .. } => attrs.get(attr).map(|v| v.to_string()),
                        _ => None,
                    })
                    .collect();
                let cell = tally.stages.entry(t.to).or_default();
                cell.units += 1;
                cell.advanced += u64::from(advanced);
                for a in assets {
                    let slot = cell.assets.entry(a).or_default();
                    slot.0 += 1;
                    slot.1 += u64::from(advanced);
                }
            }
        }
        tally
    }

    /// The content report: a row per (stage, asset), stages by rank, assets
    /// by name.
    pub fn content_report(&self, tally: &ContentTally) -> Vec<ContentRow> {
        let lc = &self.lifecycle;
        let mut stages: Vec<(&StageId, &StageContent)> = tally.stages.iter().collect();
        stages.sort_by_key(|(s, _)| lc.rank(**s));
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let mut rows = Vec::new();
        for (stage, c) in stages {
            for (asset, &(with, adv_with)) in &c.assets {
                let without = c.units.saturating_sub(with);
                let adv_without = c.advanced.saturating_sub(adv_with);
                let (cw, co) = (ratio(adv_with, with), ratio(adv_without, without));
                rows.push(ContentRow {
                    stage: lc.name(*stage).to_owned(),
                    asset: asset.clone(),
                    units_with: with,
                    advanced_with: adv_with,
                    units_without: without,
                    advanced_without: adv_without,
                    conversion_with: cw,
                    conversion_without: co,
                    lift: match (cw, co) {
                        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                        _ => None,
                    },
                });
            }
        }
        rows
    }
}
