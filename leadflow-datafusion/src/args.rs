//! Reading the functions' arguments: constant configs and Arrow columns of
//! the types the functions coerce their inputs to.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use crate::error::AdapterError;

/// `List<item>`, with Arrow's usual item field.
pub(crate) fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// Whether a type is a list of strings (of any string or list layout).
pub(crate) fn is_string_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ),
        _ => false,
    }
}

/// Whether a type is a list of timestamps or integers.
pub(crate) fn is_time_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) => {
            matches!(f.data_type(), DataType::Timestamp(..) | DataType::Null)
        }
        _ => false,
    }
}

/// Whether a type is a whole number (or NULL).
pub(crate) fn is_integer(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

/// Whether a type is text.
pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The text of a constant string.
pub(crate) fn scalar_text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// The constant string an aggregate's argument is (its config).
pub(crate) fn config_literal(
    function: &'static str,
    exprs: &[Arc<dyn PhysicalExpr>],
    index: usize,
) -> Result<String, AdapterError> {
    let not_constant = || AdapterError::Config {
        function,
        problem: format!("(argument {}) must be a constant string of JSON", index + 1),
    };
    let expr = exprs.get(index).ok_or_else(not_constant)?;
    let any: &dyn Any = expr.as_ref();
    let literal = any.downcast_ref::<Literal>().ok_or_else(not_constant)?;
    scalar_text(literal.value())
        .map(str::to_owned)
        .ok_or_else(not_constant)
}

/// Reads a config's JSON, naming the function on error.
pub(crate) fn read_config<T: serde::de::DeserializeOwned>(
    function: &'static str,
    json: &str,
) -> Result<T, AdapterError> {
    serde_json::from_str(json).map_err(|e| AdapterError::Config {
        function,
        problem: format!("does not read: {e}"),
    })
}

/// An argument array of the type the function coerced it to.
pub(crate) fn column<'a, T: 'static>(
    function: &'static str,
    args: &'a [ArrayRef],
    index: usize,
) -> Result<&'a T, AdapterError> {
    args.get(index)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| AdapterError::State {
            function,
            problem: format!(
                "argument {} is not of its coerced type (found {:?})",
                index + 1,
                args.get(index).map(|a| a.data_type().clone())
            ),
        })
}

/// A non-negative count (NULL is 0).
pub(crate) fn count(
    function: &'static str,
    column: &Int64Array,
    row: usize,
    name: &str,
) -> Result<u64, AdapterError> {
    if column.is_null(row) {
        return Ok(0);
    }
    let v = column.value(row);
    u64::try_from(v).map_err(|_| AdapterError::Row {
        function,
        row,
        problem: format!("{name} must be at least 0, not {v}"),
    })
}

/// The strings of one row of a `List<Utf8>`; a NULL list is empty; a NULL
/// item is an error.
pub(crate) fn strings_of(
    function: &'static str,
    list: &ListArray,
    row: usize,
    name: &str,
) -> Result<Vec<String>, AdapterError> {
    if list.is_null(row) {
        return Ok(Vec::new());
    }
    let items = list.value(row);
    let items = items
        .as_string_opt::<i32>()
        .ok_or_else(|| AdapterError::State {
            function,
            problem: format!("{name} is not a list of Utf8"),
        })?;
    items
        .iter()
        .map(|s| {
            s.map(str::to_owned).ok_or_else(|| AdapterError::Row {
                function,
                row,
                problem: format!("{name} holds a NULL"),
            })
        })
        .collect()
}

/// A `Decimal128` column's scale (0 for a NULL column).
pub(crate) fn decimal_scale(t: &DataType) -> i8 {
    match t {
        DataType::Decimal128(_, s) => *s,
        _ => 0,
    }
}

/// The value of row `row` of an optional `Decimal128` column.
pub(crate) fn decimal_at(
    column: Option<&Decimal128Array>,
    row: usize,
) -> Result<Option<rust_decimal::Decimal>, AdapterError> {
    match column {
        Some(c) if !c.is_null(row) => Ok(Some(crate::money::from_decimal128(
            c.value(row),
            c.scale(),
        )?)),
        _ => Ok(None),
    }
}

/// Reads an `Int64` scalar (for constant arguments).
pub(crate) fn int_value(array: &ArrayRef, row: usize) -> Option<i64> {
    array
        .as_primitive_opt::<Int64Type>()
        .filter(|a| !a.is_null(row))
        .map(|a| a.value(row))
}

/// A partial state as the one `Binary` value an aggregate's state is.
pub(crate) fn state_value<T: serde::Serialize>(
    function: &'static str,
    state: &T,
) -> Result<Vec<ScalarValue>, AdapterError> {
    let bytes = serde_json::to_vec(state).map_err(|e| AdapterError::State {
        function,
        problem: e.to_string(),
    })?;
    Ok(vec![ScalarValue::Binary(Some(bytes))])
}

/// Each partial state of a `merge_batch` column, read back and handed to
/// `merge`.
pub(crate) fn merge_states<T: serde::de::DeserializeOwned>(
    function: &'static str,
    states: &[ArrayRef],
    mut merge: impl FnMut(T),
) -> Result<(), AdapterError> {
    let parts: &datafusion::arrow::array::BinaryArray = column(function, states, 0)?;
    for bytes in parts.iter().flatten() {
        let other: T = serde_json::from_slice(bytes).map_err(|e| AdapterError::State {
            function,
            problem: e.to_string(),
        })?;
        merge(other);
    }
    Ok(())
}
