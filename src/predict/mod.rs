//! Predictive scoring: who will buy, learned from the leads that did.
//!
//! Two classic models, exact and explainable:
//!
//! * [`NaiveBayes`] — Odoo's predictive lead scoring: won and lost counts
//!   per (feature, value) with additive smoothing (0.1), priors from the
//!   counts, missing and unseen values skipped, numeric features cut into
//!   bins at training quantiles (deciles). Its training counts are a
//!   [`Mergeable`](crate::Mergeable) partial state ([`NaiveBayesTally`]):
//!   partitions merged give exactly the single-pass model.
//! * [`LogisticRegression`] — L2-regularised, scikit-learn's objective and
//!   preprocessing (numerics standardised, categoricals one-hot), solved by
//!   Newton's method until the gradient is below a tight tolerance.
//!
//! Both train and predict on a [`Table`] (named columns, numeric or
//! categorical, values possibly missing) and explain one record
//! ([`Explanation`]: the factors that moved it, `industry = software:
//! ×2.30`); [`Model`] holds either, serializes, and predicts on any thread.
//! [`LeadFeatures`] and [`Target`] turn the leads a host folds into a
//! training set ([`training_set`]); [`Tiers`] splits leads into four equal
//! priority tiers by likelihood (Odoo's contact priority); [`roc_auc`]
//! measures a model on held-out rows.
//!
//! ```
//! use leadflow::predict::{Model, NaiveBayesOptions, Table, roc_auc};
//! let table = Table::new(6)
//!     .with_categorical("industry", ["software", "software", "software", "retail", "retail", "retail"].map(Some))?
//!     .with_numeric("employees", [200.0, 500.0, 40.0, 30.0, 20.0, 900.0].map(Some))?;
//! let won = [true, true, false, false, false, true];
//! let model = Model::naive_bayes(&table, &won, &NaiveBayesOptions::default())?;
//! let scores = model.predict(&table)?;
//! assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
//! assert!(roc_auc(&scores, &won).unwrap() > 0.5);
//!
//! let mut lead = leadflow::Attrs::new();
//! lead.insert("industry".into(), "software".into());
//! let why = model.explain(&lead);
//! assert_eq!(why.factors[0].to_string(), "industry = software: ×1.91");
//! # Ok::<(), leadflow::predict::PredictError>(())
//! ```

mod bayes;
mod explain;
mod leads;
mod logistic;
mod table;

use serde::{Deserialize, Serialize};

pub use bayes::{NaiveBayes, NaiveBayesOptions, NaiveBayesSpec, NaiveBayesTally};
pub use explain::{Condition, Explanation, Factor};
pub use leads::{LeadFeatures, Target, TrainingSet, training_set};
pub use logistic::{FitReport, LogisticOptions, LogisticRegression, MAX_DIMENSIONS};
pub use table::{FeatureKind, Table, TableBuilder};

use crate::attr::{AttrValue, Attrs, parse_number};

/// Why a model could not be trained or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PredictError {
    /// A column's length differs from the table's.
    #[error("column {column:?} has {got} values, the table has {expected} rows")]
    ColumnLength {
        /// The column.
        column: String,
        /// The table's rows.
        expected: usize,
        /// The column's values.
        got: usize,
    },
    /// Two columns share a name.
    #[error("column {column:?} is given twice")]
    DuplicateColumn {
        /// The name.
        column: String,
    },
    /// A row has another number of values than there are columns.
    #[error("row {row} has {got} values, there are {expected} columns")]
    RowLength {
        /// The row's index (0-based).
        row: usize,
        /// The columns.
        expected: usize,
        /// The row's values.
        got: usize,
    },
    /// The labels do not match the rows.
    #[error("{labels} labels for {rows} rows")]
    LabelCount {
        /// The rows.
        rows: usize,
        /// The labels.
        labels: usize,
    },
    /// Training needs both classes.
    #[error("training needs both classes: {positives} positive and {negatives} negative rows")]
    OneClass {
        /// Positive rows.
        positives: u64,
        /// Negative rows.
        negatives: u64,
    },
    /// A table to predict on lacks a feature the model reads.
    #[error("the table has no column {column:?}, a feature of the model")]
    MissingColumn {
        /// The feature.
        column: String,
    },
    /// An option is out of range.
    #[error("option {option}: {reason}")]
    BadOption {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The one-hot encoding has too many coefficients for Newton's method.
    #[error(
        "logistic regression would have {dimensions} coefficients (limit {limit}) once column \
         {column:?} is encoded: drop high-cardinality columns or use naive Bayes"
    )]
    TooManyDimensions {
        /// Coefficients so far.
        dimensions: usize,
        /// The limit, [`MAX_DIMENSIONS`].
        limit: usize,
        /// The column that crossed it.
        column: String,
    },
    /// Newton's method stopped before the tolerance.
    #[error(
        "logistic regression did not converge: gradient {gradient:e} after {iterations} iterations"
    )]
    NotConverged {
        /// Iterations taken.
        iterations: u32,
        /// The largest gradient component reached.
        gradient: f64,
    },
    /// A naive Bayes count went past `u64::MAX` (only a crafted tally can).
    #[error("a naive Bayes count went past 2^64 - 1")]
    CountOverflow,
    /// Naive Bayes tallies counted under different specs were merged.
    #[error(
        "the tally merges counts made under different specs: count every partition under one \
         NaiveBayesSpec"
    )]
    MixedSpecs,
    /// A table column has another kind than the model's feature, and
    /// reading it as the model's would lose information (a categorical
    /// feature such as a zip code given as numbers: `02134` became 2134).
    #[error(
        "column {column:?} is numeric in the table but categorical in the model: build the table \
         with TableBuilder::for_model"
    )]
    KindMismatch {
        /// The column.
        column: String,
    },
    /// A target names a stage the lifecycle does not have.
    #[error("the target names stage {stage:?}, which the lifecycle does not have")]
    UnknownStage {
        /// The stage name.
        stage: String,
    },
}

fn check_labels(table: &Table, labels: &[bool]) -> Result<(), PredictError> {
    if labels.len() == table.len() {
        Ok(())
    } else {
        Err(PredictError::LabelCount {
            rows: table.len(),
            labels: labels.len(),
        })
    }
}

/// A record's attribute as a level (as [`Table`] columns read it).
fn record_level(record: &Attrs, name: &str) -> Option<String> {
    match record.get(name)? {
        AttrValue::Text(t) if t.trim().is_empty() => None,
        AttrValue::Text(t) => Some(t.clone()),
        AttrValue::Number(n) => n.is_finite().then(|| table::format_number(*n)),
    }
}

/// A record's attribute as a number (as [`Table`] columns read it).
fn record_number(record: &Attrs, name: &str) -> Option<f64> {
    match record.get(name)? {
        AttrValue::Text(t) => parse_number(t),
        AttrValue::Number(n) => n.is_finite().then_some(*n),
    }
}

/// A fitted model of either kind: what a host stores, ships to workers and
/// predicts with. Serializes with a `"model"` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Model {
    /// Naive Bayes.
    NaiveBayes(NaiveBayes),
    /// Logistic regression.
    LogisticRegression(LogisticRegression),
}

impl Model {
    /// Fits naive Bayes (see [`NaiveBayes::fit`]).
    ///
    /// # Errors
    /// As [`NaiveBayes::fit`].
    pub fn naive_bayes(
        table: &Table,
        labels: &[bool],
        options: &NaiveBayesOptions,
    ) -> Result<Self, PredictError> {
        NaiveBayes::fit(table, labels, options).map(Self::NaiveBayes)
    }

    /// Fits logistic regression (see [`LogisticRegression::fit`]).
    ///
    /// # Errors
    /// As [`LogisticRegression::fit`].
    pub fn logistic(
        table: &Table,
        labels: &[bool],
        options: &LogisticOptions,
    ) -> Result<Self, PredictError> {
        LogisticRegression::fit(table, labels, options).map(Self::LogisticRegression)
    }

    /// Probabilities of the positive class, one per row.
    ///
    /// # Errors
    /// [`PredictError::MissingColumn`] when `table` lacks a feature;
    /// [`PredictError::KindMismatch`] when a categorical feature's column
    /// is numeric (build tables to predict on with
    /// [`TableBuilder::for_model`]).
    pub fn predict(&self, table: &Table) -> Result<Vec<f64>, PredictError> {
        match self {
            Self::NaiveBayes(m) => m.predict(table),
            Self::LogisticRegression(m) => m.predict(table),
        }
    }

    /// The probability of one record (attributes by feature name; absent
    /// is missing): exactly the [`Explanation::probability`] of
    /// [`Model::explain`], without building the factors.
    pub fn probability(&self, record: &Attrs) -> f64 {
        explain::sigmoid(match self {
            Self::NaiveBayes(m) => m.log_odds(record),
            Self::LogisticRegression(m) => m.log_odds(record),
        })
    }

    /// One record's probability and the factors behind it.
    pub fn explain(&self, record: &Attrs) -> Explanation {
        match self {
            Self::NaiveBayes(m) => m.explain(record),
            Self::LogisticRegression(m) => m.explain(record),
        }
    }

    /// The features the model reads and how.
    pub fn features(&self) -> Vec<(&str, FeatureKind)> {
        match self {
            Self::NaiveBayes(m) => m.kinds().collect(),
            Self::LogisticRegression(m) => m.kinds().collect(),
        }
    }
}

/// A fitted model wired into an engine (`EngineConfig::predictive`): the
/// engine then reports each lead's probability beside its rule-based score
/// ([`Engine::probability`](crate::Engine::probability)), qualification
/// rules can require one (`"when": {"probability": {"min": 0.6}}`), the
/// priority matrix can measure engagement by it, and `tiers` split leads
/// into four priority tiers ([`Engine::tier`](crate::Engine::tier)).
///
/// Every feature the model reads must be one of `features`; a lead's
/// features are read as [`LeadFeatures::record`] reads them (profile
/// attributes and activity counts as of the time asked).
///
/// ```
/// use leadflow::predict::{LeadFeatures, Model, NaiveBayesOptions, PredictiveConfig, Table};
/// let table = Table::new(4).with_categorical("industry",
///     [Some("software"), Some("software"), Some("retail"), Some("retail")])?;
/// let model = Model::naive_bayes(&table, &[true, true, false, true], &NaiveBayesOptions::default())?;
/// let predictive = PredictiveConfig::new(LeadFeatures::new(["industry"], [] as [&str; 0]), model);
/// let json = serde_json::to_string(&predictive).unwrap();
/// let config = format!(r#"{{"lifecycle": {{"preset": "default"}}, "predictive": {json}}}"#);
/// let engine = leadflow::Engine::from_json(&config).unwrap();
/// # Ok::<(), leadflow::predict::PredictError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PredictiveConfig {
    /// Which lead data the model reads.
    pub features: LeadFeatures,
    /// The fitted model.
    pub model: Model,
    /// Priority tiers, usually [`Tiers::quartiles`] of the probabilities
    /// of the leads the host holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
}

impl PredictiveConfig {
    /// A model reading these features, without tiers.
    pub fn new(features: LeadFeatures, model: Model) -> Self {
        Self {
            features,
            model,
            tiers: None,
        }
    }

    /// Sets the tiers.
    #[must_use]
    pub fn with_tiers(mut self, tiers: Tiers) -> Self {
        self.tiers = Some(tiers);
        self
    }
}

/// The area under the ROC curve of `scores` for `labels` (`true` =
/// positive): the probability that a random positive scores above a random
/// negative, ties counting one half. `None` when a class is absent, the
/// lengths differ, or a score is NaN. `O(n log n)`.
///
/// ```
/// use leadflow::predict::roc_auc;
/// assert_eq!(roc_auc(&[0.9, 0.8, 0.3, 0.1], &[true, false, true, false]), Some(0.75));
/// assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
/// ```
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let sa = scores.get(a).copied().unwrap_or(0.0);
        let sb = scores.get(b).copied().unwrap_or(0.0);
        sa.total_cmp(&sb)
    });
    // Mann–Whitney: the rank sum of the positives, ties at their mean rank.
    let (mut rank_sum, mut positives) = (0.0f64, 0u64);
    let mut i = 0;
    while i < order.len() {
        let s = order
            .get(i)
            .and_then(|&k| scores.get(k))
            .copied()
            .unwrap_or(0.0);
        let mut j = i;
        let mut pos_in_tie = 0u64;
        while let Some(&k) = order.get(j) {
            if scores.get(k).copied().unwrap_or(0.0) != s {
                break;
            }
            pos_in_tie += u64::from(labels.get(k).copied().unwrap_or(false));
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * pos_in_tie as f64;
        positives += pos_in_tie;
        i = j;
    }
    let negatives = scores.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Four priority tiers by likelihood (Odoo's contact priority): the most
/// likely quarter of a population is tier 1, the next quarter tier 2, and
/// so on. Leads with equal probabilities share a tier (the better one), so
/// with ties the tiers are not exactly equal, but the likeliest lead is
/// always in tier 1.
///
/// ```
/// use leadflow::predict::Tiers;
/// let tiers = Tiers::quartiles(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]).unwrap();
/// assert_eq!(tiers.tier(0.75), 1);
/// assert_eq!(tiers.tier(0.15), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TiersData")]
pub struct Tiers {
    /// Ascending cut points: a probability at or above `cuts[2]` is tier
    /// 1, at or above `cuts[1]` tier 2, at or above `cuts[0]` tier 3, else
    /// tier 4.
    cuts: [f64; 3],
}

impl Tiers {
    /// The tiers of a population: with the `m` probabilities in
    /// descending order, tier k's cut is the one at position ⌈k·m/4⌉
    /// (1-based; the last when there are fewer), for k = 1, 2, 3. `None`
    /// for an empty population or one with a value that is not a
    /// probability (NaN, infinite, outside 0 to 1).
    pub fn quartiles(probabilities: &[f64]) -> Option<Self> {
        if probabilities.is_empty() || !probabilities.iter().all(|p| (0.0..=1.0).contains(p)) {
            return None;
        }
        let mut sorted = probabilities.to_vec();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let m = sorted.len();
        let at = |k: usize| sorted.get((k * m).div_ceil(4).clamp(1, m) - 1).copied();
        Some(Self {
            cuts: [at(3)?, at(2)?, at(1)?],
        })
    }

    /// The cut points, ascending.
    pub fn cuts(&self) -> [f64; 3] {
        self.cuts
    }

    /// Why these cut points are not tiers, if they are not: they must be
    /// probabilities in ascending order.
    fn problem(&self) -> Option<String> {
        let [a, b, c] = self.cuts;
        let valid = self.cuts.iter().all(|x| (0.0..=1.0).contains(x)) && a <= b && b <= c;
        (!valid).then(|| {
            format!(
                "tier cut points [{a}, {b}, {c}] must be three ascending probabilities from 0 to 1"
            )
        })
    }

    /// The tier of a probability: 1 (most likely quarter) to 4.
    pub fn tier(&self, probability: f64) -> u8 {
        let reached = self.cuts.iter().filter(|c| probability >= **c).count();
        4 - u8::try_from(reached).unwrap_or(3)
    }
}

/// Tiers as written, checked on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TiersData {
    cuts: [f64; 3],
}

impl TryFrom<TiersData> for Tiers {
    type Error = String;
    fn try_from(data: TiersData) -> Result<Self, String> {
        let tiers = Self { cuts: data.cuts };
        match tiers.problem() {
            Some(problem) => Err(problem),
            None => Ok(tiers),
        }
    }
}
