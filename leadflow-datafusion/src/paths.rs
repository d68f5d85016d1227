//! `attribute_paths`: every path-table model (first, last, linear,
//! position, J, inverse J, Markov of any order, Shapley) as one aggregate
//! whose partial state is the core's [`PathTally`].
//!
//! ```sql
//! SELECT attribute_paths(path, conversions, nulls, value, seen,
//!                        '{"models": ["first", "markov"], "order": 2}')
//! FROM paths
//! ```
//!
//! | argument | type | meaning |
//! |---|---|---|
//! | `path` | list of strings | the channels, in order |
//! | `conversions` | integer ≥ 0 (NULL = 0) | the row's conversions |
//! | `nulls` | integer ≥ 0 (NULL = 0) | the row's paths that did not convert |
//! | `value` | `DECIMAL`, integer or NULL | the row's conversion value |
//! | `seen` | integer or timestamp | where the row comes in the table: channels are listed by first appearance, `(seen, position in the path, name)` |
//! | `config` | constant JSON string | `models` (names as [`PathModel`] reads them), `order` (Markov order, default 1), `limits` ([`Limits`], optional), `scale` (the places value credits are split at, default the `value` column's scale) |
//!
//! The result is a list of `{model, channel, conversions, value}`
//! structs, models in the order asked, channels by first appearance; use
//! `unnest` to turn it into rows. `value` is a `Decimal128(38, s)` at the
//! scale of the `value` argument (0 for an integer column), NULL when
//! `value` is the NULL literal (a table without values). Each model's value
//! credits sum exactly to the total value of the converting rows, split by
//! largest remainder at `scale` places: the core splits at the finest scale
//! among the values it reads, and a `DECIMAL` column gives every value the
//! column's scale, so `scale` says which (the core reading a CSV whose
//! converting rows have at most two places splits at 2). Partial
//! aggregates carry the tally in JSON (`state`/`merge_batch`), so the
//! result is the single-pass result exactly at any partitioning: counts are
//! integers and the core computes in channel-name order.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Decimal128Builder, Float64Builder, Int64Array,
    ListArray, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use leadflow::Mergeable;
use leadflow::attribution::{ChannelCredit, Limits, PathModel, PathReport, PathTally};
use serde::{Deserialize, Serialize};

use crate::args::{self, list_of};
use crate::error::AdapterError;
use crate::money::{self, PRECISION};

const NAME: &str = "attribute_paths";
const SIGNATURE: &str = "path, conversions, nulls, value, seen, config";

/// The configuration `attribute_paths` reads from its last argument.
///
/// ```
/// use leadflow_datafusion::PathsConfig;
/// let c: PathsConfig = serde_json::from_str(r#"{"models": ["linear", "markov"], "order": 2}"#)?;
/// assert_eq!(c.order, 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PathsConfig {
    /// The models, in the order the result lists them.
    pub models: Vec<PathModel>,
    /// The Markov order (default 1).
    #[serde(default = "one")]
    pub order: usize,
    /// Bounds on the work of Markov and Shapley.
    #[serde(default)]
    pub limits: Limits,
    /// The decimal places value credits are split at (default: the value
    /// column's scale). At most the column's scale; a converting row's
    /// value with more places is an error, never rounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i8>,
}

fn one() -> usize {
    1
}

impl PathsConfig {
    /// The empty tally of this configuration.
    ///
    /// # Errors
    /// [`AdapterError::Model`] when the core refuses the models or order.
    pub fn tally(&self) -> Result<PathTally, AdapterError> {
        Ok(PathTally::new(&self.models, self.order)?.with_limits(self.limits))
    }
}

/// The struct each credit is: `{model, channel, conversions, value}`.
fn credit_fields(scale: i8) -> Fields {
    Fields::from(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("conversions", DataType::Float64, false),
        Field::new("value", DataType::Decimal128(PRECISION, scale), true),
    ])
}

/// The `attribute_paths` aggregate; register it with
/// [`register_all`](crate::register_all) or
/// `ctx.register_udaf(AggregateUDF::from(AttributePaths::new()))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributePaths {
    signature: Signature,
}

impl Default for AttributePaths {
    fn default() -> Self {
        Self::new()
    }
}

impl AttributePaths {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The type the `value` argument is coerced to, and whether the table has
/// values at all.
fn value_type(t: &DataType) -> Result<DataType, AdapterError> {
    match t {
        DataType::Null => Ok(DataType::Null),
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) if *s >= 0 => {
            Ok(DataType::Decimal128(PRECISION, *s))
        }
        t if t.is_integer() => Ok(DataType::Decimal128(PRECISION, 0)),
        other => Err(AdapterError::ArgumentType {
            function: NAME,
            position: 4,
            name: "value",
            expected: "a DECIMAL or an integer (money is exact: cast floats to DECIMAL)",
            found: other.to_string(),
        }),
    }
}

impl AggregateUDFImpl for AttributePaths {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let bad = |position, name, expected: &'static str| AdapterError::ArgumentType {
            function: NAME,
            position,
            name,
            expected,
            found: arg_types[position - 1].to_string(),
        };
        if arg_types.len() != 6 {
            return Err(AdapterError::Arity {
                function: NAME,
                expected: 6,
                signature: SIGNATURE,
                found: arg_types.len(),
            }
            .into());
        }
        if !args::is_string_list(&arg_types[0]) {
            return Err(bad(1, "path", "a list of strings").into());
        }
        for (i, name) in [(1, "conversions"), (2, "nulls")] {
            if !args::is_integer(&arg_types[i]) {
                return Err(bad(i + 1, name, "an integer").into());
            }
        }
        let seen = &arg_types[4];
        if !(args::is_integer(seen) || matches!(seen, DataType::Timestamp(..))) {
            return Err(bad(5, "seen", "an integer or a timestamp").into());
        }
        if !args::is_text(&arg_types[5]) {
            return Err(bad(6, "config", "a string").into());
        }
        Ok(vec![
            list_of(DataType::Utf8),
            DataType::Int64,
            DataType::Int64,
            value_type(&arg_types[3])?,
            DataType::Int64,
            DataType::Utf8,
        ])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let scale = args::decimal_scale(arg_types.get(3).unwrap_or(&DataType::Null));
        Ok(list_of(DataType::Struct(credit_fields(scale))))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let json = args::config_literal(NAME, acc_args.exprs, 5)?;
        let config: PathsConfig = args::read_config(NAME, &json)?;
        let value = acc_args
            .expr_fields
            .get(3)
            .map_or(DataType::Null, |f| f.data_type().clone());
        let mut tally = config.tally()?;
        if value != DataType::Null {
            tally = tally.with_value_column();
        }
        let column_scale = args::decimal_scale(&value);
        let split_scale = config.scale.unwrap_or(column_scale);
        if !(0..=column_scale).contains(&split_scale) {
            return Err(AdapterError::Config {
                function: NAME,
                problem: format!(
                    "scale {split_scale} must be between 0 and the value column's scale {column_scale} (cast the value to DECIMAL(38, {split_scale}) for more places)"
                ),
            }
            .into());
        }
        Ok(Box::new(PathsAccumulator {
            split_scale,
            state: PathsState {
                tally,
                first: HashMap::new(),
            },
            scale: args::decimal_scale(&value),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "tally"),
            DataType::Binary,
            true,
        ))])
    }
}

/// A partial aggregate: the tally, and where each channel was first seen.
#[derive(Debug, Serialize, Deserialize)]
struct PathsState {
    tally: PathTally,
    /// Channel → (seen, position): the smallest place it occurs.
    #[serde(with = "first_seen")]
    first: HashMap<String, (i64, u32)>,
}

/// The first-seen map as a list (JSON keys are strings only).
mod first_seen {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        map: &HashMap<String, (i64, u32)>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut v: Vec<_> = map.iter().collect();
        v.sort();
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<String, (i64, u32)>, D::Error> {
        Ok(Vec::<(String, (i64, u32))>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl PathsState {
    fn see(&mut self, channel: &str, place: (i64, u32)) {
        match self.first.get_mut(channel) {
            Some(p) => *p = (*p).min(place),
            None => {
                self.first.insert(channel.to_owned(), place);
            }
        }
    }

    fn merge(&mut self, other: PathsState) {
        for (channel, place) in other.first {
            let p = self.first.entry(channel).or_insert(place);
            *p = (*p).min(place);
        }
        Mergeable::merge(&mut self.tally, other.tally);
    }

    /// The report with each model's channels by first appearance.
    fn report(&self) -> Result<PathReport, AdapterError> {
        let mut report = self.tally.finish()?;
        let place = |c: &ChannelCredit| {
            (
                self.first.get(&c.channel).copied().unwrap_or((i64::MAX, 0)),
                c.channel.clone(),
            )
        };
        for (_, credits) in &mut report.models {
            credits.sort_by_cached_key(place);
        }
        Ok(report)
    }
}

#[derive(Debug)]
struct PathsAccumulator {
    state: PathsState,
    /// The places value credits are split at.
    split_scale: i8,
    scale: i8,
}

impl PathsAccumulator {
    fn add_rows(&mut self, values: &[ArrayRef]) -> Result<(), AdapterError> {
        let paths: &ListArray = args::column(NAME, values, 0)?;
        let conversions: &Int64Array = args::column(NAME, values, 1)?;
        let nulls: &Int64Array = args::column(NAME, values, 2)?;
        let value: Option<&Decimal128Array> = values.get(3).and_then(|a| a.as_primitive_opt());
        let seen: &Int64Array = args::column(NAME, values, 4)?;
        let items = paths
            .values()
            .as_string_opt::<i32>()
            .ok_or(AdapterError::State {
                function: NAME,
                problem: "path is not a list of Utf8".into(),
            })?;
        let offsets = paths.value_offsets();
        for row in 0..paths.len() {
            let c = args::count(NAME, conversions, row, "conversions")?;
            let n = args::count(NAME, nulls, row, "nulls")?;
            let v = match args::decimal_at(value, row)? {
                // The core splits at the finest scale it reads: give it
                // every converting value at the split scale.
                Some(v) if c > 0 => {
                    Some(
                        money::at_scale(v, self.split_scale).map_err(|e| AdapterError::Row {
                            function: NAME,
                            row,
                            problem: format!("value: {e}"),
                        })?,
                    )
                }
                v => v,
            };
            let (from, to) = if paths.is_null(row) {
                (0, 0)
            } else {
                (offsets[row] as usize, offsets[row + 1] as usize)
            };
            if (from..to).any(|j| items.is_null(j)) {
                return Err(AdapterError::Row {
                    function: NAME,
                    row,
                    problem: "the path holds a NULL channel".into(),
                });
            }
            let key = if seen.is_null(row) {
                i64::MAX
            } else {
                seen.value(row)
            };
            for (pos, j) in (from..to).enumerate() {
                self.state.see(items.value(j), (key, pos as u32));
            }
            self.state
                .tally
                .add((from..to).map(|j| items.value(j)), c, n, v);
        }
        Ok(())
    }

    fn credits(&self) -> Result<ScalarValue, AdapterError> {
        let report = self.state.report()?;
        let rows: usize = report.models.iter().map(|(_, c)| c.len()).sum();
        let mut model = StringBuilder::with_capacity(rows, rows * 8);
        let mut channel = StringBuilder::with_capacity(rows, rows * 8);
        let mut conversions = Float64Builder::with_capacity(rows);
        let mut value = Decimal128Builder::with_capacity(rows);
        for (m, credits) in &report.models {
            for c in credits {
                model.append_value(m.name());
                channel.append_value(&c.channel);
                conversions.append_value(c.conversions);
                // Without a value column the core reports no values.
                match c.value {
                    Some(v) => value.append_value(money::to_decimal128(v, self.scale)?),
                    None => value.append_null(),
                }
            }
        }
        let value = value
            .finish()
            .with_precision_and_scale(PRECISION, self.scale)?;
        let fields = credit_fields(self.scale);
        let structs = StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(model.finish()),
                Arc::new(channel.finish()),
                Arc::new(conversions.finish()),
                Arc::new(value),
            ],
            None,
        )?;
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
            OffsetBuffer::from_lengths([rows]),
            Arc::new(structs),
            None,
        )?;
        Ok(ScalarValue::List(Arc::new(list)))
    }
}

impl Accumulator for PathsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        Ok(self.add_rows(values)?)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.credits()?)
    }

    fn size(&self) -> usize {
        // The tally's heap is not exposed; count the first-seen map.
        std::mem::size_of_val(self) + self.state.first.keys().map(|k| k.len() + 48).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(args::state_value(NAME, &self.state)?)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        Ok(args::merge_states(NAME, states, |other: PathsState| {
            self.state.merge(other);
        })?)
    }
}
