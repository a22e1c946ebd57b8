//! Which GPUs a run may have. A GPU is free for a run when no run of ours
//! holds it, it was not released in the last `cooldown` (memory is freed
//! lazily), every recent sample shows memory use and utilisation under the
//! thresholds (someone else's job counts), and no other sweepd holds its
//! lock: a file per GPU in a folder every user can write, `flock`ed for the
//! run's life, so that two users' daemons never place on the same GPU even
//! before its memory shows the first one's job. A GPU whose lock cannot be
//! taken safely (`lock`) is not used.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Gpu, Snapshot};
use crate::settings;
use crate::store::RunId;

/// When a GPU counts as busy.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// Memory used by anyone above max(this, `max_memory_fraction` of the
    /// total) makes a GPU busy.
    pub max_memory_mib: u64,
    pub max_memory_fraction: f64,
    /// Utilisation above this (%) makes it busy.
    pub max_utilization_pct: u32,
    /// How many recent samples must all be under the thresholds.
    pub samples: usize,
    /// How long a GPU rests after a run of ours released it.
    pub cooldown: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_memory_mib: settings::defaults::gpu_max_memory_mib(),
            max_memory_fraction: 0.05,
            max_utilization_pct: settings::defaults::gpu_max_utilization(),
            samples: 3,
            cooldown: settings::defaults::gpu_cooldown(),
        }
    }
}

/// GPUs taken for a run that is about to start, with their locks.
#[derive(Debug)]
pub struct Lease {
    pub gpus: Vec<Gpu>,
    locks: Vec<Arc<File>>,
    /// A share of one GPU: 1/k of it, and the memory (MiB) the run is
    /// counted to need there.
    share: Option<Share>,
}

impl Lease {
    /// Each GPU's UUID and its locked file, to hand to the run's monitor.
    pub fn locks(&self) -> Vec<(String, Arc<File>)> {
        self.gpus
            .iter()
            .map(|g| g.uuid.clone())
            .zip(self.locks.iter().cloned())
            .collect()
    }
}

/// 1/`per_gpu` of a GPU, and the memory (MiB) counted as the run's there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub per_gpu: u32,
    pub memory_mib: u64,
}

/// Memory used (MiB) and utilisation (%), as one look saw them.
type Sample = (Option<u64>, Option<u32>);

/// The runs of ours on one GPU: one that holds it whole, or runs that
/// share it, each with its share.
#[derive(Debug)]
struct Held {
    runs: Vec<(RunId, Option<Share>)>,
    /// The GPU's lock, locked; None while only runs taken up after a
    /// restart hold it (their monitors hold the lock).
    lock: Option<Arc<File>>,
}

impl Held {
    fn shared(&self) -> bool {
        self.runs.iter().all(|(_, share)| share.is_some())
    }

    /// How much of the GPU our runs hold (1 for a whole one).
    fn used(&self) -> f64 {
        self.runs
            .iter()
            .map(|(_, share)| share.map_or(1.0, |s| 1.0 / f64::from(s.per_gpu)))
            .sum()
    }

    fn names(&self) -> String {
        let names: Vec<String> = self.runs.iter().map(|(run, _)| run.to_string()).collect();
        names.join(", ")
    }
}

/// The GPUs, what has been seen of them, and which runs of ours hold them.
#[derive(Debug)]
pub struct Placement {
    thresholds: Thresholds,
    lock_dir: PathBuf,
    /// The latest snapshot that worked, once one came.
    latest: Option<Snapshot>,
    /// Why the latest look failed, while it does: nothing is placed then
    /// (the GPUs may be busy; we cannot tell).
    failing: Option<String>,
    /// Recent samples by uuid, newest last.
    history: HashMap<String, VecDeque<Sample>>,
    held: BTreeMap<String, Held>,
    released: HashMap<String, Instant>,
    /// Why a GPU's lock is unsafe to take, as last logged (said once).
    unsafe_locks: HashMap<String, String>,
    /// What the latest look saw our runs use of each GPU whose processes
    /// it listed (MiB): the rest of its memory in use is others'.
    ours_seen: HashMap<String, u64>,
}

impl Placement {
    pub fn new(thresholds: Thresholds, lock_dir: PathBuf) -> Placement {
        Placement {
            thresholds,
            lock_dir,
            latest: None,
            failing: None,
            history: HashMap::new(),
            held: BTreeMap::new(),
            released: HashMap::new(),
            unsafe_locks: HashMap::new(),
            ours_seen: HashMap::new(),
        }
    }

    /// What the latest look saw runs of ours use of each GPU whose
    /// processes it listed (a GPU it could not list is left out).
    pub fn ours_seen(&mut self, by_gpu: HashMap<String, u64>) {
        self.ours_seen = by_gpu;
    }

    /// A new look at the GPUs. A failed look after GPUs were seen keeps them
    /// (placing nothing until a look works again); before, it means none.
    pub fn observe(&mut self, snapshot: Snapshot) {
        if snapshot.failed {
            let why = snapshot.note.clone().unwrap_or_default();
            self.failing = Some(why);
            if self.latest.as_ref().is_some_and(|s| !s.gpus.is_empty()) {
                return;
            }
        } else {
            self.failing = None;
        }
        let keep = self.thresholds.samples.max(1);
        for gpu in &snapshot.gpus {
            // A look begun before our run let go of this GPU saw our run.
            let stale = match (snapshot.began, self.released.get(&gpu.uuid)) {
                (Some(began), Some(released)) => began < *released,
                _ => false,
            };
            if stale {
                continue;
            }
            let samples = self.history.entry(gpu.uuid.clone()).or_default();
            samples.push_back((gpu.memory_used_mib, gpu.utilization_pct));
            while samples.len() > keep {
                samples.pop_front();
            }
        }
        self.latest = Some(snapshot);
    }

    /// Whether the latest look failed.
    pub fn failing(&self) -> bool {
        self.failing.is_some()
    }

    /// Whether the GPUs have been looked at yet.
    pub fn ready(&self) -> bool {
        self.latest.is_some()
    }

    pub fn gpus(&self) -> &[Gpu] {
        self.latest.as_ref().map_or(&[], |s| &s.gpus)
    }

    /// `n` free GPUs, locked; or why there are not `n` free now.
    pub fn lease(&mut self, n: u32, now: Instant) -> Result<Lease, String> {
        let gpus = self.usable(n, &format!("{n} GPU(s)"))?;
        let mut lease = Lease {
            gpus: Vec::new(),
            locks: Vec::new(),
            share: None,
        };
        let mut reasons = Vec::new();
        for gpu in gpus {
            if lease.gpus.len() == n as usize {
                break;
            }
            match self.free(&gpu, now).and_then(|()| self.lock(&gpu)) {
                Err(why) => reasons.push(format!("GPU {}: {why}", gpu.index)),
                Ok(lock) => {
                    lease.locks.push(lock);
                    lease.gpus.push(gpu);
                }
            }
        }
        if lease.gpus.len() < n as usize {
            // Dropping the lease unlocks what it took.
            return Err(format!(
                "waiting for {n} free GPU(s): {}",
                reasons.join("; ")
            ));
        }
        Ok(lease)
    }

    /// The GPUs sweepd sees, or why there are fewer than `n` (`needs`
    /// says what a run needs), or why none may be placed now.
    fn usable(&self, n: u32, needs: &str) -> Result<Vec<Gpu>, String> {
        if let Some(why) = &self.failing
            && !self.gpus().is_empty()
        {
            return Err(format!("waiting: the last look at the GPUs failed: {why}"));
        }
        let gpus = self.gpus().to_vec();
        if gpus.len() < n as usize {
            let why = self
                .latest
                .as_ref()
                .and_then(|s| s.note.clone())
                .map_or_else(String::new, |note| format!(" ({note})"));
            return Err(format!(
                "each run needs {needs} and sweepd sees {}{why}",
                gpus.len()
            ));
        }
        Ok(gpus)
    }

    /// The GPU's lock, taken; a lock unsafe to take is said once in the log.
    fn lock(&mut self, gpu: &Gpu) -> Result<Arc<File>, String> {
        match lock::lock(&self.lock_dir, &gpu.uuid) {
            Ok(lock) => {
                self.unsafe_locks.remove(&gpu.uuid);
                Ok(Arc::new(lock))
            }
            Err(why) => {
                if let lock::Refused::Unsafe(what) = &why
                    && self.unsafe_locks.get(&gpu.uuid) != Some(what)
                {
                    tracing::warn!(gpu = gpu.index, uuid = %gpu.uuid, "GPU not used: its lock is unsafe to take: {what}");
                    self.unsafe_locks.insert(gpu.uuid.clone(), what.clone());
                }
                Err(why.to_string())
            }
        }
    }

    /// The run now holds the lease's GPUs (or its share of one).
    pub fn hold(&mut self, run: &RunId, lease: Lease) {
        for (gpu, lock) in lease.gpus.into_iter().zip(lease.locks) {
            let held = self.held.entry(gpu.uuid).or_insert_with(|| Held {
                runs: Vec::new(),
                lock: Some(lock),
            });
            held.runs.push((run.clone(), lease.share));
        }
    }

    /// A run taken up after a restart holds these GPUs (by UUID), whole or
    /// its `share` of one: its monitor holds their locks, so no other
    /// sweepd takes them, and this one hands them to no other run until it
    /// ends (a shared one gets no new runs: see `lease_share`).
    pub fn hold_adopted(&mut self, run: &RunId, uuids: &[String], share: Option<Share>) {
        for uuid in uuids {
            let held = self.held.entry(uuid.clone()).or_insert_with(|| Held {
                runs: Vec::new(),
                lock: None,
            });
            held.runs.push((run.clone(), share));
        }
    }

    /// The run ended: a GPU it held, or shared with no one now, rests for
    /// the cooldown, then is free again.
    pub fn release(&mut self, run: &RunId, now: Instant) {
        let mut emptied = Vec::new();
        for (uuid, held) in &mut self.held {
            held.runs.retain(|(r, _)| r != run);
            if held.runs.is_empty() {
                emptied.push(uuid.clone());
            }
        }
        for uuid in emptied {
            self.held.remove(&uuid);
            // Samples taken while our run used it say nothing about others.
            self.history.remove(&uuid);
            self.released.insert(uuid, now);
        }
    }

    /// What `gpus.json` says: the latest look and who holds what (`None`
    /// before the first look).
    pub fn report(&self) -> Option<super::Report> {
        let snapshot = self.latest.as_ref()?;
        Some(super::Report {
            version: crate::store::RECORD_VERSION,
            taken_at: String::new(),
            source: snapshot.source.clone(),
            note: snapshot.note.clone(),
            gpus: snapshot
                .gpus
                .iter()
                .map(|gpu| {
                    let held = self.held.get(&gpu.uuid);
                    super::HeldGpu {
                        gpu: gpu.clone(),
                        held_by: held.map(Held::names),
                        shared: held.filter(|h| h.shared()).map(Held::used),
                    }
                })
                .collect(),
        })
    }

    /// Memory in use (by anyone) above which a GPU is busy.
    fn memory_limit(&self, gpu: &Gpu) -> u64 {
        let t = &self.thresholds;
        gpu.memory_total_mib.map_or(t.max_memory_mib, |total| {
            t.max_memory_mib
                .max((total as f64 * t.max_memory_fraction) as u64)
        })
    }

    fn free(&self, gpu: &Gpu, now: Instant) -> Result<(), String> {
        if let Some(h) = self.held.get(&gpu.uuid) {
            return Err(if h.shared() {
                format!("shared by run(s) {}", h.names())
            } else {
                format!("held by run {}", h.names())
            });
        }
        if let Some(at) = self.released.get(&gpu.uuid)
            && now.duration_since(*at) < self.thresholds.cooldown
        {
            return Err("released moments ago (cooling down)".into());
        }
        let t = &self.thresholds;
        let memory_limit = self.memory_limit(gpu);
        let samples = self.history.get(&gpu.uuid);
        if samples.is_none_or(|s| s.is_empty()) {
            return Err("not sampled since it was last used".into());
        }
        for (memory, utilization) in samples.into_iter().flatten() {
            if memory.is_some_and(|m| m > memory_limit)
                || utilization.is_some_and(|u| u > t.max_utilization_pct)
            {
                return Err(format!(
                    "in use by others (over {memory_limit} MiB or {} % in the last {} samples)",
                    t.max_utilization_pct, t.samples
                ));
            }
        }
        Ok(())
    }
}

/// Where the cross-user GPU locks live: /run/lock/sweepd where that exists
/// or /run/lock is writable (Debian and Ubuntu: mode 1777), else the fixed
/// /tmp/sweepd-gpu-locks (not $TMPDIR: every user's sweepd must agree).
/// systemd/tmpfiles-sweepd.conf creates /run/lock/sweepd at boot. Something
/// other than a real folder at /run/lock/sweepd (a planted link) is chosen
/// all the same, so that the check when locking says what is wrong, rather
/// than every sweepd quietly moving to /tmp.
pub fn default_lock_dir() -> PathBuf {
    use nix::unistd::{AccessFlags, access};
    let ours = Path::new("/run/lock/sweepd");
    let writable = |p: &Path| access(p, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    let chosen = match std::fs::symlink_metadata(ours) {
        Ok(meta) => !meta.is_dir() || writable(ours),
        Err(_) => writable(Path::new("/run/lock")),
    };
    if chosen {
        ours.to_owned()
    } else {
        PathBuf::from("/tmp/sweepd-gpu-locks")
    }
}

/// Whether GPU locks can be taken safely in `dir` (for `sweepctl
/// doctor`): `Ok` with what there is, or why not and how to fix it.
pub fn check_lock_folder(dir: &Path) -> Result<String, String> {
    lock::check_folder(dir)
}

mod lock;
mod shares;
#[cfg(test)]
mod tests;
