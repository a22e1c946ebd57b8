//! Random search: independent draws per parameter, seeded. A draw that
//! breaks a constraint is drawn again, from the same stream.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::spec::SweepSpec;

use super::sample::sample;
use super::{History, ParamSet, Search, SearchError, SearchSize, Space};

/// Draws per run before the constraints are said to leave too little.
pub const MAX_DRAWS: u32 = 100_000;

/// Run number `i` draws from its own ChaCha stream `i` of the sweep's seed, so
/// its parameters depend on the seed and `i` only: a restarted daemon proposes
/// exactly what it would have, and a run added later does not shift the others.
#[derive(Debug, Clone)]
pub struct Random {
    space: Space,
    seed: u64,
}

impl Random {
    pub fn new(spec: &SweepSpec, seed: u64) -> Self {
        Self::of_space(Space::new(spec), seed)
    }

    pub fn of_space(space: Space, seed: u64) -> Self {
        Self { space, seed }
    }

    /// The parameters of run number `index` (counting from 0); `None` when
    /// MAX_DRAWS draws all broke a constraint.
    pub fn try_draw(&self, index: u64) -> Option<ParamSet> {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        for _ in 0..MAX_DRAWS {
            let values: Vec<_> = self
                .space
                .leaves
                .iter()
                .map(|leaf| sample(&leaf.distribution, &mut rng))
                .collect();
            if !self.space.is_constrained()
                || self.space.satisfies(&values, &self.space.active(&values))
            {
                return Some(self.space.assemble(values));
            }
        }
        None
    }

    /// Successive draws of run number `index`'s stream, one value per leaf,
    /// whatever the constraints: what given runs are filled in from.
    pub fn fills(&self, index: u64) -> impl Iterator<Item = Vec<serde_json::Value>> + '_ {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        std::iter::repeat_with(move || {
            self.space
                .leaves
                .iter()
                .map(|leaf| sample(&leaf.distribution, &mut rng))
                .collect()
        })
    }

    /// The parameters of run number `index`: a draw that may break a
    /// constraint when none that keeps them was found.
    pub fn draw(&self, index: u64) -> ParamSet {
        self.try_draw(index).unwrap_or_else(|| {
            let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
            rng.set_stream(index);
            let values = self
                .space
                .leaves
                .iter()
                .map(|leaf| sample(&leaf.distribution, &mut rng))
                .collect();
            self.space.assemble(values)
        })
    }
}

impl Search for Random {
    fn size(&self) -> SearchSize {
        SearchSize::Unbounded
    }

    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError> {
        match self.try_draw(history.trials.len() as u64) {
            Some(params) => Ok(Some(params)),
            None => Err(SearchError::NoFeasiblePoint(MAX_DRAWS)),
        }
    }
}

#[cfg(test)]
mod tests;
