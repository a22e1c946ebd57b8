//! The Pareto front of a sweep with several objectives: its runs that
//! finished with a value for every objective, kept every outcome
//! constraint, and that no other such run beats on every objective.

use crate::pareto;
use crate::spec::{Goal, Objective};

use super::{RunModel, SweepModel};
use crate::store::RunState;

/// The front and what it was taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct Front {
    pub objectives: Vec<Objective>,
    /// Run numbers on the front, with their objective values (in the
    /// objectives' order), by run number.
    pub runs: Vec<(u32, Vec<f64>)>,
    /// Finished runs with every objective that break an outcome constraint.
    pub infeasible: Vec<u32>,
}

impl SweepModel {
    /// The Pareto front, for a sweep with `sweepd.objectives`.
    pub fn front(&self) -> Option<Front> {
        let rules = self.rules();
        if rules.objectives.is_empty() {
            return None;
        }
        let mut candidates: Vec<(u32, Vec<f64>)> = Vec::new();
        let mut infeasible = Vec::new();
        for run in self.runs() {
            let n = run.summary.run;
            if run.state() != RunState::Finished {
                continue;
            }
            let Some(values) = objective_values(run, &rules.objectives) else {
                continue;
            };
            let feasible = rules
                .outcome_constraints
                .iter()
                .all(|c| run.outcomes.get(&c.metric).is_some_and(|&v| c.holds(v)));
            if feasible {
                candidates.push((n, values));
            } else {
                infeasible.push(n);
            }
        }
        let oriented: Vec<Vec<f64>> = candidates
            .iter()
            .map(|(_, v)| orient(v, &rules.objectives))
            .collect();
        let on = pareto::front(&oriented);
        Some(Front {
            objectives: rules.objectives.clone(),
            runs: on.into_iter().map(|i| candidates[i].clone()).collect(),
            infeasible,
        })
    }
}

/// A run's value for every objective, if it has them all.
pub fn objective_values(run: &RunModel, objectives: &[Objective]) -> Option<Vec<f64>> {
    objectives
        .iter()
        .map(|o| run.outcomes.get(&o.name).copied())
        .collect()
}

/// Values turned so that smaller is better for each.
pub fn orient(values: &[f64], objectives: &[Objective]) -> Vec<f64> {
    values
        .iter()
        .zip(objectives)
        .map(|(v, o)| match o.goal {
            Goal::Minimize => *v,
            Goal::Maximize => -v,
        })
        .collect()
}
