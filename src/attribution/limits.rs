//! Named bounds on the work of the path-table models: each one exceeded is
//! a typed error that says which bound and how to raise it, never an
//! unbounded run or a silently unconverged answer.

use serde::{Deserialize, Serialize};

/// Bounds on the work of the Markov and Shapley models on path tables.
/// Set them with [`PathTally::with_limits`](super::PathTally::with_limits);
/// write `Limits { markov_states: 5_000, ..Limits::default() }` to change
/// one (in JSON, missing fields take their defaults).
///
/// ```
/// use leadflow::attribution::{Limits, PathModel, PathTally};
/// let limits = Limits { markov_states: 5_000, ..Limits::default() };
/// let tally = PathTally::new(&[PathModel::Markov], 3)?.with_limits(limits);
/// assert_eq!(tally.limits().markov_states, 5_000);
/// # Ok::<(), leadflow::attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The most states (channel windows of the Markov order) a chain may
    /// have. Every removal effect solves a system over them. Default
    /// 100 000.
    pub markov_states: usize,
    /// The most Gauss–Seidel sweeps of one solve of a chain with more than
    /// 400 states (smaller chains are solved directly). Default 100 000.
    pub solver_sweeps: usize,
    /// The most arithmetic steps of all the Markov solves together (one per
    /// edge and state visited by a sweep; n³/3 for a direct solve of n
    /// states). The chain is solved once, then once more per channel for its
    /// removal effect, so this bounds channels × chain size. Default 10^10
    /// (about ten seconds on a laptop core).
    pub solver_work: u64,
    /// The most distinct channels in one converting channel set for
    /// Shapley (its subsets are enumerated: 2^n). Default 20, at most 24.
    pub shapley_channels: usize,
    /// The most subset evaluations of one Shapley fit, summed over the
    /// converting channel sets (2^n each). Default 2^26 (about 67 million).
    pub shapley_subsets: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            markov_states: 100_000,
            solver_sweeps: 100_000,
            solver_work: 10_000_000_000,
            shapley_channels: 20,
            shapley_subsets: 1 << 26,
        }
    }
}

/// The hard ceiling of [`Limits::shapley_channels`]: 2^24 subsets of one set.
pub(crate) const SHAPLEY_CHANNELS_CEILING: usize = 24;

/// Which bound of [`Limits`] a computation hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::markov_states`].
    MarkovStates,
    /// [`Limits::solver_sweeps`].
    SolverSweeps,
    /// [`Limits::solver_work`].
    SolverWork,
    /// [`Limits::shapley_channels`].
    ShapleyChannels,
    /// [`Limits::shapley_subsets`].
    ShapleySubsets,
}

impl std::fmt::Display for Limit {
    /// The bound and the way out, for error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::MarkovStates => {
                "Markov states (Limits::markov_states; a lower order has fewer states)"
            }
            Limit::SolverSweeps => {
                "Gauss-Seidel sweeps of the Markov solve (Limits::solver_sweeps; a state almost never leaves — a lower order mixes better)"
            }
            Limit::SolverWork => {
                "steps of the Markov solves (Limits::solver_work; one solve per channel: fewer channels or a lower order cost less)"
            }
            Limit::ShapleyChannels => {
                "distinct channels in a converting set for Shapley (Limits::shapley_channels, at most 24)"
            }
            Limit::ShapleySubsets => {
                "Shapley subset evaluations (Limits::shapley_subsets)"
            }
        })
    }
}
