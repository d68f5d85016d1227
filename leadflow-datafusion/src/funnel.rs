//! `funnel_report`: the core's funnel report as an aggregate over leads,
//! its partial state the core's [`FunnelTally`].
//!
//! ```sql
//! SELECT funnel_report(lead, events, '{"engine": {...}, "options": {...}}')
//! FROM (SELECT lead, array_agg(event) AS events FROM events GROUP BY lead)
//! ```
//!
//! Each row is one lead, and each lead must be on one row only (group its
//! events with `array_agg(event) ... GROUP BY lead`): a lead met twice by
//! one accumulator is an error; a lead split over rows that different
//! partitions read cannot be seen, and would count twice.
//! `lead` is its id (a string), `events` its events as
//! JSON strings in the core's [`Event`] form, in any order (a lead is
//! replayed, so arrival order does not matter). An event naming another
//! lead is an error, not a silent move. `config` is a constant JSON object:
//! `engine`, the [`EngineConfig`](leadflow::EngineConfig) the leads are
//! folded with, and `options`, the report's
//! [`FunnelOptions`] (`from`, `to`, `as_of`, `by`, `first_cycle_only`,
//! `cut`). The result is the [`FunnelReport`](leadflow::funnel::FunnelReport)
//! as a JSON string, equal at any partitioning to the report of the leads
//! in one pass (velocities are kept whole, so medians merge exactly).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use leadflow::funnel::{Funnel, FunnelOptions, FunnelTally};
use leadflow::{Engine, Event, Mergeable};
use serde::Deserialize;

use crate::args::{self, list_of};
use crate::error::AdapterError;

const NAME: &str = "funnel_report";

/// The configuration `funnel_report` reads from its last argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunnelConfig {
    engine: serde_json::Value,
    options: FunnelOptions,
}

/// The funnel definition a config describes.
///
/// # Errors
/// [`AdapterError::Config`] when the JSON does not read,
/// [`AdapterError::Engine`] or [`AdapterError::Funnel`] when the core
/// refuses it.
pub fn funnel_of_config(json: &str) -> Result<Funnel, AdapterError> {
    let config: FunnelConfig = args::read_config(NAME, json)?;
    let engine = Engine::from_json(&config.engine.to_string())?;
    Ok(Funnel::new(&engine, config.options)?)
}

/// The `funnel_report` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunnelReportUdaf {
    signature: Signature,
}

impl Default for FunnelReportUdaf {
    fn default() -> Self {
        Self::new()
    }
}

impl FunnelReportUdaf {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FunnelReportUdaf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(AdapterError::Arity {
                function: NAME,
                expected: 3,
                signature: "lead, events, config",
                found: arg_types.len(),
            }
            .into());
        }
        let bad = |position, name, expected: &'static str| AdapterError::ArgumentType {
            function: NAME,
            position,
            name,
            expected,
            found: arg_types[position - 1].to_string(),
        };
        if !args::is_text(&arg_types[0]) {
            return Err(bad(1, "lead", "a string").into());
        }
        if !args::is_string_list(&arg_types[1]) {
            return Err(bad(2, "events", "a list of strings").into());
        }
        if !args::is_text(&arg_types[2]) {
            return Err(bad(3, "config", "a string").into());
        }
        Ok(vec![
            DataType::Utf8,
            list_of(DataType::Utf8),
            DataType::Utf8,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let json = args::config_literal(NAME, acc_args.exprs, 2)?;
        Ok(Box::new(FunnelAccumulator {
            funnel: funnel_of_config(&json)?,
            tally: FunnelTally::default(),
            seen: std::collections::HashSet::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "tally"),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct FunnelAccumulator {
    funnel: Funnel,
    tally: FunnelTally,
    /// The leads this accumulator replayed: a lead on two rows would count
    /// twice.
    seen: std::collections::HashSet<String>,
}

impl FunnelAccumulator {
    fn add_rows(&mut self, values: &[ArrayRef]) -> Result<(), AdapterError> {
        let leads: &StringArray = args::column(NAME, values, 0)?;
        let events: &ListArray = args::column(NAME, values, 1)?;
        for row in 0..leads.len() {
            if leads.is_null(row) {
                return Err(AdapterError::Row {
                    function: NAME,
                    row,
                    problem: "the lead is NULL".into(),
                });
            }
            let id = leads.value(row);
            if !self.seen.insert(id.to_owned()) {
                return Err(AdapterError::Row {
                    function: NAME,
                    row,
                    problem: format!(
                        "lead {id:?} is on more than one row: group its events first (array_agg(event) ... GROUP BY lead)"
                    ),
                });
            }
            let mut log = Vec::new();
            for (i, json) in args::strings_of(NAME, events, row, "events")?
                .iter()
                .enumerate()
            {
                let bad = |problem: String| AdapterError::Row {
                    function: NAME,
                    row,
                    problem: format!("lead {id:?}, event {}: {problem}", i + 1),
                };
                let event: Event = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
                if event.lead.as_str() != id {
                    return Err(bad(format!("it names lead {:?}", event.lead.as_str())));
                }
                log.push(event);
            }
            let lead = self.funnel.engine().replay(id, log);
            self.funnel.add(&mut self.tally, &lead);
        }
        Ok(())
    }
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        Ok(self.add_rows(values)?)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let report = self.funnel.report(&self.tally);
        let json = serde_json::to_string(&report).map_err(|e| AdapterError::State {
            function: NAME,
            problem: e.to_string(),
        })?;
        Ok(ScalarValue::Utf8(Some(json)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(args::state_value(NAME, &self.tally)?)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        Ok(args::merge_states(NAME, states, |other: FunnelTally| {
            self.tally.merge(other);
        })?)
    }
}
