//! The scheduler's side of the GPUs: looking at them now and then (off
//! the async threads), what each look changes, `gpus.json` for `sweepctl
//! gpus`, and how many GPUs a sweep's run needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Scheduler;
use super::sweep::Sweep;
use crate::gpu::placement::{Lease, Placement, Share};
use crate::gpu::{self, Gpu, Probe, Snapshot};
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
        self.placement.observe(snapshot);
        self.write_gpus();
    }
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
            placement.lease_share(per_gpu, sweep.spec.sweepd.gpu_memory_mib, Instant::now())
        }
    }
}

/// The share of `gpu` a run of `sweep` holds, if its runs share GPUs (for
/// a run taken up after a restart).
pub(super) fn share_of(sweep: &Sweep, gpu: Option<&Gpu>) -> Option<Share> {
    let GpuShare::Fraction { per_gpu } = sweep.spec.sweepd.gpus_per_run? else {
        return None;
    };
    let memory_mib = sweep.spec.sweepd.gpu_memory_mib.unwrap_or_else(|| {
        gpu.and_then(|g| g.memory_total_mib)
            .map_or(0, |total| total / u64::from(per_gpu))
    });
    Some(Share {
        per_gpu,
        memory_mib,
    })
}
