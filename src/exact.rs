//! Exact arithmetic shared by scoring and attribution: sums of decimals
//! held as integer mantissas, and splitting a whole into parts that sum to
//! it exactly.

use rust_decimal::Decimal;

/// An exact sum of decimals kept as an integer mantissa at the finest scale
/// seen: adding values of one scale is an integer addition, far cheaper
/// than a `Decimal` addition, and the result is exact — or, past the range
/// of a 128-bit mantissa, marked as overflowed (never silently wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ExactSum {
    mantissa: i128,
    scale: u32,
    overflowed: bool,
}

impl ExactSum {
    pub(crate) fn add(&mut self, d: Decimal) {
        self.add_parts(d.mantissa(), d.scale());
    }

    pub(crate) fn add_sum(&mut self, o: ExactSum) {
        self.overflowed |= o.overflowed;
        self.add_parts(o.mantissa, o.scale);
    }

    fn add_parts(&mut self, mantissa: i128, scale: u32) {
        if scale == self.scale {
            // The usual case: values of one scale, an integer addition.
            match self.mantissa.checked_add(mantissa) {
                Some(m) => self.mantissa = m,
                None => self.overflowed = true,
            }
            return;
        }
        if scale > self.scale {
            match 10i128
                .checked_pow(scale - self.scale)
                .and_then(|f| self.mantissa.checked_mul(f))
            {
                Some(m) => self.mantissa = m,
                None => self.overflowed = true,
            }
            self.scale = scale;
        }
        match 10i128
            .checked_pow(self.scale - scale)
            .and_then(|f| mantissa.checked_mul(f))
            .and_then(|m| self.mantissa.checked_add(m))
        {
            Some(m) => self.mantissa = m,
            None => self.overflowed = true,
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mantissa == 0 && !self.overflowed
    }

    pub(crate) fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    /// The sum as a `Decimal`: `None` when it overflowed or does not fit a
    /// `Decimal` exactly.
    pub(crate) fn to_decimal(self) -> Option<Decimal> {
        if self.overflowed {
            return None;
        }
        Decimal::try_from_i128_with_scale(self.mantissa, self.scale).ok()
    }
}

/// Splits `target` units into whole parts proportional to `shares` (real
/// amounts of the same units) that sum to exactly `target`: each share is
/// floored, and what is left goes one unit at a time to the largest
/// fractional parts (ties to the earlier share) — the largest remainder
/// method. Never panics: arithmetic saturates at the (unreachable) edges.
pub(crate) fn apportion(target: i128, shares: &[f64]) -> Vec<i128> {
    let floor = |s: f64| if s.is_finite() { s.floor() as i128 } else { 0 };
    let mut parts: Vec<i128> = shares.iter().map(|&s| floor(s)).collect();
    let n = parts.len() as i128;
    if n == 0 {
        return parts;
    }
    let placed = parts.iter().fold(0i128, |a, p| a.saturating_add(*p));
    let rest = target.saturating_sub(placed);
    // Normally 0 ≤ rest < n; float error can put it outside: spread the
    // whole multiples evenly first.
    let each = rest.div_euclid(n);
    let extra = rest.rem_euclid(n) as usize;
    for p in &mut parts {
        *p = p.saturating_add(each);
    }
    let mut order: Vec<usize> = (0..parts.len()).collect();
    let frac = |i: usize| {
        shares
            .get(i)
            .filter(|s| s.is_finite())
            .map_or(0.0, |s| s - s.floor())
    };
    order.sort_by(|&a, &b| frac(b).total_cmp(&frac(a)).then(a.cmp(&b)));
    for &i in order.iter().take(extra) {
        if let Some(p) = parts.get_mut(i) {
            *p = p.saturating_add(1);
        }
    }
    parts
}

/// A decimal read exactly from a JSON string (`"12.5"`) or number (read
/// as the shortest decimal that prints as that number: exact up to 15
/// significant digits; write a string beyond). What cannot be held exactly
/// is an error, never rounded: more than 28 digits after the point, or
/// beyond the range of a `Decimal`.
pub(crate) struct Exact(pub(crate) Decimal);

impl<'de> serde::Deserialize<'de> for Exact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, Visitor};
        struct V;
        impl Visitor<'_> for V {
            type Value = Exact;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an exact decimal, as a string (\"12.5\") or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Exact, E> {
                let refuse = || {
                    E::custom(format!(
                        "{v:?} is not an exact decimal (digits with an optional minus sign and point, such as \"-12.50\"; at most 28 digits after the point, below 7.9e28)"
                    ))
                };
                if !plain_decimal(v) {
                    return Err(refuse());
                }
                Decimal::from_str_exact(v).map(Exact).map_err(|_| refuse())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Exact, E> {
                Ok(Exact(Decimal::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Exact, E> {
                Ok(Exact(Decimal::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Exact, E> {
                // `{}` prints the shortest text that reads back as `v`: the
                // number as the host wrote it when it has at most 15
                // significant digits. With more, the float may already have
                // rounded what was written: refused, never guessed.
                let text = format!("{v}");
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
                if !v.is_finite() || significant > 15 {
                    return Err(E::custom(format!(
                        "{v:e} has more significant digits than a JSON number carries exactly: write it as a string"
                    )));
                }
                Decimal::from_str_exact(&text).map(Exact).map_err(|_| {
                    E::custom(format!(
                        "{v:e} has no exact decimal form in range: write it as a string"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `-?digits(.digits)?`: the only text form a decimal is read from (no
/// spaces, `+`, `_` separators or bare points, which the decimal parser
/// would otherwise accept).
fn plain_decimal(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

/// `deserialize_with` for an exact [`Decimal`] (see [`Exact`]).
pub(crate) fn decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    <Exact as serde::Deserialize>::deserialize(d).map(|e| e.0)
}

/// `deserialize_with` for an optional exact [`Decimal`].
pub(crate) fn option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    <Option<Exact> as serde::Deserialize>::deserialize(d).map(|o| o.map(|e| e.0))
}

/// `deserialize_with` for three exact [`Decimal`]s.
pub(crate) fn three<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[Decimal; 3], D::Error> {
    <[Exact; 3] as serde::Deserialize>::deserialize(d).map(|[a, b, c]| [a.0, b.0, c.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_exactly() {
        assert_eq!(apportion(10, &[3.4, 3.3, 3.3]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[1.5, 1.5]), vec![4, 3]);
        assert_eq!(apportion(-3, &[-1.5, -1.5]), vec![-1, -2]);
        assert_eq!(apportion(5, &[f64::NAN, 1.0]).iter().sum::<i128>(), 5);
        assert!(apportion(5, &[]).is_empty());
    }

    #[test]
    fn sums_are_exact_or_marked() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let mut sum = ExactSum::default();
        sum.add(d("0.1"));
        sum.add(d("0.2"));
        assert_eq!(sum.to_decimal(), Some(d("0.3")));
        let mut big = ExactSum::default();
        big.add(d("20000000000"));
        big.add(d("0.0000000000000000000000000001"));
        assert_eq!(big.to_decimal(), None, "past 128 bits: marked, not wrong");
    }
}
