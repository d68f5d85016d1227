//! Shapley-value attribution on channel sets.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::channels::{Channels, FxMap};
use super::limits::{Limit, Limits, SHAPLEY_CHANNELS_CEILING};
use super::markov::weights_by_channel;
use super::{AttributionError, AttributionModel, Journey};
use crate::exact::ExactSum;

/// The most players of [`shapley_of_game`] (2^20 subsets).
const MAX_SET: usize = 20;

/// A channel set's tally in portable form: `(channel ids, conversions,
/// nulls, value)`.
pub(crate) type SetEntry = (Vec<u32>, u64, u64, ExactSum);

/// Coalition tallies: the mergeable partial state of a Shapley fit.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapleyCounts {
    sets: FxMap<Box<[u32]>, (u64, u64, ExactSum)>,
    key: Vec<u32>,
}

impl ShapleyCounts {
    pub(crate) fn add(
        &mut self,
        path: &[u32],
        conversions: u64,
        nulls: u64,
        value: Option<Decimal>,
    ) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(path);
        key.sort_unstable();
        key.dedup();
        match self.sets.get_mut(key.as_slice()) {
            Some(e) => {
                e.0 = e.0.saturating_add(conversions);
                e.1 = e.1.saturating_add(nulls);
                if let Some(v) = value {
                    e.2.add(v);
                }
            }
            None => {
                let mut sum = ExactSum::default();
                if let Some(v) = value {
                    sum.add(v);
                }
                self.sets
                    .insert(key.as_slice().into(), (conversions, nulls, sum));
            }
        }
        self.key = key;
    }

    /// The counts in a portable form: `(channel ids, conversions, nulls,
    /// value)` per set, sorted.
    pub(crate) fn to_data(&self) -> Vec<SetEntry> {
        let mut sets: Vec<_> = self
            .sets
            .iter()
            .map(|(k, &(c, n, v))| (k.to_vec(), c, n, v))
            .collect();
        sets.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sets
    }

    /// Counts from their portable form, checked against `channels` (the
    /// number of channel ids).
    pub(crate) fn from_data(data: Vec<SetEntry>, channels: usize) -> Result<Self, String> {
        let mut s = Self::default();
        for (set, c, n, v) in data {
            let sorted = set.windows(2).all(|w| w[0] < w[1]);
            if set.is_empty() || !sorted || set.iter().any(|&x| x as usize >= channels) {
                return Err(format!(
                    "shapley set {set:?} is not a sorted set of known channels"
                ));
            }
            if s.sets.insert(set.into(), (c, n, v)).is_some() {
                return Err("shapley sets repeat".into());
            }
        }
        Ok(s)
    }

    pub(crate) fn merge(&mut self, other: &ShapleyCounts, remap: &[u32]) {
        for (set, &(c, n, v)) in &other.sets {
            let mut key: Vec<u32> = set
                .iter()
                .map(|&x| remap.get(x as usize).copied().unwrap_or(x))
                .collect();
            key.sort_unstable();
            let e = self.sets.entry(key.into()).or_default();
            e.0 = e.0.saturating_add(c);
            e.1 = e.1.saturating_add(n);
            e.2.add_sum(v);
        }
    }

    pub(crate) fn fit(
        &self,
        channels: &Channels,
        limits: &Limits,
    ) -> Result<ShapleyModel, AttributionError> {
        // The model numbers channels by name: its arithmetic (the order of
        // every float sum) does not depend on the order channels arrived in.
        let mut tally_ids: Vec<u32> = (0..channels.len() as u32).collect();
        tally_ids.sort_by(|&a, &b| channels.name(a).cmp(channels.name(b)));
        let mut rank = vec![0u32; channels.len()];
        for (r, &id) in tally_ids.iter().enumerate() {
            if let Some(x) = rank.get_mut(id as usize) {
                *x = r as u32;
            }
        }
        let mut sets: Vec<Coalition> = self
            .sets
            .iter()
            .map(|(k, &(conversions, nulls, value))| {
                let mut ids: Vec<u32> = k
                    .iter()
                    .map(|&c| rank.get(c as usize).copied().unwrap_or(c))
                    .collect();
                ids.sort_unstable();
                Ok(Coalition {
                    channels: ids
                        .iter()
                        .map(|&r| {
                            let id = tally_ids.get(r as usize).copied().unwrap_or(r);
                            channels.name(id).to_owned()
                        })
                        .collect(),
                    ids,
                    conversions,
                    nulls,
                    value: super::exact_total(value)?,
                })
            })
            .collect::<Result<_, AttributionError>>()?;
        // Canonical order: results do not depend on input order.
        sets.sort_by(|a, b| a.channels.cmp(&b.channels));
        check_limits(&sets, limits)?;
        let rates: FxMap<Vec<u32>, f64> = sets
            .iter()
            .filter(|s| s.conversions > 0 || s.nulls > 0)
            .map(|s| {
                (
                    s.ids.clone(),
                    s.conversions as f64 / (s.conversions as f64 + s.nulls as f64),
                )
            })
            .collect();
        Ok(ShapleyModel {
            channels: tally_ids
                .iter()
                .map(|&id| channels.name(id).to_owned())
                .collect(),
            tally_ids,
            sets,
            rates,
            clamp: false,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Coalition {
    channels: Vec<String>,
    ids: Vec<u32>,
    conversions: u64,
    nulls: u64,
    value: Decimal,
}

/// Shapley values of the channels in `set` (sorted ids), for the game whose
/// characteristic function is the conversion rate of journeys with exactly
/// that channel set (0 for sets never seen).
fn shapley(set: &[u32], rate: &dyn Fn(&[u32]) -> f64) -> Vec<f64> {
    let n = set.len();
    if n == 0 || n > SHAPLEY_CHANNELS_CEILING {
        return vec![0.0; n];
    }
    let size = 1usize << n;
    let mut key = Vec::with_capacity(n);
    let v: Vec<f64> = (0..size)
        .map(|mask| {
            key.clear();
            key.extend(
                (0..n)
                    .filter(|b| mask & (1 << b) != 0)
                    .filter_map(|b| set.get(b).copied()),
            );
            if key.is_empty() { 0.0 } else { rate(&key) }
        })
        .collect();
    // weight(k) = k! (n − k − 1)! / n!
    let mut weight = vec![0.0f64; n];
    for (k, w) in weight.iter_mut().enumerate() {
        let mut x = 1.0 / n as f64;
        // 1 / (n · C(n−1, k))
        let mut c = 1.0f64;
        for i in 0..k {
            c = c * (n - 1 - i) as f64 / (i + 1) as f64;
        }
        x /= c;
        *w = x;
    }
    (0..n)
        .map(|i| {
            let bit = 1usize << i;
            let mut phi = 0.0;
            for mask in 0..size {
                if mask & bit == 0 {
                    let k = mask.count_ones() as usize;
                    let (with, without) = (
                        v.get(mask | bit).copied().unwrap_or(0.0),
                        v.get(mask).copied().unwrap_or(0.0),
                    );
                    phi += weight.get(k).copied().unwrap_or(0.0) * (with - without);
                }
            }
            phi
        })
        .collect()
}

/// A Shapley-value attribution model fitted on a path table by a
/// [`PathTally`](super::PathTally).
///
/// The characteristic function of a set of channels is the conversion rate
/// (conversions ÷ (conversions + nulls)) of the paths whose set of distinct
/// channels is exactly that set, and 0 for sets never seen. For every
/// observed converting set S, the Shapley values of S's channels in the game
/// restricted to S's subsets are computed exactly (all 2^|S| subsets, at
/// most 20 channels), and S's conversions and value are shared in
/// proportion to them. Shapley values can be negative (a channel whose
/// presence lowers the conversion rate); [`ShapleyModel::with_clamping`]
/// clamps them to zero before sharing. Per journey (through
/// [`AttributionModel`]) negative values are always clamped, since weights
/// must be ≥ 0.
///
/// [`ShapleyModel::simplified_credits`] is the count-based simplified form
/// some tools call "Shapley": each converting set's conversions split
/// equally over its channels. It is not a Shapley value.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapleyModel {
    /// Channel names in name order; the model's channel ids are positions
    /// here.
    channels: Vec<String>,
    /// The tally's id of each of the model's channels.
    tally_ids: Vec<u32>,
    sets: Vec<Coalition>,
    rates: FxMap<Vec<u32>, f64>,
    clamp: bool,
}

impl ShapleyModel {
    /// The same model clamping negative Shapley values to zero in
    /// aggregate credits.
    #[must_use]
    pub fn with_clamping(mut self, clamp: bool) -> Self {
        self.clamp = clamp;
        self
    }

    fn rate(&self, set: &[u32]) -> f64 {
        self.rates.get(set).copied().unwrap_or(0.0)
    }

    /// The Shapley values of a set of channels (by name), in the order given.
    /// Unknown channels contribute nothing; duplicates are ignored.
    pub fn values(&self, set: &[&str]) -> Vec<(String, f64)> {
        let mut ids: Vec<u32> = set
            .iter()
            .filter_map(|c| self.channels.iter().position(|x| x == c).map(|i| i as u32))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let phi = shapley(&ids, &|k| self.rate(k));
        ids.iter()
            .zip(phi)
            .map(|(&c, p)| {
                (
                    self.channels.get(c as usize).cloned().unwrap_or_default(),
                    p,
                )
            })
            .collect()
    }

    /// (conversions, value) per channel id of the tally.
    pub(crate) fn credits_by_id(&self, n: usize) -> Vec<(f64, f64)> {
        let mut by_rank = vec![(0.0, 0.0); self.channels.len()];
        for s in self.sets.iter().filter(|s| s.conversions > 0) {
            let mut phi = shapley(&s.ids, &|k| self.rate(k));
            if self.clamp {
                for p in &mut phi {
                    *p = p.max(0.0);
                }
            }
            let sum: f64 = phi.iter().sum();
            if sum == 0.0 {
                continue;
            }
            let value = s.value.to_f64().unwrap_or(0.0);
            for (&c, p) in s.ids.iter().zip(phi) {
                if let Some(o) = by_rank.get_mut(c as usize) {
                    o.0 += s.conversions as f64 * p / sum;
                    o.1 += value * p / sum;
                }
            }
        }
        let mut out = vec![(0.0, 0.0); n];
        for (&id, credit) in self.tally_ids.iter().zip(by_rank) {
            if let Some(o) = out.get_mut(id as usize) {
                *o = credit;
            }
        }
        out
    }

    /// The count-based simplified form: every converting set's conversions
    /// and value split equally over its channels, in channel-name order.
    pub fn simplified_credits(&self) -> Vec<(String, f64, f64)> {
        let mut out = vec![(0.0, 0.0); self.channels.len()];
        for s in self.sets.iter().filter(|s| s.conversions > 0) {
            let k = s.ids.len().max(1) as f64;
            let value = s.value.to_f64().unwrap_or(0.0);
            for &c in &s.ids {
                if let Some(o) = out.get_mut(c as usize) {
                    o.0 += s.conversions as f64 / k;
                    o.1 += value / k;
                }
            }
        }
        self.channels
            .iter()
            .cloned()
            .zip(out)
            .map(|(c, (a, b))| (c, a, b))
            .collect()
    }
}

impl AttributionModel for ShapleyModel {
    fn name(&self) -> &str {
        "shapley"
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        let names: Vec<&str> = journey.touches.iter().map(|t| t.channel.as_str()).collect();
        let values: crate::hash::TextMap<String, f64> = self.values(&names).into_iter().collect();
        weights_by_channel(journey, |c| values.get(c).copied().unwrap_or(0.0))
    }
}

/// The exact Shapley values of a cooperative game on players `0..n`, given
/// its characteristic function `v` (called with a coalition's players in
/// ascending order; `v(&[])` is the empty coalition): the engine behind
/// [`ShapleyModel`], usable for any game.
///
/// ```
/// // A glove game: player 0 has a left glove, 1 and 2 right ones.
/// let v = |s: &[u32]| if s.contains(&0) && s.len() > 1 { 1.0 } else { 0.0 };
/// let phi = leadflow::attribution::shapley_of_game(3, &v)?;
/// assert!((phi[0] - 2.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), leadflow::attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`AttributionError::Data`] for more than 20 players (the subsets are
/// enumerated: 2^n calls of `v`).
pub fn shapley_of_game(n: usize, v: &dyn Fn(&[u32]) -> f64) -> Result<Vec<f64>, AttributionError> {
    if n > MAX_SET {
        return Err(AttributionError::LimitExceeded {
            limit: Limit::ShapleyChannels,
            found: n as u64,
            max: MAX_SET as u64,
        });
    }
    let set: Vec<u32> = (0..n as u32).collect();
    Ok(shapley(&set, v))
}

/// The work limits: no converting set wider than the channel limit, and
/// no more subsets to visit in all than the subset limit.
fn check_limits(sets: &[Coalition], limits: &Limits) -> Result<(), AttributionError> {
    let max_set = limits.shapley_channels.min(SHAPLEY_CHANNELS_CEILING);
    let mut subsets = 0u64;
    for s in sets.iter().filter(|s| s.conversions > 0) {
        if s.ids.len() > max_set {
            return Err(AttributionError::LimitExceeded {
                limit: Limit::ShapleyChannels,
                found: s.ids.len() as u64,
                max: max_set as u64,
            });
        }
        subsets = subsets.saturating_add(1u64 << s.ids.len());
    }
    if subsets > limits.shapley_subsets {
        return Err(AttributionError::LimitExceeded {
            limit: Limit::ShapleySubsets,
            found: subsets,
            max: limits.shapley_subsets,
        });
    }
    Ok(())
}
