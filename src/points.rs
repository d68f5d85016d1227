//! Exact points: decimals with at most [`POINTS_DECIMALS`] places, held as
//! whole millionths in integers so that sums and threshold comparisons are
//! exact and cost an integer add.

use rust_decimal::Decimal;

/// The most decimal places a point value may have (points, caps,
/// thresholds, bands, adjustments). A score is exact to this precision: a
/// decayed score is rounded to it (half away from zero).
pub const POINTS_DECIMALS: u32 = 6;

/// The largest magnitude of points, caps, thresholds and adjustments, in
/// whole points (10^12). With at most 2^32 events per lead, every sum stays
/// below 2^96 millionths: a score always fits a [`Decimal`], never
/// overflows, and is never infinite or NaN.
pub const MAX_POINTS: i64 = 1_000_000_000_000;

/// Why a decimal is not a valid point value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointsProblem {
    /// More than [`POINTS_DECIMALS`] decimal places.
    TooPrecise,
    /// More than [`MAX_POINTS`] in magnitude.
    TooLarge,
}

impl PointsProblem {
    /// What was expected, for error messages.
    pub(crate) fn expected(self, what: &str) -> String {
        match self {
            PointsProblem::TooPrecise => {
                format!("{what} with at most {POINTS_DECIMALS} decimal places")
            }
            PointsProblem::TooLarge => format!("{what} of at most {MAX_POINTS} in magnitude"),
        }
    }
}

/// The decimal in millionths, if it has at most six places and is at most
/// [`MAX_POINTS`] in magnitude.
pub(crate) fn micros(d: Decimal) -> Result<i128, PointsProblem> {
    let d = d.normalize();
    if d.scale() > POINTS_DECIMALS {
        return Err(PointsProblem::TooPrecise);
    }
    if d.abs() > Decimal::from(MAX_POINTS) {
        return Err(PointsProblem::TooLarge);
    }
    // mantissa × 10^(6 − scale): at most 10^18, no overflow.
    let shift = 10i128.pow(POINTS_DECIMALS - d.scale());
    Ok(d.mantissa() * shift)
}

/// Millionths as a decimal (normalized: `12.5`, not `12.500000`).
/// Saturates at the bounds of [`Decimal`], which no bounded score reaches.
pub(crate) fn decimal(m: i128) -> Decimal {
    // Whole points (most rules' values) have no trailing zeros to strip:
    // `normalize` costs more than the rest of an event's outcome.
    if let Ok(m) = i64::try_from(m)
        && m % 1_000_000 == 0
    {
        return Decimal::from(m / 1_000_000);
    }
    match Decimal::try_from_i128_with_scale(m, POINTS_DECIMALS) {
        Ok(d) => d.normalize(),
        Err(_) if m < 0 => Decimal::MIN,
        Err(_) => Decimal::MAX,
    }
}

/// A real-valued amount of millionths rounded to whole millionths (half
/// away from zero); NaN reads 0 and infinities saturate (neither arises
/// from bounded inputs).
pub(crate) fn round(v: f64) -> i128 {
    // `as` saturates and maps NaN to 0.
    v.round() as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_are_exact_and_bounded() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(micros(d("0.1")), Ok(100_000));
        assert_eq!(micros(d("-2.500000")), Ok(-2_500_000));
        assert_eq!(
            micros(d("1e12".parse::<f64>().unwrap().to_string().as_str())),
            Ok(10i128.pow(18))
        );
        assert_eq!(micros(d("0.0000001")), Err(PointsProblem::TooPrecise));
        assert_eq!(
            micros(d("1000000000000.000001")),
            Err(PointsProblem::TooLarge)
        );
        assert_eq!(decimal(100_000).to_string(), "0.1");
        assert_eq!(decimal(-2_500_000).to_string(), "-2.5");
    }

    /// The whole-points short cut gives what the general path gives: the
    /// same value, scale and text, zero and the ends of its range included.
    #[test]
    fn whole_points_take_the_short_cut_to_the_same_decimal() {
        let general = |m: i128| match Decimal::try_from_i128_with_scale(m, POINTS_DECIMALS) {
            Ok(d) => d.normalize(),
            Err(_) => unreachable!("in range"),
        };
        let mut cases: Vec<i128> = vec![0, 1, -1, 999_999, 1_000_000, -1_000_000];
        cases.extend([
            10i128.pow(18),
            -(10i128.pow(18)),
            7_000_000,
            120_000_000,
            -3_500_000,
        ]);
        cases.extend([i128::from(i64::MAX), i128::from(i64::MIN) + 192]);
        for m in cases {
            let (fast, slow) = (decimal(m), general(m));
            assert_eq!(fast, slow, "{m}");
            assert_eq!(fast.scale(), slow.scale(), "{m}");
            assert_eq!(fast.to_string(), slow.to_string(), "{m}");
        }
    }
}
