//! Behavioural scoring: rules compiled per kind, decay, caps and score cards (semantics on `ScoringConfig`).

mod state;

use crate::points::micros;
pub(crate) use state::{ActivityRef, ScoreMark, ScoreState};
pub use state::{CardEntry, GroupCard, ScoreCard};

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::{Lists, Predicate, PredicateConfig};
use crate::error::{ConfigError, ConfigErrorKind, unique_id};
use crate::hash::TextMap;
use crate::types::{Span, Symbol, Timestamp};

/// When a rule may fire again for the same lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Frequency {
    /// On every matching activity.
    #[default]
    Every,
    /// Once per lead.
    Once,
    /// At most once per span.
    Window(Span),
}

/// How points lose value over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DecayConfig {
    /// Exponential: half the points are gone after each half-life.
    HalfLife(Span),
    /// A percentage lost at every period boundary.
    PercentPerPeriod {
        /// The share lost per period, in (0, 100].
        percent: f64,
        /// The period.
        period: Span,
    },
    /// Points count only while younger than the span.
    ExpireAfter(Span),
}

/// A score group as written in configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's unique name.
    pub name: String,
    /// The lowest score the group can have.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::exact::option"
    )]
    pub min: Option<Decimal>,
    /// The highest score the group can have.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::exact::option"
    )]
    pub max: Option<Decimal>,
    /// The group's own decay (HubSpot: each score chooses its decay); the
    /// model's `decay` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<DecayConfig>,
}

/// Which activities a rule matches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenConfig {
    /// The activity kind (`page_view`, `form_submit`, …).
    pub kind: String,
    /// Predicates on the activity's attributes, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<PredicateConfig>,
    /// The activity's channel must equal this (ASCII case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The activity's campaign must equal this (ASCII case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// A scoring rule as written in configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A unique id, shown in score cards.
    pub id: String,
    /// Which activities it matches.
    pub when: WhenConfig,
    /// Points per firing, an exact decimal; negative points are
    /// first-class.
    #[serde(deserialize_with = "crate::exact::decimal")]
    pub points: Decimal,
    /// The group it adds to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// When it may fire again.
    #[serde(default)]
    pub frequency: Frequency,
    /// The most firings per lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// It matches activities at or after this time only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// It matches activities at or before this time only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
}

/// A scoring model as written in configs.
///
/// ```
/// use leadflow::ScoringConfig;
/// let config: ScoringConfig = serde_json::from_str(r#"{
///   "groups": [{"name": "engagement", "max": 150}],
///   "rules": [
///     {"id": "pricing", "when": {"kind": "page_view",
///       "attrs": [{"attr": "url", "op": "starts_with", "value": "/pricing"}]},
///      "points": 10, "frequency": {"window": "1d"}},
///     {"id": "unsubscribe", "when": {"kind": "email_unsubscribe"}, "points": -25}
///   ],
///   "decay": {"half_life": "30d"}
/// }"#).unwrap();
/// assert_eq!(config.rules.len(), 2);
/// ```
///
/// # Semantics
///
/// * **Matching.** A rule matches an activity of its `kind` whose attributes
///   satisfy every predicate (and whose `channel` / `campaign` equal the
///   rule's, when given), at a time inside the rule's optional validity
///   window. Rules are indexed by kind, so an activity costs work in
///   proportion to the rules of its kind only.
/// * **Frequency.** `every` (default) fires on each match; `once` fires once
///   per lead; `{"window": "1d"}` fires at most once per window (a match
///   fires if the rule's last firing for the lead is at least the window
///   ago). `max_count` caps the firings per lead.
/// * **Groups.** Each rule adds to one named group (default: the first
///   declared group, or `default` when none is declared). A lead has a score
///   per group; the total is the sum of the group scores.
/// * **Caps.** A group's score is its raw sum clamped to the group's
///   `min` / `max`; the total is clamped to `total_max`. Caps are applied
///   when the score is read, after decay, so they never depend on the order
///   events arrived in.
/// * **Exact points.** Points, caps, `total_max`, thresholds, bands and
///   adjustments are exact decimals with at most [`POINTS_DECIMALS`](crate::POINTS_DECIMALS) (6)
///   places and at most [`MAX_POINTS`](crate::MAX_POINTS) (10^12) in magnitude; anything else
///   is a config error (or a rejected event) naming the field. In JSON
///   write a number (`0.1` means the decimal 0.1: the shortest decimal
///   that prints as the number) or, for more than 15 significant digits, a
///   string (`"123456789012.123456"`). Without decay, and under
///   `expire_after`, a score is an exact sum (ten +0.1 are exactly 1) and a
///   threshold compares exactly. Values are held in whole millionths in
///   128-bit integers: bounded inputs can never overflow, so a score is
///   never infinite, NaN or saturated. Reported values ([`ScoreCard`],
///   `Outcome::points`, `Engine::score`) are `rust_decimal::Decimal`s, which
///   serialize as strings (`"12.5"`), exact.
/// * **Decay** (one mode for the model, none by default, and optionally
///   one per group: a group's `decay` replaces the model's for its
///   points), evaluated at the time the score is read; a contribution
///   counts from its own time on:
///   `{"half_life": "30d"}`: points × 2^(−age / half-life);
///   `{"percent_per_period": {"percent": 10, "period": "30d"}}`: points lose
///   `percent` at every period boundary after they were earned, boundaries
///   aligned to the Unix epoch (like a scheduled decay job);
///   `{"expire_after": "90d"}`: points count while younger than the span.
///   Under half-life and percentage decay a group's value is real: it is
///   folded contribution by contribution (`v ← v × factor(previous, now) +
///   points`, in `f64`) and the value at a time `t` is `v × factor(last,
///   t)` rounded to six places (half away from zero). Qualification, the
///   score card, `score` and `priority` all read that one rounded number,
///   so a rule fires exactly when the card's total reaches its threshold.
///   A `set` is points earned at its time like any other: it decays, and
///   under `expire_after` it expires (a set of 80 under a 1-day expiry reads
///   0 two days later) — the score was made 80 *then*.
/// * **Manual adjustments** are events: `add` and `subtract` are
///   contributions like any other (they decay too); `set` replaces the
///   group's contributions so far with one of the given value; `reset` is
///   `set` to zero (of one group, or of every group when none is named). What
///   a `set` or `reset` replaced is gone from the score card too, so the card
///   and the score never drift apart.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    /// The groups; none declared means one group named `default`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupConfig>,
    /// The rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    /// The highest total score.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::exact::option"
    )]
    pub total_max: Option<Decimal>,
    /// How points decay (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<DecayConfig>,
}

/// `to - from`, exactly as chrono computes it; two times on one date (the
/// usual case for a lead's consecutive contributions) skip the calendar
/// arithmetic, whose part is then zero.
pub(crate) fn age(from: Timestamp, to: Timestamp) -> chrono::TimeDelta {
    let (earlier, later) = (from.naive_utc(), to.naive_utc());
    if earlier.date() == later.date() {
        later.time() - earlier.time()
    } else {
        later - earlier
    }
}

/// The compiled decay mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decay {
    None,
    HalfLife { secs: f64 },
    Periodic { keep: f64, period: i64 },
    Expire { secs: i64 },
}

impl Decay {
    /// The factor points earned at `from` keep at `to` (`to >= from`).
    pub(crate) fn factor(self, from: Timestamp, to: Timestamp) -> f64 {
        match self {
            Decay::None => 1.0,
            Decay::HalfLife { secs } => (-age(from, to).as_seconds_f64() / secs).exp2(),
            Decay::Periodic { keep, period } => {
                let k = to.timestamp().div_euclid(period) - from.timestamp().div_euclid(period);
                keep.powi(i32::try_from(k).unwrap_or(i32::MAX))
            }
            Decay::Expire { secs } => {
                if age(from, to).num_seconds() < secs {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    channel: Option<String>,
    campaign: Option<String>,
    frequency: Frequency,
    max_count: Option<u32>,
    valid_from: Option<Timestamp>,
    valid_until: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    /// The caps in millionths (`i128::MIN` / `i128::MAX` when none).
    pub(crate) min: i128,
    pub(crate) max: i128,
    /// The group's decay (its own, or the model's).
    pub(crate) decay: Decay,
}

/// A compiled scoring model.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) rules: Vec<Rule>,
    pub(crate) groups: Vec<Group>,
    /// The total of a lead with no contributions: each group's 0 clamped
    /// to its caps.
    pub(crate) zero_total: i128,
    /// In millionths; `i128::MAX` when none.
    pub(crate) total_max: i128,
    pub(crate) decay: Decay,
    /// Whether some group's contributions expire (`expire_after`): only
    /// then must a query drop expired contributions first.
    pub(crate) has_expiry: bool,
    kinds: KindTable,
}

/// The rules of each activity kind the model names, found by the kind's
/// text, or by address for the model's own copy of it (the symbol
/// [`Model::symbol`] hands out): a text that sits at the address and length
/// of one of the model's own is that text, and the model holds its copies
/// for as long as it lives, so the address is never another's.
#[derive(Debug, Clone, Default)]
struct KindTable {
    /// Each kind's own copy and its rules.
    kinds: Vec<(Symbol, KindIndex)>,
    by_text: TextMap<Symbol, u32>,
    /// Open addressing by the address of each kind's text (Fibonacci
    /// hashing, linear probing): a position in `kinds` plus one, 0 when
    /// free. At least twice as many slots as kinds, a power of two.
    by_address: Box<[u32]>,
}

impl KindTable {
    fn new(kinds: Vec<(Symbol, KindIndex)>) -> Self {
        let size = (kinds.len() * 2).next_power_of_two().max(8);
        let mut by_address = vec![0u32; size].into_boxed_slice();
        let mut by_text = HashMap::default();
        for (i, (name, _)) in kinds.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            by_text.insert(name.clone(), i);
            let mut slot = address_home(name.as_ptr(), size);
            // Free slots outnumber kinds: the probe ends at one.
            for _ in 0..size {
                match by_address.get_mut(slot) {
                    Some(s) if *s == 0 => {
                        *s = i.saturating_add(1);
                        break;
                    }
                    _ => slot = (slot + 1) & (size - 1),
                }
            }
        }
        Self {
            kinds,
            by_text,
            by_address,
        }
    }

    fn get(&self, kind: &str) -> Option<&KindIndex> {
        let size = self.by_address.len();
        let mut slot = address_home(kind.as_ptr(), size);
        // Ends at a free slot (there is always one), or after every slot.
        for _ in 0..size {
            let Some((own, index)) = self
                .by_address
                .get(slot)
                .and_then(|s| s.checked_sub(1))
                .and_then(|i| self.kinds.get(i as usize))
            else {
                break;
            };
            if own.as_ptr() == kind.as_ptr() && own.len() == kind.len() {
                return Some(index);
            }
            slot = (slot + 1) & (size - 1);
        }
        let i = *self.by_text.get(kind)?;
        self.kinds.get(i as usize).map(|(_, index)| index)
    }

    fn symbol(&self, kind: &str) -> Option<&Symbol> {
        let i = *self.by_text.get(kind)?;
        self.kinds.get(i as usize).map(|(name, _)| name)
    }
}

/// The home slot of a text's address in a table of `size` slots (a power
/// of two): the top bits of a Fibonacci product, which mix every bit of the
/// address (texts allocated side by side differ in few bits).
fn address_home(ptr: *const u8, size: usize) -> usize {
    let bits = size.trailing_zeros();
    if bits == 0 {
        return 0;
    }
    ((ptr as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// The rules of one activity kind and the attributes they read.
#[derive(Debug, Clone, Default)]
pub(crate) struct KindIndex {
    pub(crate) rules: Vec<Candidate>,
    pub(crate) attrs: Vec<String>,
    /// The candidates' predicates, each with the slot of its attribute in
    /// `attrs`, side by side: matching an activity walks two flat lists
    /// and never reaches into the rules themselves.
    pub(crate) preds: Vec<(usize, Predicate)>,
}

/// A [`KindCache`] has `2^KIND_CACHE_BITS` slots.
const KIND_CACHE_BITS: u32 = 6;
const KIND_CACHE_SLOTS: usize = 1 << KIND_CACHE_BITS;
/// Slots a [`KindCache`] lookup tries, from the kind's own on.
const KIND_CACHE_PROBES: usize = 4;

/// The kinds one fold has looked up, by the address and length of their
/// text. A log's events share their kinds' text (the NDJSON reader interns
/// it, and a `Symbol` cloned from one event to the next is one text), so
/// most activities skip hashing their kind. An address names one text only
/// while that text is alive: a cache lives for one pass over a borrowed
/// log, never longer.
#[derive(Debug)]
pub(crate) struct KindCache<'m> {
    slots: [Option<(usize, usize, Option<&'m KindIndex>)>; KIND_CACHE_SLOTS],
}

impl Default for KindCache<'_> {
    fn default() -> Self {
        Self {
            slots: [None; KIND_CACHE_SLOTS],
        }
    }
}

/// A rule as its kind's matching loop reads it: what it adds, and flags
/// that let the loop skip the checks most rules do not have.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) rule: u32,
    /// Millionths of a point.
    pub(crate) points: i64,
    pub(crate) group: u16,
    /// A frequency or count limit: the rule's firings must be counted.
    pub(crate) limited: bool,
    /// A validity window, a channel or a campaign to check.
    pub(crate) guarded: bool,
    /// The rule's predicates: `preds[from..to]` of the kind's index.
    pub(crate) from: u32,
    pub(crate) to: u32,
}

/// Compiles a decay config found at `path` (`scoring.decay`,
/// `scoring.groups[1].decay`).
fn compile_decay(config: Option<DecayConfig>, path: &str) -> Result<Decay, ConfigError> {
    let err = |p: String, k| ConfigError::new(p, k);
    match config {
        None => Ok(Decay::None),
        Some(DecayConfig::HalfLife(h)) => {
            if h.is_zero() {
                return Err(err(
                    format!("{path}.half_life"),
                    ConfigErrorKind::ZeroDuration,
                ));
            }
            Ok(Decay::HalfLife {
                secs: h.as_secs() as f64,
            })
        }
        Some(DecayConfig::PercentPerPeriod { percent, period }) => {
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(err(
                    format!("{path}.percent_per_period.percent"),
                    ConfigErrorKind::OutOfRange {
                        value: percent.to_string(),
                        expected: "a percentage in (0, 100]".into(),
                    },
                ));
            }
            if period.is_zero() {
                return Err(err(
                    format!("{path}.percent_per_period.period"),
                    ConfigErrorKind::ZeroDuration,
                ));
            }
            Ok(Decay::Periodic {
                keep: 1.0 - percent / 100.0,
                period: period.as_secs(),
            })
        }
        Some(DecayConfig::ExpireAfter(s)) => {
            if s.is_zero() {
                return Err(err(
                    format!("{path}.expire_after"),
                    ConfigErrorKind::ZeroDuration,
                ));
            }
            Ok(Decay::Expire { secs: s.as_secs() })
        }
    }
}

/// A point value in millionths, or an error at `scoring.{path}`.
fn points_at(path: &str, v: Decimal, what: &str) -> Result<i128, ConfigError> {
    micros(v).map_err(|problem| {
        ConfigError::new(
            format!("scoring.{path}"),
            ConfigErrorKind::OutOfRange {
                value: v.to_string(),
                expected: problem.expected(what),
            },
        )
    })
}

/// The groups (a `default` one when none is given), each with its caps
/// and decay, and their index by name.
fn compile_groups(
    configs: &[GroupConfig],
    decay: Decay,
) -> Result<(Vec<Group>, HashMap<&str, usize>), ConfigError> {
    let err = |p: String, k| ConfigError::new(format!("scoring.{p}"), k);
    let mut groups: Vec<Group> = Vec::with_capacity(configs.len());
    let mut group_at: HashMap<&str, usize> = HashMap::with_capacity(configs.len());
    for (i, g) in configs.iter().enumerate() {
        if g.name.trim().is_empty() {
            return Err(err(format!("groups[{i}].name"), ConfigErrorKind::EmptyName));
        }
        if group_at.insert(g.name.as_str(), i).is_some() {
            return Err(err(
                format!("groups[{i}].name"),
                ConfigErrorKind::DuplicateId { id: g.name.clone() },
            ));
        }
        let min = match g.min {
            Some(v) => points_at(&format!("groups[{i}].min"), v, "min")?,
            None => i128::MIN,
        };
        let max = match g.max {
            Some(v) => points_at(&format!("groups[{i}].max"), v, "max")?,
            None => i128::MAX,
        };
        if min > max {
            return Err(err(
                format!("groups[{i}].min"),
                ConfigErrorKind::CapsInverted {
                    min: g.min.unwrap_or_default(),
                    max: g.max.unwrap_or_default(),
                },
            ));
        }
        let group_decay = match g.decay {
            Some(d) => compile_decay(Some(d), &format!("scoring.groups[{i}].decay"))?,
            None => decay,
        };
        groups.push(Group {
            name: g.name.clone(),
            min,
            max,
            decay: group_decay,
        });
    }
    if groups.is_empty() {
        groups.push(Group {
            name: "default".into(),
            min: i128::MIN,
            max: i128::MAX,
            decay,
        });
        group_at.insert("default", 0);
    }
    if groups.len() > usize::from(u16::MAX) {
        return Err(err(
            "groups".into(),
            ConfigErrorKind::OutOfRange {
                value: groups.len().to_string(),
                expected: "at most 65535 groups".into(),
            },
        ));
    }
    Ok((groups, group_at))
}

/// Checks rule `i` on its own: a kind, points in range, a known group, a
/// validity window in order, a positive frequency window and count.
/// Returns its points and group.
fn check_rule(
    r: &RuleConfig,
    i: usize,
    group_at: &HashMap<&str, usize>,
) -> Result<(i64, u16), ConfigError> {
    let p = |f: &str| format!("rules[{i}]{f}");
    let err = |p: String, k| ConfigError::new(format!("scoring.{p}"), k);
    if r.when.kind.trim().is_empty() {
        return Err(err(p(".when.kind"), ConfigErrorKind::EmptyName));
    }
    // At most 10^18 millionths: fits an i64.
    let rule_points = points_at(&p(".points"), r.points, "points")? as i64;
    let group = match &r.group {
        None => 0,
        Some(name) => group_at.get(name.as_str()).copied().ok_or_else(|| {
            err(
                p(".group"),
                ConfigErrorKind::Unknown {
                    what: "score group".into(),
                    name: name.clone(),
                },
            )
        })?,
    };
    if let (Some(a), Some(b)) = (r.valid_from, r.valid_until)
        && a > b
    {
        return Err(err(
            p(".valid_from"),
            ConfigErrorKind::WindowInverted { from: a, until: b },
        ));
    }
    if let Frequency::Window(w) = r.frequency
        && w.is_zero()
    {
        return Err(err(p(".frequency.window"), ConfigErrorKind::ZeroDuration));
    }
    if r.max_count == Some(0) {
        return Err(err(
            p(".max_count"),
            ConfigErrorKind::OutOfRange {
                value: "0".into(),
                expected: "at least 1".into(),
            },
        ));
    }
    Ok((rule_points, u16::try_from(group).unwrap_or(u16::MAX)))
}

impl Model {
    pub(crate) fn compile(c: &ScoringConfig, lists: &Lists) -> Result<Self, ConfigError> {
        let decay = compile_decay(c.decay, "scoring.decay")?;
        // Compiling is linear in the config: names and ids are checked and
        // looked up through hash maps, not by scanning what came before.
        let (groups, group_at) = compile_groups(&c.groups, decay)?;
        let total_max = match c.total_max {
            Some(v) => points_at("total_max", v, "total_max")?,
            None => i128::MAX,
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(c.rules.len());
        // Kinds in the order the rules first name them (the table is the
        // same for the same config), found by name while compiling.
        let mut kinds: Vec<(Symbol, KindIndex)> = Vec::new();
        let mut kind_at: HashMap<&str, usize> = HashMap::new();
        let mut rule_ids: HashSet<&str> = HashSet::with_capacity(c.rules.len());
        // The slot of each (kind, attribute) in its kind's attribute list.
        let mut slots: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, r) in c.rules.iter().enumerate() {
            unique_id(&mut rule_ids, &r.id, || format!("scoring.rules[{i}].id"))?;
            let (rule_points, group) = check_rule(r, i, &group_at)?;
            let at = *kind_at.entry(r.when.kind.as_str()).or_insert_with(|| {
                kinds.push((Symbol::from(r.when.kind.as_str()), KindIndex::default()));
                kinds.len() - 1
            });
            let Some((_, index)) = kinds.get_mut(at) else {
                continue;
            };
            let from = index.preds.len();
            for (j, pc) in r.when.attrs.iter().enumerate() {
                let pred =
                    Predicate::compile(pc, lists, &format!("scoring.rules[{i}].when.attrs[{j}]"))?;
                let slot = *slots
                    .entry((r.when.kind.as_str(), pc.attr.as_str()))
                    .or_insert_with(|| {
                        index.attrs.push(pred.attr().to_owned());
                        index.attrs.len() - 1
                    });
                // An activity's attributes are looked up once per name,
                // however many of its kind's rules test them.
                index.preds.push((slot, pred));
            }
            let rule = Rule {
                id: r.id.clone(),
                channel: r.when.channel.clone(),
                campaign: r.when.campaign.clone(),
                frequency: r.frequency,
                max_count: r.max_count,
                valid_from: r.valid_from,
                valid_until: r.valid_until,
            };
            index.rules.push(Candidate {
                rule: u32::try_from(rules.len()).unwrap_or(u32::MAX),
                points: rule_points,
                group,
                limited: rule.is_limited(),
                guarded: rule.is_guarded(),
                from: u32::try_from(from).unwrap_or(u32::MAX),
                to: u32::try_from(index.preds.len()).unwrap_or(u32::MAX),
            });
            rules.push(rule);
        }
        let zero_total = groups.iter().map(|g| 0i128.clamp(g.min, g.max)).sum();
        let has_expiry = groups
            .iter()
            .any(|g| matches!(g.decay, Decay::Expire { .. }));
        Ok(Self {
            has_expiry,
            rules,
            groups,
            zero_total,
            total_max,
            decay,
            kinds: KindTable::new(kinds),
        })
    }

    /// The rules that can match an activity kind, and what they read.
    pub(crate) fn candidates(&self, kind: &str) -> Option<&KindIndex> {
        self.kinds.get(kind)
    }

    /// The model's own copy of a kind its rules name.
    pub(crate) fn symbol(&self, kind: &str) -> Option<&Symbol> {
        self.kinds.symbol(kind)
    }

    /// The model's own copies of the kinds its rules name.
    pub(crate) fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.kinds.kinds.iter().map(|(name, _)| name)
    }

    /// [`candidates`](Self::candidates), answered from `cache` when this
    /// very text (its address and length) was looked up before.
    pub(crate) fn candidates_cached<'m>(
        &'m self,
        kind: &str,
        cache: &mut KindCache<'m>,
    ) -> Option<&'m KindIndex> {
        let key = (kind.as_ptr() as usize, kind.len());
        let home = address_home(kind.as_ptr(), KIND_CACHE_SLOTS);
        // A few slots from home on, so that two kinds whose addresses land
        // on one slot do not evict each other at every activity.
        let mut free = None;
        for probe in 0..KIND_CACHE_PROBES {
            let slot = (home + probe) % KIND_CACHE_SLOTS;
            match cache.slots.get(slot) {
                Some(Some((ptr, len, found))) if (*ptr, *len) == key => return *found,
                Some(None) => {
                    free = Some(slot);
                    break;
                }
                _ => {}
            }
        }
        let found = self.candidates(kind);
        if let Some(s) = cache.slots.get_mut(free.unwrap_or(home)) {
            *s = Some((key.0, key.1, found));
        }
        found
    }

    /// The decay of group `g` (its own, or the model's).
    pub(crate) fn decay_of(&self, g: u16) -> Decay {
        self.groups
            .get(usize::from(g))
            .map_or(self.decay, |grp| grp.decay)
    }

    /// `raw` clamped to group `g`'s caps.
    pub(crate) fn clamp(&self, g: u16, raw: i128) -> i128 {
        self.groups
            .get(usize::from(g))
            .map_or(raw, |grp| raw.clamp(grp.min, grp.max))
    }

    /// The sum of the capped group scores, and that sum under the total
    /// cap, from each group's raw value.
    pub(crate) fn total(&self, raws: &[i128]) -> (i128, i128) {
        let uncapped: i128 = raws
            .iter()
            .enumerate()
            .map(|(g, raw)| self.clamp(g as u16, *raw))
            .sum();
        (uncapped, uncapped.min(self.total_max))
    }

    pub(crate) fn group_index(&self, name: &str) -> Option<u16> {
        self.groups
            .iter()
            .position(|g| g.name == name)
            .map(|i| i as u16)
    }

    pub(crate) fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }
}

impl Rule {
    /// Whether the rule checks the activity's time, channel or campaign
    /// (beside its predicates).
    pub(crate) fn is_guarded(&self) -> bool {
        self.valid_from.is_some()
            || self.valid_until.is_some()
            || self.channel.is_some()
            || self.campaign.is_some()
    }

    /// Whether the activity's time, channel and campaign are ones the rule
    /// scores (its predicates aside).
    pub(crate) fn guards_pass(
        &self,
        at: Timestamp,
        channel: Option<&str>,
        campaign: Option<&str>,
    ) -> bool {
        let same = |want: &Option<String>, got: Option<&str>| match want {
            None => true,
            Some(w) => got.is_some_and(|g| g.eq_ignore_ascii_case(w)),
        };
        self.valid_from.is_none_or(|f| at >= f)
            && self.valid_until.is_none_or(|u| at <= u)
            && same(&self.channel, channel)
            && same(&self.campaign, campaign)
    }

    /// Whether the rule's firings must be counted (a frequency or count
    /// limit).
    pub(crate) fn is_limited(&self) -> bool {
        self.max_count.is_some() || self.frequency != Frequency::Every
    }

    /// Whether the frequency policy lets the rule fire, given its firings.
    pub(crate) fn allows(&self, at: Timestamp, count: u32, last: Option<Timestamp>) -> bool {
        if self.max_count.is_some_and(|m| count >= m) {
            return false;
        }
        match self.frequency {
            Frequency::Every => true,
            Frequency::Once => count == 0,
            Frequency::Window(w) => last.is_none_or(|l| age(l, at).num_seconds() >= w.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use proptest::prelude::*;

    /// A time on one of a few days (so that pairs often share a date),
    /// leap seconds included (nanoseconds past 10^9 at 23:59:59).
    fn time() -> impl Strategy<Value = Timestamp> {
        (0i64..4, 0u32..86_400, 0u32..2_000_000_000).prop_map(|(day, secs, nanos)| {
            let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(day as u64);
            let nanos = if secs == 86_399 {
                nanos
            } else {
                nanos % 1_000_000_000
            };
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).unwrap();
            Utc.from_utc_datetime(&date.and_time(t))
        })
    }

    proptest! {
        /// The short cut for two times on one date is chrono's own
        /// subtraction, to the nanosecond (leap seconds included).
        #[test]
        fn age_is_chronos_subtraction(a in time(), b in time()) {
            prop_assert_eq!(age(a, b), b - a);
            prop_assert_eq!(age(b, a), a - b);
        }
    }
}
