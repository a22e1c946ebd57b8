//! Runs that share a GPU (`gpus_per_run: 0.25`): up to k runs of 1/k on
//! one GPU, of one sweep or of several, never beside a run that holds a
//! GPU whole. The GPU's lock is taken by the first and held until the last
//! one ends, each run's monitor holding the same locked file (so another
//! user's sweepd never shares a GPU with ours). A run goes where its
//! memory fits: the GPU's total less what our runs on it are counted to
//! need and what others use of it (what the last look saw in use, less what
//! it saw our runs use where it listed the GPU's processes; else less our
//! counts). A run needing more than an idle GPU has free is counted at that
//! much, so that it always fits alone on an idle GPU.

use std::time::Instant;

use super::{Gpu, Held, Lease, Placement, Share};

impl Placement {
    /// A share of one GPU for a run, locked; or why there is none now. GPUs
    /// already shared come first, the fullest first, so that whole GPUs
    /// stay free for runs that need them whole.
    pub fn lease_share(
        &mut self,
        per_gpu: u32,
        memory_mib: Option<u64>,
        now: Instant,
    ) -> Result<Lease, String> {
        let mut gpus = self.usable(1, &format!("1/{per_gpu} of a GPU"))?;
        let used = |p: &Placement, g: &Gpu| {
            p.held
                .get(&g.uuid)
                .filter(|h| h.shared() && h.lock.is_some())
                .map_or(-1.0, Held::used)
        };
        gpus.sort_by(|a, b| used(self, b).total_cmp(&used(self, a)));
        let share = 1.0 / f64::from(per_gpu);
        let mut reasons = Vec::new();
        for gpu in gpus {
            let need = memory_mib
                .unwrap_or_else(|| {
                    gpu.memory_total_mib
                        .map_or(0, |total| total / u64::from(per_gpu))
                })
                .min(self.idle_free(&gpu));
            let lease = |lock| Lease {
                gpus: vec![gpu.clone()],
                locks: vec![lock],
                share: Some(Share {
                    per_gpu,
                    memory_mib: need,
                }),
            };
            let tried = match self.held.get(&gpu.uuid) {
                Some(held) if !held.shared() => Err(format!("held by run {}", held.names())),
                Some(held) if held.used() + share > 1.0 + 1e-9 => {
                    Err(format!("shared by as many runs as fit ({})", held.names()))
                }
                Some(held) => match &held.lock {
                    None => Err(
                        "shared by runs taken up after a restart: no new run until they end"
                            .to_owned(),
                    ),
                    Some(lock) => {
                        let lock = lock.clone();
                        self.room(&gpu, need).map(|()| lease(lock))
                    }
                },
                None => self
                    .free(&gpu, now)
                    .and_then(|()| self.room(&gpu, need))
                    .and_then(|()| self.lock(&gpu))
                    .map(lease),
            };
            match tried {
                Ok(lease) => return Ok(lease),
                Err(why) => reasons.push(format!("GPU {}: {why}", gpu.index)),
            }
        }
        Err(format!(
            "waiting for 1/{per_gpu} of a GPU: {}",
            reasons.join("; ")
        ))
    }

    /// What an idle GPU has free at least (it is busy above that use).
    fn idle_free(&self, gpu: &Gpu) -> u64 {
        gpu.memory_total_mib.map_or(u64::MAX, |total| {
            total.saturating_sub(self.memory_limit(gpu))
        })
    }

    /// Whether `need` MiB fit on the GPU. A GPU that does not report its
    /// memory (MIG, vGPU) is not checked: its lock is the only guard.
    fn room(&self, gpu: &Gpu, need: u64) -> Result<(), String> {
        let Some(total) = gpu.memory_total_mib else {
            return Ok(());
        };
        let ours: u64 = self.held.get(&gpu.uuid).map_or(0, |h| {
            h.runs
                .iter()
                .map(|(_, share)| share.map_or(total, |s| s.memory_mib))
                .sum()
        });
        let seen = gpu.memory_used_mib.unwrap_or(0);
        let others = match self.ours_seen.get(&gpu.uuid) {
            Some(ours_seen) => seen.saturating_sub(*ours_seen),
            // Its processes unknown: what is seen may all be ours.
            None => seen.saturating_sub(ours),
        };
        let free = total.saturating_sub(ours + others);
        if free < need {
            return Err(format!(
                "{free} MiB of its memory free, a run needs {need} MiB"
            ));
        }
        Ok(())
    }
}
