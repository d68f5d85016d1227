//! Logistic regression with L2 regularisation, solved by Newton's method
//! to a tight tolerance.

use serde::{Deserialize, Serialize};

use super::explain::{Condition, Explanation, Factor, sigmoid};
use super::table::{Column, FeatureKind, MISSING, Table, Values};
use super::{PredictError, check_labels, record_level, record_number};
use crate::attr::Attrs;

/// The most coefficients (intercept and one per numeric feature and per
/// categorical level) a model may have: Newton's method keeps a dense
/// Hessian of `d²` numbers (32 MiB at the limit) and factors it in `d³/3`
/// steps per iteration.
pub const MAX_DIMENSIONS: usize = 2048;

/// The largest standardised value a numeric feature enters the model
/// with, in standard deviations (see `Standard::z`).
const MAX_STANDARD: f64 = 1e6;

/// Newton iterations before [`PredictError::NotConverged`]; the method
/// converges quadratically, so a well-posed problem takes about ten.
const MAX_ITERATIONS: u32 = 100;

/// Armijo's sufficient-decrease fraction for the backtracking line search.
const ARMIJO: f64 = 1e-4;

/// Halvings of the step before the line search gives up.
const MAX_HALVINGS: u32 = 60;

/// Row partitions of a pass over the training rows, each summed on its
/// own (in parallel when the machine has cores) and then in order: a fixed
/// number, so results never depend on the machine.
const PARTITIONS: usize = 4;

/// The most memory the partitions' Hessians may take together; wide
/// models use fewer partitions.
const PARTITION_BYTES: usize = 64 << 20;

/// Logistic regression settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LogisticOptions {
    /// Inverse regularisation strength: the objective is
    /// `C · Σ log-loss + ½‖w‖²` (the intercept not penalised), as in
    /// scikit-learn's `LogisticRegression(C=…)`.
    pub c: f64,
    /// Stop when every component of the objective's gradient is at most
    /// `tolerance · max(1, C · n)` in absolute value (`n` rows).
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        Self {
            c: 1.0,
            tolerance: 1e-8,
        }
    }
}

impl LogisticOptions {
    /// Sets `C`.
    #[must_use]
    pub fn c(mut self, c: f64) -> Self {
        self.c = c;
        self
    }

    /// Sets the tolerance.
    #[must_use]
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    fn check(&self) -> Result<(), PredictError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(PredictError::BadOption {
                option: "c",
                reason: format!("must be a positive number, got {}", self.c),
            });
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(PredictError::BadOption {
                option: "tolerance",
                reason: format!("must be a positive number, got {}", self.tolerance),
            });
        }
        Ok(())
    }
}

/// One feature of a fitted model.
#[derive(Debug, Clone, PartialEq)]

enum Linear {
    /// Read as `(x / unit − mean) / scale` (see [`Standard`]); missing is
    /// the mean.
    Numeric {
        name: String,
        standard: Standard,
        weight: f64,
    },
    /// One indicator per level seen in training (sorted by level); an
    /// unseen or missing level is all zeros.
    Categorical {
        name: String,
        levels: Vec<(String, f64)>,
    },
}

impl Linear {
    fn name(&self) -> &str {
        match self {
            Self::Numeric { name, .. } | Self::Categorical { name, .. } => name,
        }
    }

    fn level_weight(levels: &[(String, f64)], level: &str) -> Option<f64> {
        levels
            .binary_search_by(|(l, _)| l.as_str().cmp(level))
            .ok()
            .and_then(|i| levels.get(i))
            .map(|(_, w)| *w)
    }
}

/// A numeric feature's standardisation. Values are first divided by
/// `unit`, a power of two at least the largest magnitude seen, so that the
/// mean and deviation of any finite values (1e308 included) never
/// overflow; dividing by a power of two is exact.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Standard {
    unit: f64,
    mean: f64,
    scale: f64,
}

impl Standard {
    /// The standardised value, within ±[`MAX_STANDARD`]: a value a
    /// million deviations out carries no more information than one at the
    /// bound, and the bound keeps `weight × z` finite (a constant training
    /// column has weight 0, and 0 × ∞ would be NaN).
    fn z(&self, x: f64) -> f64 {
        let z = (x / self.unit - self.mean) / self.scale;
        if z.is_nan() {
            0.0
        } else {
            z.clamp(-MAX_STANDARD, MAX_STANDARD)
        }
    }

    /// Mean and population standard deviation of a column's present
    /// values (scale 1 for a constant or empty column).
    fn of(column: &Column, n: usize) -> Self {
        let present = || (0..n).filter_map(|i| column.number(i));
        let largest = present().fold(0.0f64, |m, x| m.max(x.abs()));
        let unit = if largest > 0.0 {
            // The smallest power of two ≥ largest, within f64's range.
            let e = largest.log2().ceil().clamp(-1000.0, 1023.0);
            2f64.powi(e as i32)
        } else {
            1.0
        };
        let (mut count, mut sum) = (0usize, 0.0);
        for x in present() {
            count += 1;
            sum += x / unit;
        }
        if count == 0 {
            return Self {
                unit,
                mean: 0.0,
                scale: 1.0,
            };
        }
        let mean = sum / count as f64;
        let ss: f64 = present().map(|x| (x / unit - mean).powi(2)).sum();
        let sd = (ss / count as f64).sqrt();
        Self {
            unit,
            mean,
            scale: if sd > 0.0 && sd.is_finite() { sd } else { 1.0 },
        }
    }
}

/// How the solver ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FitReport {
    /// Newton iterations taken.
    pub iterations: u32,
    /// The largest absolute component of the objective's gradient at the
    /// solution.
    pub gradient: f64,
    /// The objective at the solution, `C · Σ log-loss + ½‖w‖²`.
    pub objective: f64,
}

/// A fitted logistic regression.
///
/// Numeric features are standardised on the training set (mean and
/// population standard deviation of the present values; a constant column
/// keeps scale 1; a missing value is the mean), categorical ones one-hot
/// encoded (every level seen in training; an unseen or missing level is all
/// zeros). The coefficients minimise `C · Σ log-loss + ½‖w‖²`, the
/// intercept not penalised — scikit-learn's `LogisticRegression` objective
/// with the same preprocessing — solved by Newton's method with a
/// backtracking line search until the gradient is below
/// [`LogisticOptions::tolerance`].
///
/// ```
/// use leadflow::predict::{LogisticOptions, LogisticRegression, Table};
/// let table = Table::new(6)
///     .with_numeric("visits", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0].map(Some))?;
/// let bought = [false, false, true, false, true, true];
/// let model = LogisticRegression::fit(&table, &bought, &LogisticOptions::default())?;
/// let p = model.predict(&table)?;
/// assert!(p[0] < 0.5 && p[5] > 0.5);
/// // Stopped once every gradient component was at most 1e-8 · C · n.
/// assert!(model.report().gradient <= 1e-8 * 6.0);
/// # Ok::<(), leadflow::predict::PredictError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LogisticData", into = "LogisticData")]
pub struct LogisticRegression {
    intercept: f64,
    features: Vec<Linear>,
    c: f64,
    report: FitReport,
}

/// The training rows encoded: standardised numerics (row-major) and
/// global coefficient indices of the categorical levels (row-major,
/// [`MISSING`] for none).
struct Design {
    n: usize,
    dims: usize,
    numeric: usize,
    xs: Vec<f64>,
    categorical: usize,
    cats: Vec<u32>,
    y: Vec<f64>,
}

impl Design {
    /// `z = w·x` for row `i`.
    fn dot(&self, w: &[f64], i: usize) -> f64 {
        let mut z = w.first().copied().unwrap_or(0.0);
        let xs = self
            .xs
            .get(i * self.numeric..(i + 1) * self.numeric)
            .unwrap_or(&[]);
        for (x, wj) in xs.iter().zip(w.get(1..).unwrap_or(&[])) {
            z += x * wj;
        }
        let cats = self
            .cats
            .get(i * self.categorical..(i + 1) * self.categorical)
            .unwrap_or(&[]);
        for &c in cats {
            if c != MISSING {
                z += w.get(c as usize).copied().unwrap_or(0.0);
            }
        }
        z
    }

    /// The log-loss of rows `range` at `w`.
    fn loss(&self, w: &[f64], range: std::ops::Range<usize>) -> f64 {
        let mut loss = 0.0;
        for i in range {
            let z = self.dot(w, i);
            let y = self.y.get(i).copied().unwrap_or(0.0);
            loss += softplus(if y > 0.5 { -z } else { z });
        }
        loss
    }

    /// The objective at `w`.
    fn objective(&self, w: &[f64], c: f64) -> f64 {
        let parts = self.partitions(|range| self.loss(w, range));
        c * parts.iter().sum::<f64>() + 0.5 * w.iter().skip(1).map(|x| x * x).sum::<f64>()
    }

    /// Runs `work` on the fixed row partitions (on up to as many threads as
    /// the machine has) and returns their results in partition order. The
    /// partitions depend only on the data's shape, never on the machine, so
    /// sums over them are the same everywhere.
    fn partitions<T: Send>(&self, work: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
        // Each partition of the Hessian pass holds a d × d matrix: keep
        // their total under PARTITION_BYTES.
        let per = self.dims * self.dims * 8;
        let parts = (PARTITION_BYTES / per.max(1)).clamp(1, PARTITIONS);
        let size = self.n.div_ceil(parts).max(1);
        let ranges: Vec<std::ops::Range<usize>> = (0..parts)
            .map(|p| (p * size).min(self.n)..((p + 1) * size).min(self.n))
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(parts);
        if threads <= 1 {
            return ranges.into_iter().map(&work).collect();
        }
        let work = &work;
        let mut out: Vec<Option<T>> = (0..parts).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<(usize, std::ops::Range<usize>)> = ranges
                        .iter()
                        .cloned()
                        .enumerate()
                        .filter(|(p, _)| p % threads == t)
                        .collect();
                    scope.spawn(move || {
                        mine.into_iter()
                            .map(|(p, r)| (p, work(r)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                if let Ok(results) = h.join() {
                    for (p, r) in results {
                        if let Some(slot) = out.get_mut(p) {
                            *slot = Some(r);
                        }
                    }
                }
            }
        });
        // A partition whose worker died is computed here, so a result is
        // never silently short.
        out.into_iter()
            .zip(ranges)
            .map(|(r, range)| r.unwrap_or_else(|| work(range)))
            .collect()
    }

    /// The log-loss, gradient and Hessian (upper triangle, row-major) of
    /// rows `range` at `w`, unscaled and unregularised.
    fn partial(&self, w: &[f64], range: std::ops::Range<usize>) -> (f64, Vec<f64>, Vec<f64>) {
        let d = self.dims;
        let mut g = vec![0.0; d];
        let mut h = vec![0.0; d * d];
        let mut loss = 0.0;
        let mut idx: Vec<usize> = Vec::with_capacity(1 + self.numeric + self.categorical);
        let mut val: Vec<f64> = Vec::with_capacity(idx.capacity());
        for i in range {
            let z = self.dot(w, i);
            let y = self.y.get(i).copied().unwrap_or(0.0);
            let p = sigmoid(z);
            loss += softplus(if y > 0.5 { -z } else { z });
            let r = p - y;
            let s = p * (1.0 - p);
            idx.clear();
            val.clear();
            idx.push(0);
            val.push(1.0);
            let xs = self
                .xs
                .get(i * self.numeric..(i + 1) * self.numeric)
                .unwrap_or(&[]);
            idx.extend(1..=xs.len());
            val.extend_from_slice(xs);
            let cats = self
                .cats
                .get(i * self.categorical..(i + 1) * self.categorical)
                .unwrap_or(&[]);
            for &k in cats {
                if k != MISSING {
                    idx.push(k as usize);
                    val.push(1.0);
                }
            }
            for (a, (&ia, &va)) in idx.iter().zip(&val).enumerate() {
                if let Some(ga) = g.get_mut(ia) {
                    *ga += r * va;
                }
                let sv = s * va;
                let Some(row) = h.get_mut(ia * d..(ia + 1) * d) else {
                    continue;
                };
                for (&ib, &vb) in idx.iter().zip(&val).skip(a) {
                    if let Some(hab) = row.get_mut(ib) {
                        *hab += sv * vb;
                    }
                }
            }
        }
        (loss, g, h)
    }

    /// The objective, its gradient and its Hessian (dense, upper triangle
    /// filled, row-major) at `w`.
    fn derivatives(&self, w: &[f64], c: f64, g: &mut [f64], h: &mut [f64]) -> f64 {
        g.fill(0.0);
        h.fill(0.0);
        let d = self.dims;
        let mut loss = 0.0;
        for (l, pg, ph) in self.partitions(|range| self.partial(w, range)) {
            loss += l;
            for (a, b) in g.iter_mut().zip(pg) {
                *a += b;
            }
            for (a, b) in h.iter_mut().zip(ph) {
                *a += b;
            }
        }
        for gj in g.iter_mut() {
            *gj *= c;
        }
        for hj in h.iter_mut() {
            *hj *= c;
        }
        for j in 1..d {
            if let (Some(gj), Some(wj)) = (g.get_mut(j), w.get(j)) {
                *gj += wj;
            }
            if let Some(hjj) = h.get_mut(j * d + j) {
                *hjj += 1.0;
            }
        }
        c * loss + 0.5 * w.iter().skip(1).map(|x| x * x).sum::<f64>()
    }
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Solves `h x = b` for a symmetric positive definite `h` (upper triangle
/// given, row-major `d × d`) by Cholesky; `None` when `h` is not positive
/// definite to working precision.
fn cholesky_solve(h: &[f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    // Lower factor l (row-major), h = l lᵀ; h's upper triangle read as its
    // transpose.
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut diag = *h.get(j * d + j)?;
        for k in 0..j {
            let ljk = *l.get(j * d + k)?;
            diag -= ljk * ljk;
        }
        if !(diag.is_finite() && diag > 0.0) {
            return None;
        }
        let diag = diag.sqrt();
        *l.get_mut(j * d + j)? = diag;
        for i in j + 1..d {
            let mut v = *h.get(j * d + i)?;
            let (ri, rj) = (i * d, j * d);
            for k in 0..j {
                v -= l.get(ri + k)? * l.get(rj + k)?;
            }
            *l.get_mut(ri + j)? = v / diag;
        }
    }
    // Forward then back substitution.
    let mut y = vec![0.0; d];
    for i in 0..d {
        let mut v = *b.get(i)?;
        for k in 0..i {
            v -= l.get(i * d + k)? * y.get(k)?;
        }
        *y.get_mut(i)? = v / l.get(i * d + i)?;
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let mut v = *y.get(i)?;
        for k in i + 1..d {
            v -= l.get(k * d + i)? * x.get(k)?;
        }
        *x.get_mut(i)? = v / l.get(i * d + i)?;
    }
    Some(x)
}

impl LogisticRegression {
    /// Fits a model on every column of `table`.
    ///
    /// # Errors
    /// [`PredictError::LabelCount`], [`PredictError::OneClass`],
    /// [`PredictError::BadOption`]; [`PredictError::TooManyDimensions`]
    /// when the encoded features exceed [`MAX_DIMENSIONS`] (drop
    /// high-cardinality columns such as company names, or use naive
    /// Bayes); [`PredictError::NotConverged`] if Newton's method stalls.
    pub fn fit(
        table: &Table,
        labels: &[bool],
        options: &LogisticOptions,
    ) -> Result<Self, PredictError> {
        options.check()?;
        check_labels(table, labels)?;
        let positives = labels.iter().filter(|l| **l).count() as u64;
        let negatives = labels.len() as u64 - positives;
        if positives == 0 || negatives == 0 {
            return Err(PredictError::OneClass {
                positives,
                negatives,
            });
        }
        let (mut features, design) = encode(table, labels)?;
        let (w, report) = newton(&design, options)?;
        // Hand the coefficients back to the features, in the design's
        // index order: numerics first, then every level.
        let mut next_numeric = 1;
        let mut next_level = 1 + design.numeric;
        for f in &mut features {
            match f {
                Linear::Numeric { weight, .. } => {
                    *weight = w.get(next_numeric).copied().unwrap_or(0.0);
                    next_numeric += 1;
                }
                Linear::Categorical { levels, .. } => {
                    for (_, weight) in levels.iter_mut() {
                        *weight = w.get(next_level).copied().unwrap_or(0.0);
                        next_level += 1;
                    }
                    levels.sort_by(|a, b| a.0.cmp(&b.0));
                }
            }
        }
        Ok(Self {
            intercept: w.first().copied().unwrap_or(0.0),
            features,
            c: options.c,
            report,
        })
    }

    /// How the solver ended.
    pub fn report(&self) -> FitReport {
        self.report
    }

    /// The intercept (log-odds of a row at every numeric mean with no
    /// level present).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// Every coefficient: `(feature, level, weight)`, the level `None` for
    /// a numeric feature (whose weight applies to the standardised value).
    pub fn coefficients(&self) -> Vec<(&str, Option<&str>, f64)> {
        let mut out = Vec::new();
        for f in &self.features {
            match f {
                Linear::Numeric { name, weight, .. } => out.push((name.as_str(), None, *weight)),
                Linear::Categorical { name, levels } => {
                    for (l, w) in levels {
                        out.push((name.as_str(), Some(l.as_str()), *w));
                    }
                }
            }
        }
        out
    }

    /// The standardisation of a numeric feature, `(mean, scale)`: the
    /// feature enters the model as `(x − mean) / scale`.
    pub fn standardisation(&self, feature: &str) -> Option<(f64, f64)> {
        self.features.iter().find_map(|f| match f {
            Linear::Numeric { name, standard, .. } if name == feature => Some((
                standard.mean * standard.unit,
                standard.scale * standard.unit,
            )),
            _ => None,
        })
    }

    /// The kind each feature is read as.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, FeatureKind)> {
        self.features.iter().map(|f| match f {
            Linear::Numeric { name, .. } => (name.as_str(), FeatureKind::Numeric),
            Linear::Categorical { name, .. } => (name.as_str(), FeatureKind::Categorical),
        })
    }

    /// Probabilities of the positive class, one per row of `table`.
    ///
    /// # Errors
    /// [`PredictError::MissingColumn`] when `table` lacks a feature;
    /// [`PredictError::KindMismatch`] when a categorical feature's column
    /// is numeric (a numeric feature reads text in number forms).
    pub fn predict(&self, table: &Table) -> Result<Vec<f64>, PredictError> {
        let mut z = vec![self.intercept; table.len()];
        for f in &self.features {
            let column = table
                .column(f.name())
                .ok_or_else(|| PredictError::MissingColumn {
                    column: f.name().to_owned(),
                })?;
            match f {
                Linear::Numeric {
                    standard, weight, ..
                } => {
                    for (i, zi) in z.iter_mut().enumerate() {
                        if let Some(x) = column.number(i) {
                            *zi += weight * standard.z(x);
                        }
                    }
                }
                Linear::Categorical { levels, .. } => add_levels(&mut z, column, levels)?,
            }
        }
        Ok(z.into_iter().map(sigmoid).collect())
    }

    /// The factors of one record, in feature order: `(feature, value,
    /// effect on the log-odds)`.
    fn factors<'a>(
        &'a self,
        record: &'a Attrs,
    ) -> impl Iterator<Item = (&'a str, Condition, f64)> + 'a {
        self.features.iter().filter_map(move |f| match f {
            Linear::Numeric {
                name,
                standard,
                weight,
            } => {
                let x = record_number(record, name)?;
                Some((
                    name.as_str(),
                    Condition::Equals(super::explain::display_number(x)),
                    weight * standard.z(x),
                ))
            }
            Linear::Categorical { name, levels } => {
                let level = record_level(record, name)?;
                let w = Linear::level_weight(levels, &level)?;
                Some((name.as_str(), Condition::Equals(level), w))
            }
        })
    }

    /// The log-odds of one record.
    pub(crate) fn log_odds(&self, record: &Attrs) -> f64 {
        self.factors(record)
            .fold(self.intercept, |z, (_, _, effect)| z + effect)
    }

    /// The probability for one record and the factors behind it, largest
    /// effect first. A numeric factor is its coefficient times the
    /// standardised value; a level's is its coefficient.
    pub fn explain(&self, record: &Attrs) -> Explanation {
        let factors = self
            .factors(record)
            .map(|(name, condition, effect)| Factor::new(name.to_owned(), condition, effect))
            .collect();
        Explanation::new(self.intercept, factors)
    }
}

/// Adds each row's level weight (per level of the column, looked up once).
fn add_levels(
    z: &mut [f64],
    column: &Column,
    levels: &[(String, f64)],
) -> Result<(), PredictError> {
    match &column.values {
        Values::Categorical {
            levels: names,
            codes,
        } => {
            let weights: Vec<f64> = names
                .iter()
                .map(|l| Linear::level_weight(levels, l).unwrap_or(0.0))
                .collect();
            for (zi, &code) in z.iter_mut().zip(codes) {
                *zi += weights.get(code as usize).copied().unwrap_or(0.0);
            }
        }
        Values::Numeric(_) => {
            return Err(PredictError::KindMismatch {
                column: column.name.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses, before the design is allocated, one wider than
/// [`MAX_DIMENSIONS`]: the intercept, one coefficient per numeric column
/// and one per level that occurs, counted in the design's order. Returns
/// each categorical column's used levels, for the encoding.
fn check_dimensions(
    numeric: &[&Column],
    categorical: &[&Column],
) -> Result<Vec<Vec<bool>>, PredictError> {
    let too_many = |dimensions: usize, column: &Column| PredictError::TooManyDimensions {
        dimensions,
        limit: MAX_DIMENSIONS,
        column: column.name.clone(),
    };
    let mut dims = 1;
    for column in numeric {
        dims += 1;
        if dims > MAX_DIMENSIONS {
            return Err(too_many(dims, column));
        }
    }
    let mut used = Vec::with_capacity(categorical.len());
    for column in categorical {
        let levels = used_levels(column);
        dims += levels.iter().filter(|u| **u).count();
        if dims > MAX_DIMENSIONS {
            return Err(too_many(dims, column));
        }
        used.push(levels);
    }
    Ok(used)
}

/// Which levels of a categorical column occur in its rows (a table built
/// by filtering may name levels no row has; only those that occur get a
/// coefficient).
fn used_levels(column: &Column) -> Vec<bool> {
    let Values::Categorical { levels, codes } = &column.values else {
        return Vec::new();
    };
    let mut used = vec![false; levels.len()];
    for &c in codes {
        if let Some(u) = used.get_mut(c as usize) {
            *u = true;
        }
    }
    used
}

/// The numeric columns standardised into a row-major block, and their
/// features.
fn encode_numeric(columns: &[&Column], n: usize) -> (Vec<f64>, Vec<Linear>) {
    let p = columns.len();
    let mut xs = vec![0.0; n * p];
    let mut features = Vec::with_capacity(p);
    for (j, column) in columns.iter().enumerate() {
        let standard = Standard::of(column, n);
        for i in 0..n {
            if let (Some(x), Some(slot)) = (column.number(i), xs.get_mut(i * p + j)) {
                *slot = standard.z(x);
            }
        }
        features.push(Linear::Numeric {
            name: column.name.clone(),
            standard,
            weight: 0.0,
        });
    }
    (xs, features)
}

/// The features (weights still zero) and the encoded training rows.
fn encode(table: &Table, labels: &[bool]) -> Result<(Vec<Linear>, Design), PredictError> {
    let n = table.len();
    let numeric_columns: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| matches!(c.values, Values::Numeric(_)))
        .collect();
    let categorical_columns: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| matches!(c.values, Values::Categorical { .. }))
        .collect();
    let used_by_column = check_dimensions(&numeric_columns, &categorical_columns)?;
    let mut dims = 1 + numeric_columns.len();
    let p = numeric_columns.len();
    let (xs, mut features) = encode_numeric(&numeric_columns, n);
    let q = categorical_columns.len();
    let mut cats = vec![MISSING; n * q];
    for (k, (column, used)) in categorical_columns.iter().zip(&used_by_column).enumerate() {
        let Values::Categorical { levels, codes } = &column.values else {
            continue;
        };
        let mut global = vec![MISSING; levels.len()];
        let mut kept = Vec::new();
        for (code, level) in levels.iter().enumerate() {
            if used.get(code).copied().unwrap_or(false) {
                if let Some(g) = global.get_mut(code) {
                    *g = u32::try_from(dims).unwrap_or(MISSING);
                }
                dims += 1;
                kept.push((level.clone(), 0.0));
            }
        }
        for (i, &c) in codes.iter().enumerate() {
            if let (Some(slot), Some(&g)) = (cats.get_mut(i * q + k), global.get(c as usize)) {
                *slot = g;
            }
        }
        features.push(Linear::Categorical {
            name: column.name.clone(),
            levels: kept,
        });
    }
    // Features in table order for the model; the design keeps numerics
    // first, which `fit` follows when it hands back the weights.
    let order: Vec<&str> = table.names().collect();
    features.sort_by_key(|f| order.iter().position(|n| *n == f.name()));
    let y = labels.iter().map(|l| f64::from(u8::from(*l))).collect();
    Ok((
        features,
        Design {
            n,
            dims,
            numeric: p,
            xs,
            categorical: q,
            cats,
            y,
        },
    ))
}

/// Newton's method with a backtracking line search.
fn newton(
    design: &Design,
    options: &LogisticOptions,
) -> Result<(Vec<f64>, FitReport), PredictError> {
    let d = design.dims;
    let c = options.c;
    let bound = options.tolerance * (c * design.n as f64).max(1.0);
    let mut w = vec![0.0; d];
    let mut g = vec![0.0; d];
    let mut h = vec![0.0; d * d];
    let mut f = design.derivatives(&w, c, &mut g, &mut h);
    for iteration in 0..=MAX_ITERATIONS {
        let gmax = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        if gmax <= bound {
            return Ok((
                w,
                FitReport {
                    iterations: iteration,
                    gradient: gmax,
                    objective: f,
                },
            ));
        }
        if iteration == MAX_ITERATIONS {
            break;
        }
        let step = cholesky_solve(&h, &g, d).ok_or(PredictError::NotConverged {
            iterations: iteration,
            gradient: gmax,
        })?;
        let decrement: f64 = g.iter().zip(&step).map(|(a, b)| a * b).sum();
        let mut t = 1.0;
        let mut accepted = false;
        let mut trial = vec![0.0; d];
        for _ in 0..MAX_HALVINGS {
            for ((tj, wj), sj) in trial.iter_mut().zip(&w).zip(&step) {
                *tj = wj - t * sj;
            }
            let ft = design.objective(&trial, c);
            if ft <= f - ARMIJO * t * decrement {
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            return Err(PredictError::NotConverged {
                iterations: iteration,
                gradient: gmax,
            });
        }
        w = trial;
        f = design.derivatives(&w, c, &mut g, &mut h);
    }
    let gradient = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    Err(PredictError::NotConverged {
        iterations: MAX_ITERATIONS,
        gradient,
    })
}

/// A logistic regression as saved, checked on the way in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogisticData {
    intercept: f64,
    features: Vec<LinearData>,
    c: f64,
    report: FitReport,
}

/// A feature as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum LinearData {
    Numeric {
        name: String,
        unit: f64,
        mean: f64,
        scale: f64,
        weight: f64,
    },
    Categorical {
        name: String,
        levels: Vec<(String, f64)>,
    },
}

impl From<LogisticRegression> for LogisticData {
    fn from(m: LogisticRegression) -> Self {
        Self {
            intercept: m.intercept,
            c: m.c,
            report: m.report,
            features: m
                .features
                .into_iter()
                .map(|f| match f {
                    Linear::Numeric {
                        name,
                        standard,
                        weight,
                    } => LinearData::Numeric {
                        name,
                        unit: standard.unit,
                        mean: standard.mean,
                        scale: standard.scale,
                        weight,
                    },
                    Linear::Categorical { name, levels } => {
                        LinearData::Categorical { name, levels }
                    }
                })
                .collect(),
        }
    }
}

impl TryFrom<LogisticData> for LogisticRegression {
    type Error = String;
    fn try_from(data: LogisticData) -> Result<Self, String> {
        let finite = |what: &str, x: f64| {
            if x.is_finite() {
                Ok(())
            } else {
                Err(format!("{what} must be finite, got {x}"))
            }
        };
        finite("the intercept", data.intercept)?;
        if !(data.c.is_finite() && data.c > 0.0) {
            return Err(format!("c must be a positive number, got {}", data.c));
        }
        let mut names: Vec<&str> = data
            .features
            .iter()
            .map(|f| match f {
                LinearData::Numeric { name, .. } | LinearData::Categorical { name, .. } => {
                    name.as_str()
                }
            })
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("feature {:?} is named twice", w[0]));
        }
        let mut features = Vec::with_capacity(data.features.len());
        for f in data.features {
            features.push(match f {
                LinearData::Numeric {
                    name,
                    unit,
                    mean,
                    scale,
                    weight,
                } => {
                    if !(unit.is_finite() && unit > 0.0 && scale.is_finite() && scale > 0.0) {
                        return Err(format!(
                            "feature {name:?}: unit and scale must be positive numbers"
                        ));
                    }
                    finite(&format!("feature {name:?}'s mean"), mean)?;
                    finite(&format!("feature {name:?}'s weight"), weight)?;
                    Linear::Numeric {
                        name,
                        standard: Standard { unit, mean, scale },
                        weight,
                    }
                }
                LinearData::Categorical { name, levels } => {
                    if !levels.windows(2).all(|w| w[0].0 < w[1].0) {
                        return Err(format!(
                            "feature {name:?}: levels must be sorted and distinct"
                        ));
                    }
                    for (level, w) in &levels {
                        finite(&format!("feature {name:?}, level {level:?}"), *w)?;
                    }
                    Linear::Categorical { name, levels }
                }
            });
        }
        Ok(Self {
            intercept: data.intercept,
            features,
            c: data.c,
            report: data.report,
        })
    }
}
