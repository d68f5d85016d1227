//! Calendar periods (UTC week, month, quarter) that cohorts are cut into.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::types::Timestamp;

/// How a report cuts time into periods.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Granularity {
    /// ISO weeks, Monday to Sunday (`2026-W09`).
    Week,
    /// Calendar months (`2026-03`).
    #[default]
    Month,
    /// Calendar quarters (`2026-Q1`).
    Quarter,
}

/// One calendar period, UTC: written `2026-03`, `2026-Q1` or `2026-W09`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    start: NaiveDate,
    granularity: Granularity,
}

impl Period {
    /// The period of `granularity` that contains `at`.
    pub fn containing(granularity: Granularity, at: Timestamp) -> Self {
        let d = at.date_naive();
        let start = match granularity {
            Granularity::Week => {
                let back = i64::from(d.weekday().num_days_from_monday());
                d.checked_sub_days(chrono::Days::new(back as u64))
                    .unwrap_or(d)
            }
            Granularity::Month => d.with_day(1).unwrap_or(d),
            Granularity::Quarter => {
                let month = (d.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(d.year(), month, 1).unwrap_or(d)
            }
        };
        Self { start, granularity }
    }

    /// The first day of the period.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The first instant after the period (midnight UTC of the next one's
    /// first day), `None` past the end of the calendar.
    pub fn end(&self) -> Option<Timestamp> {
        let next = match self.granularity {
            Granularity::Week => self.start.checked_add_days(chrono::Days::new(7)),
            Granularity::Month => self.start.checked_add_months(chrono::Months::new(1)),
            Granularity::Quarter => self.start.checked_add_months(chrono::Months::new(3)),
        }?;
        Some(next.and_hms_opt(0, 0, 0)?.and_utc())
    }

    /// The period's granularity.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.start;
        match self.granularity {
            Granularity::Week => {
                let w = d.iso_week();
                write!(f, "{}-W{:02}", w.year(), w.week())
            }
            Granularity::Month => write!(f, "{}-{:02}", d.year(), d.month()),
            Granularity::Quarter => write!(f, "{}-Q{}", d.year(), d.month0() / 3 + 1),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "period {text:?}: expected 2026-03, 2026-Q1 or 2026-W09"
            ))
        })
    }
}

impl Period {
    /// Reads a period written as [`Display`](fmt::Display) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        // The year may carry a sign (`-5-01`): split at the first `-` after
        // the first character.
        let at = text.get(1..)?.find('-')? + 1;
        let (year, rest) = (text.get(..at)?, text.get(at + 1..)?);
        let year: i32 = year.parse().ok()?;
        let (granularity, start) = if let Some(q) = rest.strip_prefix('Q') {
            let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
            (
                Granularity::Quarter,
                NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1)?,
            )
        } else if let Some(w) = rest.strip_prefix('W') {
            let w: u32 = w.parse().ok()?;
            (
                Granularity::Week,
                NaiveDate::from_isoywd_opt(year, w, chrono::Weekday::Mon)?,
            )
        } else {
            let m: u32 = rest.parse().ok()?;
            (Granularity::Month, NaiveDate::from_ymd_opt(year, m, 1)?)
        };
        Some(Self { start, granularity })
    }
}
