//! Lead events: everything that happens to a lead is one, and a lead's state
//! is the fold of its events.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::Attrs;
use crate::points::{PointsProblem, micros};
use crate::types::{Actor, EventId, LeadId, Reason, Source, Symbol, Timestamp};

/// The largest deal amount (10^15): every sum of amounts a report makes
/// stays far inside `Decimal`'s range.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// The most decimal places a deal amount may have (6): with amounts of at
/// most [`MAX_AMOUNT`], sums of up to ten million amounts stay exact within
/// `Decimal`'s 28 digits.
pub const MAX_AMOUNT_DECIMALS: u32 = 6;

/// Something that happened to a lead at a point in time.
///
/// Events are identified by `id`: a second event with an id already seen by
/// the lead changes nothing. The state after a set of events is the fold over
/// the set sorted by `(at, id)`, whatever order the events arrived in.
///
/// In JSON (one event per line in NDJSON streams):
///
/// ```
/// let line = r#"{"id": "e1", "lead": "ada@acme.test", "at": "2026-03-02T09:00:00Z",
///               "body": {"type": "advanced", "to": "MQL", "actor": "marketing"}}"#;
/// let event: leadflow::Event = serde_json::from_str(line).unwrap();
/// assert_eq!(event.lead.as_str(), "ada@acme.test");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The event's unique id.
    pub id: EventId,
    /// The lead (or anonymous visitor) it happened to.
    pub lead: LeadId,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub body: EventBody,
}

impl Event {
    /// An event from its parts.
    pub fn new(
        id: impl Into<EventId>,
        lead: impl Into<LeadId>,
        at: Timestamp,
        body: EventBody,
    ) -> Self {
        Self {
            id: id.into(),
            lead: lead.into(),
            at,
            body,
        }
    }

    /// The sort key of the fold: `(at, id)`.
    pub(crate) fn key(&self) -> (Timestamp, &EventId) {
        (self.at, &self.id)
    }
}

/// What happened to a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum EventBody {
    /// The lead became known, at a stage (a sales-sourced lead may enter
    /// directly at SQL or Opportunity; the stages it jumped over are recorded
    /// as skipped). A second `created` never moves a lead down and never
    /// changes the source already recorded.
    Created {
        /// The stage it enters.
        stage: String,
        /// Where it came from.
        source: Source,
        /// Who created it.
        actor: Actor,
    },
    /// An ordinary move forward by rank.
    Advanced {
        /// The target stage.
        to: String,
        /// Who moved it.
        actor: Actor,
        /// Why (required when entering a lost or disqualified stage).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
    },
    /// Sent to the recycled stage; starts a new cycle.
    Recycled {
        /// Who recycled it.
        actor: Actor,
        /// Why.
        reason: Reason,
    },
    /// Moved down to a lower open or SLA stage, in the same cycle.
    Regressed {
        /// The target stage.
        to: String,
        /// Who moved it.
        actor: Actor,
        /// Why.
        reason: Reason,
    },
    /// The lead was identified as the anonymous `visitor`: the visitor's
    /// events (past and future) belong to this lead from now on.
    Identified {
        /// The visitor's id.
        visitor: LeadId,
    },
    /// Something the lead did: a page view, an email click, a form submit.
    /// Scored by the scoring rules of its kind.
    Activity {
        /// The activity kind (`page_view`, `email_click`, …; an open set).
        kind: Symbol,
        /// The marketing channel, if known (`email`, `paid_search`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Symbol>,
        /// The campaign, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign: Option<Symbol>,
        /// Attributes of the activity (`url`, `asset`, `duration_s`, …).
        #[serde(default, skip_serializing_if = "Attrs::is_empty")]
        attrs: Attrs,
    },
    /// Profile attributes changed (industry, employees, title, country …).
    /// Graded by the grading profile and read by qualification rules.
    Attributes {
        /// Attributes set to a value.
        #[serde(default, skip_serializing_if = "Attrs::is_empty")]
        set: Attrs,
        /// Attributes that became unknown.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unset: Vec<String>,
    },
    /// The amount of the lead's open deal, set or changed. The value won is
    /// the amount in effect when the lead enters a won stage (0 without
    /// one); amounts are per cycle: a recycle starts without one.
    ///
    /// In JSON the amount is a decimal string (`"12000.00"`, exact) or a
    /// number (read as the shortest decimal that prints as that number:
    /// exact up to 15 significant digits; use a string beyond). It must not
    /// be negative, and has at most [`MAX_AMOUNT_DECIMALS`] (6) places and
    /// at most [`MAX_AMOUNT`] (10^15), so that every sum a report makes is
    /// exact (the limits are public as `funnel::MAX_AMOUNT` and
    /// `funnel::MAX_AMOUNT_DECIMALS`).
    Deal {
        /// The amount, exact.
        #[serde(deserialize_with = "crate::exact::decimal")]
        amount: Decimal,
    },
    /// A person's verdict on a grading criterion, overriding what the
    /// attributes say (a rep confirms the lead matches "decision maker");
    /// without `verdict`, the criterion goes back to the attributes.
    Verdict {
        /// The criterion's id.
        criterion: String,
        /// `matched`, `mismatched` or `unknown`; absent to clear.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<crate::grading::Verdict>,
        /// Who said so.
        actor: Actor,
    },
    /// A manual score change by a person or an integration.
    ScoreAdjusted {
        /// The score group (default: the first group; a reset without a
        /// group resets every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// The change.
        change: Adjustment,
        /// Who made it.
        actor: Actor,
        /// Why.
        reason: String,
    },
}

/// Checks a deal amount: not negative, at most [`MAX_AMOUNT_DECIMALS`]
/// places, at most [`MAX_AMOUNT`].
pub(crate) fn check_deal(amount: Decimal) -> Result<(), crate::error::EventErrorKind> {
    use crate::error::EventErrorKind;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(EventErrorKind::NegativeAmount {
            amount: amount.to_string(),
        });
    }
    if amount.normalize().scale() > MAX_AMOUNT_DECIMALS {
        return Err(EventErrorKind::OutOfRange {
            what: "the deal amount".into(),
            value: amount.to_string(),
            max: format!("at most {MAX_AMOUNT_DECIMALS} decimal places"),
        });
    }
    if amount > MAX_AMOUNT {
        return Err(EventErrorKind::OutOfRange {
            what: "the deal amount".into(),
            value: amount.to_string(),
            max: format!("at most {MAX_AMOUNT}"),
        });
    }
    Ok(())
}

/// A manual score change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Adjustment {
    /// Add points.
    #[serde(deserialize_with = "crate::exact::decimal")]
    Add(Decimal),
    /// Subtract points.
    #[serde(deserialize_with = "crate::exact::decimal")]
    Subtract(Decimal),
    /// Make the group's score exactly this from the event on, replacing its
    /// earlier contributions.
    #[serde(deserialize_with = "crate::exact::decimal")]
    Set(Decimal),
    /// Set to zero.
    Reset,
}

/// A manual change in millionths, validated at event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add (or, negative, subtract) points.
    Add(i64),
    /// Replace the group's points with this value.
    Set(i64),
    /// Replace the group's (or every group's) points with zero.
    Reset,
}

impl Adjustment {
    /// The change in millionths, or what is wrong with its amount.
    pub(crate) fn change(self) -> Result<Change, PointsProblem> {
        // `micros` bounds the magnitude by 10^18, which fits an i64.
        let m = |d| micros(d).map(|m| m as i64);
        Ok(match self {
            Adjustment::Add(d) => Change::Add(m(d)?),
            Adjustment::Subtract(d) => Change::Add(-m(d)?),
            Adjustment::Set(d) => Change::Set(m(d)?),
            Adjustment::Reset => Change::Reset,
        })
    }
}

/// Sorts events by the fold's key `(at, id)`, stably: the 40-byte keys
/// (time, id text, position) are sorted, then the events are put in place
/// by swaps along the permutation's cycles, at most two moves each (a
/// stable merge sort of the 144-byte events moves each about log₂ n times
/// and needs a half-size scratch copy). Already sorted events (the usual
/// case) cost one pass; a batch sent newest first is reversed.
pub(crate) fn sort_events(events: &mut [Event]) {
    if events.is_sorted_by(|a, b| a.key() <= b.key()) {
        return;
    }
    // A stream sent newest first: no two keys equal, so reversing is the
    // stable sort.
    if events.is_sorted_by(|a, b| a.key() > b.key()) {
        events.reverse();
        return;
    }
    // The id's text beside the time: ties on time (coarse timestamps)
    // compare ids without reaching into the events.
    let mut keys: Vec<(Timestamp, &str, usize)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.at, e.id.as_str(), i))
        .collect();
    keys.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let order: Vec<usize> = keys.into_iter().map(|(_, _, i)| i).collect();
    // `order[k]` is the index of the event that goes to `k`: follow each
    // cycle of the permutation once, swapping along it.
    let mut placed = vec![false; events.len()];
    for start in 0..events.len() {
        let mut at = start;
        while placed.get(at) == Some(&false) {
            if let Some(p) = placed.get_mut(at) {
                *p = true;
            }
            let Some(&from) = order.get(at) else {
                break;
            };
            if from == start {
                break;
            }
            events.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, EventBody, sort_events};
    use crate::types::{Actor, Source};
    use proptest::prelude::*;

    proptest! {
        /// The same order as a stable sort of the events themselves: by
        /// `(at, id)`, and events of equal keys in the order given (told
        /// apart by their bodies).
        #[test]
        fn sorting_by_keys_is_a_stable_sort(
            keys in proptest::collection::vec((0i64..20, 0u8..6, 0u8..4), 0..200),
            reversed in any::<bool>(),
        ) {
            let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
            let stages = ["A", "B", "C", "D"];
            let events: Vec<Event> = keys
                .iter()
                .map(|&(m, id, body)| {
                    Event::new(
                        format!("e{id}"),
                        "l",
                        t0 + chrono::TimeDelta::minutes(m),
                        EventBody::Created {
                            stage: stages[usize::from(body)].into(),
                            source: Source::Marketing,
                            actor: Actor::Marketing,
                        },
                    )
                })
                .collect();
            // Now and then a stream sent newest first (keys may still tie).
            let mut events = events;
            if reversed {
                events.sort_by(|a, b| b.key().cmp(&a.key()));
            }
            let mut want = events.clone();
            want.sort_by(|a, b| a.key().cmp(&b.key()));
            let mut got = events;
            sort_events(&mut got);
            prop_assert_eq!(got, want);
        }
    }
}
