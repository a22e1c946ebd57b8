//! Bayesian search: a Gaussian process fitted to the runs so far, and the
//! point of highest expected improvement next.
//!
//! The first runs come from a seeded Latin hypercube (the initial design,
//! which `sweepctl preview` shows; shortened by one point for each seed, a
//! finished run from elsewhere that the history holds); after that every
//! proposal is
//! 1. the runs turned into observations, W&B's way: a finished run counts
//!    with its best logged value, a failed, crashed or killed one per
//!    `metric.impute`, a running one as pending (or per
//!    `metric.impute_while_running`), a queued one as pending;
//! 2. the model's hyperparameters fitted (argmin, L-BFGS) on a schedule:
//!    after every result while there are few, then each time the results
//!    have grown by a tenth, each fit warm-started from the one before;
//! 3. pending runs added at the model's own prediction (kriging believer),
//!    so that parallel runs are not sent to the same place;
//! 4. log expected improvement maximised, never at a point already run or
//!    pending.
//!
//! A proposal depends on the seed and the history only: the fits are cached
//! but a cache miss recomputes exactly what the cache held, so a restarted
//! daemon proposes the same point. When the model cannot be used, the
//! proposal comes from a Parzen estimator, and the log says why.

mod acquisition;
mod ehvi;
mod encode;
mod fit;
mod gp;
mod observe;
mod shape;
mod tpe;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::spec::SweepSpec;

use self::acquisition::{Acquisition, Taken, uniform};
use self::encode::Encoding;
use self::gp::{Gp, Theta};
use self::observe::Observations;
use super::{Grid, History, ParamSet, Search, SearchError, SearchSize, Space, TrialState};

/// Coordinates beyond which the Parzen estimator is used instead of the
/// process (its length-scales would be poorly determined).
const MAX_GP_DIMS: usize = 32;
/// Observations the process is trained on at most: the best 40 % of them
/// and an even spread over the rest in run order.
const MAX_TRAINING: usize = 128;
/// Observations the hyperparameters are fitted on at most (chosen as for
/// training): a fit costs O(n^3) per step.
const MAX_FIT: usize = 100;
/// Up to this many results the hyperparameters are refitted after every
/// result; after it, each time the results have grown by a tenth.
const REFIT_EVERY_UNTIL: usize = 40;
/// Countable spaces up to this size are searched point by point for one not
/// yet run, when random draws find none.
const ENUMERABLE: u128 = 100_000;
/// Random draws for a point that keeps the constraints, before giving up.
const MAX_DRAWS: usize = 100_000;
/// Fits warm-started one from the other in a row (see `Bayes::theta`).
const CHAIN: usize = 8;

pub struct Bayes {
    encoding: Encoding,
    observe: observe::Rules,
    /// Several objectives or outcome constraints, turned into one value.
    shape: Option<shape::Shape>,
    seed: u64,
    initial: usize,
    /// How many distinct runs the space has, when it is countable.
    size: Option<u128>,
    /// Fitted hyperparameters per checkpoint, with a fingerprint of the data
    /// they were fitted on.
    /// By (slot, checkpoint): slot 0 the model's own values, slot j the
    /// j-th objective's when there are several.
    fits: HashMap<(usize, usize), (u64, Theta)>,
    /// The same for each outcome constraint's model, by (constraint, checkpoint).
    constraint_fits: HashMap<(usize, usize), (u64, Theta)>,
}

/// What a proposal was based on, for the log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    InitialDesign,
    /// Not enough results yet for a model.
    SpaceFilling,
    Model,
    /// The Parzen estimator, because the model could not be used.
    Fallback,
}

impl Bayes {
    pub fn new(spec: &SweepSpec, seed: u64) -> Self {
        let encoding = Encoding::new(Space::new(spec));
        let d = encoding.dims.len();
        let shape = shape::Shape::new(spec);
        let metric = match &shape {
            Some(shape) => shape.metric(spec),
            None => spec.metric.clone(),
        };
        Self {
            initial: (d + 3).clamp(5, 10),
            size: distinct_runs(&encoding),
            encoding,
            observe: observe::Rules::new(metric.as_ref()),
            shape,
            seed,
            fits: HashMap::new(),
            constraint_fits: HashMap::new(),
        }
    }

    /// The initial design: the first runs, before any result counts (points
    /// that break a constraint left out: the search draws others there).
    pub fn initial_design(&self) -> Vec<ParamSet> {
        self.design()
            .into_iter()
            .filter_map(|mut p| {
                self.encoding.settle(&mut p);
                self.encoding.feasible(&p).then(|| self.encoding.decode(&p))
            })
            .collect()
    }

    /// A Latin hypercube: each coordinate's range cut into `initial` strata,
    /// one point in each, strata shuffled per coordinate.
    fn design(&self) -> Vec<Vec<f64>> {
        let n = self.initial;
        let mut rng = self.rng(u64::MAX);
        let columns: Vec<Vec<f64>> = self
            .encoding
            .dims
            .iter()
            .map(|dim| {
                let mut strata: Vec<usize> = (0..n).collect();
                strata.shuffle(&mut rng);
                strata
                    .into_iter()
                    .map(|s| {
                        let u = (s as f64 + rng.random::<f64>()) / n as f64;
                        match &dim.kind {
                            encode::Kind::Categorical {
                                values,
                                weights: None,
                                ..
                            } => (u * values.len() as f64)
                                .floor()
                                .min(values.len() as f64 - 1.0),
                            _ => dim.design(u),
                        }
                    })
                    .collect()
            })
            .collect();
        (0..n)
            .map(|i| columns.iter().map(|c| c[i]).collect())
            .collect()
    }

    /// The random stream of proposal `index`.
    fn rng(&self, index: u64) -> ChaCha12Rng {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed ^ 0xba7e_5ba7_e5ba_7e5b);
        rng.set_stream(index);
        rng
    }

    /// The next point and what it was based on; `None` when every point of a
    /// finite space has been run.
    pub fn next(&mut self, history: &History) -> (Option<ParamSet>, Basis) {
        let index = history.trials.len();
        let original = history;
        let derived;
        let fit_histories = self
            .shape
            .as_ref()
            .map(|s| s.for_fit(history))
            .unwrap_or_default();
        let history = match &self.shape {
            Some(shape) => {
                derived = shape.derive(history, &mut self.shape_rng(index), false);
                &derived
            }
            None => history,
        };
        let obs = Observations::new(&self.encoding, &self.observe, history);
        let fit_obs: Vec<Observations> = fit_histories
            .iter()
            .map(|h| Observations::new(&self.encoding, &self.observe, h))
            .collect();
        let taken = obs.taken();
        if let Some(size) = self.size
            && obs.distinct_taken() as u128 >= size
        {
            return (None, Basis::Model);
        }
        let mut rng = self.rng(index as u64);
        let dims = &self.encoding.dims;
        // Seeds stand in for as many points of the initial design.
        if index + history.seeds.len() < self.initial {
            let mut p = self.design()[index].clone();
            self.encoding.settle(&mut p);
            if !taken.contains(dims, &p) && self.encoding.feasible(&p) {
                return (Some(self.encoding.decode(&p)), Basis::InitialDesign);
            }
        }
        if obs.len() < 2 || dims.is_empty() {
            tracing::info!(
                run = index,
                results = obs.len(),
                "bayes: fewer than 2 results so far, so this run is a random point"
            );
            return (self.random_point(&taken, &mut rng), Basis::SpaceFilling);
        }
        if dims.len() > MAX_GP_DIMS {
            tracing::info!(
                dims = dims.len(),
                "bayes: more than {MAX_GP_DIMS} searched parameters; using the Parzen estimator"
            );
            return (
                self.fallback(
                    &self.fallback_obs(original, index).unwrap_or(obs),
                    &taken,
                    &mut rng,
                ),
                Basis::Fallback,
            );
        }
        match self.model_point(&obs, &fit_obs, history, &taken, &mut rng) {
            Ok(Some(p)) => (Some(self.encoding.decode(&p)), Basis::Model),
            Ok(None) => {
                tracing::info!(
                    run = index,
                    "bayes: the model found only points already run; using the Parzen estimator"
                );
                (
                    self.fallback(
                        &self.fallback_obs(original, index).unwrap_or(obs),
                        &taken,
                        &mut rng,
                    ),
                    Basis::Fallback,
                )
            }
            Err(why) => {
                tracing::warn!(
                    run = index,
                    "bayes: {why}; using the Parzen estimator for this run"
                );
                (
                    self.fallback(
                        &self.fallback_obs(original, index).unwrap_or(obs),
                        &taken,
                        &mut rng,
                    ),
                    Basis::Fallback,
                )
            }
        }
    }

    /// The random stream of proposal `index`'s scalarisation weights.
    fn shape_rng(&self, index: usize) -> ChaCha12Rng {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed ^ 0x5ca1_a415_0b1e_c715);
        rng.set_stream(index as u64);
        rng
    }

    /// What the Parzen estimator learns from when there are outcome
    /// constraints: it has no model of them, so a run that breaks one is
    /// valued below every run that keeps them. `None`: the model's own.
    fn fallback_obs(&self, original: &History, index: usize) -> Option<Observations> {
        let shape = self
            .shape
            .as_ref()
            .filter(|s| !s.constraints().is_empty())?;
        let derived = shape.derive(original, &mut self.shape_rng(index), true);
        Some(Observations::new(&self.encoding, &self.observe, &derived))
    }

    fn fallback(
        &self,
        obs: &Observations,
        taken: &Taken,
        rng: &mut ChaCha12Rng,
    ) -> Option<ParamSet> {
        let (x, y) = obs.all();
        let proposed = tpe::propose(&self.encoding.dims, &x, &y, taken, rng).and_then(|mut p| {
            self.encoding.settle(&mut p);
            (!taken.contains(&self.encoding.dims, &p) && self.encoding.feasible(&p)).then_some(p)
        });
        match proposed {
            Some(p) => Some(self.encoding.decode(&p)),
            None => self.random_point(taken, rng),
        }
    }

    /// A random point not yet run: drawn, or when a thousand draws found
    /// none in a countable space of at most ENUMERABLE points, picked from
    /// those left. `None` when there is none.
    fn random_point(&self, taken: &Taken, rng: &mut ChaCha12Rng) -> Option<ParamSet> {
        let dims = &self.encoding.dims;
        let draws = if self.encoding.is_structured() {
            MAX_DRAWS
        } else {
            1000
        };
        let drawn = (0..draws)
            .map(|_| {
                let mut p = dims
                    .iter()
                    .map(|dim| uniform(dim, rng))
                    .collect::<Vec<f64>>();
                self.encoding.settle(&mut p);
                p
            })
            .find(|p| !taken.contains(dims, p) && self.encoding.feasible(p));
        let point = drawn.or_else(|| {
            let size = self.encoding.finite_size().filter(|&s| s <= ENUMERABLE)?;
            let left: Vec<Vec<f64>> = (0..size as u64)
                .map(|i| {
                    let mut p = self.encoding.point_number(i);
                    self.encoding.settle(&mut p);
                    p
                })
                .filter(|p| !taken.contains(dims, p) && self.encoding.feasible(p))
                .collect();
            (!left.is_empty()).then(|| left[rng.random_range(0..left.len())].clone())
        })?;
        Some(self.encoding.decode(&point))
    }

    fn model_point(
        &mut self,
        obs: &Observations,
        fit_obs: &[Observations],
        history: &History,
        taken: &Taken,
        rng: &mut ChaCha12Rng,
    ) -> Result<Option<Vec<f64>>, String> {
        let categorical = self.encoding.categorical();
        let d = categorical.len();
        if let Some(p) = self.ehvi_point(obs, fit_obs, history, taken, rng)? {
            return Ok(Some(p));
        }
        // One fit, or with several objectives one per objective, averaged
        // (in log space: the geometric mean of length-scales).
        let theta = if fit_obs.is_empty() {
            self.theta(obs, &categorical, 0)?
        } else {
            let mut sum: Option<Theta> = None;
            for (j, o) in fit_obs.iter().enumerate() {
                let t = self.theta(o, &categorical, j + 1)?;
                sum = Some(match sum {
                    Some(s) => s + t,
                    None => t,
                });
            }
            sum.expect("at least two objectives") / fit_obs.len() as f64
        };
        let (x, raw) = obs.training(MAX_TRAINING);
        let standardiser = observe::Standardiser::fit(&raw);
        let y: Vec<f64> = raw.iter().map(|&v| standardiser.apply(v)).collect();
        let feasibility = self.feasibility(history, &categorical);
        // The incumbent: the best run that keeps every outcome constraint.
        let incumbent = match &self.shape {
            Some(shape) if !shape.constraints().is_empty() => history
                .trials
                .iter()
                .filter(|t| t.state == TrialState::Finished && shape.keeps(t))
                .filter_map(|t| self.observe.best_oriented(&t.metric))
                .reduce(f64::min)
                .map(|v| standardiser.apply(v)),
            _ => y.iter().copied().reduce(f64::min),
        };
        let gp = Gp::new(&x, &y, d, &theta, &categorical)
            .ok_or("the kernel matrix could not be factorised")?;
        // Pending runs at the model's prediction (kriging believer).
        let pending = obs.pending();
        let gp = if pending.is_empty() {
            gp
        } else {
            let believed = gp.predict_many(pending);
            let mut xs = x.clone();
            let mut ys = y.clone();
            for (p, (mean, _)) in pending.iter().zip(believed) {
                xs.extend_from_slice(p);
                ys.push(mean);
            }
            Gp::new(&xs, &ys, d, &theta, &categorical)
                .ok_or("the kernel matrix with pending runs could not be factorised")?
        };
        let anchors = obs.best_points(&x, &y);
        let acquisition = Acquisition {
            gp: &gp,
            dims: &self.encoding.dims,
            best: incumbent.unwrap_or(f64::INFINITY),
            taken,
            anchors: &anchors,
            structure: self.encoding.is_structured().then_some(&self.encoding),
            feasibility: &feasibility,
            feasible_only: incumbent.is_none(),
        };
        Ok(acquisition.maximise(rng))
    }

    /// With two objectives (and no outcome constraints): the point of
    /// highest expected hypervolume improvement, on a model per objective;
    /// `None` when another way must choose (more objectives, constraints,
    /// no candidate that improves the front).
    fn ehvi_point(
        &mut self,
        obs: &Observations,
        fit_obs: &[Observations],
        history: &History,
        taken: &Taken,
        rng: &mut ChaCha12Rng,
    ) -> Result<Option<Vec<f64>>, String> {
        let Some(shape) = self.shape.clone() else {
            return Ok(None);
        };
        if shape.objectives() != 2 || !shape.constraints().is_empty() || fit_obs.len() != 2 {
            return Ok(None);
        }
        let categorical = self.encoding.categorical();
        let d = categorical.len();
        let mut x = Vec::new();
        let mut points: Vec<Vec<f64>> = Vec::new();
        for t in history
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Finished)
        {
            if let (Some(f), Some(p)) = (shape.oriented(t), self.encoding.encode(&t.params)) {
                x.push(p);
                points.push(f);
            }
        }
        if points.len() < 2 {
            return Ok(None);
        }
        // Trained on at most MAX_TRAINING runs: the best by the objectives'
        // sum of ranks, and an even spread over the rest.
        let rank = |j: usize| {
            let mut order: Vec<usize> = (0..points.len()).collect();
            order.sort_by(|&a, &b| points[a][j].total_cmp(&points[b][j]));
            let mut r = vec![0.0; points.len()];
            for (k, &i) in order.iter().enumerate() {
                r[i] = k as f64;
            }
            r
        };
        let (r0, r1) = (rank(0), rank(1));
        let score: Vec<f64> = r0.iter().zip(&r1).map(|(a, b)| a.min(*b)).collect();
        let rows = observe::select(&score, MAX_TRAINING);
        let xs: Vec<f64> = rows.iter().flat_map(|&i| x[i].iter().copied()).collect();
        let mut models = Vec::with_capacity(2);
        for j in 0..2 {
            let theta = self.theta(&fit_obs[j], &categorical, j + 1)?;
            let values: Vec<f64> = rows.iter().map(|&i| points[i][j]).collect();
            models.push(
                ehvi::Model::fit(&xs, &values, d, &theta, &categorical)
                    .ok_or("an objective's kernel matrix could not be factorised")?,
            );
        }
        let models: [ehvi::Model; 2] = models.try_into().map_err(|_| "two models")?;
        let on = crate::pareto::front(&points);
        let front: Vec<[f64; 2]> = on.iter().map(|&i| [points[i][0], points[i][1]]).collect();
        let anchors: Vec<Vec<f64>> = on.iter().map(|&i| x[i].clone()).collect();
        Ok(ehvi::propose(
            &models,
            ehvi::Target {
                front: &front,
                reference: ehvi::reference(&points, &front),
            },
            obs.pending(),
            &self.encoding,
            &anchors,
            taken,
            rng,
        ))
    }

    /// A model of each outcome constraint's excess (`metric - bound` for an
    /// upper bound) over the finished runs that logged its metric, with
    /// the bound in the model's standardised units; constraints fewer than
    /// two runs logged are left out (nothing to learn yet).
    fn feasibility(&mut self, history: &History, categorical: &[bool]) -> Vec<(Gp, f64)> {
        let Some(shape) = self.shape.clone() else {
            return Vec::new();
        };
        let d = categorical.len();
        let mut out = Vec::new();
        for (k, c) in shape.constraints().iter().enumerate() {
            let mut x = Vec::new();
            let mut excess = Vec::new();
            for t in history
                .trials
                .iter()
                .filter(|t| t.state == TrialState::Finished)
            {
                if let (Some(&v), Some(p)) =
                    (t.outcomes.get(&c.metric), self.encoding.encode(&t.params))
                {
                    x.extend(p);
                    excess.push(c.excess(v));
                }
            }
            if excess.len() < 2 {
                continue;
            }
            let theta = self.constraint_theta(k, &x, &excess, categorical);
            // Trained on at most MAX_TRAINING runs, the least excess first.
            let rows = observe::select(&excess, MAX_TRAINING);
            let xs: Vec<f64> = rows
                .iter()
                .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
                .collect();
            let es: Vec<f64> = rows.iter().map(|&i| excess[i]).collect();
            // Plain z-scores: the bound must stay apart from the values
            // even when every run so far broke it by the same amount.
            let n = es.len() as f64;
            let mean = es.iter().sum::<f64>() / n;
            let sd = (es.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
            let sd = if sd > 0.0 { sd } else { mean.abs().max(1.0) };
            let ys: Vec<f64> = es.iter().map(|e| (e - mean) / sd).collect();
            if let Some(gp) = Gp::new(&xs, &ys, d, &theta, categorical) {
                out.push((gp, -mean / sd));
            }
        }
        out
    }

    /// Constraint `k`'s hyperparameters: fitted at the latest checkpoint on
    /// its first runs (at most MAX_FIT of them), cached by the data's
    /// fingerprint.
    fn constraint_theta(
        &mut self,
        k: usize,
        x: &[f64],
        excess: &[f64],
        categorical: &[bool],
    ) -> Theta {
        let d = categorical.len();
        let c = checkpoints(excess.len())
            .last()
            .copied()
            .unwrap_or(excess.len());
        let rows = observe::select(&excess[..c], MAX_FIT);
        let fx: Vec<f64> = rows
            .iter()
            .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
            .collect();
        let fe: Vec<f64> = rows.iter().map(|&i| excess[i]).collect();
        let print = fingerprint(k as u64, &fx, &fe);
        if let Some((cached, theta)) = self.constraint_fits.get(&(k, c))
            && *cached == print
        {
            return theta.clone();
        }
        let fy = observe::standardise(&fe);
        // From the default only: a fit depends on its data alone, so a
        // restarted daemon (empty cache) proposes the same point.
        let starts = [fit::default_theta(d)];
        let theta = fit::fit(&fx, &fy, d, categorical, &starts)
            .map_or_else(|| fit::default_theta(d), |f| f.theta);
        self.constraint_fits.insert((k, c), (print, theta.clone()));
        theta
    }

    /// The hyperparameters for the current results: those fitted at the
    /// latest checkpoint. Each fit is warm-started from the one before it,
    /// within segments of CHAIN checkpoints (a segment's first fit starts
    /// from the default only), so a fit depends on at most CHAIN fits, all
    /// recomputed from the history when not cached.
    fn theta(
        &mut self,
        obs: &Observations,
        categorical: &[bool],
        slot: usize,
    ) -> Result<Theta, String> {
        let d = categorical.len();
        let checkpoints = checkpoints(obs.len());
        let last = checkpoints
            .len()
            .checked_sub(1)
            .ok_or("no results to fit")?;
        let segment = &checkpoints[last / CHAIN * CHAIN..=last];
        // A fit's fingerprint covers its data and that of the fits before it
        // in the segment (each warm-starts the next).
        let mut chained = 0;
        let data: Vec<_> = segment
            .iter()
            .map(|&c| {
                let (x, y) = obs.first(c, MAX_FIT);
                chained = fingerprint(chained, &x, &y);
                (c, chained, x, y)
            })
            .collect();
        // The newest checkpoint of the segment whose fit is cached and current.
        let mut previous: Option<Theta> = None;
        let mut start = 0;
        for (k, (c, print, _, _)) in data.iter().enumerate().rev() {
            if let Some((cached, theta)) = self.fits.get(&(slot, *c))
                && cached == print
            {
                previous = Some(theta.clone());
                start = k + 1;
                break;
            }
        }
        for (c, print, x, raw) in data.into_iter().skip(start) {
            let y = observe::standardise(&raw);
            let mut starts = vec![fit::default_theta(d)];
            if let Some(prev) = previous.take() {
                starts.insert(0, prev);
            }
            let theta = match fit::fit(&x, &y, d, categorical, &starts) {
                Some(fitted) => {
                    tracing::debug!(
                        results = c,
                        evaluations = fitted.evaluations,
                        "bayes: model fitted"
                    );
                    fitted.theta
                }
                // Kept (and cached), so the failure is not met again.
                None if starts.len() > 1 => {
                    tracing::warn!(
                        results = c,
                        "bayes: the model fit failed; keeping the previous fit"
                    );
                    starts.swap_remove(0)
                }
                None => return Err(format!("the model fit failed on {c} results")),
            };
            self.fits.insert((slot, c), (print, theta.clone()));
            previous = Some(theta);
        }
        previous.ok_or_else(|| "no results to fit".to_owned())
    }
}

/// How many distinct runs a countable space has: as its grid counts them
/// where it has conditions (a run lacks what its branch lacks) or
/// constraints (those that break one left out, when there are few enough
/// points to count); `None` when some coordinate is continuous.
fn distinct_runs(encoding: &Encoding) -> Option<u128> {
    let every = encoding.finite_size()?;
    if !encoding.is_structured() {
        return Some(every);
    }
    let counted = Grid::of_space(encoding.space.clone())
        .ok()
        .and_then(|grid| grid.count().exact());
    Some(counted.unwrap_or(every))
}

/// The result counts at which the hyperparameters are fitted, up to `m`:
/// every count from 2 to REFIT_EVERY_UNTIL, then growing by a tenth.
fn checkpoints(m: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut c = 2;
    while c <= m {
        out.push(c);
        c = if c < REFIT_EVERY_UNTIL {
            c + 1
        } else {
            c + c.div_ceil(10)
        };
    }
    out
}

fn fingerprint(before: u64, x: &[f64], y: &[f64]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    before.hash(&mut h);
    for v in x.iter().chain(y) {
        v.to_bits().hash(&mut h);
    }
    h.finish()
}

impl Search for Bayes {
    fn size(&self) -> SearchSize {
        SearchSize::Unbounded
    }

    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError> {
        Ok(self.next(history).0)
    }
}
