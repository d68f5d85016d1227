//! Naive Bayes, Odoo-style: won and lost counts per (feature, value) with
//! additive smoothing, priors from the counts, unseen and missing values
//! skipped, numeric features cut into bins at training quantiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::explain::{Condition, Explanation, Factor, sigmoid};
use super::table::{Column, FeatureKind, Table, Values};
use super::{PredictError, check_labels, record_level, record_number};
use crate::attr::Attrs;
use crate::merge::Mergeable;

/// Naive Bayes settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct NaiveBayesOptions {
    /// Added to every won and lost count of a seen value (Odoo: 0.1).
    pub smoothing: f64,
    /// Bins per numeric feature, cut at training-set quantiles (10:
    /// deciles). Ties can make fewer.
    pub bins: u16,
}

impl Default for NaiveBayesOptions {
    fn default() -> Self {
        Self {
            smoothing: 0.1,
            bins: 10,
        }
    }
}

impl NaiveBayesOptions {
    /// Sets the smoothing.
    #[must_use]
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Sets the number of bins per numeric feature.
    #[must_use]
    pub fn bins(mut self, bins: u16) -> Self {
        self.bins = bins;
        self
    }

    fn check(&self) -> Result<(), PredictError> {
        if !(self.smoothing.is_finite() && self.smoothing > 0.0) {
            return Err(PredictError::BadOption {
                option: "smoothing",
                reason: format!("must be a positive number, got {}", self.smoothing),
            });
        }
        if self.bins == 0 {
            return Err(PredictError::BadOption {
                option: "bins",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// How one feature's values are keyed: levels as written, or bins cut at
/// fixed edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Binning {
    Levels,
    /// Ascending, distinct edges: bin `k` holds `(edges[k-1], edges[k]]`,
    /// bin 0 everything up to `edges[0]`, the last bin everything above
    /// the last edge.
    Edges(Vec<f64>),
}

impl Binning {
    fn bin(edges: &[f64], x: f64) -> u32 {
        u32::try_from(edges.partition_point(|e| *e < x)).unwrap_or(u32::MAX)
    }

    fn range(edges: &[f64], bin: u32) -> Condition {
        let k = bin as usize;
        Condition::InRange {
            above: k.checked_sub(1).and_then(|i| edges.get(i)).copied(),
            up_to: edges.get(k).copied(),
        }
    }
}

/// The fixed part of a naive Bayes model, decided before counting: the
/// features, their kinds and the numeric bin edges. Partitions counted
/// under one spec merge exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecData")]
pub struct NaiveBayesSpec {
    features: Vec<(String, Binning)>,
}

/// A spec as written, checked on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecData {
    features: Vec<(String, Binning)>,
}

impl TryFrom<SpecData> for NaiveBayesSpec {
    type Error = String;
    fn try_from(data: SpecData) -> Result<Self, String> {
        let mut names: Vec<&str> = data.features.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("feature {:?} is named twice", w[0]));
        }
        for (name, binning) in &data.features {
            if let Binning::Edges(edges) = binning
                && !(edges.iter().all(|e| e.is_finite()) && edges.windows(2).all(|w| w[0] < w[1]))
            {
                return Err(format!(
                    "feature {name:?}: bin edges must be finite and strictly ascending"
                ));
            }
        }
        Ok(Self {
            features: data.features,
        })
    }
}

impl NaiveBayesSpec {
    /// Every column of `table` as a feature; numeric ones binned at the
    /// quantiles of their present values (nearest rank: edge `k` of `B` is
    /// the value at rank ⌈k·m/B⌉ of the `m` sorted values; repeated edges
    /// are dropped).
    ///
    /// # Errors
    /// [`PredictError::BadOption`] for options out of range.
    pub fn from_table(table: &Table, options: &NaiveBayesOptions) -> Result<Self, PredictError> {
        options.check()?;
        let features = table
            .columns
            .iter()
            .map(|c| {
                let binning = match &c.values {
                    Values::Numeric(v) => Binning::Edges(quantile_edges(v, options.bins)),
                    Values::Categorical { .. } => Binning::Levels,
                };
                (c.name.clone(), binning)
            })
            .collect();
        Ok(Self { features })
    }

    /// The features' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|(n, _)| n.as_str())
    }

    /// A stable fingerprint, so that tallies counted under different
    /// specs are never merged unnoticed.
    fn fingerprint(&self) -> u64 {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::hash::hash_str(&text)
    }

    /// The key of row `i` of `column` under feature `f`'s binning.
    fn key(binning: &Binning, column: &Column, i: usize) -> Option<Key> {
        match binning {
            Binning::Levels => column.level(i).map(|l| Key::Level(l.into_owned())),
            Binning::Edges(edges) => column.number(i).map(|x| Key::Bin(Binning::bin(edges, x))),
        }
    }
}

fn quantile_edges(values: &[f64], bins: u16) -> Vec<f64> {
    let mut present: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    present.sort_unstable_by(f64::total_cmp);
    let m = present.len();
    let b = usize::from(bins);
    let mut edges: Vec<f64> = Vec::with_capacity(b.saturating_sub(1));
    if m == 0 {
        return edges;
    }
    for k in 1..b {
        let rank = (k * m).div_ceil(b).max(1);
        if let Some(&e) = present.get(rank - 1)
            && edges.last().is_none_or(|last| *last < e)
        {
            edges.push(e);
        }
    }
    // An edge at the maximum would leave the last bin empty.
    if edges.last() == present.last() {
        edges.pop();
    }
    edges
}

/// A value's key in the counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Key {
    Level(String),
    Bin(u32),
}

/// Won and lost counts per (feature, value): naive Bayes' training state,
/// a [`Mergeable`] partial state. Count partitions under one
/// [`NaiveBayesSpec`], merge in any grouping and order, and
/// [`NaiveBayes::from_tally`] gives exactly the model of one pass (the
/// counts are integers).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaiveBayesTally {
    /// The fingerprint of the spec the rows were counted under (`None`
    /// before any row); always written and required on the way in, so a
    /// saved tally cannot lose it.
    #[serde(deserialize_with = "required")]
    spec: Option<u64>,
    /// Whether tallies of different specs were merged into this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    mixed: bool,
    /// Whether a count went past `u64::MAX` (only crafted input can).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    overflow: bool,
    won: u64,
    lost: u64,
    #[serde(with = "crate::merge::entries")]
    counts: BTreeMap<(u32, Key), [u64; 2]>,
}

impl NaiveBayesTally {
    /// Counts the rows of `table` (labelled by `labels`, `true` = won)
    /// under `spec`. A feature the table lacks counts as missing.
    ///
    /// # Errors
    /// [`PredictError::LabelCount`] when `labels` is not as long as the
    /// table; [`PredictError::KindMismatch`] when a categorical feature's
    /// column is numeric. On error nothing is counted.
    pub fn add(
        &mut self,
        spec: &NaiveBayesSpec,
        table: &Table,
        labels: &[bool],
    ) -> Result<(), PredictError> {
        if labels.len() != table.len() {
            return Err(PredictError::LabelCount {
                rows: table.len(),
                labels: labels.len(),
            });
        }
        // A categorical feature from a numeric column would lose levels
        // (`02134` read as 2134): refuse before counting anything.
        for (name, binning) in &spec.features {
            if let (Some(column), Binning::Levels) = (table.column(name), binning)
                && matches!(column.values, Values::Numeric(_))
            {
                return Err(PredictError::KindMismatch {
                    column: name.clone(),
                });
            }
        }
        let fingerprint = spec.fingerprint();
        match self.spec {
            Some(f) if f != fingerprint => self.mixed = true,
            _ => self.spec = Some(fingerprint),
        }
        let won = labels.iter().filter(|l| **l).count() as u64;
        self.won = add(self.won, won, &mut self.overflow);
        self.lost = add(self.lost, labels.len() as u64 - won, &mut self.overflow);
        for (f, (name, binning)) in spec.features.iter().enumerate() {
            let Some(column) = table.column(name) else {
                continue;
            };
            let f = u32::try_from(f).unwrap_or(u32::MAX);
            let local = count_feature(column, binning, labels);
            for (key, [w, l]) in local {
                let slot = self.counts.entry((f, key)).or_default();
                slot[0] = add(slot[0], w, &mut self.overflow);
                slot[1] = add(slot[1], l, &mut self.overflow);
            }
        }
        Ok(())
    }

    /// The number of won and lost rows counted.
    pub fn totals(&self) -> (u64, u64) {
        (self.won, self.lost)
    }
}

impl Mergeable for NaiveBayesTally {
    /// Adds the counts. Tallies counted under different specs merge into
    /// one marked mixed, which [`NaiveBayes::from_tally`] refuses.
    fn merge(&mut self, other: Self) {
        self.mixed |= other.mixed;
        match (self.spec, other.spec) {
            (Some(a), Some(b)) if a != b => self.mixed = true,
            (None, b) => self.spec = b,
            _ => {}
        }
        self.overflow |= other.overflow;
        self.won = add(self.won, other.won, &mut self.overflow);
        self.lost = add(self.lost, other.lost, &mut self.overflow);
        for (k, [w, l]) in other.counts {
            let slot = self.counts.entry(k).or_default();
            slot[0] = add(slot[0], w, &mut self.overflow);
            slot[1] = add(slot[1], l, &mut self.overflow);
        }
    }
}

/// An `Option` field that must be present (serde makes `Option` fields
/// optional unless they name their deserializer).
fn required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// `a + b`, noting an overflow (saturating) instead of wrapping.
fn add(a: u64, b: u64, overflow: &mut bool) -> u64 {
    a.checked_add(b).unwrap_or_else(|| {
        *overflow = true;
        u64::MAX
    })
}

/// One feature's won and lost counts per key over a table's rows, counted
/// in a local array first: one map insert per key, not one per row.
fn count_feature(column: &Column, binning: &Binning, labels: &[bool]) -> BTreeMap<Key, [u64; 2]> {
    let mut local: BTreeMap<Key, [u64; 2]> = BTreeMap::new();
    // Both the levels and the bins are known: one slot each, no resizing.
    let tally = |slots: &mut [[u64; 2]], slot: usize, label: bool| {
        if let Some(s) = slots.get_mut(slot) {
            s[usize::from(!label)] += 1;
        }
    };
    match (&column.values, binning) {
        (Values::Categorical { levels, codes }, Binning::Levels) => {
            // A missing code lies past every level and is skipped.
            let mut per_code = vec![[0u64; 2]; levels.len()];
            for (&code, &label) in codes.iter().zip(labels) {
                tally(&mut per_code, code as usize, label);
            }
            for (code, n) in per_code.into_iter().enumerate() {
                if n != [0, 0]
                    && let Some(level) = column.level_name(code)
                {
                    local.insert(Key::Level(level.to_owned()), n);
                }
            }
        }
        (Values::Numeric(xs), Binning::Edges(edges)) => {
            let mut per_bin = vec![[0u64; 2]; edges.len() + 1];
            for (&x, &label) in xs.iter().zip(labels) {
                if !x.is_nan() {
                    tally(&mut per_bin, Binning::bin(edges, x) as usize, label);
                }
            }
            for (bin, n) in per_bin.into_iter().enumerate() {
                if n != [0, 0] {
                    local.insert(Key::Bin(u32::try_from(bin).unwrap_or(u32::MAX)), n);
                }
            }
        }
        _ => {
            for (i, &label) in labels.iter().enumerate() {
                if let Some(key) = NaiveBayesSpec::key(binning, column, i) {
                    local.entry(key).or_default()[usize::from(!label)] += 1;
                }
            }
        }
    }
    local
}

/// One value's counts and its log-likelihood ratio.
#[derive(Debug, Clone, PartialEq)]
struct ValueStats {
    key: Key,
    won: u64,
    lost: u64,
    /// `ln(P(value | won) / P(value | lost))`, smoothed.
    llr: f64,
}

/// A fitted naive Bayes model (Odoo's predictive lead scoring).
///
/// For a row, the log-odds of winning are `ln(W / L)` (the won and lost
/// row counts) plus, for each feature whose value is present and was seen
/// in training, `ln(P(v | won) / P(v | lost))` with
/// `P(v | won) = (won(v) + α) / Σ_u (won(u) + α)` over the feature's seen
/// values `u` (likewise for lost), α the smoothing. Missing and unseen
/// values are skipped. This is Odoo's `s_won / (s_won + s_lost)` computed
/// in log space, so that many features never underflow.
///
/// ```
/// use leadflow::predict::{NaiveBayes, NaiveBayesOptions, Table};
/// let table = Table::new(4).with_categorical("industry",
///     [Some("software"), Some("software"), Some("retail"), Some("retail")])?;
/// let won = [true, true, false, true];
/// let model = NaiveBayes::fit(&table, &won, &NaiveBayesOptions::default())?;
/// let p = model.predict(&table)?;
/// // Priors 3:1; software 2.1/3.2 won vs 0.1/1.2 lost.
/// let odds = 3.0 * (2.1 / 3.2) / (0.1 / 1.2);
/// assert!((p[0] - odds / (1.0 + odds)).abs() < 1e-12);
/// # Ok::<(), leadflow::predict::PredictError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NaiveBayesData", into = "NaiveBayesData")]
pub struct NaiveBayes {
    spec: NaiveBayesSpec,
    smoothing: f64,
    won: u64,
    lost: u64,
    prior: f64,
    /// Per feature, its seen values sorted by key.
    values: Vec<Vec<ValueStats>>,
}

impl NaiveBayes {
    /// Fits a model: the spec from `table`, then the counts.
    ///
    /// # Errors
    /// [`PredictError::LabelCount`] when the labels do not match the rows,
    /// [`PredictError::OneClass`] when the labels are all one class,
    /// [`PredictError::BadOption`] for options out of range.
    pub fn fit(
        table: &Table,
        labels: &[bool],
        options: &NaiveBayesOptions,
    ) -> Result<Self, PredictError> {
        check_labels(table, labels)?;
        let spec = NaiveBayesSpec::from_table(table, options)?;
        let mut tally = NaiveBayesTally::default();
        tally.add(&spec, table, labels)?;
        Self::from_tally(spec, tally, options)
    }

    /// The model of counts gathered under `spec` (merged partitions
    /// included).
    ///
    /// # Errors
    /// [`PredictError::OneClass`] when the counts hold one class only,
    /// [`PredictError::BadOption`] for options out of range.
    pub fn from_tally(
        spec: NaiveBayesSpec,
        tally: NaiveBayesTally,
        options: &NaiveBayesOptions,
    ) -> Result<Self, PredictError> {
        options.check()?;
        if tally.mixed || tally.spec.is_some_and(|f| f != spec.fingerprint()) {
            return Err(PredictError::MixedSpecs);
        }
        if tally.overflow {
            return Err(PredictError::CountOverflow);
        }
        let mut values: Vec<Vec<Counted>> = vec![Vec::new(); spec.features.len()];
        for ((f, key), [won, lost]) in tally.counts {
            if let Some(list) = values.get_mut(f as usize) {
                list.push(Counted { key, won, lost });
            }
        }
        Self::build(NaiveBayesData {
            spec,
            smoothing: options.smoothing,
            won: tally.won,
            lost: tally.lost,
            values,
        })
    }

    /// The model of checked counts: priors and log-likelihood ratios are
    /// always computed here, never read from outside.
    fn build(data: NaiveBayesData) -> Result<Self, PredictError> {
        let NaiveBayesData {
            spec,
            smoothing: a,
            won,
            lost,
            values,
        } = data;
        if !(a.is_finite() && a > 0.0) {
            return Err(PredictError::BadOption {
                option: "smoothing",
                reason: format!("must be a positive number, got {a}"),
            });
        }
        if won == 0 || lost == 0 {
            return Err(PredictError::OneClass {
                positives: won,
                negatives: lost,
            });
        }
        let mut values: Vec<Vec<ValueStats>> = values
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|c| ValueStats {
                        key: c.key,
                        won: c.won,
                        lost: c.lost,
                        llr: 0.0,
                    })
                    .collect()
            })
            .collect();
        for list in &mut values {
            let won_total: f64 = list.iter().map(|v| v.won as f64 + a).sum();
            let lost_total: f64 = list.iter().map(|v| v.lost as f64 + a).sum();
            for v in list.iter_mut() {
                v.llr =
                    ((v.won as f64 + a) / won_total).ln() - ((v.lost as f64 + a) / lost_total).ln();
            }
        }
        Ok(Self {
            prior: (won as f64 / lost as f64).ln(),
            spec,
            smoothing: a,
            won,
            lost,
            values,
        })
    }

    /// The spec (features and bin edges) the model was counted under.
    pub fn spec(&self) -> &NaiveBayesSpec {
        &self.spec
    }

    /// The won and lost row counts.
    pub fn totals(&self) -> (u64, u64) {
        (self.won, self.lost)
    }

    fn stats(&self, f: usize, key: &Key) -> Option<&ValueStats> {
        let list = self.values.get(f)?;
        list.binary_search_by(|v| v.key.cmp(key))
            .ok()
            .and_then(|i| list.get(i))
    }

    fn condition(&self, f: usize, key: &Key) -> Condition {
        match (self.spec.features.get(f), key) {
            (Some((_, Binning::Edges(edges))), Key::Bin(b)) => Binning::range(edges, *b),
            (_, Key::Level(l)) => Condition::Equals(l.clone()),
            (_, Key::Bin(b)) => Condition::Equals(b.to_string()),
        }
    }

    /// Probabilities of the positive class, one per row of `table`.
    ///
    /// # Errors
    /// [`PredictError::MissingColumn`] when `table` lacks a feature;
    /// [`PredictError::KindMismatch`] when a categorical feature's column
    /// is numeric (a numeric feature reads text in number forms).
    pub fn predict(&self, table: &Table) -> Result<Vec<f64>, PredictError> {
        let columns = self.columns(table)?;
        let mut z = vec![self.prior; table.len()];
        for (f, ((_, binning), column)) in self.spec.features.iter().zip(columns).enumerate() {
            match (&column.values, binning) {
                (Values::Categorical { levels, codes }, Binning::Levels) => {
                    // One lookup per level, not per row.
                    let llr: Vec<f64> = levels
                        .iter()
                        .map(|l| self.stats(f, &Key::Level(l.clone())).map_or(0.0, |s| s.llr))
                        .collect();
                    for (zi, &code) in z.iter_mut().zip(codes) {
                        *zi += llr.get(code as usize).copied().unwrap_or(0.0);
                    }
                }
                (_, Binning::Edges(edges)) => {
                    let llr: Vec<f64> = (0..=edges.len())
                        .map(|b| {
                            let b = u32::try_from(b).unwrap_or(u32::MAX);
                            self.stats(f, &Key::Bin(b)).map_or(0.0, |s| s.llr)
                        })
                        .collect();
                    for (i, zi) in z.iter_mut().enumerate() {
                        if let Some(x) = column.number(i) {
                            *zi += llr
                                .get(Binning::bin(edges, x) as usize)
                                .copied()
                                .unwrap_or(0.0);
                        }
                    }
                }
                (Values::Numeric(_), Binning::Levels) => {
                    return Err(PredictError::KindMismatch {
                        column: column.name.clone(),
                    });
                }
            }
        }
        Ok(z.into_iter().map(sigmoid).collect())
    }

    fn columns<'t>(&self, table: &'t Table) -> Result<Vec<&'t Column>, PredictError> {
        self.spec
            .features
            .iter()
            .map(|(name, _)| {
                table
                    .column(name)
                    .ok_or_else(|| PredictError::MissingColumn {
                        column: name.clone(),
                    })
            })
            .collect()
    }

    /// The factors of one record, in feature order: each present value
    /// seen in training, with its log-likelihood ratio.
    fn factors<'a>(&'a self, record: &'a Attrs) -> impl Iterator<Item = (usize, Key, f64)> + 'a {
        self.spec
            .features
            .iter()
            .enumerate()
            .filter_map(move |(f, (name, binning))| {
                let key = match binning {
                    Binning::Levels => record_level(record, name).map(Key::Level),
                    Binning::Edges(edges) => {
                        record_number(record, name).map(|x| Key::Bin(Binning::bin(edges, x)))
                    }
                }?;
                let llr = self.stats(f, &key)?.llr;
                Some((f, key, llr))
            })
    }

    /// The log-odds of one record.
    pub(crate) fn log_odds(&self, record: &Attrs) -> f64 {
        self.factors(record)
            .fold(self.prior, |z, (_, _, llr)| z + llr)
    }

    /// The probability for one record and the factors behind it, largest
    /// effect first.
    pub fn explain(&self, record: &Attrs) -> Explanation {
        let factors = self
            .factors(record)
            .map(|(f, key, llr)| {
                let name = self.spec.features.get(f).map(|(n, _)| n.clone());
                Factor::new(name.unwrap_or_default(), self.condition(f, &key), llr)
            })
            .collect();
        Explanation::new(self.prior, factors)
    }

    /// The kind each feature is read as.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, FeatureKind)> {
        self.spec.features.iter().map(|(n, b)| {
            let kind = match b {
                Binning::Levels => FeatureKind::Categorical,
                Binning::Edges(_) => FeatureKind::Numeric,
            };
            (n.as_str(), kind)
        })
    }
}

/// A value's counts as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Counted {
    key: Key,
    won: u64,
    lost: u64,
}

/// A naive Bayes model as saved: its spec and counts (the log-odds are
/// recomputed on the way in, so a saved model cannot carry inconsistent
/// ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NaiveBayesData {
    spec: NaiveBayesSpec,
    smoothing: f64,
    won: u64,
    lost: u64,
    /// Per feature, its seen values sorted by key.
    values: Vec<Vec<Counted>>,
}

impl From<NaiveBayes> for NaiveBayesData {
    fn from(m: NaiveBayes) -> Self {
        Self {
            spec: m.spec,
            smoothing: m.smoothing,
            won: m.won,
            lost: m.lost,
            values: m
                .values
                .into_iter()
                .map(|list| {
                    list.into_iter()
                        .map(|v| Counted {
                            key: v.key,
                            won: v.won,
                            lost: v.lost,
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

impl TryFrom<NaiveBayesData> for NaiveBayes {
    type Error = String;
    fn try_from(data: NaiveBayesData) -> Result<Self, String> {
        if data.values.len() != data.spec.features.len() {
            return Err(format!(
                "{} value lists for {} features",
                data.values.len(),
                data.spec.features.len()
            ));
        }
        for (list, (name, binning)) in data.values.iter().zip(&data.spec.features) {
            if !list.windows(2).all(|w| w[0].key < w[1].key) {
                return Err(format!(
                    "feature {name:?}: values must be sorted and distinct"
                ));
            }
            let fits = |k: &Key| match (binning, k) {
                (Binning::Levels, Key::Level(_)) => true,
                (Binning::Edges(edges), Key::Bin(b)) => (*b as usize) <= edges.len(),
                _ => false,
            };
            if !list.iter().all(|c| fits(&c.key)) {
                return Err(format!(
                    "feature {name:?}: a value does not fit its binning"
                ));
            }
            // A feature's values are counted from the rows: together they
            // cannot exceed the totals.
            let won: u128 = list.iter().map(|c| u128::from(c.won)).sum();
            let lost: u128 = list.iter().map(|c| u128::from(c.lost)).sum();
            if won > u128::from(data.won) || lost > u128::from(data.lost) {
                return Err(format!(
                    "feature {name:?}: its values count more rows than the totals"
                ));
            }
        }
        NaiveBayes::build(data).map_err(|e| e.to_string())
    }
}
