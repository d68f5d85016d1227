//! The mergeable tally that attributes path tables with every model: the
//! position heuristics, Markov and Shapley.

use std::io::BufRead;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::channels::Channels;
use super::heuristic::{AnchorWeights, Anchored};
use super::limits::Limits;
use super::markov::{MarkovCounts, MarkovModel};
use super::report::{ChannelCredit, PathReport, split_exactly};
use super::shapley::{ShapleyCounts, ShapleyModel};
use super::table::{PathReadOptions, PathReader, PathRow, PathTableError};
use super::{AttributionError, ModelError};
use crate::exact::ExactSum;

/// The models a [`PathTally`] can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PathModel {
    /// First touch.
    First,
    /// Last touch.
    Last,
    /// Linear: each occurrence gets conversions / path length.
    Linear,
    /// Position-based (U-shaped, 40/20/40).
    Position,
    /// J-shaped: 20 % first, 60 % last, 20 % between.
    JShaped,
    /// Inverse J: 60 % first, 20 % last, 20 % between.
    InverseJ,
    /// Exact Markov chain of the tally's order, removal effects.
    Markov,
    /// Shapley values on channel sets.
    Shapley,
}

impl PathModel {
    /// The model's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Last => "last",
            Self::Linear => "linear",
            Self::Position => "position",
            Self::JShaped => "j_shaped",
            Self::InverseJ => "inverse_j",
            Self::Markov => "markov",
            Self::Shapley => "shapley",
        }
    }

    fn is_heuristic(self) -> bool {
        self.anchored().is_some()
    }

    /// The journey model a position heuristic is: path tables weigh
    /// touches with the very rule journeys use ([`Anchored`]).
    fn anchored(self) -> Option<Anchored> {
        let one = |w: AnchorWeights| Some(Anchored::preset(self.name(), w));
        match self {
            Self::First => one(AnchorWeights {
                first: 1.0,
                ..AnchorWeights::default()
            }),
            Self::Last => one(AnchorWeights {
                last: 1.0,
                ..AnchorWeights::default()
            }),
            Self::Linear => one(AnchorWeights {
                rest: 1.0,
                ..AnchorWeights::default()
            }),
            Self::Position => Some(Anchored::position_based()),
            Self::JShaped => Some(Anchored::j_shaped()),
            Self::InverseJ => Some(Anchored::inverse_j()),
            Self::Markov | Self::Shapley => None,
        }
    }
}

impl FromStr for PathModel {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "first" => Self::First,
            "last" => Self::Last,
            "linear" => Self::Linear,
            "position" => Self::Position,
            "j_shaped" => Self::JShaped,
            "inverse_j" => Self::InverseJ,
            "markov" => Self::Markov,
            "shapley" => Self::Shapley,
            other => {
                return Err(ModelError::UnknownModel {
                    name: other.to_owned(),
                });
            }
        })
    }
}

/// Where a touch sits in its path, which is all the heuristics look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Only,
    First,
    Middle,
    Last,
}

const PLACES: [Place; 4] = [Place::Only, Place::First, Place::Middle, Place::Last];

impl Place {
    fn of(i: usize, len: usize) -> Self {
        if len == 1 {
            Self::Only
        } else if i == 0 {
            Self::First
        } else if i + 1 == len {
            Self::Last
        } else {
            Self::Middle
        }
    }

    /// A touch index in this place of a path of `len` (every middle touch
    /// weighs the same).
    fn index(self, len: usize) -> usize {
        match self {
            Place::Only | Place::First => 0,
            Place::Middle => 1,
            Place::Last => len.saturating_sub(1),
        }
    }
}

/// Exact tallies for the heuristics: per channel, place and path length,
/// the conversions (and value) of the paths it sits in.
#[derive(Debug, Clone, Default)]
struct HeuristicCounts {
    /// `[channel][place]` → per path length, conversions and value.
    tallies: Vec<[Slot; 4]>,
}

/// Paths up to this length are counted in a directly indexed array (the
/// usual case: one index, no search); longer ones in a sorted sparse list.
const SHORT: usize = 64;

/// One (channel, place)'s counts by path length. The short array grows to
/// the longest short path seen in this slot only, and the sparse list
/// holds only lengths that occur: memory grows with what the data holds
/// (at most `SHORT` entries per slot, plus one per long length seen), not
/// with channels × the longest path.
#[derive(Debug, Clone, Default)]
struct Slot {
    short: Vec<(u128, ExactSum)>,
    long: Vec<(usize, u128, ExactSum)>,
}

impl Slot {
    /// The counts of length `len`, made on first use.
    fn entry(&mut self, len: usize) -> Option<(&mut u128, &mut ExactSum)> {
        if len < SHORT {
            if self.short.len() <= len {
                self.short.resize(len + 1, (0, ExactSum::default()));
            }
            return self.short.get_mut(len).map(|(k, v)| (k, v));
        }
        let i = match self.long.binary_search_by_key(&len, |e| e.0) {
            Ok(i) => i,
            Err(i) => {
                self.long.insert(i, (len, 0, ExactSum::default()));
                i
            }
        };
        self.long.get_mut(i).map(|(_, k, v)| (k, v))
    }

    /// Every length with counts, ascending.
    fn iter(&self) -> impl Iterator<Item = (usize, u128, ExactSum)> + '_ {
        self.short
            .iter()
            .enumerate()
            .map(|(len, &(k, v))| (len, k, v))
            .chain(self.long.iter().copied())
            .filter(|&(_, k, v)| k != 0 || !v.is_zero())
    }
}

impl HeuristicCounts {
    fn to_data(&self) -> Vec<HeuristicEntry> {
        let mut out = Vec::new();
        for (c, places) in self.tallies.iter().enumerate() {
            for (p, slot) in places.iter().enumerate() {
                for (len, k, v) in slot.iter() {
                    out.push((c as u32, p as u8, len, k, v));
                }
            }
        }
        out
    }

    fn from_data(data: Vec<HeuristicEntry>, channels: usize) -> Result<Self, String> {
        let mut h = Self::default();
        for (c, p, len, k, v) in data {
            let c = c as usize;
            if c >= channels || usize::from(p) >= PLACES.len() || len == 0 {
                return Err(format!(
                    "heuristic entry ({c}, {p}, {len}) names no channel or place"
                ));
            }
            if h.tallies.len() <= c {
                h.tallies.resize_with(c + 1, Default::default);
            }
            if let Some((count, value)) = h
                .tallies
                .get_mut(c)
                .and_then(|t| t.get_mut(usize::from(p)))
                .and_then(|slot| slot.entry(len))
            {
                *count = count.saturating_add(k);
                value.add_sum(v);
            }
        }
        Ok(h)
    }

    fn add(&mut self, path: &[u32], conversions: u64, value: Option<Decimal>) {
        if conversions == 0 && value.is_none() {
            // Nothing to count (a row of nulls only).
            return;
        }
        let len = path.len();
        for (i, &c) in path.iter().enumerate() {
            let c = c as usize;
            if self.tallies.len() <= c {
                self.tallies.resize_with(c + 1, Default::default);
            }
            let place = Place::of(i, len) as usize;
            if let Some((count, sum)) = self
                .tallies
                .get_mut(c)
                .and_then(|t| t.get_mut(place))
                .and_then(|slot| slot.entry(len))
            {
                *count += u128::from(conversions);
                if let Some(v) = value {
                    sum.add(v);
                }
            }
        }
    }

    fn merge(&mut self, other: &HeuristicCounts, remap: &[u32]) {
        for (oc, places) in other.tallies.iter().enumerate() {
            let Some(&c) = remap.get(oc) else { continue };
            let c = c as usize;
            if self.tallies.len() <= c {
                self.tallies.resize_with(c + 1, Default::default);
            }
            let Some(mine) = self.tallies.get_mut(c) else {
                continue;
            };
            for (p, theirs) in places.iter().enumerate() {
                let Some(slot) = mine.get_mut(p) else {
                    continue;
                };
                for (len, k, v) in theirs.iter() {
                    if let Some((count, sum)) = slot.entry(len) {
                        *count += k;
                        sum.add_sum(v);
                    }
                }
            }
        }
    }

    /// (conversions, value) credited to channel `c` by `model`.
    fn credit(&self, model: &Anchored, c: usize) -> (f64, f64) {
        let mut conv = 0.0;
        let mut value = 0.0;
        if let Some(places) = self.tallies.get(c) {
            for (place, slot) in PLACES.iter().zip(places) {
                for (len, k, v) in slot.iter() {
                    let w = model.path_weight(place.index(len), len);
                    conv += k as f64 * w;
                    value += v.to_f64() * w;
                }
            }
        }
        (conv, value)
    }
}

/// A mergeable partial state for attributing path tables: feed it rows (or
/// several tallies of disjoint partitions, then [`merge_from`](Self::merge_from) them)
/// and [`finish`](Self::finish). Every count is an exact integer or
/// `Decimal` sum, so partitioned tallies merged in any grouping give exactly
/// the single-pass result.
///
/// Semantics per model:
/// * `first`, `last`, `linear` equal ChannelAttribution's
///   `heuristic_models`: linear gives each occurrence of a channel
///   `conversions / path length`. `position` gives 40 % to the first and
///   last touch and 20 % split over the middle (50/50 for two touches, all
///   for one); `j_shaped` (20/20/60) and `inverse_j` (60/20/20) likewise.
///   Each is the journey model of the same name ([`Anchored`],
///   [`FirstTouch`](super::FirstTouch) …) applied to the row's positions
///   by the very same rule. W-shaped and full-path models need milestones,
///   and time decay needs touch times, which path-table rows do not carry:
///   run those on journeys.
/// * `markov`: see [`MarkovModel`]. `shapley`: see [`ShapleyModel`].
///
/// A tally is a [`Mergeable`](crate::Mergeable) partial state and
/// serializes (serde) to a portable form — channel names, counts and exact
/// sums — so partitions can be tallied on other workers and shipped back.
/// `Default` is the empty tally of no configuration, the merge identity: it
/// takes the configuration of the first tally merged into it. Merging
/// tallies of different models or orders leaves the result unusable:
/// [`finish`](Self::finish) then reports the mismatch
/// ([`merge_from`](Self::merge_from) reports it at once). Merged in any
/// grouping and order, tallies give the single-pass report up to the order
/// of channels (first appearance).
///
/// ```
/// use leadflow::Mergeable;
/// use leadflow::attribution::{PathModel, PathTally};
/// let models = [PathModel::Linear, PathModel::Markov];
/// let mut east = PathTally::new(&models, 1)?;
/// east.add(["search", "email"], 3, 1, None);
/// let mut west = PathTally::new(&models, 1)?;
/// west.add(["email"], 1, 4, None);
/// // Ship one partition as JSON, merge it on arrival.
/// let shipped: PathTally = serde_json::from_str(&serde_json::to_string(&west)?)?;
/// let mut all = PathTally::default();
/// all.merge(east);
/// all.merge(shipped);
/// assert_eq!(all.finish()?.total_conversions, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "TallyData", try_from = "TallyData")]
pub struct PathTally {
    models: Vec<PathModel>,
    order: usize,
    channels: Channels,
    heuristic: Option<HeuristicCounts>,
    markov: Option<MarkovCounts>,
    shapley: Option<ShapleyCounts>,
    conversions: u64,
    nulls: u64,
    value: ExactSum,
    has_value: bool,
    /// Rows with a value and no conversion: their value is ignored by every
    /// model (a value belongs to conversions), and counted here.
    valued_without_conversion: u64,
    scratch: Vec<u32>,
    limits: Limits,
    /// Set when tallies of different configurations were merged.
    mismatch: Option<String>,
    /// Σ (conversions + nulls) × path length over the rows: a bound
    /// on every count the models keep. While it fits a `u64`, no count can
    /// saturate; beyond, the report is a typed error, never a wrong total.
    weight: u128,
}

/// A heuristic tally entry in portable form: `(channel, place, path
/// length, conversions, value)`.
type HeuristicEntry = (u32, u8, usize, u128, ExactSum);

/// The portable form of a [`PathTally`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TallyData {
    models: Vec<PathModel>,
    order: usize,
    limits: Limits,
    channels: Vec<String>,
    conversions: u64,
    nulls: u64,
    value: ExactSum,
    has_value: bool,
    valued_without_conversion: u64,
    /// `(channel, place, path length, conversions, value)`.
    heuristic: Option<Vec<HeuristicEntry>>,
    markov: Option<super::markov::MarkovData>,
    shapley: Option<Vec<super::shapley::SetEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mismatch: Option<String>,
    weight: u128,
}

impl From<PathTally> for TallyData {
    fn from(t: PathTally) -> Self {
        Self {
            heuristic: t.heuristic.as_ref().map(HeuristicCounts::to_data),
            markov: t.markov.as_ref().map(MarkovCounts::to_data),
            shapley: t.shapley.as_ref().map(ShapleyCounts::to_data),
            models: t.models,
            order: t.order,
            limits: t.limits,
            channels: t.channels.names,
            conversions: t.conversions,
            nulls: t.nulls,
            value: t.value,
            has_value: t.has_value,
            valued_without_conversion: t.valued_without_conversion,
            mismatch: t.mismatch,
            weight: t.weight,
        }
    }
}

impl TryFrom<TallyData> for PathTally {
    type Error = String;
    fn try_from(d: TallyData) -> Result<Self, String> {
        let mut t = if d.models.is_empty() {
            PathTally::default()
        } else {
            PathTally::new(&d.models, d.order).map_err(|e| e.to_string())?
        };
        for name in &d.channels {
            t.channels.intern(name);
        }
        let n = t.channels.len();
        if n != d.channels.len() {
            return Err("channel names repeat".into());
        }
        let wanted = (
            t.heuristic.is_some(),
            t.markov.is_some(),
            t.shapley.is_some(),
        );
        let given = (
            d.heuristic.is_some(),
            d.markov.is_some(),
            d.shapley.is_some(),
        );
        if wanted != given {
            return Err("the counts do not match the models".into());
        }
        t.heuristic = d
            .heuristic
            .map(|h| HeuristicCounts::from_data(h, n))
            .transpose()?;
        t.markov = d
            .markov
            .map(|m| MarkovCounts::from_data(m, n))
            .transpose()?;
        t.shapley = d
            .shapley
            .map(|s| ShapleyCounts::from_data(s, n))
            .transpose()?;
        t.limits = d.limits;
        t.conversions = d.conversions;
        t.nulls = d.nulls;
        t.value = d.value;
        t.has_value = d.has_value;
        t.valued_without_conversion = d.valued_without_conversion;
        t.mismatch = d.mismatch;
        t.weight = d.weight;
        Ok(t)
    }
}

impl Default for PathTally {
    /// The empty tally of no configuration: the merge identity.
    fn default() -> Self {
        Self {
            models: Vec::new(),
            order: 1,
            channels: Channels::default(),
            heuristic: None,
            markov: None,
            shapley: None,
            conversions: 0,
            nulls: 0,
            value: ExactSum::default(),
            has_value: false,
            valued_without_conversion: 0,
            scratch: Vec::new(),
            limits: Limits::default(),
            mismatch: None,
            weight: 0,
        }
    }
}

impl crate::Mergeable for PathTally {
    fn merge(&mut self, other: Self) {
        if self.models.is_empty() && self.mismatch.is_none() {
            // The identity takes the other's configuration (and counts).
            let mut other = other;
            if self.conversions > 0 || self.nulls > 0 {
                // Rows added to an unconfigured tally count nowhere.
                other.mismatch = Some("rows were added to a tally with no models".into());
            }
            *self = other;
            return;
        }
        if other.models.is_empty() && other.mismatch.is_none() {
            return;
        }
        if let Some(m) = other.mismatch.clone() {
            self.mismatch.get_or_insert(m);
        }
        if let Err(e) = self.merge_from(&other) {
            self.mismatch.get_or_insert(e.to_string());
        }
    }
}

impl PathTally {
    /// The same tally with other bounds on the work of Markov and Shapley
    /// (see [`Limits`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same tally for a table with a value column: its report carries
    /// value credits (zeros when no converting row has a value), as when a
    /// [`PathReader`] finds a `total_conversion_value` column.
    #[must_use]
    pub fn with_value_column(mut self) -> Self {
        self.has_value = true;
        self
    }

    /// The bounds on the work of Markov and Shapley.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A tally computing `models`; `order` is the Markov order (≥ 1).
    ///
    /// # Errors
    /// [`ModelError::InvalidParameters`] for an order of 0 or above 32,
    /// or no models.
    pub fn new(models: &[PathModel], order: usize) -> Result<Self, ModelError> {
        if !(1..=32).contains(&order) {
            return Err(ModelError::InvalidParameters {
                problem: format!("markov order must be between 1 and 32, not {order}"),
            });
        }
        if models.is_empty() {
            return Err(ModelError::InvalidParameters {
                problem: "no models to compute".into(),
            });
        }
        Ok(Self {
            models: models.to_vec(),
            order,
            channels: Channels::default(),
            heuristic: models
                .iter()
                .any(|m| m.is_heuristic())
                .then(HeuristicCounts::default),
            markov: models
                .contains(&PathModel::Markov)
                .then(|| MarkovCounts::new(order)),
            shapley: models
                .contains(&PathModel::Shapley)
                .then(ShapleyCounts::default),
            conversions: 0,
            nulls: 0,
            valued_without_conversion: 0,
            value: ExactSum::default(),
            has_value: false,
            scratch: Vec::new(),
            limits: Limits::default(),
            mismatch: None,
            weight: 0,
        })
    }

    /// Adds one path with its conversions, nulls and (optional) value. Rows
    /// with neither conversions nor nulls change nothing.
    pub fn add<'a>(
        &mut self,
        path: impl IntoIterator<Item = &'a str>,
        conversions: u64,
        nulls: u64,
        value: Option<Decimal>,
    ) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(path.into_iter().map(|c| self.channels.intern(c)));
        self.add_ids(&ids, conversions, nulls, value);
        self.scratch = ids;
    }

    /// Adds a row from a [`PathReader`].
    pub fn add_row(&mut self, row: &PathRow<'_>) {
        self.add(row.channels(), row.conversions, row.nulls, row.value);
    }

    /// Reads a whole path table into the tally.
    ///
    /// # Errors
    /// The reader's first [`PathTableError`].
    pub fn read<R: BufRead>(&mut self, reader: &mut PathReader<R>) -> Result<(), PathTableError> {
        self.has_value |= reader.has_value();
        while let Some(row) = reader.next_row()? {
            self.add_row(&row);
        }
        Ok(())
    }

    fn add_ids(&mut self, ids: &[u32], conversions: u64, nulls: u64, value: Option<Decimal>) {
        if value.is_some() {
            self.has_value = true;
        }
        // One rule for every model: a value without conversions is ignored
        // (and counted, whether or not the row has nulls), never credited
        // by some models and not others.
        let value = if conversions == 0 {
            if value.is_some_and(|v| !v.is_zero()) {
                self.valued_without_conversion = self.valued_without_conversion.saturating_add(1);
            }
            None
        } else {
            value
        };
        if ids.is_empty() || (conversions == 0 && nulls == 0) {
            return;
        }
        // A row adds its weight to an edge at most once per step of its
        // path (its length), and to each total once.
        self.weight = self.weight.saturating_add(
            (u128::from(conversions) + u128::from(nulls)) * (ids.len().max(1) as u128),
        );
        self.conversions = self.conversions.saturating_add(conversions);
        self.nulls = self.nulls.saturating_add(nulls);
        if let Some(v) = value {
            self.value.add(v);
        }
        if let Some(h) = &mut self.heuristic {
            h.add(ids, conversions, value);
        }
        if let Some(m) = &mut self.markov {
            m.add(ids, conversions, nulls, value);
        }
        if let Some(s) = &mut self.shapley {
            s.add(ids, conversions, nulls, value);
        }
    }

    /// Reads a path-table file on up to `threads` threads: the rows are cut
    /// into byte ranges at line ends, each range is tallied on a thread of
    /// its own (reading its range from the file, so memory stays that of
    /// one tally per thread), and the tallies are merged in file order —
    /// exactly the tally of reading the file in one pass. A bad row is
    /// reported with its line number in the file, as by [`read`](Self::read)
    /// (the first bad row of the file, whichever thread met it).
    ///
    /// ```
    /// use leadflow::attribution::{PathModel, PathReadOptions, PathTally};
    /// let file = std::env::temp_dir().join("leadflow-read-file-doc.csv");
    /// std::fs::write(&file, "path,total_conversions\na > b,3\nb,1\n")?;
    /// let mut tally = PathTally::new(&[PathModel::Linear], 1)?;
    /// tally.read_file(&file, PathReadOptions::default(), 2)?;
    /// assert_eq!(tally.finish()?.total_conversions, 4);
    /// # std::fs::remove_file(&file)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The file's first [`PathTableError`] (I/O errors included), or an
    /// [`PathTableError`] on line 1 when the tallies of the ranges cannot
    /// be merged.
    pub fn read_file(
        &mut self,
        path: impl AsRef<std::path::Path>,
        options: PathReadOptions,
        threads: usize,
    ) -> Result<(), PathTableError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = path.as_ref();
        let io = |line: usize| {
            move |e: std::io::Error| PathTableError {
                line,
                problem: format!("cannot read {}: {e}", path.display()),
            }
        };
        let file = std::fs::File::open(path).map_err(io(1))?;
        let size = file.metadata().map_err(io(1))?.len();
        let header = PathReader::new(std::io::BufReader::new(file), options)?;
        self.has_value |= header.has_value();
        let parts = threads.clamp(1, 64) as u64;
        let bounds = range_bounds(path, header.header_bytes, size, parts).map_err(io(1))?;
        let results: Vec<Result<(PathTally, usize), PathTableError>> = std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .windows(2)
                .map(|w| {
                    let (from, to) = (w[0], w[1]);
                    let reader = header.continue_with(());
                    let (models, order, limits) = (self.models.clone(), self.order, self.limits);
                    s.spawn(move || -> Result<(PathTally, usize), PathTableError> {
                        let mut file = std::fs::File::open(path).map_err(io(1))?;
                        file.seek(SeekFrom::Start(from)).map_err(io(1))?;
                        let input =
                            std::io::BufReader::with_capacity(1 << 16, file.take(to - from));
                        let mut reader = reader.continue_with(input);
                        let mut part = PathTally::new(&models, order)
                            .map_err(|e| PathTableError {
                                line: 1,
                                problem: e.to_string(),
                            })?
                            .with_limits(limits);
                        part.read(&mut reader)?;
                        Ok((part, reader.line_no - 1))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(PathTableError {
                            line: 1,
                            problem: "a reading thread failed".into(),
                        })
                    })
                })
                .collect()
        });
        self.merge_parts(results)
    }

    /// Merges the ranges' tallies in file order; an error's line number
    /// counts the lines of the ranges before it.
    fn merge_parts(
        &mut self,
        results: Vec<Result<(PathTally, usize), PathTableError>>,
    ) -> Result<(), PathTableError> {
        // Lines before each range, for the line numbers of errors.
        let mut lines_before = 0;
        let mut tallies = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok((part, lines)) => {
                    lines_before += lines;
                    tallies.push(part);
                }
                Err(mut e) => {
                    if e.line > 1 {
                        e.line += lines_before;
                    }
                    return Err(e);
                }
            }
        }
        for part in &tallies {
            self.merge_from(part).map_err(|e| PathTableError {
                line: 1,
                problem: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Adds another partition's tally into this one.
    ///
    /// # Errors
    /// [`AttributionError::Mismatch`] when the tallies compute different
    /// models or Markov orders.
    pub fn merge_from(&mut self, other: &PathTally) -> Result<(), AttributionError> {
        if other.models != self.models || other.order != self.order || other.limits != self.limits {
            return Err(AttributionError::Mismatch {
                problem: "cannot merge tallies of different models, orders or limits".into(),
            });
        }
        let remap: Vec<u32> = other
            .channels
            .names
            .iter()
            .map(|n| self.channels.intern(n))
            .collect();
        if let (Some(a), Some(b)) = (&mut self.heuristic, &other.heuristic) {
            a.merge(b, &remap);
        }
        if let (Some(a), Some(b)) = (&mut self.markov, &other.markov) {
            a.merge(b, &remap);
        }
        if let (Some(a), Some(b)) = (&mut self.shapley, &other.shapley) {
            a.merge(b, &remap);
        }
        self.weight = self.weight.saturating_add(other.weight);
        self.conversions = self.conversions.saturating_add(other.conversions);
        self.nulls = self.nulls.saturating_add(other.nulls);
        self.valued_without_conversion = self
            .valued_without_conversion
            .saturating_add(other.valued_without_conversion);
        self.value.add_sum(other.value);
        self.has_value |= other.has_value;
        Ok(())
    }

    /// The counts are exact: none can have saturated (see `weight`).
    fn check_counts(&self) -> Result<(), AttributionError> {
        if self.weight > u128::from(u64::MAX) {
            return Err(AttributionError::TotalOutOfRange {
                what: "conversion and null counts".into(),
                remedy: "counts times path lengths exceed 2^64; split the table and scale the counts down".into(),
            });
        }
        Ok(())
    }

    /// The channels seen, in order of first appearance.
    pub fn channels(&self) -> &[String] {
        &self.channels.names
    }

    /// The fitted Markov model, if the tally computes one.
    ///
    /// # Errors
    /// [`AttributionError::Data`] when no path converted;
    /// [`AttributionError::LimitExceeded`] when the chain has more states
    /// than [`Limits::markov_states`] or a solve needs more sweeps than
    /// [`Limits::solver_sweeps`].
    pub fn markov(&self) -> Result<Option<MarkovModel>, AttributionError> {
        self.check_counts()?;
        self.markov
            .as_ref()
            .map(|m| m.fit(&self.channels, &self.limits))
            .transpose()
    }

    /// The fitted Shapley model, if the tally computes one.
    ///
    /// # Errors
    /// [`AttributionError::LimitExceeded`] when a converting channel set has
    /// more channels than [`Limits::shapley_channels`], or the sets need more
    /// subset evaluations than [`Limits::shapley_subsets`].
    pub fn shapley(&self) -> Result<Option<ShapleyModel>, AttributionError> {
        self.check_counts()?;
        self.shapley
            .as_ref()
            .map(|s| s.fit(&self.channels, &self.limits))
            .transpose()
    }

    /// Attributes every model.
    ///
    /// # Errors
    /// [`AttributionError::Data`] when Markov is asked for and no path
    /// converted; [`AttributionError::LimitExceeded`] when a bound of
    /// [`Limits`] is exceeded; [`AttributionError::TotalOutOfRange`] when
    /// the values have no exact total.
    pub fn finish(&self) -> Result<PathReport, AttributionError> {
        if let Some(problem) = &self.mismatch {
            return Err(AttributionError::Mismatch {
                problem: problem.clone(),
            });
        }
        if self.models.is_empty() {
            return Err(AttributionError::Mismatch {
                problem: "no models to compute (an empty default tally)".into(),
            });
        }
        self.check_counts()?;
        let n = self.channels.len();
        let markov = self.markov()?;
        let shapley = self.shapley()?;
        // The exact total the value credits of every model add up to.
        let total = if self.has_value {
            let d = super::exact_total(self.value)?;
            Some((d.mantissa(), d.scale()))
        } else {
            None
        };
        let mut models = Vec::with_capacity(self.models.len());
        for &model in &self.models {
            let credits: Vec<(f64, f64)> = match model {
                PathModel::Markov => markov
                    .as_ref()
                    .map(|m| m.credits_by_id(n))
                    .unwrap_or_default(),
                PathModel::Shapley => shapley
                    .as_ref()
                    .map(|s| s.credits_by_id(n))
                    .unwrap_or_default(),
                _ => {
                    let rule = model.anchored();
                    (0..n)
                        .map(|c| match (&self.heuristic, &rule) {
                            (Some(h), Some(rule)) => h.credit(rule, c),
                            _ => (0.0, 0.0),
                        })
                        .collect()
                }
            };
            let values = self.split_values(&credits, total);
            let rows = credits
                .into_iter()
                .zip(values)
                .enumerate()
                .map(|(c, ((conv, _), value))| ChannelCredit {
                    channel: self.channels.name(c as u32).to_owned(),
                    conversions: conv,
                    value,
                })
                .collect();
            models.push((model, rows));
        }
        Ok(PathReport {
            models,
            total_conversions: self.conversions,
            total_value: self.value.to_decimal().filter(|_| self.has_value),
            valued_without_conversion: self.valued_without_conversion,
        })
    }

    /// The value credits as exact decimals summing to `total` (mantissa
    /// and scale), split in channel-name order so that ties fall the same
    /// way whatever order the channels arrived in; `None` each without
    /// values.
    fn split_values(
        &self,
        credits: &[(f64, f64)],
        total: Option<(i128, u32)>,
    ) -> Vec<Option<Decimal>> {
        let Some((mantissa, scale)) = total else {
            return vec![None; credits.len()];
        };
        let mut by_name: Vec<usize> = (0..credits.len()).collect();
        by_name.sort_by(|&a, &b| {
            self.channels
                .name(a as u32)
                .cmp(self.channels.name(b as u32))
        });
        let shares: Vec<f64> = by_name
            .iter()
            .map(|&i| credits.get(i).map_or(0.0, |c| c.1))
            .collect();
        let parts = split_exactly(mantissa, scale, &shares);
        let mut values = vec![None; credits.len()];
        for (&i, part) in by_name.iter().zip(parts) {
            if let Some(v) = values.get_mut(i) {
                *v = Some(part);
            }
        }
        values
    }
}

/// The byte ranges of a path-table file, one per thread: after the header,
/// then at the first line start at or after each even cut, ending at the
/// file's size.
fn range_bounds(
    path: &std::path::Path,
    start: u64,
    size: u64,
    parts: u64,
) -> std::io::Result<Vec<u64>> {
    use std::io::{Seek, SeekFrom};
    let mut bounds = vec![start];
    let mut probe = std::fs::File::open(path)?;
    for k in 1..parts {
        let cut = start + (size - start) * k / parts;
        let last = bounds.last().copied().unwrap_or(start);
        if cut <= last {
            continue;
        }
        probe.seek(SeekFrom::Start(cut - 1))?;
        let mut rest = Vec::new();
        std::io::BufReader::new(&mut probe).read_until(b'\n', &mut rest)?;
        let at = cut - 1 + rest.len() as u64;
        if at > last && at < size {
            bounds.push(at);
        }
    }
    bounds.push(size);
    Ok(bounds)
}
