//! The parts of a sweep file that its rules read: the metric (its goal and
//! target), run_cap, whether it is a grid, retries, failures in a row, and
//! the early-termination rule.

use crate::early_stop::EarlyStop;
use crate::spec::{Goal, Method, Metric, Objective, OutcomeConstraint, SweepSpec};

/// What a sweep's rules read from its file.
#[derive(Debug, Clone)]
pub struct Rules {
    pub metric: Option<Metric>,
    pub run_cap: Option<u64>,
    pub method: Method,
    /// Re-runs of a crashed run (`sweepd.retry`).
    pub retry: u32,
    /// Pause after this many failed or crashed runs in a row (0: never).
    pub max_failures_in_a_row: u32,
    pub early_stop: Option<EarlyStop>,
    /// Several metrics optimised together (`sweepd.objectives`).
    pub objectives: Vec<Objective>,
    /// Bounds on logged metrics (`sweepd.outcome_constraints`).
    pub outcome_constraints: Vec<OutcomeConstraint>,
}

impl Rules {
    pub fn of(spec: &SweepSpec) -> Self {
        Rules {
            metric: spec.metric.clone(),
            run_cap: spec.run_cap,
            method: spec.method,
            retry: spec.sweepd.retry,
            max_failures_in_a_row: spec.sweepd.max_failures_in_a_row,
            early_stop: spec
                .early_terminate
                .as_ref()
                .zip(spec.metric.as_ref())
                .map(|(rule, metric)| EarlyStop::new(rule, metric.goal)),
            objectives: spec.sweepd.objectives.clone(),
            outcome_constraints: spec.sweepd.outcome_constraints.clone(),
        }
    }

    /// For a sweep whose file can no longer be read (by a newer sweepd, say):
    /// its runs can still be counted and shown.
    pub fn unknown() -> Self {
        Rules {
            metric: None,
            run_cap: None,
            method: Method::Random,
            retry: 0,
            max_failures_in_a_row: 0,
            early_stop: None,
            objectives: Vec::new(),
            outcome_constraints: Vec::new(),
        }
    }

    /// The metrics whose last values each run keeps besides the sweep
    /// metric's: the objectives' and the outcome constraints'.
    pub fn tracked(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .objectives
            .iter()
            .map(|o| o.name.clone())
            .chain(self.outcome_constraints.iter().map(|c| c.metric.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The metric's goal (minimize when the sweep has no metric).
    pub fn goal(&self) -> Goal {
        self.metric.as_ref().map_or(Goal::Minimize, |m| m.goal)
    }

    /// Whether `value` reaches `metric.target`.
    pub fn reaches_target(&self, value: f64) -> bool {
        self.metric.as_ref().is_some_and(|metric| {
            metric.target.is_some_and(|target| match metric.goal {
                Goal::Minimize => value <= target,
                Goal::Maximize => value >= target,
            })
        })
    }

    /// The better of two values by the goal.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.goal() {
            Goal::Minimize => a < b,
            Goal::Maximize => a > b,
        }
    }
}
