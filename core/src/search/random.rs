//! Random search: independent draws per parameter, seeded.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::spec::Parameters;

use super::sample::sample;
use super::{History, ParamSet, Search, SearchError, SearchSize, Space};

/// Run number `i` draws from its own ChaCha stream `i` of the sweep's seed, so
/// its parameters depend on the seed and `i` only: a restarted daemon proposes
/// exactly what it would have, and a run added later does not shift the others.
#[derive(Debug, Clone)]
pub struct Random {
    space: Space,
    seed: u64,
}

impl Random {
    pub fn new(parameters: &Parameters, seed: u64) -> Self {
        Self {
            space: Space::new(parameters),
            seed,
        }
    }

    /// The parameters of run number `index` (counting from 0).
    pub fn draw(&self, index: u64) -> ParamSet {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        let values = self
            .space
            .leaves
            .iter()
            .map(|leaf| sample(&leaf.distribution, &mut rng))
            .collect();
        self.space.assemble(values)
    }
}

impl Search for Random {
    fn size(&self) -> SearchSize {
        SearchSize::Unbounded
    }

    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError> {
        Ok(Some(self.draw(history.trials.len() as u64)))
    }
}

#[cfg(test)]
mod tests;
