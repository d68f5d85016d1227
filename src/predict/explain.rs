//! Why a model said what it said: the factors behind one prediction, in a
//! form a sales rep reads (`industry = software: ×2.30`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The logistic function, `1 / (1 + e^-z)`, without overflow.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// A number as an explanation shows it: as written for everyday
/// magnitudes, in scientific notation beyond them (`1e308`, not 309
/// digits).
pub(crate) fn display_number(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        crate::attr::AttrValue::Number(if x == 0.0 { 0.0 } else { x }).to_string()
    }
}

/// What a factor says about a feature's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// The value is this level (or, for a numeric feature a linear model
    /// reads, this number).
    Equals(String),
    /// The value lies in a bin: above `above` (exclusive) and up to
    /// `up_to` (inclusive); an absent bound is open.
    InRange {
        /// The lower bound, exclusive.
        above: Option<f64>,
        /// The upper bound, inclusive.
        up_to: Option<f64>,
    },
}

/// One feature's push on a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Factor {
    /// The feature.
    pub feature: String,
    /// Its value, as the model saw it.
    pub condition: Condition,
    /// What it adds to the log-odds of the positive class (naive Bayes:
    /// the log-likelihood ratio of the value; logistic regression:
    /// coefficient × encoded value).
    pub log_odds: f64,
}

impl Factor {
    pub(crate) fn new(feature: String, condition: Condition, log_odds: f64) -> Self {
        Self {
            feature,
            condition,
            log_odds,
        }
    }

    /// The factor by which it multiplies the odds, `e^log_odds`.
    pub fn odds_ratio(&self) -> f64 {
        self.log_odds.exp()
    }
}

impl fmt::Display for Factor {
    /// `industry = software: ×2.30`, `employees in (50, 200]: ×0.81`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = display_number;
        match &self.condition {
            Condition::Equals(v) => write!(f, "{} = {v}", self.feature)?,
            Condition::InRange { above, up_to } => {
                let low = above.map_or_else(|| "-∞".to_owned(), num);
                let high = up_to.map_or_else(|| "∞)".to_owned(), |x| format!("{}]", num(x)));
                write!(f, "{} in ({low}, {high}", self.feature)?;
            }
        }
        // Beyond everyday magnitudes the ratio reads as a power of e (an
        // odds ratio past 1e300 is not a number anyone reads).
        let ratio = self.odds_ratio();
        if (1e-4..1e6).contains(&ratio) {
            write!(f, ": ×{ratio:.2}")
        } else {
            write!(f, ": ×e^{:.1}", self.log_odds)
        }
    }
}

/// A prediction and its factors.
///
/// `probability` is exactly `sigmoid(baseline + Σ factors' log_odds)`, so
/// the factors account for the whole prediction: nothing is hidden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The predicted probability of the positive class.
    pub probability: f64,
    /// The log-odds before any factor (naive Bayes: the prior
    /// `ln(won / lost)`; logistic regression: the intercept plus every
    /// feature at its training mean or absent).
    pub baseline: f64,
    /// Every factor that applied, the largest effect (by absolute
    /// log-odds) first.
    pub factors: Vec<Factor>,
}

impl Explanation {
    pub(crate) fn new(baseline: f64, mut factors: Vec<Factor>) -> Self {
        let z = factors.iter().fold(baseline, |z, f| z + f.log_odds);
        factors.sort_by(|a, b| {
            b.log_odds
                .abs()
                .total_cmp(&a.log_odds.abs())
                .then_with(|| a.feature.cmp(&b.feature))
        });
        Self {
            probability: sigmoid(z),
            baseline,
            factors,
        }
    }
}

impl fmt::Display for Explanation {
    /// The probability, then one factor per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probability {:.3}", self.probability)?;
        for factor in &self.factors {
            write!(f, "\n  {factor}")?;
        }
        Ok(())
    }
}
