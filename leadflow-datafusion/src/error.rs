//! The adapter's errors. Inside DataFusion they travel as
//! [`DataFusionError::External`](datafusion::error::DataFusionError::External);
//! [`AdapterError::find`] gets them back out of a query's error.

use datafusion::error::DataFusionError;

use crate::money::MoneyError;

/// What went wrong in one of the adapter's functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// An argument has a type the function cannot read.
    #[error("{function}: argument {position} ({name}) must be {expected}, not {found}")]
    ArgumentType {
        /// The SQL function.
        function: &'static str,
        /// The argument's position, from 1.
        position: usize,
        /// The argument's name in the function's documentation.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The type given.
        found: String,
    },
    /// The function was called with the wrong number of arguments.
    #[error("{function} takes {expected} arguments ({signature}), not {found}")]
    Arity {
        /// The SQL function.
        function: &'static str,
        /// The arguments it takes.
        expected: usize,
        /// Their names.
        signature: &'static str,
        /// The number given.
        found: usize,
    },
    /// The configuration argument is not a constant, or does not read.
    #[error("{function}: the config {problem}")]
    Config {
        /// The SQL function.
        function: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A row's values cannot be used.
    #[error("{function}: row {row} of a batch: {problem}")]
    Row {
        /// The SQL function.
        function: &'static str,
        /// The row's index in its batch.
        row: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A partial state from another accumulator could not be read.
    #[error("{function}: a partial state does not read: {problem}")]
    State {
        /// The SQL function.
        function: &'static str,
        /// Why.
        problem: String,
    },
    /// Money that cannot cross between Arrow and `rust_decimal` exactly.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The core could not attribute the tally.
    #[error(transparent)]
    Attribution(#[from] leadflow::attribution::AttributionError),
    /// The core refused a model's configuration.
    #[error(transparent)]
    Model(#[from] leadflow::attribution::ModelError),
    /// The core refused an engine configuration.
    #[error(transparent)]
    Engine(#[from] leadflow::ConfigError),
    /// The core refused funnel options.
    #[error(transparent)]
    Funnel(#[from] leadflow::funnel::FunnelError),
    /// An Arrow array could not be built or read.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

impl AdapterError {
    /// The adapter's error inside a DataFusion error (as returned by a
    /// query that called one of the functions), if that is what it is.
    pub fn find(error: &DataFusionError) -> Option<&AdapterError> {
        match error {
            DataFusionError::External(e) => e.downcast_ref::<AdapterError>(),
            DataFusionError::Context(_, inner) => Self::find(inner),
            DataFusionError::Shared(inner) => Self::find(inner),
            DataFusionError::Collection(all) => all.iter().find_map(Self::find),
            _ => None,
        }
    }
}

impl From<AdapterError> for DataFusionError {
    fn from(e: AdapterError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
