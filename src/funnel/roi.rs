//! Campaign ROI: which campaigns acquired leads, how far those leads got,
//! what they won, and the revenue attributed to each campaign's touches.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attribution::{
    AttributionError, AttributionModel, Attributor, JourneyOptions, journeys_of,
};
use crate::engine::Engine;
use crate::event::EventBody;
use crate::lead::Lead;
use crate::lifecycle::{StageId, StageKind};
use crate::merge::Mergeable;
use crate::types::Timestamp;

/// What an ROI report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoiOptions {
    /// Leads created, and conversions made, at or after this time count.
    pub from: Timestamp,
    /// … and before this time.
    pub to: Timestamp,
    /// Nothing after this time counts.
    pub as_of: Timestamp,
    /// How journeys are read from leads for attribution.
    pub journeys: JourneyOptions,
}

impl RoiOptions {
    /// Leads created and conversions made in `[from, to)`, as of `as_of`,
    /// journeys read with the default options (every activity a touch, wins
    /// convert).
    pub fn new(from: Timestamp, to: Timestamp, as_of: Timestamp) -> Self {
        Self {
            from,
            to,
            as_of,
            journeys: JourneyOptions::default(),
        }
    }
}

/// One campaign's partial totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Campaign {
    leads: u64,
    #[serde(with = "crate::merge::entries")]
    reached: BTreeMap<StageId, u64>,
    won_value: Decimal,
    attributed: Decimal,
}

/// The ROI partial state: [`Mergeable`], serializable. Build with
/// [`Roi::tally`], read with [`Roi::report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoiTally {
    campaigns: BTreeMap<String, Campaign>,
    /// The value of every won journey with a touch, and what was credited
    /// over all of them (to campaigns or not): equal, by construction.
    converted_value: Decimal,
    credited: Decimal,
}

impl Mergeable for RoiTally {
    fn merge(&mut self, other: Self) {
        for (name, c) in other.campaigns {
            let mine = self.campaigns.entry(name).or_default();
            mine.leads = mine.leads.saturating_add(c.leads);
            for (s, n) in c.reached {
                let slot = mine.reached.entry(s).or_default();
                *slot = slot.saturating_add(n);
            }
            mine.won_value = mine.won_value.saturating_add(c.won_value);
            mine.attributed = mine.attributed.saturating_add(c.attributed);
        }
        self.converted_value = self.converted_value.saturating_add(other.converted_value);
        self.credited = self.credited.saturating_add(other.credited);
    }
}

impl RoiTally {
    /// The total value of the won journeys that had a touch, and the total
    /// credited over them: the two are equal (credits sum exactly).
    pub fn totals(&self) -> (Decimal, Decimal) {
        (self.converted_value, self.credited)
    }
}

/// What acquiring one lead brought its campaign.
struct Acquisition {
    campaign: String,
    reached: Vec<StageId>,
    won: Decimal,
}

/// One campaign's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoiRow {
    /// The campaign.
    pub campaign: String,
    /// Its cost, when the host gave one.
    pub cost: Option<Decimal>,
    /// Leads it acquired.
    pub leads: u64,
    /// Of those, how many reached each stage (unit and won stages by rank).
    pub reached: Vec<(String, u64)>,
    /// What those leads won.
    pub won_value: Decimal,
    /// The sum of the campaign's credits over every won journey.
    pub attributed_revenue: Decimal,
    /// `(attributed_revenue − cost) / cost`; `None` when the cost is zero
    /// or unknown.
    pub roi: Option<Decimal>,
    /// `cost / leads`; `None` without a lead, or when the cost is zero or
    /// unknown.
    pub cost_per_lead: Option<Decimal>,
    /// `cost / reached` per stage, as `reached`.
    pub cost_per_stage: Vec<(String, Option<Decimal>)>,
}

/// An ROI report: a row per campaign that has a cost or appears in the
/// tally, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoiReport {
    /// The stages counted in `reached`, by rank.
    pub stages: Vec<String>,
    /// The rows.
    pub rows: Vec<RoiRow>,
}

/// A campaign ROI definition over one engine and one attribution model.
///
/// # Definitions
///
/// * A lead's **acquisition campaign** is the campaign of its first
///   activity with a campaign at or before its first accepted `created`
///   event; a lead without one has none. Only leads created in
///   `[from, to)` (and by `as_of`) are counted as acquired.
/// * For each campaign: `leads` acquired; for each unit stage (a path stage
///   above the initial) and each won stage, how many of those leads reached
///   it by `as_of` (entered it, or passed it on the path); `won_value`, the
///   exact sum of what those leads won by `as_of`.
/// * `attributed_revenue`: over every journey (see
///   [`journeys_of`]) of every lead converted in `[from, to)` by `as_of`,
///   the sum of the credits of the campaign's touches under the model, in
///   exact cents ([`Attributor`]: largest remainder at the value's scale,
///   ties to the earlier touch). Credits of touches without a campaign go
///   to no campaign.
/// * `roi` = (attributed revenue − cost) / cost; cost per lead and per
///   stage reached; all empty when the cost is zero or unknown.
#[derive(Debug, Clone)]
pub struct Roi {
    engine: Engine,
    options: RoiOptions,
    attributor: Attributor,
}

impl Roi {
    /// An ROI definition; credits are allocated by `attributor` (its scale
    /// and lookback).
    pub fn new(engine: &Engine, options: RoiOptions, attributor: Attributor) -> Self {
        Self {
            engine: engine.clone(),
            options,
            attributor,
        }
    }

    /// The tally of a set of leads under `model`.
    ///
    /// # Errors
    /// The model's [`AttributionError`] (invalid weights), or an overflow.
    pub fn tally<'a>(
        &self,
        leads: impl IntoIterator<Item = &'a Lead>,
        model: &dyn AttributionModel,
    ) -> Result<RoiTally, AttributionError> {
        let counted = self.counted();
        let mut tally = RoiTally::default();
        for lead in leads {
            let lead = self.engine.view(lead);
            let lead: &Lead = &lead;
            if let Some(a) = self.acquisition(lead, &counted) {
                let c = tally.campaigns.entry(a.campaign).or_default();
                c.leads += 1;
                for s in a.reached {
                    *c.reached.entry(s).or_default() += 1;
                }
                c.won_value = c.won_value.saturating_add(a.won);
            }
            self.attribute(&mut tally, lead, model)?;
        }
        Ok(tally)
    }

    /// The stages counted in `reached`: unit stages and won stages.
    fn counted(&self) -> Vec<StageId> {
        let lc = self.engine.lifecycle();
        let initial = lc.rank(lc.initial());
        (0..lc.stages().len())
            .filter_map(|i| {
                let s = lc.stages().get(i)?;
                let id = lc.find(s.name())?;
                ((s.kind().is_on_path() && s.rank() > initial) || s.kind() == StageKind::Won)
                    .then_some(id)
            })
            .collect()
    }

    /// The lead's acquisition facts, when it was created in the window with
    /// a campaign touch at or before its creation.
    fn acquisition(&self, lead: &Lead, counted: &[StageId]) -> Option<Acquisition> {
        let o = &self.options;
        let created = self.created_in_window(lead)?;
        let campaign = lead
            .events()
            .iter()
            .take_while(|e| e.at <= created)
            .find_map(|e| match &e.body {
                EventBody::Activity {
                    campaign: Some(c), ..
                } => Some(c.clone()),
                _ => None,
            })?;
        let history = lead.stage().history_until(o.as_of);
        let reached = counted
            .iter()
            .copied()
            .filter(|&s| history.iter().any(|t| t.to == s || t.skipped.contains(&s)))
            .collect();
        let won = lead
            .wins()
            .iter()
            .filter(|w| w.at <= o.as_of)
            .fold(Decimal::ZERO, |a, w| a.saturating_add(w.amount));
        Some(Acquisition {
            campaign: campaign.to_string(),
            reached,
            won,
        })
    }

    /// When the lead's first accepted `created` event happened, if in the
    /// window and by `as_of`.
    fn created_in_window(&self, lead: &Lead) -> Option<Timestamp> {
        let o = &self.options;
        lead.created_until(o.as_of)
            .map(|(at, _)| at)
            .filter(|c| *c >= o.from && *c < o.to)
    }

    /// Adds the lead's converted journeys' credits to the campaigns.
    fn attribute(
        &self,
        tally: &mut RoiTally,
        lead: &Lead,
        model: &dyn AttributionModel,
    ) -> Result<(), AttributionError> {
        let o = &self.options;
        // Attribution over the converted journeys in the window.
        for journey in journeys_of(&self.engine, lead, &o.journeys) {
            let Some(conv) = journey.conversion else {
                continue;
            };
            if conv.at < o.from
                || conv.at >= o.to
                || conv.at > o.as_of
                || journey.touches.is_empty()
            {
                continue;
            }
            let credits = self.attributor.credit(&journey, model)?;
            if credits.is_empty() {
                continue;
            }
            tally.converted_value = tally.converted_value.saturating_add(conv.value);
            for credit in credits {
                tally.credited = tally.credited.saturating_add(credit.value);
                if let Some(name) = credit.campaign {
                    let c = tally.campaigns.entry(name).or_default();
                    c.attributed = c.attributed.saturating_add(credit.value);
                }
            }
        }
        Ok(())
    }

    /// The tally by buying group: leads grouped by the profile attribute
    /// `attr` (its value at `as_of`; leads without one are left out). An
    /// account is acquired by the acquisition campaign of its first member
    /// created in the window (ties: the smaller lead id), if that member
    /// has one; `leads` then counts accounts, `reached` the accounts any member of which
    /// reached a stage, `won_value` all their members' wins. Attributed
    /// revenue is the same as for leads.
    ///
    /// Mergeable only across partitions that keep each account's members
    /// together (split the leads by account before tallying in parts).
    ///
    /// # Errors
    /// As [`Roi::tally`].
    pub fn tally_accounts<'a>(
        &self,
        leads: impl IntoIterator<Item = &'a Lead>,
        model: &dyn AttributionModel,
        attr: &str,
    ) -> Result<RoiTally, AttributionError> {
        let counted = self.counted();
        let o = &self.options;
        let mut tally = RoiTally::default();
        // Per account: the first member created in the window (time, id,
        // its campaign if any), reached, won.
        type First = (Timestamp, crate::types::LeadId, Option<String>);
        type Group = (Option<First>, std::collections::BTreeSet<StageId>, Decimal);
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for lead in leads {
            let lead = self.engine.view(lead);
            let lead: &Lead = &lead;
            self.attribute(&mut tally, lead, model)?;
            let account = lead
                .attrs_until(o.as_of)
                .get(attr)
                .map(|(_, v)| v.to_string());
            let Some(account) = account else {
                continue;
            };
            let g = groups.entry(account).or_default();
            let history = lead.stage().history_until(o.as_of);
            for &s in &counted {
                if history.iter().any(|t| t.to == s || t.skipped.contains(&s)) {
                    g.1.insert(s);
                }
            }
            g.2 = lead
                .wins()
                .iter()
                .filter(|w| w.at <= o.as_of)
                .fold(g.2, |a, w| a.saturating_add(w.amount));
            if let Some(created) = self.created_in_window(lead) {
                let campaign = self.acquisition(lead, &counted).map(|a| a.campaign);
                let candidate = (created, lead.id().clone(), campaign);
                if g.0
                    .as_ref()
                    .is_none_or(|best| (&candidate.0, &candidate.1) < (&best.0, &best.1))
                {
                    g.0 = Some(candidate);
                }
            }
        }
        for (_, (first, reached, won)) in groups {
            let Some((_, _, Some(campaign))) = first else {
                continue;
            };
            let c = tally.campaigns.entry(campaign).or_default();
            c.leads += 1;
            for s in reached {
                *c.reached.entry(s).or_default() += 1;
            }
            c.won_value = c.won_value.saturating_add(won);
        }
        Ok(tally)
    }

    /// The report of a tally with the host's costs per campaign.
    pub fn report(&self, tally: &RoiTally, costs: &BTreeMap<String, Decimal>) -> RoiReport {
        let lc = self.engine.lifecycle();
        let initial = lc.rank(lc.initial());
        let mut stages: Vec<(i32, String)> = lc
            .stages()
            .iter()
            .filter(|s| (s.kind().is_on_path() && s.rank() > initial) || s.kind() == StageKind::Won)
            .map(|s| (s.rank(), s.name().to_owned()))
            .collect();
        stages.sort();
        let stages: Vec<String> = stages.into_iter().map(|(_, n)| n).collect();
        let mut names: Vec<&String> = tally.campaigns.keys().chain(costs.keys()).collect();
        names.sort();
        names.dedup();
        let empty = Campaign::default();
        let rows = names
            .into_iter()
            .map(|name| {
                let c = tally.campaigns.get(name).unwrap_or(&empty);
                let cost = costs.get(name).copied();
                let per = |n: u64| {
                    cost.filter(|k| n > 0 && !k.is_zero())
                        .and_then(|k| k.checked_div(Decimal::from(n)))
                };
                let reached: Vec<(String, u64)> = stages
                    .iter()
                    .map(|s| {
                        let n = lc
                            .find(s)
                            .and_then(|id| c.reached.get(&id))
                            .copied()
                            .unwrap_or(0);
                        (s.clone(), n)
                    })
                    .collect();
                RoiRow {
                    campaign: name.clone(),
                    cost,
                    leads: c.leads,
                    cost_per_lead: per(c.leads),
                    cost_per_stage: reached.iter().map(|(s, n)| (s.clone(), per(*n))).collect(),
                    reached,
                    won_value: c.won_value,
                    attributed_revenue: c.attributed,
                    roi: cost.filter(|k| !k.is_zero()).and_then(|k| {
                        c.attributed
                            .checked_sub(k)
                            .and_then(|gain| gain.checked_div(k))
                    }),
                }
            })
            .collect();
        RoiReport { stages, rows }
    }
}
