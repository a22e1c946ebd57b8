//! Where each setting takes effect: the scheduler's and the inbox watcher's
//! configurations built from the settings, and `settings.json`'s report.

use std::path::PathBuf;

use super::{Report, Settings};
use crate::executor::StopTimes;
use crate::scheduler;
use crate::watcher::InboxConfig;

impl Settings {
    /// The scheduler's configuration; runs work in `user_home` by default.
    pub fn scheduler_config(&self, user_home: PathBuf) -> scheduler::Config {
        let mut scheduler = scheduler::Config::new(user_home);
        scheduler.max_running = self.max_running.value;
        scheduler.gpu.sample_every = self.gpu_sample_every.value;
        scheduler.slurm.poll = self.slurm_poll.value;
        scheduler.gpu.thresholds.cooldown = self.gpu_cooldown.value;
        scheduler.gpu.thresholds.max_memory_mib = self.gpu_max_memory_mib.value;
        scheduler.gpu.thresholds.max_utilization_pct = self.gpu_max_utilization.value;
        scheduler.gpu.lock_dir = self.gpu_lock_dir.value.clone();
        if let Some(program) = &self.gpu_nvidia_smi.value {
            scheduler.gpu.probe.nvidia_smi = Some(program.clone());
        }
        scheduler.log_max = Some(self.log_max_mib.value.saturating_mul(1 << 20)).filter(|&b| b > 0);
        scheduler.stop_runs_on_exit.store(
            self.stop_runs_on_exit.value,
            std::sync::atomic::Ordering::Relaxed,
        );
        scheduler.stop = StopTimes {
            term_after: self.term_after.value,
            kill_after: self.kill_after.value.max(self.term_after.value),
        };
        scheduler
    }

    /// The inbox watcher's configuration.
    pub fn inbox_config(&self) -> InboxConfig {
        InboxConfig {
            settle: self.settle.value,
            empty_after: self.empty_after.value,
            rescan: self.rescan_every.value,
            ..InboxConfig::default()
        }
    }

    /// What `settings.json` says of these settings, used by process `pid`
    /// (0: none).
    pub fn report(&self, pid: u32) -> Report {
        Report {
            version: 1,
            pid,
            file: self.file.clone(),
            settings: self.shown(),
        }
    }
}
