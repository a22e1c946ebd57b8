//! Early termination: W&B 0.3.0's hyperband rule, decided each time a run
//! logs the sweep's metric (W&B decides every few minutes).
//!
//! - An iteration is the n-th logged value of the metric.
//! - For each band b, the values at iteration b of every run (any state)
//!   that has logged at least b values, sorted best first; the threshold is
//!   the value at index `int(count / eta)`.
//! - Only running runs are judged, at the largest band they have reached:
//!   `strict` (default) compares the run's value at that band, otherwise its
//!   best value so far. A run is stopped when it is worse than the threshold;
//!   ties survive, so the first run to reach a band is never stopped.

use serde::{Deserialize, Serialize};

use crate::spec::{Goal, Hyperband};

/// The rule of one sweep.
#[derive(Debug, Clone)]
pub struct EarlyStop {
    bands: Vec<i64>,
    eta: f64,
    strict: bool,
    maximize: bool,
}

/// Why a run was judged as it was: what `sweepctl show` prints and the run's
/// summary keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// How many values the run had logged.
    pub iteration: usize,
    /// The band it was judged at.
    pub band: i64,
    /// The value compared: at the band (strict), or the best so far.
    pub value: f64,
    /// The value it had to match or beat.
    pub threshold: f64,
    /// How many runs' values at this band formed the threshold.
    pub runs_at_band: usize,
    pub strict: bool,
    pub eta: f64,
    pub stop: bool,
}

/// The threshold of each band, from the values of every run so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds(Vec<Option<(f64, usize)>>);

impl EarlyStop {
    pub fn new(rule: &Hyperband, goal: Goal) -> Self {
        Self {
            bands: rule.bands(),
            eta: rule.eta,
            strict: rule.strict,
            maximize: goal == Goal::Maximize,
        }
    }

    /// Whether a run with `count` values has just reached a band.
    pub fn is_band(&self, count: usize) -> bool {
        i64::try_from(count).is_ok_and(|c| self.bands.binary_search(&c).is_ok())
    }

    /// Lower is better inside the rule.
    fn oriented(&self, v: f64) -> f64 {
        if self.maximize { -v } else { v }
    }

    /// Thresholds from the metric histories of every run of the sweep.
    pub fn thresholds<'a>(&self, histories: impl Iterator<Item = &'a [f64]> + Clone) -> Thresholds {
        Thresholds(
            self.bands
                .iter()
                .map(|&band| {
                    let at = usize::try_from(band).ok()?.checked_sub(1)?;
                    let mut values: Vec<f64> = histories
                        .clone()
                        .filter_map(|h| h.get(at))
                        .map(|&v| self.oriented(v))
                        .collect();
                    if values.is_empty() {
                        return None;
                    }
                    values.sort_by(f64::total_cmp);
                    // W&B's int((1 / eta) * count), which rounds differently from count / eta.
                    let index = rank_index(self.eta, values.len());
                    Some((values[index.min(values.len() - 1)], values.len()))
                })
                .collect(),
        )
    }

    /// A running run's judgement, or `None` before it reaches the first band.
    pub fn judge(&self, thresholds: &Thresholds, history: &[f64]) -> Option<Judgement> {
        let reached = self
            .bands
            .iter()
            .zip(&thresholds.0)
            .take_while(|(band, _)| {
                usize::try_from(**band).is_ok_and(|b| b >= 1 && b <= history.len())
            })
            .last()?;
        let (&band, threshold) = reached;
        let (threshold, runs_at_band) = (*threshold)?;
        let value = if self.strict {
            self.oriented(history[band as usize - 1])
        } else {
            history
                .iter()
                .map(|&v| self.oriented(v))
                .fold(f64::INFINITY, f64::min)
        };
        Some(Judgement {
            iteration: history.len(),
            band,
            value: self.oriented(value),
            threshold: self.oriented(threshold),
            runs_at_band,
            strict: self.strict,
            eta: self.eta,
            stop: value > threshold,
        })
    }
}

/// Where the threshold sits among `count` sorted values: W&B's
/// `int((1.0 / eta) * count)`.
pub fn rank_index(eta: f64, count: usize) -> usize {
    ((1.0 / eta) * count as f64) as usize
}

#[cfg(test)]
mod tests;
