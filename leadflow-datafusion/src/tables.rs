//! Between the core's tables and Arrow: a ChannelAttribution path table
//! read by the core's reader into record batches (the input
//! `attribute_paths` takes), and record batches of paths added to a
//! [`PathTally`] without SQL.
//!
//! ```
//! use std::io::Cursor;
//! use leadflow::attribution::{PathModel, PathReadOptions, PathReader, PathTally};
//! use leadflow_datafusion::tables::{read_path_table, tally_batch};
//!
//! let csv = "path,total_conversions,total_conversion_value\na > b,2,10.50\nb,1,3\n";
//! let reader = PathReader::new(Cursor::new(csv), PathReadOptions::default())?;
//! let table = read_path_table(reader, 1024)?;
//! assert_eq!(table.value_scale, Some(2));
//!
//! let mut tally = PathTally::new(&[PathModel::Linear], 1)?.with_value_column();
//! for batch in &table.batches {
//!     tally_batch(&mut tally, batch)?;
//! }
//! assert_eq!(tally.finish()?.total_conversions, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::BufRead;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Decimal128Array, Decimal128Builder, Int64Array, Int64Builder, ListArray,
    ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use leadflow::attribution::{PathReader, PathTableError, PathTally};
use rust_decimal::Decimal;

use crate::args;
use crate::error::AdapterError;
use crate::money::{self, PRECISION};

/// The column names of a path table in Arrow form.
pub mod columns {
    /// The channels, a list of strings.
    pub const PATH: &str = "path";
    /// Conversions, `Int64`.
    pub const CONVERSIONS: &str = "total_conversions";
    /// Paths that did not convert, `Int64`.
    pub const NULLS: &str = "total_null";
    /// The conversion value, `Decimal128(38, s)`: present when the table
    /// has values.
    pub const VALUE: &str = "total_conversion_value";
    /// The row's position in the table, from 1 (`Int64`).
    pub const SEEN: &str = "seen";
}

/// A path table as record batches.
#[derive(Debug, Clone)]
pub struct PathTable {
    /// Their schema: `path`, `total_conversions`, `total_null`,
    /// `total_conversion_value` (only when the table has a value column)
    /// and `seen`.
    pub schema: SchemaRef,
    /// The rows, in table order.
    pub batches: Vec<RecordBatch>,
    /// The value column's scale (the most decimal places among the
    /// values), `None` without a value column.
    pub value_scale: Option<i8>,
    /// The most decimal places among the values of converting rows: the
    /// scale the core prints value credits at.
    pub credit_scale: Option<i8>,
}

/// Rows read but not yet in a batch.
#[derive(Default)]
struct Pending {
    paths: ListBuilder<StringBuilder>,
    conversions: Int64Builder,
    nulls: Int64Builder,
    values: Vec<Option<Decimal>>,
    seen: Int64Builder,
}

/// Reads a whole path table into batches of `rows_per_batch` rows
/// (at least 1).
///
/// # Errors
/// The reader's [`PathTableError`]s, naming the line, and
/// [`PathTableError`]s for counts beyond `i64` or values that need more
/// than 38 digits at the table's scale.
pub fn read_path_table<R: BufRead>(
    mut reader: PathReader<R>,
    rows_per_batch: usize,
) -> Result<PathTable, PathTableError> {
    let has_value = reader.has_value();
    let mut pending = Pending::default();
    let mut parts: Vec<(Vec<ArrayRef>, Vec<Option<Decimal>>)> = Vec::new();
    let (mut scale, mut credit_scale) = (0u32, None::<i8>);
    let mut row_no: i64 = 0;
    let too_big = |what: &str, n: u64| PathTableError {
        line: 0,
        problem: format!("{what} {n} exceeds Int64"),
    };
    while let Some(row) = reader.next_row()? {
        row_no += 1;
        for c in row.channels() {
            pending.paths.values().append_value(c);
        }
        pending.paths.append(true);
        let c =
            i64::try_from(row.conversions).map_err(|_| too_big("conversions", row.conversions))?;
        let n = i64::try_from(row.nulls).map_err(|_| too_big("nulls", row.nulls))?;
        pending.conversions.append_value(c);
        pending.nulls.append_value(n);
        if let Some(v) = row.value {
            scale = scale.max(v.scale());
            if row.conversions > 0 {
                credit_scale = Some(credit_scale.unwrap_or(0).max(v.scale() as i8));
            }
        }
        pending.values.push(row.value);
        pending.seen.append_value(row_no);
        if pending.values.len() >= rows_per_batch.max(1) {
            parts.push(pending.finish());
        }
    }
    if !pending.values.is_empty() {
        parts.push(pending.finish());
    }
    let value_scale = has_value.then_some(scale as i8);
    let mut fields = vec![
        Field::new(columns::PATH, args::list_of(DataType::Utf8), true),
        Field::new(columns::CONVERSIONS, DataType::Int64, false),
        Field::new(columns::NULLS, DataType::Int64, false),
    ];
    if let Some(s) = value_scale {
        fields.push(Field::new(
            columns::VALUE,
            DataType::Decimal128(PRECISION, s),
            true,
        ));
    }
    fields.push(Field::new(columns::SEEN, DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::with_capacity(parts.len());
    for (mut arrays, values) in parts {
        if let Some(s) = value_scale {
            let mut b = Decimal128Builder::with_capacity(values.len());
            for v in values {
                match v {
                    Some(v) => {
                        b.append_value(money::to_decimal128(v, s).map_err(|e| PathTableError {
                            line: 0,
                            problem: e.to_string(),
                        })?)
                    }
                    None => b.append_null(),
                }
            }
            let seen = arrays.pop();
            let value = b
                .finish()
                .with_precision_and_scale(PRECISION, s)
                .map_err(|e| PathTableError {
                    line: 0,
                    problem: e.to_string(),
                })?;
            arrays.push(Arc::new(value));
            arrays.extend(seen);
        }
        batches.push(
            RecordBatch::try_new(schema.clone(), arrays).map_err(|e| PathTableError {
                line: 0,
                problem: e.to_string(),
            })?,
        );
    }
    Ok(PathTable {
        schema,
        batches,
        value_scale,
        credit_scale: has_value.then(|| credit_scale.unwrap_or(0)),
    })
}

impl Pending {
    /// The rows so far as arrays (path, conversions, nulls, seen) and the
    /// values still to convert.
    fn finish(&mut self) -> (Vec<ArrayRef>, Vec<Option<Decimal>>) {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.paths.finish()),
            Arc::new(self.conversions.finish()),
            Arc::new(self.nulls.finish()),
            Arc::new(self.seen.finish()),
        ];
        (arrays, std::mem::take(&mut self.values))
    }
}

/// Adds a batch of paths to a tally, without SQL: columns named as in
/// [`columns`] (`total_null` and `total_conversion_value` optional;
/// `path` a list of strings).
///
/// # Errors
/// [`AdapterError::ArgumentType`] for a missing or mistyped column,
/// [`AdapterError::Row`] for a negative count or a NULL channel,
/// [`AdapterError::Money`] for a value beyond `rust_decimal`.
pub fn tally_batch(tally: &mut PathTally, batch: &RecordBatch) -> Result<(), AdapterError> {
    const F: &str = "tally_batch";
    let missing = |name: &'static str, expected: &'static str| AdapterError::ArgumentType {
        function: F,
        position: batch.schema().index_of(name).map_or(0, |i| i + 1),
        name,
        expected,
        found: batch
            .column_by_name(name)
            .map_or("no such column".into(), |c| c.data_type().to_string()),
    };
    let paths = batch
        .column_by_name(columns::PATH)
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        .ok_or_else(|| missing(columns::PATH, "a list of Utf8"))?;
    let int = |name: &'static str| -> Result<Option<&Int64Array>, AdapterError> {
        match batch.column_by_name(name) {
            None => Ok(None),
            Some(c) => c
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(Some)
                .ok_or_else(|| missing(name, "Int64")),
        }
    };
    let conversions =
        int(columns::CONVERSIONS)?.ok_or_else(|| missing(columns::CONVERSIONS, "Int64"))?;
    let nulls = int(columns::NULLS)?;
    let value = match batch.column_by_name(columns::VALUE) {
        None => None,
        Some(c) => Some(
            c.as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| missing(columns::VALUE, "Decimal128"))?,
        ),
    };
    for row in 0..batch.num_rows() {
        let path = args::strings_of(F, paths, row, "path")?;
        let c = args::count(F, conversions, row, "conversions")?;
        let n = match nulls {
            Some(col) => args::count(F, col, row, "nulls")?,
            None => 0,
        };
        let v = args::decimal_at(value, row)?;
        tally.add(path.iter().map(String::as_str), c, n, v);
    }
    Ok(())
}
