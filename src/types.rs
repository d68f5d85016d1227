//! Small vocabulary types shared by every part of the crate: identifiers,
//! time spans, actors, sources and reasons.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A point in time. The library never reads a clock: every operation takes
/// the time it is about as an argument.
pub type Timestamp = DateTime<Utc>;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Cheap to clone: the text is shared (`Arc<str>`), so recording an
        /// id in a transition or an error does not copy it.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Creates the identifier from any string.
            pub fn new(id: impl Into<String>) -> Self {
                Self(Arc::from(id.into()))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(Arc::from(id))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(Arc::from(id.as_str()))
            }
        }

        impl From<Box<str>> for $name {
            fn from(id: Box<str>) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<Arc<str>> for $name {
            fn from(id: Arc<str>) -> Self {
                Self(id)
            }
        }

        impl From<std::borrow::Cow<'_, str>> for $name {
            fn from(id: std::borrow::Cow<'_, str>) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// The host's identifier of a lead (or of an anonymous visitor before it
    /// is identified).
    LeadId
);
string_id!(
    /// A name that recurs across events: an activity's kind, channel or
    /// campaign (`page_view`, `email`, `spring-launch`).
    ///
    /// A million page views share one copy of `page_view` when they are
    /// read by an [`EventReader`](crate::EventReader), which interns the
    /// names it reads; built by hand, each is its own copy unless cloned.
    ///
    /// ```
    /// use leadflow::Symbol;
    /// let kind = Symbol::from("page_view");
    /// assert_eq!(kind, "page_view");
    /// assert!("page_view" == kind && kind == String::from("page_view"));
    /// assert_eq!(serde_json::to_string(&kind)?, r#""page_view""#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    Symbol
);

// A symbol compares with text directly (`kind == "page_view"`). The ids
// do not: equality with several types would leave `vec!["a".into()]`
// without a type to infer in comparisons.
impl PartialEq<str> for Symbol {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Symbol {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Symbol {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Symbol> for String {
    fn eq(&self, other: &Symbol) -> bool {
        self.as_str() == &*other.0
    }
}

impl PartialEq<Symbol> for str {
    fn eq(&self, other: &Symbol) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Symbol> for &str {
    fn eq(&self, other: &Symbol) -> bool {
        *self == &*other.0
    }
}

string_id!(
    /// The host's identifier of an event. Two events with the same id are the
    /// same event: the second one to arrive changes nothing.
    EventId
);

/// A length of time in whole seconds.
///
/// In configs a span is written as a plain number of seconds or as a string
/// with one unit: `"90s"`, `"30m"`, `"24h"`, `"7d"`, `"2w"`.
///
/// ```
/// use leadflow::Span;
/// assert_eq!(Span::parse("24h")?, Span::hours(24));
/// assert_eq!(Span::days(7).to_string(), "1w");
/// # Ok::<(), leadflow::SpanError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    secs: i64,
}

/// The longest span the crate accepts: `u32::MAX` days (about 11.8
/// million years), so that every constructor taking a `u32` is total,
/// and far below the range where date arithmetic could overflow (chrono's
/// durations reach 2.9 · 10^11 years).
const MAX_SPAN_SECS: i64 = u32::MAX as i64 * 86_400;

/// A span that could not be read or converted, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid span {text:?}: expected {expected}")]
pub struct SpanError {
    text: String,
    expected: &'static str,
}

/// What a span written as text must be.
const SPAN_TEXT: &str = "a whole number of seconds or a number with one unit of s, m, h, d, w (e.g. \"24h\"), at most 4294967295 days";

/// What a duration converted to a span must be.
const SPAN_DURATION: &str = "a whole, non-negative number of seconds, at most 4294967295 days (spans are never negative, fractional or clamped)";

impl Span {
    /// A span of `secs` seconds. Every `u32` is a valid span: nothing is
    /// clamped.
    pub const fn seconds(secs: u32) -> Self {
        Self { secs: secs as i64 }
    }

    /// A span of whole minutes.
    pub const fn minutes(n: u32) -> Self {
        Self {
            secs: n as i64 * 60,
        }
    }

    /// A span of whole hours.
    pub const fn hours(n: u32) -> Self {
        Self {
            secs: n as i64 * 3_600,
        }
    }

    /// A span of whole days (of 24 hours).
    pub const fn days(n: u32) -> Self {
        Self {
            secs: n as i64 * 86_400,
        }
    }

    /// The span divided by `n` (rounded down); within range whenever the
    /// span is.
    pub(crate) const fn divided(self, n: i64) -> Self {
        Self {
            secs: if n > 0 { self.secs / n } else { self.secs },
        }
    }

    /// The span in seconds.
    pub const fn as_secs(self) -> i64 {
        self.secs
    }

    /// Whether the span is zero.
    pub const fn is_zero(self) -> bool {
        self.secs == 0
    }

    /// The span as a chrono duration.
    pub fn to_delta(self) -> TimeDelta {
        TimeDelta::new(self.secs, 0).unwrap_or(TimeDelta::MAX)
    }

    /// Reads a span written as in configs (`"24h"`, `"86400"`, `"7d"`).
    ///
    /// # Errors
    /// [`SpanError`] when the text is not a whole number with at most one
    /// unit, or exceeds `u32::MAX` days.
    pub fn parse(text: &str) -> Result<Self, SpanError> {
        let err = || SpanError {
            text: text.to_owned(),
            expected: SPAN_TEXT,
        };
        let t = text.trim();
        let (digits, unit) = match t.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
            _ => (t, None),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        let mul = match unit {
            None | Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3_600,
            Some('d') => 86_400,
            Some('w') => 604_800,
            Some(_) => return Err(err()),
        };
        match n.checked_mul(mul) {
            Some(secs) if secs <= MAX_SPAN_SECS => Ok(Self { secs }),
            _ => Err(err()),
        }
    }

    /// `at + self`, or `None` past the end of representable time.
    pub(crate) fn after(self, at: Timestamp) -> Option<Timestamp> {
        at.checked_add_signed(self.to_delta())
    }
}

impl From<Span> for TimeDelta {
    fn from(span: Span) -> Self {
        span.to_delta()
    }
}

impl From<Span> for std::time::Duration {
    fn from(span: Span) -> Self {
        // A span is never negative.
        std::time::Duration::from_secs(span.secs.unsigned_abs())
    }
}

impl TryFrom<TimeDelta> for Span {
    type Error = SpanError;
    /// Whole seconds from 0 to `u32::MAX` days; anything else is an error (never
    /// clamped or truncated).
    fn try_from(delta: TimeDelta) -> Result<Self, SpanError> {
        let secs = delta.num_seconds();
        if delta.subsec_nanos() != 0 || !(0..=MAX_SPAN_SECS).contains(&secs) {
            return Err(SpanError {
                text: delta.to_string(),
                expected: SPAN_DURATION,
            });
        }
        Ok(Self { secs })
    }
}

impl TryFrom<std::time::Duration> for Span {
    type Error = SpanError;
    /// Whole seconds up to `u32::MAX` days; anything else is an error (never clamped
    /// or truncated).
    fn try_from(d: std::time::Duration) -> Result<Self, SpanError> {
        match i64::try_from(d.as_secs()) {
            Ok(secs) if d.subsec_nanos() == 0 && secs <= MAX_SPAN_SECS => Ok(Self { secs }),
            _ => Err(SpanError {
                text: format!("{d:?}"),
                expected: SPAN_DURATION,
            }),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
            if self.secs != 0 && self.secs % size == 0 {
                return write!(f, "{}{unit}", self.secs / size);
            }
        }
        write!(f, "{}s", self.secs)
    }
}

impl std::str::FromStr for Span {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a span such as \"24h\" or a whole number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Span, E> {
                Span::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Span, E> {
                Span::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Span, E> {
                Span::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Who made a change happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A marketer, or marketing automation acting for one.
    Marketing,
    /// A sales rep or sales development rep.
    Sales,
    /// The library's own rules (qualification firings).
    System,
    /// Another system: an import, a sync, an API client.
    Integration,
}

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Generated by marketing programs (inbound, campaigns).
    Marketing,
    /// Found by sales (outbound prospecting, referrals to a rep).
    Sales,
    /// Registered by a partner or reseller.
    Partner,
    /// Anything else.
    Other,
}

impl Source {
    /// The name configs and events use (`marketing`, `sales`, `partner`,
    /// `other`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Sales => "sales",
            Self::Partner => "partner",
            Self::Other => "other",
        }
    }
}

/// The closed set of reason codes a stage move can carry.
///
/// Moving down (recycle, regress) and entering a lost or disqualified stage
/// require one, so that marketing learns why sales turned a lead back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// The lead met the qualification bar (a rule or a person said so).
    Qualified,
    /// A configured qualification rule fired; the note names the rule.
    RuleFired,
    /// Interested, but not now.
    Timing,
    /// No budget.
    NoBudget,
    /// Not the person who decides.
    NoAuthority,
    /// No need for the product.
    NoNeed,
    /// Outside the ideal customer profile.
    PoorFit,
    /// Did not answer.
    Unresponsive,
    /// Chose or is locked into a competitor.
    Competitor,
    /// Already known as another lead.
    Duplicate,
    /// Contact data is fake or wrong.
    InvalidData,
    /// Sent back to marketing for nurturing.
    Nurture,
    /// Anything else; say what in the note.
    Other,
}

/// Why a stage move happened: a closed code and an optional free-text note.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The reason code.
    pub code: ReasonCode,
    /// Free text: the rule id for [`ReasonCode::RuleFired`], a rep's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Reason {
    /// A reason with a code and no note.
    pub fn new(code: ReasonCode) -> Self {
        Self { code, note: None }
    }

    /// The same reason with a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

impl From<ReasonCode> for Reason {
    fn from(code: ReasonCode) -> Self {
        Self::new(code)
    }
}

/// Writes a unit enum variant by its serde name (`no_budget`, `due_soon`):
/// what people print is what configs and events say.
pub(crate) fn write_serde_name<T: Serialize + fmt::Debug>(
    value: &T,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    match serde_json::to_value(value) {
        // `pad`: width and alignment (`{:>12}`) apply as for a string.
        Ok(serde_json::Value::String(name)) => f.pad(&name),
        _ => write!(f, "{value:?}"),
    }
}

/// `Display` by serde name for unit enums.
macro_rules! display_by_serde_name {
    ($($t:ty),* $(,)?) => {
        $(
            impl std::fmt::Display for $t {
                /// The serde name (`snake_case`), as configs and events write it.
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    $crate::types::write_serde_name(self, f)
                }
            }
        )*
    };
}
pub(crate) use display_by_serde_name;

display_by_serde_name!(Actor, Source, ReasonCode);
