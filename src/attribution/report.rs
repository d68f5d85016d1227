//! What a [`PathTally`](super::PathTally) reports: credits per model and
//! channel, with exact value credits, and its CSV form.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::PathModel;

/// One channel's attributed conversions and value under one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelCredit {
    /// The channel.
    pub channel: String,
    /// Attributed conversions.
    pub conversions: f64,
    /// Attributed value, when the table has values: an exact decimal at
    /// the finest scale of the table's values. A model's value credits sum
    /// exactly to the report's `total_value` (largest remainder).
    pub value: Option<Decimal>,
}

/// The result of a [`PathTally`](super::PathTally): per model (in the order asked), per
/// channel (in order of first appearance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PathReport {
    /// `(model, credits)`.
    pub models: Vec<(PathModel, Vec<ChannelCredit>)>,
    /// Total conversions in the table.
    pub total_conversions: u64,
    /// Total value, when the table has values.
    pub total_value: Option<Decimal>,
    /// Rows that carried a value but no conversion: every model ignores
    /// their value.
    pub valued_without_conversion: u64,
}

impl ChannelCredit {
    /// One channel's credit (for hosts that compute credits elsewhere, such
    /// as an engine adapter, and print them as reports do).
    pub fn new(channel: impl Into<String>, conversions: f64, value: Option<Decimal>) -> Self {
        Self {
            channel: channel.into(),
            conversions,
            value,
        }
    }

    /// Writes the credit as one row of [`PathReport::write_csv`]'s CSV
    /// under `model`'s name.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write_csv_row<W: std::io::Write>(
        &self,
        model: PathModel,
        mut out: W,
    ) -> std::io::Result<()> {
        let name = if self.channel.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", self.channel.replace('"', "\"\""))
        } else {
            self.channel.clone()
        };
        let value = self.value.map_or(String::new(), |v| v.to_string());
        // -0 and 0 print alike.
        let conversions = if self.conversions == 0.0 {
            "0".to_owned()
        } else {
            self.conversions.to_string()
        };
        writeln!(out, "{},{name},{conversions},{value}", model.name())
    }
}

impl PathReport {
    /// The header line [`write_csv`](Self::write_csv) writes (with its
    /// line end).
    pub const CSV_HEADER: &str = "model,channel_name,conversions,value\n";

    /// Writes the report as CSV with the header
    /// `model,channel_name,conversions,value`: one row per model and
    /// channel, models in the order asked, channels in order of first
    /// appearance, `value` empty without a value column. Conversions use
    /// the shortest representation that reads back to the same `f64` (up
    /// to 17 significant digits); values are exact decimals; channel names
    /// are quoted when they need it.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write_csv<W: std::io::Write>(&self, mut out: W) -> std::io::Result<()> {
        out.write_all(Self::CSV_HEADER.as_bytes())?;
        for (model, credits) in &self.models {
            for c in credits {
                c.write_csv_row(*model, &mut out)?;
            }
        }
        out.flush()
    }
}

/// Splits an exact total (`mantissa` at `scale`) over channels in
/// proportion to their real value credits, by largest remainder at the
/// total's scale: the parts sum to the total exactly. A model that credits
/// nothing gets zeros.
pub(super) fn split_exactly(mantissa: i128, scale: u32, shares: &[f64]) -> Vec<Decimal> {
    let unit = 10f64.powi(scale as i32);
    let units: Vec<f64> = shares.iter().map(|s| s * unit).collect();
    let credits_nothing = units.iter().all(|u| *u == 0.0 || !u.is_finite());
    // Shares as exact integer proportions (the journeys' allocation): no
    // part goes negative however many digits the total has, where shares
    // scaled to units in f64 lose the last digits past 2^53.
    if !credits_nothing
        && shares.iter().all(|s| s.is_finite() && *s >= 0.0)
        && let Ok(total) = Decimal::try_from_i128_with_scale(mantissa, scale)
        && let Ok(parts) = super::allocate(total, shares, scale)
    {
        return parts;
    }
    let parts = if credits_nothing {
        vec![0; units.len()]
    } else {
        crate::exact::apportion(mantissa, &units)
    };
    parts
        .into_iter()
        .map(|p| Decimal::try_from_i128_with_scale(p, scale).unwrap_or_default())
        .collect()
}
