//! Search: what a sweep runs next: grid, random or Bayesian.
//!
//! A search holds no history of its own: the runs so far come in on every
//! call, as the daemon rebuilds them from disk, so a restarted daemon asks
//! the same question and gets the same answer.

mod bayes;
mod given;
mod grid;
mod random;
mod sample;
mod space;
#[cfg(test)]
mod structure_tests;

pub use bayes::{Basis, Bayes};
pub use given::{NotInSpace, admits, given_runs};
pub use grid::Grid;
pub use random::Random;
pub use space::{Leaf, Space};

use crate::spec::{Method, SweepSpec};

/// A run's parameters: `{name: value}`, nested parameters as nested objects
/// (not W&B's `{name: {value: ...}}` wrapping).
pub type ParamSet = serde_json::Map<String, serde_json::Value>;

/// Where a run stands, as far as search cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialState {
    /// Proposed, not started.
    Pending,
    Running,
    /// Exited 0.
    Finished,
    /// Exited non-zero.
    Failed,
    /// Lost: the process vanished or the daemon died under it.
    Crashed,
    /// Stopped by a person.
    Killed,
    /// Stopped by the early-termination rule: its values so far count.
    EarlyTerminated,
}

/// One run of the sweep so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub params: ParamSet,
    pub state: TrialState,
    /// The sweep metric's logged values, in order.
    pub metric: Vec<f64>,
    /// The last logged value of each objective and outcome-constrained
    /// metric (`sweepd.objectives`, `sweepd.outcome_constraints`).
    pub outcomes: std::collections::BTreeMap<String, f64>,
}

/// Every run of the sweep so far, in the order they were proposed, and the
/// finished runs from elsewhere that seed it (warm start, imported history).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub trials: Vec<Trial>,
    /// Finished runs that are not the sweep's own: the Bayesian search
    /// learns from them as from its own; they are not counted as runs, and
    /// grid and random search do not look at them.
    pub seeds: Vec<Trial>,
}

impl Trial {
    /// A finished run that logged one value of the sweep metric.
    pub fn finished(params: ParamSet, value: f64) -> Self {
        Self {
            params,
            state: TrialState::Finished,
            metric: vec![value],
            outcomes: Default::default(),
        }
    }
}

impl History {
    /// A history of runs with the given parameters (pending, no metric yet).
    pub fn of_params(params: impl IntoIterator<Item = ParamSet>) -> Self {
        Self {
            trials: params
                .into_iter()
                .map(|params| Trial {
                    params,
                    state: TrialState::Pending,
                    metric: Vec::new(),
                    outcomes: Default::default(),
                })
                .collect(),
            seeds: Vec::new(),
        }
    }
}

/// How many distinct runs a search can propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSize {
    /// A grid: this many points.
    Finite(PointCount),
    /// Random and Bayesian search go on until `run_cap` or a stop.
    Unbounded,
}

/// The number of points of a grid: exact below 2^128, else only "that many
/// or more" with the order of magnitude (200 parameters of a million steps
/// each make 10^1200 points, which no integer type here holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointCount {
    Exact(u128),
    /// 2^128 or more: about 10^`log10` (the sum of the axes' log10, rounded).
    Beyond {
        log10: u32,
    },
}

impl PointCount {
    /// The count, when it fits a u128.
    pub fn exact(self) -> Option<u128> {
        match self {
            PointCount::Exact(n) => Some(n),
            PointCount::Beyond { .. } => None,
        }
    }

    /// The smaller of this count and `n`.
    pub fn min(self, n: u128) -> u128 {
        match self {
            PointCount::Exact(m) => m.min(n),
            PointCount::Beyond { .. } => n,
        }
    }

    /// Whether there are more than `n` points.
    pub fn exceeds(self, n: u128) -> bool {
        self.min(n) == n && self != PointCount::Exact(n)
    }
}

/// `12`, or `2^128 or more (about 10^1200)`.
impl std::fmt::Display for PointCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PointCount::Exact(n) => write!(f, "{n}"),
            PointCount::Beyond { log10 } => write!(f, "2^128 or more (about 10^{log10})"),
        }
    }
}

pub trait Search {
    /// How many distinct runs there are to propose.
    fn size(&self) -> SearchSize;

    /// The parameters of the next run given every run so far (pending and
    /// running ones included), or `None` when the search has nothing left.
    /// `&mut self` so that a search may keep caches between calls (Bayesian
    /// search warm-starts its model fit); the answer depends on `history` only.
    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("a grid cannot list the values of {}: only categorical, constant, int_uniform and q_uniform parameters can be", .0.join(", "))]
    NotEnumerable(Vec<String>),
    #[error("a grid cannot branch on {}: conditions read them, and their values make more than 10000 combinations", .0.join(", "))]
    TooManyBranches(Vec<String>),
    #[error(
        "no point satisfying the constraints was found in {0} draws: they leave too little of the space"
    )]
    NoFeasiblePoint(u32),
}

/// The search a sweep asks for. `seed` is the sweep's seed (from
/// `sweepd.seed`, or chosen and recorded by the daemon).
pub fn for_spec(spec: &SweepSpec, seed: u64) -> Result<Box<dyn Search + Send>, SearchError> {
    match spec.method {
        Method::Grid => Ok(Box::new(Grid::new(spec)?)),
        Method::Random => Ok(Box::new(Random::new(spec, seed))),
        Method::Bayes => Ok(Box::new(Bayes::new(spec, seed))),
    }
}
