//! Warm start (docs/continuing.md): a Bayesian sweep seeded with an earlier
//! sweep's finished random runs, against a cold one with the same budget
//! of new runs. Regret is that of the new sweep's own runs (what it
//! reaches), with the seeds' best beside it for scale.

use std::io::Write;

use anyhow::Result;
use serde_json::json;
use sweepd_core::search::{Random, Trial, TrialState};
use sweepd_core::spec::SweepSpec;

use crate::functions::Function;
use crate::{optimise, quantile};

/// The functions the warm start is measured on.
pub const FUNCTIONS: [&str; 2] = ["branin", "hartmann6"];
/// Finished random runs of the earlier sweep.
pub const PRIOR: usize = 20;
/// New runs of the warm-started (and of the cold) sweep.
pub const NEW: usize = 10;
pub const SEEDS: u64 = 10;

pub struct Row {
    pub func: &'static str,
    pub cold: Vec<f64>,
    pub warm: Vec<f64>,
    /// The best regret among the seeds themselves.
    pub prior: Vec<f64>,
}

impl Row {
    fn wins(&self) -> usize {
        self.warm
            .iter()
            .zip(&self.cold)
            .filter(|(w, c)| w < c)
            .count()
    }
}

pub fn measure(f: &Function, spec: &SweepSpec, out: &mut impl Write) -> Result<Row> {
    let mut row = Row {
        func: f.name,
        cold: Vec::new(),
        warm: Vec::new(),
        prior: Vec::new(),
    };
    for seed in 0..SEEDS {
        // The earlier sweep: random runs of another seed.
        let earlier = Random::new(spec, seed ^ 0x0ea5_11e4);
        let seeds: Vec<Trial> = (0..PRIOR as u64)
            .map(|i| {
                let params = earlier.draw(i);
                let value = (f.objective)(&params);
                Trial {
                    params,
                    state: TrialState::Finished,
                    metric: vec![value],
                    outcomes: Default::default(),
                }
            })
            .collect();
        let prior_best = seeds
            .iter()
            .map(|t| t.metric[0])
            .fold(f64::INFINITY, f64::min);
        let cold = optimise(f, spec, "bayes", seed, NEW, 1, Vec::new())?;
        let warm = optimise(f, spec, "bayes", seed, NEW, 1, seeds)?;
        let (cold, warm) = (
            cold.regret_at(NEW, f.optimum),
            warm.regret_at(NEW, f.optimum),
        );
        let prior = (prior_best - f.optimum).max(0.0);
        writeln!(
            out,
            "{}",
            json!({"kind": "warm_start", "fn": f.name, "seed": seed, "prior_runs": PRIOR, "new_runs": NEW,
                   "cold_regret": cold, "warm_regret": warm, "prior_regret": prior})
        )?;
        row.cold.push(cold);
        row.warm.push(warm);
        row.prior.push(prior);
    }
    Ok(row)
}

pub fn print(rows: &mut [Row]) {
    println!(
        "\n## Warm start: {NEW} new bayes runs, cold or seeded with {PRIOR} finished random runs of an earlier sweep, {SEEDS} seeds\n"
    );
    println!(
        "| function | cold: median regret (p75) | warm: median regret (p75) | the {PRIOR} seeds' best, median | warm better |"
    );
    println!("|---|---|---|---|---|");
    for r in rows.iter_mut() {
        let wins = r.wins();
        println!(
            "| {} | {:.3e} ({:.3e}) | {:.3e} ({:.3e}) | {:.3e} | {wins} of {SEEDS} |",
            r.func,
            quantile(&mut r.cold, 0.5),
            quantile(&mut r.cold, 0.75),
            quantile(&mut r.warm, 0.5),
            quantile(&mut r.warm, 0.75),
            quantile(&mut r.prior, 0.5),
        );
    }
}

/// The smoke run's pass mark: the warm sweep's median regret below the cold one's.
pub fn verdict(rows: &mut [Row]) -> Vec<String> {
    rows.iter_mut()
        .filter_map(|r| {
            let (warm, cold) = (quantile(&mut r.warm, 0.5), quantile(&mut r.cold, 0.5));
            (warm >= cold).then(|| {
                format!(
                    "{}: warm start median regret {warm:.3e}, not below the cold sweep's {cold:.3e}",
                    r.func
                )
            })
        })
        .collect()
}
