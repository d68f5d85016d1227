//! Multi-touch attribution: journeys, the [`AttributionModel`] trait that host
//! code implements, exact `Decimal` credits, the rule-based models, and the
//! data-driven models (exact Markov chains, Shapley values) fitted on path
//! tables.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use leadflow::attribution::{Anchored, Attributor, Journey, Touch, model_fn, Linear};
//! use rust_decimal::Decimal;
//!
//! let t = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
//! let journey = Journey::new(vec![
//!     Touch::new(t(1), "paid_search"),
//!     Touch::new(t(3), "email").with_campaign("spring"),
//!     Touch::new(t(5), "direct"),
//! ])
//! .converted(t(6), Decimal::new(1000_00, 2));
//!
//! // A custom model in a few lines: all credit to email touches, if any.
//! let email_only = model_fn("email-only", |j: &Journey| {
//!     let hits: Vec<f64> = j.touches.iter().map(|t| f64::from(u8::from(t.channel == "email"))).collect();
//!     if hits.iter().sum::<f64>() > 0.0 { hits } else { vec![1.0; j.touches.len()] }
//! });
//!
//! let attributor = Attributor::new().with_scale(2)?;
//! // Position-based (U-shaped): 40 % first, 40 % last, 20 % between.
//! let credits = attributor.credit(&journey, &Anchored::position_based())?;
//! assert_eq!(credits.iter().map(|c| c.value).sum::<Decimal>(), Decimal::new(1000_00, 2));
//! assert_eq!(credits[0].value, Decimal::new(400_00, 2));
//!
//! let report = attributor.report(&[journey], &[&Linear as &dyn leadflow::attribution::AttributionModel, &email_only])?;
//! assert_eq!(report.channel("email-only", "email").unwrap().value, Decimal::new(1000_00, 2));
//! # Ok::<(), leadflow::attribution::AttributionError>(())
//! ```
//!
//! # Semantics
//!
//! * **Eligible touches.** Only touches at or before the conversion and, when
//!   the attributor has a lookback window, no older than the window before
//!   the conversion count. A journey without a conversion time uses all its
//!   touches.
//! * **Weights to money.** A model returns one weight per eligible touch
//!   (finite, ≥ 0, not all zero; they are normalized to sum to 1). The
//!   attributor turns them into `Decimal` credits at its scale (default 2,
//!   or the value's own scale if finer) with largest-remainder rounding: the
//!   credits always sum exactly to the conversion value; ties in the
//!   remainders go to the earlier touch.
//! * **Anchored models** (position-based, W, full path, J, inverse J,
//!   custom): anchor shares go to the first touch, the touch that created the
//!   lead (the last touch at or before the lead-created time), the touch that
//!   created the opportunity, the touch that closed the deal, and the last
//!   touch; the rest share is split equally over the touches that are no
//!   anchor. Anchors that fall on the same touch add up on it. A missing
//!   milestone's share joins the rest share; when no touch is left for the
//!   rest share, it is split equally over the anchor touches. Nothing is
//!   ever lost.
//! * **Path tables** (no timestamps): see [`PathTally`]. First, last and
//!   linear equal ChannelAttribution's `heuristic_models`; Markov follows
//!   ChannelAttribution's `markov_model` semantics but is solved exactly.

mod channels;
mod config;
mod from_lead;
mod heuristic;
mod limits;
mod markov;
mod report;
mod shapley;
mod table;
mod tally;

pub use config::ModelConfig;
pub use from_lead::{
    ConversionPoint, JourneyOptions, TouchRequirement, journeys_of, journeys_of_store,
    tally_journeys,
};
pub use heuristic::{
    AnchorWeights, Anchored, FirstTouch, LastNonDirect, LastTouch, Linear, TimeDecay,
};
pub use limits::{Limit, Limits};
pub use markov::{MarkovEdge, MarkovModel, MarkovState};
pub use report::{ChannelCredit, PathReport};
pub use shapley::{ShapleyModel, shapley_of_game};
pub use table::{PathReadOptions, PathReader, PathRow, PathTableError};
pub use tally::{PathModel, PathTally};

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{Span, Timestamp};

/// One marketing touch of a journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Touch {
    /// When it happened.
    pub at: Timestamp,
    /// The channel (`email`, `paid_search`, `direct`, …).
    pub channel: String,
    /// The campaign, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The activity kind behind the touch (`webinar_attended`, …), if known:
    /// a model can weight a webinar attended through email apart from an
    /// email click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The activity's attributes (`asset`, `url`, …).
    #[serde(default, skip_serializing_if = "crate::attr::Attrs::is_empty")]
    pub attrs: crate::attr::Attrs,
}

impl Touch {
    /// A touch on a channel.
    pub fn new(at: Timestamp, channel: impl Into<String>) -> Self {
        Self {
            at,
            channel: channel.into(),
            campaign: None,
            kind: None,
            attrs: crate::attr::Attrs::new(),
        }
    }

    /// The same touch with an activity kind.
    #[must_use]
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// The same touch with a campaign.
    #[must_use]
    pub fn with_campaign(mut self, campaign: impl Into<String>) -> Self {
        self.campaign = Some(campaign.into());
        self
    }
}

/// A conversion: when, and what it was worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// When it happened.
    pub at: Timestamp,
    /// Its value (deal amount, revenue), read exactly (see the crate's
    /// decimal rules: a string or a number of at most 15 significant digits).
    #[serde(deserialize_with = "crate::exact::decimal")]
    pub value: Decimal,
}

/// When a journey reached the lifecycle's milestones, each if it did.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use leadflow::attribution::Milestones;
/// let m = Milestones {
///     lead_created: Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()),
///     ..Milestones::default()
/// };
/// assert!(!m.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestones {
    /// When the lead was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_created: Option<Timestamp>,
    /// When the opportunity was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_created: Option<Timestamp>,
    /// When the deal was won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_won: Option<Timestamp>,
}

impl Milestones {
    /// Whether no milestone was reached.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A lead's path to a conversion: touches in time order, milestone times and
/// the conversion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journey {
    /// The touches, in time order.
    pub touches: Vec<Touch>,
    /// When the journey reached its milestones (W-shaped and full-path
    /// anchors).
    #[serde(default, skip_serializing_if = "Milestones::is_empty")]
    pub milestones: Milestones,
    /// The conversion, if the journey converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<Conversion>,
}

impl Journey {
    /// A journey of touches (sorted by time, stably).
    pub fn new(mut touches: Vec<Touch>) -> Self {
        touches.sort_by_key(|t| t.at);
        Self {
            touches,
            ..Self::default()
        }
    }

    /// The same journey with a conversion.
    #[must_use]
    pub fn converted(mut self, at: Timestamp, value: Decimal) -> Self {
        self.conversion = Some(Conversion { at, value });
        self
    }

    /// The same journey with milestone times.
    #[must_use]
    pub fn with_milestones(mut self, milestones: Milestones) -> Self {
        self.milestones = milestones;
        self
    }

    /// The journey restricted to its eligible touches: at or before the
    /// conversion and inside the lookback window.
    pub fn eligible(&self, lookback: Option<Span>) -> Journey {
        self.eligible_cow(lookback).into_owned()
    }

    /// The eligible journey, borrowed when every touch is eligible and in
    /// time order (the common case), so attribution copies nothing.
    fn eligible_cow(&self, lookback: Option<Span>) -> std::borrow::Cow<'_, Journey> {
        let end = self.conversion.map(|c| c.at);
        let start = match (end, lookback) {
            (Some(e), Some(l)) => e.checked_sub_signed(l.to_delta()),
            _ => None,
        };
        let keep = |t: &Touch| end.is_none_or(|e| t.at <= e) && start.is_none_or(|s| t.at >= s);
        let sorted = self.touches.is_sorted_by_key(|t| t.at);
        if sorted && self.touches.iter().all(keep) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut touches: Vec<Touch> = self.touches.iter().filter(|t| keep(t)).cloned().collect();
        touches.sort_by_key(|t| t.at);
        std::borrow::Cow::Owned(Journey {
            touches,
            milestones: self.milestones,
            conversion: self.conversion,
        })
    }
}

/// An attribution model: a journey in, one weight per touch out.
///
/// Weights must be finite and ≥ 0 and not all zero; the [`Attributor`]
/// normalizes them to sum to 1 and turns them into exact credits. The trait
/// is object-safe; `&T`, `Box<T>` and `Arc<T>` forward to `T`, and
/// [`model_fn`] makes a model from a closure.
pub trait AttributionModel: Send + Sync {
    /// The model's name, used in reports.
    fn name(&self) -> &str;

    /// One weight per touch of `journey` (whose touches are already the
    /// eligible ones, in time order, and never empty).
    fn weights(&self, journey: &Journey) -> Vec<f64>;
}

impl<T: AttributionModel + ?Sized> AttributionModel for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        (**self).weights(journey)
    }
}

impl<T: AttributionModel + ?Sized> AttributionModel for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        (**self).weights(journey)
    }
}

impl<T: AttributionModel + ?Sized> AttributionModel for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        (**self).weights(journey)
    }
}

/// A model made from a closure; see [`model_fn`].
#[derive(Clone)]
pub struct ModelFn<F> {
    name: String,
    f: F,
}

impl<F> std::fmt::Debug for ModelFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelFn").field("name", &self.name).finish()
    }
}

impl<F: Fn(&Journey) -> Vec<f64> + Send + Sync> AttributionModel for ModelFn<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        (self.f)(journey)
    }
}

/// A model from a name and a closure computing weights.
pub fn model_fn<F: Fn(&Journey) -> Vec<f64> + Send + Sync>(
    name: impl Into<String>,
    f: F,
) -> ModelFn<F> {
    ModelFn {
        name: name.into(),
        f,
    }
}

/// The most decimal places credits can have (a `Decimal`'s).
const MAX_SCALE: u32 = 28;

/// A model that cannot be built: what a config or a constructor is given
/// is wrong, before any journey is read. Apart from [`AttributionError`],
/// which is about computing with a model on data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Parameters the model refuses (a zero half-life, negative shares, a
    /// Markov order of 0, no models).
    #[error("invalid model parameters: {problem}")]
    InvalidParameters {
        /// What was wrong.
        problem: String,
    },
    /// A model name that is not one of the built-in models.
    #[error(
        "unknown model {name:?} (expected first, last, linear, position, j_shaped, inverse_j, markov or shapley)"
    )]
    UnknownModel {
        /// The name given.
        name: String,
    },
    /// A scale of more decimal places than a `Decimal` holds.
    #[error("a scale of {scale} decimal places: at most {max}")]
    ScaleTooLarge {
        /// The scale asked for.
        scale: u32,
        /// The most, 28.
        max: u32,
    },
}

/// An attribution that could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributionError {
    /// A model returned weights the attributor cannot use.
    #[error("model {model:?}: {problem}")]
    InvalidWeights {
        /// The model's name.
        model: String,
        /// What was wrong (wrong count, negative, not finite, all zero).
        problem: String,
    },
    /// A model the config or the parameters do not define (see
    /// [`ModelError`]), met while computing.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Partial states that cannot be combined: tallies of different
    /// models, orders or limits.
    #[error("{problem}")]
    Mismatch {
        /// What differs.
        problem: String,
    },
    /// The data cannot support the model.
    #[error("{problem}")]
    Data {
        /// What was wrong.
        problem: String,
    },
    /// A total that cannot be kept exactly: conversion values whose exact
    /// sum needs more than 28 significant digits at their finest scale
    /// (values with 28 decimals beside a total in the billions), or counts
    /// (times path lengths) beyond 2^64. Never rounded or saturated
    /// silently.
    #[error("the exact total of {what} is out of range: {remedy}")]
    TotalOutOfRange {
        /// Which total (`conversion values`, `conversion and null counts`).
        what: String,
        /// What to do about it.
        remedy: String,
    },
    /// A named bound of [`Limits`] was exceeded.
    #[error(
        "{found} {limit}: above the limit of {max}; raise the limit with PathTally::with_limits"
    )]
    LimitExceeded {
        /// Which bound.
        limit: Limit,
        /// What the data needed.
        found: u64,
        /// The bound.
        max: u64,
    },
    /// A value too large to allocate at the requested scale.
    #[error("value {value} cannot be allocated at scale {scale}")]
    Overflow {
        /// The value.
        value: String,
        /// The scale.
        scale: u32,
    },
}

/// The exact total of a tally's conversion values, or the error that says
/// it cannot be held.
pub(crate) fn exact_total(sum: crate::exact::ExactSum) -> Result<Decimal, AttributionError> {
    sum.to_decimal().ok_or_else(|| AttributionError::TotalOutOfRange {
        what: "conversion values".into(),
        remedy: "it needs more than 28 significant digits at the finest decimal scale among the values; round them to fewer decimals".into(),
    })
}

/// One touch's share of a conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Credit {
    /// The touch's index among the eligible touches.
    pub touch: usize,
    /// Its channel.
    pub channel: String,
    /// Its campaign.
    pub campaign: Option<String>,
    /// The share of the conversion value, exact at the attributor's scale.
    pub value: Decimal,
    /// The share of the conversion (its normalized weight).
    pub conversions: f64,
}

/// Attributed totals for one channel or campaign under one model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attributed {
    /// Attributed conversions (fractions of journeys).
    pub conversions: f64,
    /// Attributed value, exact.
    pub value: Decimal,
}

/// Totals per model, by channel and by campaign, side by side.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Model names in the order given.
    pub models: Vec<String>,
    /// `(model, channel)` → totals (serialized as a list of
    /// `[[model, channel], totals]` pairs).
    #[serde(with = "crate::merge::entries")]
    pub by_channel: BTreeMap<(String, String), Attributed>,
    /// `(model, campaign)` → totals (touches without a campaign are left
    /// out).
    #[serde(with = "crate::merge::entries")]
    pub by_campaign: BTreeMap<(String, String), Attributed>,
}

impl Report {
    /// One model's totals for one channel.
    pub fn channel(&self, model: &str, channel: &str) -> Option<&Attributed> {
        self.by_channel.get(&(model.to_owned(), channel.to_owned()))
    }

    /// One model's totals for one campaign.
    pub fn campaign(&self, model: &str, campaign: &str) -> Option<&Attributed> {
        self.by_campaign
            .get(&(model.to_owned(), campaign.to_owned()))
    }
}

/// Turns model weights into exact credits, journey by journey or in
/// aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributor {
    scale: u32,
    lookback: Option<Span>,
}

impl Default for Attributor {
    fn default() -> Self {
        Self::new()
    }
}

impl Attributor {
    /// Credits at scale 2 (cents), no lookback window.
    pub fn new() -> Self {
        Self {
            scale: 2,
            lookback: None,
        }
    }

    /// The same attributor crediting at `scale` decimal places.
    ///
    /// # Errors
    /// [`ModelError::ScaleTooLarge`] above 28, the most places a
    /// `Decimal` has (never clamped silently).
    pub fn with_scale(mut self, scale: u32) -> Result<Self, ModelError> {
        if scale > MAX_SCALE {
            return Err(ModelError::ScaleTooLarge {
                scale,
                max: MAX_SCALE,
            });
        }
        self.scale = scale;
        Ok(self)
    }

    /// The same attributor counting only touches within `lookback` before
    /// the conversion.
    #[must_use]
    pub fn with_lookback(mut self, lookback: Span) -> Self {
        self.lookback = Some(lookback);
        self
    }

    /// The credits of one converted journey under one model. A journey
    /// without conversion, or without eligible touches, gets no credits.
    ///
    /// # Errors
    /// [`AttributionError::InvalidWeights`] when the model returns the wrong
    /// number of weights, a negative or non-finite weight, or only zeros;
    /// [`AttributionError::Overflow`] for a value that cannot be represented
    /// at the scale.
    pub fn credit(
        &self,
        journey: &Journey,
        model: &dyn AttributionModel,
    ) -> Result<Vec<Credit>, AttributionError> {
        let Some(conversion) = journey.conversion else {
            return Ok(Vec::new());
        };
        let eligible = journey.eligible_cow(self.lookback);
        if eligible.touches.is_empty() {
            return Ok(Vec::new());
        }
        let weights = checked_weights(model, &eligible)?;
        let scale = self.scale.max(conversion.value.scale());
        let values = allocate(conversion.value, &weights, scale)?;
        Ok(eligible
            .touches
            .iter()
            .zip(weights)
            .zip(values)
            .enumerate()
            .map(|(i, ((t, w), value))| Credit {
                touch: i,
                channel: t.channel.clone(),
                campaign: t.campaign.clone(),
                value,
                conversions: w,
            })
            .collect())
    }

    /// Totals by channel and campaign for every model, over many journeys.
    ///
    /// # Errors
    /// The first error of [`Attributor::credit`], or
    /// [`AttributionError::Overflow`] when a total exceeds `Decimal`'s range.
    pub fn report(
        &self,
        journeys: &[Journey],
        models: &[&dyn AttributionModel],
    ) -> Result<Report, AttributionError> {
        let mut report = Report {
            models: models.iter().map(|m| m.name().to_owned()).collect(),
            ..Report::default()
        };
        let add = |e: &mut Attributed, c: &Credit| -> Result<(), AttributionError> {
            e.conversions += c.conversions;
            e.value = e
                .value
                .checked_add(c.value)
                .ok_or_else(|| AttributionError::Overflow {
                    value: format!("{} + {}", e.value, c.value),
                    scale: self.scale,
                })?;
            Ok(())
        };
        for model in models {
            for journey in journeys {
                for c in self.credit(journey, *model)? {
                    let name = model.name().to_owned();
                    let e = report
                        .by_channel
                        .entry((name.clone(), c.channel.clone()))
                        .or_default();
                    add(e, &c)?;
                    if let Some(campaign) = &c.campaign {
                        let e = report
                            .by_campaign
                            .entry((name, campaign.clone()))
                            .or_default();
                        add(e, &c)?;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// The model's weights, validated and normalized to sum to 1.
fn checked_weights(
    model: &dyn AttributionModel,
    journey: &Journey,
) -> Result<Vec<f64>, AttributionError> {
    let bad = |problem: String| AttributionError::InvalidWeights {
        model: model.name().to_owned(),
        problem,
    };
    let w = model.weights(journey);
    if w.len() != journey.touches.len() {
        return Err(bad(format!(
            "returned {} weights for {} touches",
            w.len(),
            journey.touches.len()
        )));
    }
    if let Some(x) = w.iter().find(|x| !x.is_finite() || **x < 0.0) {
        return Err(bad(format!("weight {x} is negative or not finite")));
    }
    let sum: f64 = w.iter().sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(bad("weights are all zero".into()));
    }
    Ok(w.into_iter().map(|x| x / sum).collect())
}

/// Splits `value` by `weights` (≥ 0, not all zero) into amounts at `scale`
/// that sum exactly to `value` rounded to `scale`, in exact integer
/// arithmetic bounded by the number of weights:
///
/// 1. the weights become integers `Wᵢ = ⌊wᵢ / Σw × 2⁶²⌋` (the model's
///    shares to 62 bits; the allocation is exact for these);
/// 2. the value becomes `U` units of 10^-scale (a typed overflow error
///    when that is not a `Decimal`);
/// 3. each amount is `⌊U × Wᵢ / ΣW⌋` units, and the `< n` units left over go
///    one each to the largest remainders (ties: the earlier index).
pub(crate) fn allocate(
    value: Decimal,
    weights: &[f64],
    scale: u32,
) -> Result<Vec<Decimal>, AttributionError> {
    let overflow = || AttributionError::Overflow {
        value: value.to_string(),
        scale,
    };
    let negative = value.is_sign_negative();
    let total = value.abs().round_dp(scale);
    // U: the total in units of 10^-scale (Decimal's mantissa is < 2^96).
    let up = scale
        .checked_sub(total.scale())
        .and_then(|d| 10u128.checked_pow(d))
        .ok_or_else(overflow)?;
    let units = total
        .mantissa()
        .unsigned_abs()
        .checked_mul(up)
        .filter(|u| *u < (1u128 << 96))
        .ok_or_else(overflow)?;
    let sum: f64 = weights.iter().sum();
    let ints: Vec<u64> = weights
        .iter()
        .map(|&w| {
            let share = if sum > 0.0 { w / sum } else { 0.0 };
            // In [0, 1]: the product is at most 2^62 and the cast exact.
            (share * (1u64 << 62) as f64).floor() as u64
        })
        .collect();
    let denom: u64 = ints.iter().sum();
    if denom == 0 {
        return Err(AttributionError::InvalidWeights {
            model: "allocation".into(),
            problem: "weights are all zero".into(),
        });
    }
    let mut parts: Vec<(u128, u64)> = ints.iter().map(|&w| mul_div(units, w, denom)).collect();
    let given: u128 = parts.iter().map(|p| p.0).sum();
    // Σ⌊U·Wᵢ/ΣW⌋ ≥ U − n, so fewer than n units are left.
    let left = usize::try_from(units.saturating_sub(given)).unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (
            parts.get(a).map_or(0, |p| p.1),
            parts.get(b).map_or(0, |p| p.1),
        );
        rb.cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(left) {
        if let Some(p) = parts.get_mut(i) {
            p.0 += 1;
        }
    }
    parts
        .into_iter()
        .map(|(q, _)| {
            let q = i128::try_from(q).map_err(|_| overflow())?;
            let v = Decimal::try_from_i128_with_scale(if negative { -q } else { q }, scale)
                .map_err(|_| overflow())?;
            Ok(v)
        })
        .collect()
}

/// `(⌊u × w / d⌋, (u × w) mod d)` for `u < 2^96`, `d > 0`, without overflow:
/// the product is carried in three 64-bit limbs.
fn mul_div(u: u128, w: u64, d: u64) -> (u128, u64) {
    let (lo, hi) = (u & u128::from(u64::MAX), u >> 64);
    let a = lo * u128::from(w); // < 2^128
    let b = hi * u128::from(w); // < 2^96: hi < 2^32
    // p = b·2^64 + a, as limbs p2 p1 p0.
    let p0 = a as u64;
    let mid = (a >> 64) + (b & u128::from(u64::MAX));
    let p1 = mid as u64;
    let p2 = ((mid >> 64) + (b >> 64)) as u64;
    let d = u128::from(d);
    let mut q: u128 = 0;
    let mut r: u128 = 0;
    for limb in [p2, p1, p0] {
        let cur = (r << 64) | u128::from(limb);
        q = (q << 64) | (cur / d);
        r = cur % d;
    }
    (q, r as u64)
}
