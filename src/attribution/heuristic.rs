//! Rule-based attribution models.

use serde::{Deserialize, Serialize};

use super::{AttributionModel, Journey, ModelError};
use crate::types::{Span, Timestamp};

/// All credit to the first touch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstTouch;

/// All credit to the last touch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastTouch;

/// Equal credit to every touch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Linear;

/// Weights scaled to sum to 1 (unchanged when they sum to zero).
pub(crate) fn normalized(mut w: Vec<f64>) -> Vec<f64> {
    let sum: f64 = w.iter().sum();
    if sum > 0.0 {
        for x in &mut w {
            *x /= sum;
        }
    }
    w
}

fn one_hot(n: usize, i: usize) -> Vec<f64> {
    (0..n).map(|j| if j == i { 1.0 } else { 0.0 }).collect()
}

impl AttributionModel for FirstTouch {
    fn name(&self) -> &str {
        "first"
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        one_hot(j.touches.len(), 0)
    }
}

impl AttributionModel for LastTouch {
    fn name(&self) -> &str {
        "last"
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        one_hot(j.touches.len(), j.touches.len().saturating_sub(1))
    }
}

impl AttributionModel for Linear {
    fn name(&self) -> &str {
        "linear"
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        let n = j.touches.len();
        vec![1.0 / n.max(1) as f64; n]
    }
}

/// All credit to the last touch whose channel is not a direct channel (all
/// to the last touch when every touch is direct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastNonDirect {
    direct: Vec<String>,
}

impl Default for LastNonDirect {
    fn default() -> Self {
        Self {
            direct: vec!["direct".to_owned()],
        }
    }
}

impl LastNonDirect {
    /// Treats these channel names (ASCII case ignored) as direct.
    pub fn with_direct_channels(direct: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            direct: direct.into_iter().map(Into::into).collect(),
        }
    }
}

impl AttributionModel for LastNonDirect {
    fn name(&self) -> &str {
        "last_non_direct"
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        let n = j.touches.len();
        let i = j
            .touches
            .iter()
            .rposition(|t| {
                !self
                    .direct
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&t.channel))
            })
            .unwrap_or(n.saturating_sub(1));
        one_hot(n, i)
    }
}

/// Exponential time decay: a touch's weight halves with every half-life
/// between it and the conversion (or the last touch, without a conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeDecay {
    half_life: Span,
}

impl Default for TimeDecay {
    /// A half-life of 7 days.
    fn default() -> Self {
        Self {
            half_life: Span::days(7),
        }
    }
}

impl TimeDecay {
    /// A time-decay model with the given half-life.
    ///
    /// # Errors
    /// [`ModelError::InvalidParameters`] for a zero half-life.
    pub fn new(half_life: Span) -> Result<Self, ModelError> {
        if half_life.is_zero() {
            return Err(ModelError::InvalidParameters {
                problem: "time decay needs a half-life greater than zero".into(),
            });
        }
        Ok(Self { half_life })
    }
}

impl AttributionModel for TimeDecay {
    fn name(&self) -> &str {
        "time_decay"
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        let end = j
            .conversion
            .map(|c| c.at)
            .or_else(|| j.touches.last().map(|t| t.at));
        let h = self.half_life.as_secs() as f64;
        let w: Vec<f64> = j
            .touches
            .iter()
            .map(|t| {
                let age = end.map_or(0.0, |e| (e - t.at).as_seconds_f64().max(0.0));
                (-age / h).exp2()
            })
            .collect();
        // Touches older than ~1000 half-lives underflow to zero: fall back
        // to the most recent touch rather than to no weights at all.
        if w.iter().all(|x| *x == 0.0) {
            return one_hot(w.len(), w.len().saturating_sub(1));
        }
        normalized(w)
    }
}

/// How far anchor shares may sum from 1 (decimal shares such as 0.3 are
/// not exact in binary).
const SHARE_SUM_TOLERANCE: f64 = 1e-9;

/// The anchor shares of an [`Anchored`] model. They must be finite, ≥ 0 and
/// sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnchorWeights {
    /// The first touch's share.
    pub first: f64,
    /// The lead-creating touch's share.
    pub lead_created: f64,
    /// The opportunity-creating touch's share.
    pub opportunity_created: f64,
    /// The deal-closing touch's share.
    pub closed_won: f64,
    /// The last touch's share.
    pub last: f64,
    /// The share split over all other touches.
    pub rest: f64,
}

/// A model that gives fixed shares to anchor touches and splits the rest:
/// position-based (U), W-shaped, full path (Z), J, inverse J, or custom
/// weights. See the [module docs](super) for how short paths and shared
/// anchors are handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchored {
    name: String,
    w: AnchorWeights,
}

impl Default for Anchored {
    fn default() -> Self {
        Self::position_based()
    }
}

impl Anchored {
    /// A custom anchored model.
    ///
    /// # Errors
    /// [`ModelError::InvalidParameters`] when a share is negative or not
    /// finite, or the shares do not sum to 1 (within `1e-9`, for shares
    /// written as decimals such as 0.3 + 0.3 + 0.4).
    pub fn new(name: impl Into<String>, w: AnchorWeights) -> Result<Self, ModelError> {
        let all = [
            w.first,
            w.lead_created,
            w.opportunity_created,
            w.closed_won,
            w.last,
            w.rest,
        ];
        if all.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(ModelError::InvalidParameters {
                problem: format!("anchor shares must be finite and at least 0: {w:?}"),
            });
        }
        let sum: f64 = all.iter().sum();
        if (sum - 1.0).abs() > SHARE_SUM_TOLERANCE {
            return Err(ModelError::InvalidParameters {
                problem: format!("anchor shares must sum to 1, not {sum}"),
            });
        }
        Ok(Self {
            name: name.into(),
            w,
        })
    }

    pub(crate) fn preset(name: &str, w: AnchorWeights) -> Self {
        Self {
            name: name.to_owned(),
            w,
        }
    }

    /// U-shaped: 40 % first, 40 % last, 20 % split between.
    pub fn position_based() -> Self {
        Self::preset(
            "position",
            AnchorWeights {
                first: 0.4,
                last: 0.4,
                rest: 0.2,
                ..AnchorWeights::default()
            },
        )
    }

    /// U-shaped with other end shares (each end gets `ends`, the middle
    /// `1 − 2·ends`).
    ///
    /// # Errors
    /// [`ModelError::InvalidParameters`] unless `0 ≤ ends ≤ 0.5`.
    pub fn position_based_with(ends: f64) -> Result<Self, ModelError> {
        if !(0.0..=0.5).contains(&ends) {
            return Err(ModelError::InvalidParameters {
                problem: format!("position-based end share must be in [0, 0.5], not {ends}"),
            });
        }
        Self::new(
            "position",
            AnchorWeights {
                first: ends,
                last: ends,
                rest: 1.0 - 2.0 * ends,
                ..AnchorWeights::default()
            },
        )
    }

    /// W-shaped: 30 % each to the first, lead-creating and
    /// opportunity-creating touches, 10 % split over the rest.
    pub fn w_shaped() -> Self {
        Self::preset(
            "w_shaped",
            AnchorWeights {
                first: 0.3,
                lead_created: 0.3,
                opportunity_created: 0.3,
                rest: 0.1,
                ..AnchorWeights::default()
            },
        )
    }

    /// Full path (Z): 22.5 % each to the first, lead-creating,
    /// opportunity-creating and deal-closing touches, 10 % over the rest.
    pub fn full_path() -> Self {
        Self::preset(
            "full_path",
            AnchorWeights {
                first: 0.225,
                lead_created: 0.225,
                opportunity_created: 0.225,
                closed_won: 0.225,
                rest: 0.1,
                ..AnchorWeights::default()
            },
        )
    }

    /// J-shaped: 20 % first, 60 % last, 20 % between.
    pub fn j_shaped() -> Self {
        Self::preset(
            "j_shaped",
            AnchorWeights {
                first: 0.2,
                last: 0.6,
                rest: 0.2,
                ..AnchorWeights::default()
            },
        )
    }

    /// Inverse J: 60 % first, 20 % last, 20 % between.
    pub fn inverse_j() -> Self {
        Self::preset(
            "inverse_j",
            AnchorWeights {
                first: 0.6,
                last: 0.2,
                rest: 0.2,
                ..AnchorWeights::default()
            },
        )
    }

    /// The shares.
    pub fn shares(&self) -> AnchorWeights {
        self.w
    }
}

/// The last touch at or before `at`, if any.
fn touch_at(j: &Journey, at: Option<Timestamp>) -> Option<usize> {
    let at = at?;
    j.touches.iter().rposition(|t| t.at <= at)
}

impl Anchored {
    /// The weight of touch `i` of a path of `n` touches that carries no
    /// milestones (a path-table row): the milestone shares join the pool.
    /// Path tables use this, so a model means the same on journeys and on
    /// path tables.
    pub(crate) fn path_weight(&self, i: usize, n: usize) -> f64 {
        let anchors = [
            (Some(0), self.w.first),
            (
                None,
                self.w.lead_created + self.w.opportunity_created + self.w.closed_won,
            ),
            (n.checked_sub(1), self.w.last),
        ];
        AnchorRule::new(n, &anchors, self.w.rest).weight(i)
    }
}

/// The one rule of anchored models: each anchor touch gets its share (a
/// touch that is several anchors gets each); a milestone the journey lacks
/// gives its share to the pool; the pool (`rest` and those shares) splits
/// evenly over the touches that are no anchor, or over the anchors when
/// every touch is one. A zero share does not make a touch an anchor (with a
/// W model the last touch is an ordinary touch).
struct AnchorRule<'a> {
    anchors: &'a [(Option<usize>, f64)],
    pool_each: f64,
    /// Whether the pool goes to the anchors (every touch is one).
    to_anchors: bool,
}

impl<'a> AnchorRule<'a> {
    fn new(n: usize, anchors: &'a [(Option<usize>, f64)], rest: f64) -> Self {
        let mut pool = rest;
        let mut distinct: Vec<usize> = Vec::with_capacity(anchors.len());
        for &(at, share) in anchors {
            match at {
                Some(i) if share > 0.0 && i < n => {
                    if !distinct.contains(&i) {
                        distinct.push(i);
                    }
                }
                Some(_) => {}
                None => pool += share,
            }
        }
        let others = n.saturating_sub(distinct.len());
        let (targets, to_anchors) = if others == 0 {
            (distinct.len(), true)
        } else {
            (others, false)
        };
        Self {
            anchors,
            pool_each: pool / targets.max(1) as f64,
            to_anchors,
        }
    }

    fn weight(&self, i: usize) -> f64 {
        let own: f64 = self
            .anchors
            .iter()
            .filter(|(at, share)| *at == Some(i) && *share > 0.0)
            .map(|(_, share)| share)
            .sum();
        let is_anchor = self
            .anchors
            .iter()
            .any(|(at, share)| *at == Some(i) && *share > 0.0);
        if is_anchor == self.to_anchors {
            own + self.pool_each
        } else {
            own
        }
    }
}

impl AttributionModel for Anchored {
    fn name(&self) -> &str {
        &self.name
    }
    fn weights(&self, j: &Journey) -> Vec<f64> {
        let n = j.touches.len();
        if n == 0 {
            return Vec::new();
        }
        let anchors = [
            (Some(0), self.w.first),
            (touch_at(j, j.milestones.lead_created), self.w.lead_created),
            (
                touch_at(j, j.milestones.opportunity_created),
                self.w.opportunity_created,
            ),
            (touch_at(j, j.milestones.closed_won), self.w.closed_won),
            (Some(n - 1), self.w.last),
        ];
        let rule = AnchorRule::new(n, &anchors, self.w.rest);
        (0..n).map(|i| rule.weight(i)).collect()
    }
}
