//! The scheduler's side of the GPUs: looking at them now and then (off
//! the async threads), what each look changes, `gpus.json` for `sweepctl
//! gpus`, and how many GPUs a sweep's run needs.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
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
        let look = tokio::task::spawn_blocking(move || looking.snapshot());
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
        self.placement.observe(snapshot);
        self.write_gpus();
    }

    /// What the runs of sweeps that share GPUs use of their memory, kept
    /// (the most per sweep) for placing their next runs.
    fn measure_gpu_memory(&mut self, apps: &[App]) {
        for (run, mib) in memory_by_run(apps, &self.home.sweeps()) {
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

/// The GPU memory (MiB) each run of this home uses, from a look's
/// processes: a process is a run's when `SWEEP_RUN_DIR` in its environment
/// (which a run's children inherit) is a run folder under `sweeps` (so
/// another home's runs, and other users' processes, which cannot be read,
/// are not counted).
pub(super) fn memory_by_run(apps: &[App], sweeps: &Path) -> HashMap<RunId, u64> {
    let mut used = HashMap::new();
    for app in apps {
        let Some(mib) = app.memory_mib else { continue };
        let Ok(environ) = std::fs::read(format!("/proc/{}/environ", app.pid)) else {
            continue;
        };
        let Some(dir) = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(b"SWEEP_RUN_DIR="))
        else {
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
            *used.entry(RunId { sweep, run }).or_insert(0) += mib;
        }
    }
    used
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

    fn process(run_dir: &Path) -> Child {
        Command::new("sleep")
            .arg("30")
            .env("SWEEP_RUN_DIR", run_dir)
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
    fn a_processs_memory_counts_for_the_run_whose_folder_its_environment_names() {
        let home = tempfile::tempdir().unwrap();
        let sweeps = home.path().join("sweeps");
        let id = "20261205-000000-t-abcd";
        let run = sweeps.join(id).join("runs/0003");
        let mut children = [
            process(&run),
            process(&run),
            process(
                &home
                    .path()
                    .join("elsewhere/sweeps")
                    .join(id)
                    .join("runs/0001"),
            ),
            process(&sweeps.join(id).join("runs/0004")),
        ];
        let apps = [
            app(&children[0], Some(1000)),
            app(&children[1], Some(500)),
            app(&children[2], Some(7000)),
            app(&children[3], None),
        ];
        let used = memory_by_run(&apps, &sweeps);
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let three = RunId {
            sweep: id.parse().unwrap(),
            run: 3,
        };
        assert_eq!(
            used.len(),
            1,
            "another home's and an unmeasured run are not counted: {used:?}"
        );
        assert_eq!(used[&three], 1500, "a run's processes add up");
    }
}
