//! Apache DataFusion functions for [leadflow]: attribution and
//! funnel tallies in SQL, with the same answers at any partitioning.
//!
//! The core crate's partial states ([`Mergeable`](leadflow::Mergeable))
//! become DataFusion aggregate states: each partition tallies its rows,
//! the states travel as bytes, and the final merge is exactly the
//! single-pass tally. DataFusion does what it does well (reading Parquet
//! and CSV, `array_agg(... ORDER BY ts)`, `GROUP BY`, shuffles); the
//! adapter adds:
//!
//! | function | kind | what |
//! |---|---|---|
//! | [`attribute_paths`](paths) | aggregate | every path-table model: first, last, linear, position, J, inverse J, Markov of any order, Shapley |
//! | [`journey_credits`](journeys) | scalar | one journey's exact credits under a journey model |
//! | [`markov_transitions`](journeys) | scalar | the transitions one path adds to a Markov chain |
//! | [`touch_path`](journeys::TouchPath) | scalar | a journey's path from `array_agg(struct(ts, channel))`, ordered by `(ts, channel)` |
//! | [`funnel_report`](funnel) | aggregate | the funnel report over leads' events |
//!
//! Money stays exact: values are `Decimal128` columns, converted to and
//! from `rust_decimal` without rounding ([`money`]).
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = SessionContext::new();
//! leadflow_datafusion::register_all(&ctx);
//! let rows = ctx
//!     .sql(
//!         "SELECT unnest(attribute_paths(path, conversions, 0, value, seen, '{\"models\": [\"linear\"]}'))
//!          FROM (VALUES (['email', 'search'], 2, CAST(10.00 AS DECIMAL(10, 2)), 1),
//!                       (['search'], 1, CAST(5.00 AS DECIMAL(10, 2)), 2))
//!               AS t(path, conversions, value, seen)",
//!     )
//!     .await?
//!     .collect()
//!     .await?;
//! let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows)?.to_string();
//! assert!(text.contains("{model: linear, channel: email, conversions: 1.0, value: 5.00}"));
//! assert!(text.contains("{model: linear, channel: search, conversions: 2.0, value: 10.00}"));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod error;
pub mod funnel;
pub mod journeys;
pub mod money;
pub mod paths;
pub mod tables;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use error::AdapterError;
pub use funnel::{FunnelReportUdaf, funnel_of_config};
pub use journeys::{JourneyCredits, MarkovTransitions, TouchPath};
pub use paths::{AttributePaths, PathsConfig};

/// The adapter's aggregate functions, for a registry of your own (a
/// Ballista executor's, say).
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(AttributePaths::new()),
        AggregateUDF::from(FunnelReportUdaf::new()),
    ]
}

/// The adapter's scalar functions.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(JourneyCredits::new()),
        ScalarUDF::from(MarkovTransitions::new()),
        ScalarUDF::from(TouchPath::new()),
    ]
}

/// A Ballista function registry with DataFusion's functions and the
/// adapter's, for an executor of your own
/// (`ExecutorProcessConfig::override_function_registry`): the stock
/// executor does not know user functions.
#[cfg(feature = "ballista")]
pub fn ballista_registry() -> ballista_core::registry::BallistaFunctionRegistry {
    use std::sync::Arc;
    let mut registry = ballista_core::registry::BallistaFunctionRegistry::default();
    for f in scalar_functions() {
        registry
            .scalar_functions
            .insert(f.name().to_owned(), Arc::new(f));
    }
    for f in aggregate_functions() {
        registry
            .aggregate_functions
            .insert(f.name().to_owned(), Arc::new(f));
    }
    registry
}

/// Registers every function with a session: `attribute_paths`,
/// `journey_credits`, `markov_transitions`, `touch_path` and
/// `funnel_report`.
pub fn register_all(ctx: &SessionContext) {
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
}
