//! Per-journey scalar functions: `journey_credits` (one journey's credits
//! under a journey model) and `markov_transitions` (the transitions one
//! path adds to a Markov chain).
//!
//! ```sql
//! SELECT journey,
//!        journey_credits(channels, times, converted_at, value, '{"model": "position"}')
//! FROM (SELECT journey,
//!              array_agg(channel ORDER BY ts, channel) AS channels,
//!              array_agg(ts ORDER BY ts, channel) AS times,
//!              max(converted_at) AS converted_at, sum(value) AS value
//!       FROM touches GROUP BY journey)
//! ```
//!
//! `journey_credits(channels, times, converted_at, value, config)`:
//! `channels` a list of strings and `times` a list of timestamps of the
//! same length (the touches), `converted_at` a timestamp (NULL: the
//! journey did not convert and gets no credits), `value` a `DECIMAL` or
//! integer (NULL is 0), `config` a constant JSON
//! [`ModelConfig`]. The result is a
//! list of `{touch, channel, conversions, value}` for the eligible touches
//! (at or before the conversion, in time order, ties in the order given),
//! exactly [`Attributor::credit`](leadflow::attribution::Attributor::credit)'s
//! at scale 2 or the value's scale if finer: `value` is a
//! `Decimal128(38, max(2, s))` and the credits sum to the value exactly.
//!
//! `markov_transitions(path, order, converted)`: the `{from, to}` steps of
//! the path's walk through a chain of that order (a constant), from
//! `(start)` to `(conversion)` or `(null)`, as
//! [`MarkovState::walk`](leadflow::attribution::MarkovState::walk) names
//! them. Counting them with `GROUP BY` gives the chain's transition counts.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Builder, Float64Builder, ListArray,
    StringBuilder, StructArray, TimestampNanosecondArray, UInt32Builder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use leadflow::attribution::{
    AttributionModel, Attributor, Journey, MarkovState, ModelConfig, Touch,
};
use rust_decimal::Decimal;

use crate::args::{self, list_of};
use crate::error::AdapterError;
use crate::money::{self, PRECISION};

const CREDITS: &str = "journey_credits";
const TRANSITIONS: &str = "markov_transitions";

/// Touch times are compared in nanoseconds, the finest unit Arrow has, so
/// no input unit loses precision (the range is Arrow's: 1677 to 2262).
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// The struct each journey credit is.
fn credit_fields(scale: i8) -> Fields {
    Fields::from(vec![
        Field::new("touch", DataType::UInt32, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("conversions", DataType::Float64, false),
        Field::new("value", DataType::Decimal128(PRECISION, scale), false),
    ])
}

/// The scale of the credits for a value column of type `t`: the
/// attributor's 2, or the value's scale if finer.
fn credit_scale(t: &DataType) -> i8 {
    args::decimal_scale(t).max(2)
}

/// Wraps one list per row into a `ListArray`.
fn list_array(
    fields: Fields,
    columns: Vec<ArrayRef>,
    lengths: Vec<usize>,
) -> Result<ArrayRef, AdapterError> {
    let structs = StructArray::try_new(fields.clone(), columns, None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        None,
    )?))
}

/// The `journey_credits` scalar function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JourneyCredits {
    signature: Signature,
}

impl Default for JourneyCredits {
    fn default() -> Self {
        Self::new()
    }
}

impl JourneyCredits {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JourneyCredits {
    fn name(&self) -> &str {
        CREDITS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let bad = |position, name, expected: &'static str| AdapterError::ArgumentType {
            function: CREDITS,
            position,
            name,
            expected,
            found: arg_types[position - 1].to_string(),
        };
        if arg_types.len() != 5 {
            return Err(AdapterError::Arity {
                function: CREDITS,
                expected: 5,
                signature: "channels, times, converted_at, value, config",
                found: arg_types.len(),
            }
            .into());
        }
        if !args::is_string_list(&arg_types[0]) {
            return Err(bad(1, "channels", "a list of strings").into());
        }
        if !args::is_time_list(&arg_types[1]) {
            return Err(bad(2, "times", "a list of timestamps").into());
        }
        if !matches!(arg_types[2], DataType::Timestamp(..) | DataType::Null) {
            return Err(bad(3, "converted_at", "a timestamp").into());
        }
        let value = match &arg_types[3] {
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) if *s >= 0 => {
                DataType::Decimal128(PRECISION, *s)
            }
            t if args::is_integer(t) => DataType::Decimal128(PRECISION, 0),
            _ => {
                return Err(bad(
                    4,
                    "value",
                    "a DECIMAL or an integer (money is exact: cast floats to DECIMAL)",
                )
                .into());
            }
        };
        if !args::is_text(&arg_types[4]) {
            return Err(bad(5, "config", "a string").into());
        }
        Ok(vec![
            list_of(DataType::Utf8),
            list_of(timestamp()),
            timestamp(),
            value,
            DataType::Utf8,
        ])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let scale = credit_scale(arg_types.get(3).unwrap_or(&DataType::Null));
        Ok(list_of(DataType::Struct(credit_fields(scale))))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let config = match args.args.get(4) {
            Some(ColumnarValue::Scalar(s)) => args::scalar_text(s).map(str::to_owned),
            _ => None,
        }
        .ok_or(AdapterError::Config {
            function: CREDITS,
            problem: "(argument 5) must be a constant string of JSON".into(),
        })?;
        let model: ModelConfig = args::read_config(CREDITS, &config)?;
        let model = model.build().map_err(AdapterError::from)?;
        let scale = credit_scale(
            args.arg_fields
                .get(3)
                .map_or(&DataType::Null, |f| f.data_type()),
        );
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array(credit_rows(
            &arrays,
            model.as_ref(),
            scale,
        )?))
    }
}

/// One row's journey.
fn journey_at(arrays: &[ArrayRef], row: usize) -> Result<Journey, AdapterError> {
    let channels = args::strings_of(CREDITS, args::column(CREDITS, arrays, 0)?, row, "channels")?;
    let times: &ListArray = args::column(CREDITS, arrays, 1)?;
    let times: Vec<Option<i64>> = if times.is_null(row) {
        Vec::new()
    } else {
        let t = times.value(row);
        let t = t
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or(AdapterError::State {
                function: CREDITS,
                problem: "times is not a list of nanosecond timestamps".into(),
            })?;
        t.iter().collect()
    };
    let bad = |problem: String| AdapterError::Row {
        function: CREDITS,
        row,
        problem,
    };
    if times.len() != channels.len() {
        return Err(bad(format!(
            "{} channels but {} times",
            channels.len(),
            times.len()
        )));
    }
    let at = |nanos: Option<i64>, what: &str| {
        let n = nanos.ok_or_else(|| bad(format!("{what} is NULL")))?;
        Ok::<_, AdapterError>(chrono::DateTime::from_timestamp_nanos(n))
    };
    let mut touches = Vec::with_capacity(channels.len());
    for (channel, t) in channels.into_iter().zip(times) {
        touches.push(Touch::new(at(t, "a touch time")?, channel));
    }
    let mut journey = Journey::new(touches);
    let converted: &TimestampNanosecondArray = args::column(CREDITS, arrays, 2)?;
    if converted.is_valid(row) {
        let value = args::decimal_at(arrays.get(3).and_then(|a| a.as_primitive_opt()), row)?;
        journey = journey.converted(
            at(Some(converted.value(row)), "converted_at")?,
            value.unwrap_or(Decimal::ZERO),
        );
    }
    Ok(journey)
}

/// The credits of every row's journey.
fn credit_rows(
    arrays: &[ArrayRef],
    model: &dyn AttributionModel,
    scale: i8,
) -> Result<ArrayRef, AdapterError> {
    let rows = arrays.first().map_or(0, |a| a.len());
    let attributor = Attributor::new();
    let mut touch = UInt32Builder::new();
    let mut channel = StringBuilder::new();
    let mut conversions = Float64Builder::new();
    let mut value = Decimal128Builder::new();
    let mut lengths = Vec::with_capacity(rows);
    for row in 0..rows {
        let journey = journey_at(arrays, row)?;
        let credits = attributor.credit(&journey, model)?;
        lengths.push(credits.len());
        for c in credits {
            touch.append_value(u32::try_from(c.touch).unwrap_or(u32::MAX));
            channel.append_value(&c.channel);
            conversions.append_value(c.conversions);
            value.append_value(money::to_decimal128(c.value, scale)?);
        }
    }
    let value = value.finish().with_precision_and_scale(PRECISION, scale)?;
    list_array(
        credit_fields(scale),
        vec![
            Arc::new(touch.finish()),
            Arc::new(channel.finish()),
            Arc::new(conversions.finish()),
            Arc::new(value),
        ],
        lengths,
    )
}

/// The `markov_transitions` scalar function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MarkovTransitions {
    signature: Signature,
}

impl Default for MarkovTransitions {
    fn default() -> Self {
        Self::new()
    }
}

impl MarkovTransitions {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn step_fields() -> Fields {
    Fields::from(vec![
        Field::new("from", DataType::Utf8, false),
        Field::new("to", DataType::Utf8, false),
    ])
}

impl ScalarUDFImpl for MarkovTransitions {
    fn name(&self) -> &str {
        TRANSITIONS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(AdapterError::Arity {
                function: TRANSITIONS,
                expected: 3,
                signature: "path, order, converted",
                found: arg_types.len(),
            }
            .into());
        }
        let bad = |position, name, expected: &'static str| AdapterError::ArgumentType {
            function: TRANSITIONS,
            position,
            name,
            expected,
            found: arg_types[position - 1].to_string(),
        };
        if !args::is_string_list(&arg_types[0]) {
            return Err(bad(1, "path", "a list of strings").into());
        }
        if !args::is_integer(&arg_types[1]) {
            return Err(bad(2, "order", "an integer").into());
        }
        if !matches!(arg_types[2], DataType::Boolean | DataType::Null) {
            return Err(bad(3, "converted", "a boolean").into());
        }
        Ok(vec![
            list_of(DataType::Utf8),
            DataType::Int64,
            DataType::Boolean,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Struct(step_fields())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array(transition_rows(&arrays)?))
    }
}

fn transition_rows(arrays: &[ArrayRef]) -> Result<ArrayRef, AdapterError> {
    let paths: &ListArray = args::column(TRANSITIONS, arrays, 0)?;
    let converted: &BooleanArray = args::column(TRANSITIONS, arrays, 2)?;
    let mut from = StringBuilder::new();
    let mut to = StringBuilder::new();
    let mut lengths = Vec::with_capacity(paths.len());
    for row in 0..paths.len() {
        let order = arrays
            .get(1)
            .and_then(|a| args::int_value(a, row))
            .and_then(|o| usize::try_from(o).ok())
            .filter(|o| (1..=32).contains(o))
            .ok_or(AdapterError::Row {
                function: TRANSITIONS,
                row,
                problem: "order must be between 1 and 32".into(),
            })?;
        let path = args::strings_of(TRANSITIONS, paths, row, "path")?;
        let walk = MarkovState::walk(
            &path,
            order,
            converted.is_valid(row) && converted.value(row),
        );
        lengths.push(walk.len().saturating_sub(1));
        for step in walk.windows(2) {
            from.append_value(step[0].to_string());
            to.append_value(step[1].to_string());
        }
    }
    list_array(
        step_fields(),
        vec![Arc::new(from.finish()), Arc::new(to.finish())],
        lengths,
    )
}

const TOUCH_PATH: &str = "touch_path";

/// The `touch_path` scalar function: a journey's touches, gathered by a
/// plain `array_agg(struct(ts, channel))`, as its path: the channels
/// ordered by `(ts, channel)`. It is the fast form of
/// `array_agg(channel ORDER BY ts, channel)`, whose ordered aggregation
/// DataFusion runs one group at a time (57× slower on a million touches in
/// `benches/sql.rs`).
///
/// The argument is a list of structs whose first field orders (an integer
/// or a timestamp) and whose second is the channel (a string); a NULL list
/// is an empty path, a NULL time or channel an error naming the row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TouchPath {
    signature: Signature,
}

impl Default for TouchPath {
    fn default() -> Self {
        Self::new()
    }
}

impl TouchPath {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TouchPath {
    fn name(&self) -> &str {
        TOUCH_PATH
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = match arg_types {
            [DataType::List(f)] => match f.data_type() {
                DataType::Struct(fields) => fields.len() == 2,
                _ => false,
            },
            _ => false,
        };
        if !ok {
            return Err(AdapterError::ArgumentType {
                function: TOUCH_PATH,
                position: 1,
                name: "touches",
                expected: "a list of struct(ts, channel), as array_agg(struct(ts, channel)) gives",
                found: arg_types
                    .iter()
                    .map(DataType::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        }
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Utf8))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array(touch_paths(&arrays)?))
    }
}

fn touch_paths(arrays: &[ArrayRef]) -> Result<ArrayRef, AdapterError> {
    use datafusion::arrow::compute::cast;
    let lists: &ListArray = args::column(TOUCH_PATH, arrays, 0)?;
    let touches = lists.values().as_struct_opt().ok_or(AdapterError::State {
        function: TOUCH_PATH,
        problem: "the list does not hold structs".into(),
    })?;
    let times = cast(touches.column(0), &DataType::Int64)?;
    let times = times.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let channels = cast(touches.column(1), &DataType::Utf8)?;
    let channels = channels.as_string::<i32>();
    let offsets = lists.value_offsets();
    let mut out = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
    let mut order: Vec<usize> = Vec::new();
    for row in 0..lists.len() {
        let (from, to) = if lists.is_null(row) {
            (0, 0)
        } else {
            (offsets[row] as usize, offsets[row + 1] as usize)
        };
        order.clear();
        order.extend(from..to);
        if order
            .iter()
            .any(|&i| times.is_null(i) || channels.is_null(i) || touches.is_null(i))
        {
            return Err(AdapterError::Row {
                function: TOUCH_PATH,
                row,
                problem: "a touch has a NULL time or channel".into(),
            });
        }
        order.sort_unstable_by(|&a, &b| {
            (times.value(a), channels.value(a)).cmp(&(times.value(b), channels.value(b)))
        });
        for &i in &order {
            out.values().append_value(channels.value(i));
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}
