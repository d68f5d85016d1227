//! Attribute values and the predicates that test them: the shared condition
//! language of scoring rules, grading criteria and qualification rules.
//!
//! Operators (`op`): `equals` (`value`), `one_of` (`values`), `contains`
//! (`value`), `starts_with` (`value`), `range` (`min` and/or `max`,
//! inclusive), `exists`, and `in_list` (`list`, a named list from the
//! config's `lists`). Text comparisons ignore ASCII case; a text attribute is
//! read as a number for `range` and numeric `equals` / `one_of` in the forms
//! people type (`1,000`, `1 000`, `$5,000`, `500+`); text that is no number
//! leaves such a test unknown (a grading criterion then neither raises nor
//! lowers the grade), not failed. The other way round, a text operand that
//! reads as a number (`"42"`, `"1,000"`) equals a number attribute of that
//! value; a text operand that is no number never equals a number.
//! There are no regular expressions, so matching time is linear in the text.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrorKind};

/// An attribute value: text or a number. In JSON, a string or a number.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
}

impl<'de> Deserialize<'de> for AttrValue {
    /// A JSON number or string, read directly (an untagged derive would
    /// buffer the value and build an error for each text it tries as a
    /// number first).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AttrValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<AttrValue, E> {
                Ok(AttrValue::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AttrValue, E> {
                Ok(AttrValue::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AttrValue, E> {
                Ok(AttrValue::Number(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AttrValue, E> {
                Ok(AttrValue::Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<AttrValue, E> {
                Ok(AttrValue::Text(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl std::fmt::Display for AttrValue {
    /// Text as it is; a number in the shortest form that reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl AttrValue {
    /// The value as a number: a number, or text in a common number form
    /// (see [`parse_number`]).
    fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(t) => parse_number(t),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        Self::Number(v)
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::Number(v as f64)
    }
}

mod map;

pub use map::Attrs;

/// A predicate's operator. In configs, its snake-case name; an unknown
/// name is an error that lists the known ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operator {
    /// Equal to `value` (text ignoring ASCII case, numbers numerically).
    #[default]
    Equals,
    /// Equal to one of `values`.
    OneOf,
    /// Text containing `value` (ignoring ASCII case).
    Contains,
    /// Text starting with `value` (ignoring ASCII case).
    StartsWith,
    /// A number from `min` to `max` (inclusive; either may be open).
    Range,
    /// Any value.
    Exists,
    /// Text in the named `list`.
    InList,
}

crate::types::display_by_serde_name!(Operator);

impl Operator {
    const ALL: [(&'static str, Operator); 7] = [
        ("equals", Operator::Equals),
        ("one_of", Operator::OneOf),
        ("contains", Operator::Contains),
        ("starts_with", Operator::StartsWith),
        ("range", Operator::Range),
        ("exists", Operator::Exists),
        ("in_list", Operator::InList),
    ];
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Operator::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown operator {name:?} (expected one of equals, one_of, contains, \
                     starts_with, range, exists, in_list)"
                ))
            })
    }
}

/// A test on one attribute, as written in configs.
///
/// ```
/// let p: leadflow::PredicateConfig =
///     serde_json::from_str(r#"{"attr": "url", "op": "starts_with", "value": "/pricing"}"#).unwrap();
/// assert_eq!(p.op, leadflow::Operator::StartsWith);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateConfig {
    /// The attribute's name.
    pub attr: String,
    /// The operator.
    pub op: Operator,
    /// The operand of `equals`, `contains` and `starts_with`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<AttrValue>,
    /// The operands of `one_of`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<AttrValue>,
    /// The inclusive lower bound of `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The inclusive upper bound of `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The list name of `in_list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

impl PredicateConfig {
    /// A predicate with an operator and a single operand.
    pub fn new(attr: impl Into<String>, op: Operator, value: impl Into<AttrValue>) -> Self {
        Self {
            attr: attr.into(),
            op,
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

/// An operand compiled for matching: text lowered to ASCII lowercase once,
/// with the number it reads as, if any (so that `"42"` equals the number
/// 42, as the number 42 equals the text `"42"`).
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Text(String, Option<f64>),
    Number(f64),
}

impl Operand {
    fn new(v: &AttrValue) -> Self {
        match v {
            AttrValue::Number(n) => Self::Number(*n),
            AttrValue::Text(t) => Self::Text(t.to_ascii_lowercase(), parse_number(t)),
        }
    }

    fn equals(&self, v: &AttrValue) -> bool {
        match (self, v) {
            (Self::Text(a, _), AttrValue::Text(b)) => equals_lowered(b.as_bytes(), a.as_bytes()),
            (Self::Number(a), v) => v.as_number() == Some(*a),
            (Self::Text(_, number), AttrValue::Number(n)) => *number == Some(*n),
        }
    }
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Operand),
    OneOf(Vec<Operand>),
    Contains(Needle),
    StartsWith(String),
    Range(f64, f64),
    Exists,
    InList(Arc<HashSet<String>>),
}

/// A compiled predicate.
#[derive(Debug, Clone)]
pub(crate) struct Predicate {
    attr: String,
    test: Test,
    /// Whether the test reads numbers only (a text that is no number is
    /// then unknown): settled at compile time, not per activity.
    numeric: bool,
}

/// Named lists (target accounts, competitor domains), lowercased for
/// matching.
pub(crate) type Lists = BTreeMap<String, Arc<HashSet<String>>>;

pub(crate) fn compile_lists(lists: &BTreeMap<String, Vec<String>>) -> Lists {
    lists
        .iter()
        .map(|(name, items)| {
            let set = items
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            (name.clone(), Arc::new(set))
        })
        .collect()
}

impl Predicate {
    pub(crate) fn compile(
        c: &PredicateConfig,
        lists: &Lists,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let err = |field: &str, kind| ConfigError::new(format!("{path}{field}"), kind);
        let missing = |field: &str| {
            err(
                &format!(".{field}"),
                ConfigErrorKind::Empty {
                    what: format!("`{field}` of operator {}", c.op),
                },
            )
        };
        if c.attr.trim().is_empty() {
            return Err(err(".attr", ConfigErrorKind::EmptyName));
        }
        if let Some(field) = unread_operand(c) {
            return Err(err(
                &format!(".{field}"),
                ConfigErrorKind::NotRead {
                    field: field.to_owned(),
                    op: c.op.to_string(),
                },
            ));
        }
        let text = |field: &str| -> Result<String, ConfigError> {
            match &c.value {
                Some(AttrValue::Text(t)) if !t.is_empty() => Ok(t.to_ascii_lowercase()),
                Some(AttrValue::Number(n)) => Ok(n.to_string().to_ascii_lowercase()),
                _ => Err(missing(field)),
            }
        };
        let test = match c.op {
            Operator::Equals => Test::Equals(Operand::new(
                c.value.as_ref().ok_or_else(|| missing("value"))?,
            )),
            Operator::OneOf => {
                if c.values.is_empty() {
                    return Err(missing("values"));
                }
                Test::OneOf(c.values.iter().map(Operand::new).collect())
            }
            Operator::Contains => Test::Contains(Needle::new(text("value")?)),
            Operator::StartsWith => Test::StartsWith(text("value")?),
            Operator::Range => {
                if c.min.is_none() && c.max.is_none() {
                    return Err(missing("min"));
                }
                range_test(c.min, c.max).map_err(|kind| err(".min", kind))?
            }
            Operator::Exists => Test::Exists,
            Operator::InList => {
                let name = c.list.as_deref().ok_or_else(|| missing("list"))?;
                let set = lists.get(name).ok_or_else(|| {
                    err(
                        ".list",
                        ConfigErrorKind::Unknown {
                            what: "list".into(),
                            name: name.to_owned(),
                        },
                    )
                })?;
                Test::InList(Arc::clone(set))
            }
        };
        let numeric = match &test {
            Test::Range(..) => true,
            Test::Equals(o) => matches!(o, Operand::Number(_)),
            Test::OneOf(os) => !os.is_empty() && os.iter().all(|o| matches!(o, Operand::Number(_))),
            _ => false,
        };
        Ok(Self {
            attr: c.attr.clone(),
            test,
            numeric,
        })
    }

    /// The attribute the predicate reads.
    pub(crate) fn attr(&self) -> &str {
        &self.attr
    }

    /// `Some(true)` on a match, `Some(false)` on a mismatch, `None` when the
    /// attribute is unknown.
    pub(crate) fn eval(&self, attrs: &Attrs) -> Option<bool> {
        self.test(lookup(attrs, &self.attr))
    }

    /// The predicate on an already looked-up value (`None`: unknown). A
    /// numeric test on text that is no number is unknown, not a mismatch.
    #[inline]
    pub(crate) fn test(&self, value: Option<&AttrValue>) -> Option<bool> {
        let v = value?;
        if self.numeric && v.as_number().is_none() {
            return None;
        }
        Some(self.test_value(v))
    }

    /// The common tests inline, in the matching loop; the rest out of line.
    #[inline]
    fn test_value(&self, v: &AttrValue) -> bool {
        match (&self.test, v) {
            (Test::StartsWith(prefix), AttrValue::Text(t)) => starts_with_lowered(t, prefix),
            (Test::Equals(o), _) => o.equals(v),
            (Test::Exists, _) => true,
            _ => self.test_other(v),
        }
    }

    #[inline(never)]
    fn test_other(&self, v: &AttrValue) -> bool {
        match &self.test {
            Test::Equals(o) => o.equals(v),
            Test::OneOf(os) => os.iter().any(|o| o.equals(v)),
            Test::Contains(needle) => match v {
                AttrValue::Text(t) => needle.found_in(t.as_bytes()),
                AttrValue::Number(n) => needle.found_in(n.to_string().as_bytes()),
            },
            Test::StartsWith(prefix) => match v {
                AttrValue::Text(t) => starts_with_lowered(t, prefix),
                AttrValue::Number(n) => n.to_string().starts_with(prefix.as_str()),
            },
            Test::Range(min, max) => v.as_number().is_some_and(|n| n >= *min && n <= *max),
            Test::Exists => true,
            Test::InList(set) => match v {
                AttrValue::Text(t) => set.contains(&t.trim().to_ascii_lowercase()),
                AttrValue::Number(n) => set.contains(&n.to_string()),
            },
        }
    }
}

/// An operand the predicate's operator does not read, if any: a mistake
/// (`equals` written with `values` meant `one_of`), refused by name.
fn unread_operand(c: &PredicateConfig) -> Option<&'static str> {
    let given = [
        ("value", c.value.is_some()),
        ("values", !c.values.is_empty()),
        ("min", c.min.is_some()),
        ("max", c.max.is_some()),
        ("list", c.list.is_some()),
    ];
    let reads: &[&str] = match c.op {
        Operator::Equals | Operator::Contains | Operator::StartsWith => &["value"],
        Operator::OneOf => &["values"],
        Operator::Range => &["min", "max"],
        Operator::Exists => &[],
        Operator::InList => &["list"],
    };
    given
        .iter()
        .find(|(f, set)| *set && !reads.contains(f))
        .map(|(f, _)| *f)
}

/// A `range` test: open bounds are infinite, the bounds must be ordered
/// (and not NaN).
fn range_test(min: Option<f64>, max: Option<f64>) -> Result<Test, ConfigErrorKind> {
    let (min, max) = (
        min.unwrap_or(f64::NEG_INFINITY),
        max.unwrap_or(f64::INFINITY),
    );
    if min.is_nan() || max.is_nan() || min > max {
        return Err(ConfigErrorKind::MinAboveMax { min, max });
    }
    Ok(Test::Range(min, max))
}

/// Reads the number forms people type into CRM fields: `1000`, `1,000`,
/// `12,345.67`, `1 000`, `1_000`, `$5,000`, `€300`, `500+`. Thousands
/// separators must group by three. Anything else is not a number.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = t.strip_suffix('+').unwrap_or(t).trim_end();
    let t = ["$", "€", "£"]
        .iter()
        .find_map(|c| t.strip_prefix(c))
        .unwrap_or(t)
        .trim_start();
    if let Ok(n) = t.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    // Thousands separators: one kind, groups of three after the first.
    let sep = [',', ' ', '_'].into_iter().find(|c| t.contains(*c))?;
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    let (int, sign) = match int.strip_prefix('-') {
        Some(rest) => (rest, "-"),
        None => (int, ""),
    };
    let mut groups = int.split(sep);
    let first = groups.next()?;
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if !(digits(first) && first.len() <= 3) {
        return None;
    }
    let mut joined = format!("{sign}{first}");
    for g in groups {
        if g.len() != 3 || !digits(g) {
            return None;
        }
        joined.push_str(g);
    }
    if let Some(f) = frac {
        if !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        joined.push('.');
        joined.push_str(f);
    }
    joined.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// An attribute by name. Activity attribute maps are small: a scan that
/// compares lengths first beats the tree search's string comparisons.
pub(crate) fn lookup<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a AttrValue> {
    if attrs.len() > 8 {
        return attrs.get(name);
    }
    attrs
        .iter()
        .find(|(k, _)| crate::hash::same_str(k, name))
        .map(|(_, v)| v)
}

/// Whether `text` equals `lowered` (already ASCII-lowercase) ignoring
/// ASCII case: stops at the first differing byte, and lowers only the
/// text's bytes (the operand was lowered when the config was compiled).
fn equals_lowered(text: &[u8], lowered: &[u8]) -> bool {
    text.len() == lowered.len()
        && text
            .iter()
            .zip(lowered)
            .all(|(a, b)| a == b || a.to_ascii_lowercase() == *b)
}

/// Whether `text` starts with `lowered` (already ASCII-lowercase),
/// ignoring ASCII case.
fn starts_with_lowered(text: &str, lowered: &str) -> bool {
    text.as_bytes()
        .get(..lowered.len())
        .is_some_and(|head| equals_lowered(head, lowered.as_bytes()))
}

/// A `contains` operand, compiled: lowered to ASCII lowercase, with its
/// Knuth–Morris–Pratt table, so that a search ignoring ASCII case is
/// linear in the text and allocates nothing (text without capitals goes
/// to `memmem`'s vectorized search instead).
#[derive(Debug, Clone)]
struct Needle {
    text: Vec<u8>,
    /// `fail[i]`: the length of the longest proper prefix of
    /// `text[..=i]` that is also its suffix.
    fail: Vec<usize>,
}

impl Needle {
    fn new(lowered: String) -> Self {
        let text = lowered.into_bytes();
        let mut fail = vec![0; text.len()];
        let mut k = 0;
        for i in 1..text.len() {
            let c = text.get(i).copied();
            while k > 0 && text.get(k).copied() != c {
                k = fail.get(k - 1).copied().unwrap_or(0);
            }
            if text.get(k).copied() == c {
                k += 1;
            }
            if let Some(f) = fail.get_mut(i) {
                *f = k;
            }
        }
        Self { text, fail }
    }

    /// Whether `hay` contains the needle, ignoring ASCII case (other bytes
    /// are compared exactly).
    fn found_in(&self, hay: &[u8]) -> bool {
        let p = &self.text;
        if p.len() > hay.len() {
            return false;
        }
        if !hay.iter().any(u8::is_ascii_uppercase) {
            return memchr::memmem::find(hay, p).is_some();
        }
        let mut k = 0;
        for &b in hay {
            let c = Some(b.to_ascii_lowercase());
            while k > 0 && p.get(k).copied() != c {
                k = self.fail.get(k - 1).copied().unwrap_or(0);
            }
            if p.get(k).copied() == c {
                k += 1;
                if k == p.len() {
                    return true;
                }
            }
        }
        p.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(max: usize) -> impl Strategy<Value = String> {
        let chars = prop_oneof![
            8 => proptest::sample::select(vec!['a', 'A', 'b', 'B']),
            1 => proptest::sample::select(vec!['é', 'É', '/']),
        ];
        proptest::collection::vec(chars, 0..max).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        /// The compiled search agrees with lowering both sides and
        /// searching naively, on texts with repeats and overlaps (`aab` in
        /// `aaab`), with and without capitals and non-ASCII letters.
        #[test]
        fn needle_search_equals_lowered_contains(hay in text(16), needle in text(5)) {
            let lowered = needle.to_ascii_lowercase();
            let want = hay.to_ascii_lowercase().contains(&lowered);
            prop_assert_eq!(Needle::new(lowered).found_in(hay.as_bytes()), want);
        }
    }

    /// Overlaps a search that restarts from scratch on a mismatch misses.
    #[test]
    fn needle_search_finds_overlapping_matches() {
        for (hay, needle, want) in [
            ("AAAB", "aab", true),
            ("xABABAC", "ababac", true),
            ("ABAABAAB", "abaab", true),
            ("ABABAB", "abac", false),
            ("Éa", "éa", false),
        ] {
            let got = Needle::new(needle.into()).found_in(hay.as_bytes());
            assert_eq!(got, want, "{needle:?} in {hay:?}");
        }
    }
}
