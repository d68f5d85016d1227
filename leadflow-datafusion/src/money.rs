//! Money across the wire: `rust_decimal::Decimal` to and from Arrow's
//! `Decimal128` at a fixed scale, exactly or not at all.
//!
//! ```
//! use leadflow_datafusion::money::{from_decimal128, to_decimal128};
//! use rust_decimal::Decimal;
//! let price: Decimal = "1234.50".parse()?;
//! let units = to_decimal128(price, 4)?; // 1234.5000
//! assert_eq!(units, 12_345_000);
//! assert_eq!(from_decimal128(units, 4)?, price);
//! assert!(to_decimal128("0.125".parse()?, 2).is_err()); // never rounded
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rust_decimal::Decimal;

/// The precision of every `Decimal128` column the adapter writes.
pub const PRECISION: u8 = 38;

/// The largest scale either side can hold (`rust_decimal`'s limit).
pub const MAX_SCALE: i8 = 28;

/// Money that cannot cross exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The value has more decimal places than the column's scale.
    #[error(
        "{value} has more than {scale} decimal places: a Decimal128 at scale {scale} cannot hold it exactly"
    )]
    TooFine {
        /// The value.
        value: Decimal,
        /// The column's scale.
        scale: i8,
    },
    /// The value needs more than 38 digits at the column's scale.
    #[error("{value} needs more than 38 digits at scale {scale}")]
    TooLarge {
        /// The value.
        value: Decimal,
        /// The column's scale.
        scale: i8,
    },
    /// A `Decimal128` value beyond `rust_decimal`'s 96-bit mantissa.
    #[error(
        "the Decimal128 value {mantissa} at scale {scale} needs more than 28 significant digits, rust_decimal's range"
    )]
    OutOfRange {
        /// The unscaled value.
        mantissa: i128,
        /// Its scale.
        scale: i8,
    },
    /// A scale outside `0..=28`.
    #[error("scale {scale} is outside 0..=28, the scales both sides hold")]
    Scale {
        /// The scale.
        scale: i8,
    },
}

fn checked_scale(scale: i8) -> Result<u32, MoneyError> {
    u32::try_from(scale)
        .ok()
        .filter(|s| *s <= MAX_SCALE as u32)
        .ok_or(MoneyError::Scale { scale })
}

/// `value` as the unscaled integer of a `Decimal128(38, scale)`.
///
/// # Errors
/// [`MoneyError::TooFine`] when the value has more decimal places than
/// `scale` (trailing zeros do not count); [`MoneyError::TooLarge`] beyond
/// 38 digits; [`MoneyError::Scale`] outside `0..=28`.
pub fn to_decimal128(value: Decimal, scale: i8) -> Result<i128, MoneyError> {
    let s = checked_scale(scale)?;
    let v = if value.scale() > s {
        value.normalize()
    } else {
        value
    };
    let up = s
        .checked_sub(v.scale())
        .ok_or(MoneyError::TooFine { value, scale })?;
    let max = 10i128.pow(u32::from(PRECISION));
    10i128
        .checked_pow(up)
        .and_then(|f| v.mantissa().checked_mul(f))
        .filter(|m| m.unsigned_abs() < max.unsigned_abs())
        .ok_or(MoneyError::TooLarge { value, scale })
}

/// The `Decimal128` value `mantissa` at `scale` as a `Decimal`: at that
/// scale, or with fewer places when only dropping trailing zeros makes it
/// fit `Decimal`'s 96-bit mantissa (the value is the same either way).
///
/// # Errors
/// [`MoneyError::OutOfRange`] beyond `Decimal`'s 96-bit mantissa;
/// [`MoneyError::Scale`] outside `0..=28`.
pub fn from_decimal128(mantissa: i128, scale: i8) -> Result<Decimal, MoneyError> {
    let s = checked_scale(scale)?;
    let (mut m, mut places) = (mantissa, s);
    loop {
        if let Ok(d) = Decimal::try_from_i128_with_scale(m, places) {
            return Ok(d);
        }
        if places == 0 || m % 10 != 0 {
            return Err(MoneyError::OutOfRange { mantissa, scale });
        }
        m /= 10;
        places -= 1;
    }
}

/// `value` at exactly `scale` decimal places (trailing zeros added or
/// dropped), never rounded.
///
/// # Errors
/// As [`to_decimal128`] and [`from_decimal128`].
pub fn at_scale(value: Decimal, scale: i8) -> Result<Decimal, MoneyError> {
    from_decimal128(to_decimal128(value, scale)?, scale)
}
