//! The scheduler's side of the GPUs: looking at them now and then (off
//! the async threads), what each look changes, `gpus.json` for `sweepctl
//! gpus`, and how many GPUs a sweep's run needs.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::sweep::Sweep;
use super::{Scheduler, recorded};
use crate::gpu::placement::{Lease, Placement, Share};
use crate::gpu::{self, App, Gpu, Probe, Snapshot};
use crate::store::RunId;
use crate::sweep::Event;
use sweepd_core::spec::GpuShare;

/// Look at the GPUs every `every` (off the async threads: nvidia-smi may take
/// seconds) and hand each look to the scheduler, until it is gone.
pub(super) async fn sample_gpus(
    config: gpu::ProbeConfig,
    every: Duration,
    list_processes: Arc<AtomicBool>,
    to: mpsc::Sender<Snapshot>,
) {
    let Ok(probe) = tokio::task::spawn_blocking(move || Arc::new(Probe::new(config))).await else {
        return;
    };
    // nvidia-smi is killed after SMI_TIMEOUT, but NVML or a process stuck
    // in the driver may not return at all: the scheduler hears of it.
    let bound = gpu::SMI_TIMEOUT + Duration::from_secs(5);
    loop {
        let looking = Arc::clone(&probe);
        let processes = list_processes.load(Ordering::Relaxed);
        let look = tokio::task::spawn_blocking(move || looking.snapshot_with(processes));
        let snapshot = match tokio::time::timeout(bound, look).await {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(_)) => return,
            Err(_) => Snapshot::failure(
                "NVML/nvidia-smi".into(),
                format!(
                    "the look at the GPUs did not finish within {} s",
                    bound.as_secs()
                ),
            ),
        };
        if to.send(snapshot).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

impl Scheduler {
    /// `gpus.json`: the GPUs as last seen and which runs hold them, for
    /// `sweepctl gpus`. Written when it changes (not its time).
    pub(super) fn write_gpus(&mut self) {
        let Some(mut report) = self.placement.report() else {
            return;
        };
        if self.gpus_written.as_ref() == Some(&report) {
            return;
        }
        self.gpus_written = Some(report.clone());
        report.taken_at = crate::store::now();
        let path = self.home.gpus_file();
        if let Err(e) = crate::store::atomic::write_json(&path, &report) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the GPUs' state");
        }
    }

    /// A look at the GPUs: to placement, to gpus.json, and to the log when
    /// what there is changed (the first look; a look failing or working again).
    pub(super) fn observe_gpus(&mut self, snapshot: Snapshot) {
        let first = !self.placement.ready();
        let failed_before = self.placement.failing();
        let failed = snapshot.failed;
        if first || failed != failed_before {
            let gpus: Vec<String> = snapshot
                .gpus
                .iter()
                .map(|g| format!("{} {} {}", g.index, g.name, g.uuid))
                .collect();
            let listed = if gpus.is_empty() {
                "none".to_owned()
            } else {
                gpus.join("; ")
            };
            if failed {
                tracing::warn!(source = %snapshot.source, "cannot look at the GPUs: {}", snapshot.note.as_deref().unwrap_or(""));
            } else {
                tracing::info!(source = %snapshot.source, note = snapshot.note.as_deref().unwrap_or(""), "GPUs: {listed}");
            }
        }
        self.measure_gpu_memory(&snapshot.apps);
        let sharing = self
            .sweeps
            .values()
            .any(|s| matches!(s.spec.sweepd.gpus_per_run, Some(GpuShare::Fraction { .. })));
        self.list_processes.store(sharing, Ordering::Relaxed);
        self.placement.observe(snapshot);
        self.write_gpus();
    }

    /// What the runs of sweeps that share GPUs use of their memory, kept
    /// (the most per sweep) for placing their next runs; and what our runs
    /// use of each GPU whose processes the look listed, for placement to
    /// tell others' memory from ours.
    fn measure_gpu_memory(&mut self, apps: &[App]) {
        let mut by_run: HashMap<RunId, u64> = HashMap::new();
        let mut ours_on: HashMap<String, u64> =
            apps.iter().map(|app| (app.gpu_uuid.clone(), 0)).collect();
        for seen in runs_of(apps, &self.home.sweeps()) {
            let Some(sweep) = self.sweeps.get(&seen.run.sweep) else {
                continue;
            };
            // Its token, not only its folder: an environment anyone can set.
            let token = sweep
                .model
                .run(seen.run.run)
                .and_then(|r| r.summary.token.as_deref());
            if token != Some(seen.token.as_str()) {
                continue;
            }
            *ours_on.entry(seen.gpu).or_insert(0) += seen.mib;
            *by_run.entry(seen.run).or_insert(0) += seen.mib;
        }
        self.placement.ours_seen(ours_on);
        for (run, mib) in by_run {
            let Some(sweep) = self.sweeps.get_mut(&run.sweep) else {
                continue;
            };
            if !matches!(
                sweep.spec.sweepd.gpus_per_run,
                Some(GpuShare::Fraction { .. })
            ) {
                continue;
            }
            let result = sweep.on(Event::GpuMemory(mib));
            recorded(
                &mut self.disk,
                sweep,
                result,
                "cannot record the GPU memory of its runs",
            );
        }
    }
}

/// A process on a GPU that names a run of this home.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RunProcess {
    pub run: RunId,
    /// The run token in its environment, to check against the run's.
    pub token: String,
    pub gpu: String,
    pub mib: u64,
}

/// The processes of a look that are runs' of this home: this user's, with
/// `SWEEP_RUN_DIR` in their environment (which a run's children inherit)
/// naming a run folder under `sweeps`, and a run token. Another home's
/// runs and other users' processes are not counted.
pub(super) fn runs_of(apps: &[App], sweeps: &Path) -> Vec<RunProcess> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let mut found = Vec::new();
    for app in apps {
        let Some(mib) = app.memory_mib else { continue };
        let proc_dir = format!("/proc/{}", app.pid);
        if std::fs::metadata(&proc_dir).map_or(true, |m| m.uid() != me) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("{proc_dir}/environ")) else {
            continue;
        };
        let var = |name: &[u8]| {
            environ
                .split(|&b| b == 0)
                .find_map(|v| v.strip_prefix(name))
        };
        let (Some(dir), Some(token)) = (
            var(b"SWEEP_RUN_DIR="),
            var(format!("{}=", crate::executor::orphans::TOKEN_VAR).as_bytes()),
        ) else {
            continue;
        };
        let dir = Path::new(std::ffi::OsStr::from_bytes(dir));
        let Ok(rest) = dir.strip_prefix(sweeps) else {
            continue;
        };
        let parts: Vec<&str> = rest.iter().filter_map(|p| p.to_str()).collect();
        if let [sweep, "runs", run] = parts[..]
            && let (Ok(sweep), Ok(run)) = (sweep.parse(), run.parse())
        {
            found.push(RunProcess {
                run: RunId { sweep, run },
                token: String::from_utf8_lossy(token).into_owned(),
                gpu: app.gpu_uuid.clone(),
                mib,
            });
        }
    }
    found
}

/// What a run of `sweep` that shares a GPU is counted to need there: the
/// file's `gpu_memory`, else the most a run of it was seen to use and a
/// fifth more (memory in use moves), else `None` (its share of the GPU).
pub(super) fn memory_estimate(sweep: &Sweep) -> Option<u64> {
    sweep.spec.sweepd.gpu_memory_mib.or_else(|| {
        sweep
            .model
            .record()
            .gpu_memory_mib
            .map(|seen| seen + seen.div_ceil(5))
    })
}

/// GPUs each run of `sweep` gets: `sweepd.gpus_per_run`, else 1 where there
/// are GPUs and 0 where there are none; `None` until the GPUs have been
/// looked at (a sweep that says 0 need not wait for that).
pub(super) fn gpus_needed(sweep: &Sweep, placement: &Placement) -> Option<GpuShare> {
    if sweep.is_slurm() {
        // Slurm places its jobs.
        return Some(GpuShare::Whole(0));
    }
    match sweep.spec.sweepd.gpus_per_run {
        Some(GpuShare::Whole(0)) => Some(GpuShare::Whole(0)),
        _ if !placement.ready() => None,
        Some(share) => Some(share),
        None => Some(GpuShare::Whole(u32::from(!placement.gpus().is_empty()))),
    }
}

/// GPUs for a run of `sweep` that needs `need` (not none), locked: whole
/// ones, or a share of one.
pub(super) fn lease(
    placement: &mut Placement,
    sweep: &Sweep,
    need: GpuShare,
) -> Result<Lease, String> {
    match need {
        GpuShare::Whole(n) => placement.lease(n, Instant::now()),
        GpuShare::Fraction { per_gpu } => {
            placement.lease_share(per_gpu, memory_estimate(sweep), Instant::now())
        }
    }
}

/// The share of `gpu` a run of `sweep` holds, if its runs share GPUs (for
/// a run taken up after a restart).
pub(super) fn share_of(sweep: &Sweep, gpu: Option<&Gpu>) -> Option<Share> {
    let GpuShare::Fraction { per_gpu } = sweep.spec.sweepd.gpus_per_run? else {
        return None;
    };
    let memory_mib = memory_estimate(sweep).unwrap_or_else(|| {
        gpu.and_then(|g| g.memory_total_mib)
            .map_or(0, |total| total / u64::from(per_gpu))
    });
    Some(Share {
        per_gpu,
        memory_mib,
    })
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};

    use super::*;

    fn process(run_dir: &Path, token: &str) -> Child {
        Command::new("sleep")
            .arg("30")
            .env("SWEEP_RUN_DIR", run_dir)
            .env("SWEEPD_RUN_TOKEN", token)
            .spawn()
            .unwrap()
    }

    fn app(child: &Child, mib: Option<u64>) -> App {
        App {
            gpu_uuid: "GPU-test-0".into(),
            pid: child.id(),
            memory_mib: mib,
        }
    }

    #[test]
    fn a_gpu_process_is_a_runs_when_its_environment_names_the_runs_folder() {
        let home = tempfile::tempdir().unwrap();
        let sweeps = home.path().join("sweeps");
        let id = "20261205-000000-t-abcd";
        let run = sweeps.join(id).join("runs/0003");
        let mut children = [
            process(&run, "t3"),
            process(
                &home
                    .path()
                    .join("elsewhere/sweeps")
                    .join(id)
                    .join("runs/0001"),
                "t1",
            ),
            process(&sweeps.join(id).join("runs/0004"), "t4"),
        ];
        let apps = [
            app(&children[0], Some(1000)),
            app(&children[1], Some(7000)),
            app(&children[2], None),
        ];
        let found = runs_of(&apps, &sweeps);
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let three = RunId {
            sweep: id.parse().unwrap(),
            run: 3,
        };
        assert_eq!(
            found,
            [RunProcess {
                run: three,
                token: "t3".into(),
                gpu: "GPU-test-0".into(),
                mib: 1000
            }],
            "another home's and an unmeasured run are not counted"
        );
    }
}
