//! The daemon's own settings: built-in defaults, then the configuration file
//! (`~/.config/sweepd/config.toml`, or `--config`), then command-line flags.
//! Each value remembers where it came from, for `sweepctl config`; the
//! running daemon writes them to `settings.json` in its home.
//!
//! Every setting is declared once, in the `declare_settings!` table below:
//! its file key, field, type, default, flag and help. The macro
//! (`declare.rs`) derives from it the `Settings` struct, `defaults::*`
//! (which the scheduler, the inbox watcher and the executors read too),
//! `config.toml`'s structs, `Settings::apply`, `Settings::shown` and sweepd's
//! flags (`Flags`). `value.rs` says how each type is read and shown,
//! `file.rs` reads the file, `effect.rs` hands the values to the scheduler
//! and the inbox watcher.

mod declare;
mod effect;
mod file;
mod value;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gpu::placement::default_lock_dir;
use declare::declare_settings;
pub use file::{SettingsError, default_path};
pub use value::Value;

declare_settings! {
    /// Runs at once over all sweeps.
    "max_running" => max_running: usize =
        std::thread::available_parallelism().map_or(1, |n| n.get()), {
        flag: "max-running",
        default_help: "the number of CPU cores",
        tidy: |n: usize| n.max(1),
    },
    /// An inbox file is taken once unchanged this long.
    "settle" => settle: Duration = Duration::from_secs(1), {
        flag: "settle",
    },
    /// An empty inbox file is rejected once it has stayed empty this long.
    "empty_after" => empty_after: Duration = Duration::from_secs(30), {
        flag: "empty-after",
    },
    /// The whole inbox is rescanned this often, for what file events missed.
    "rescan_every" => rescan_every: Duration = Duration::from_secs(30), {
        flag: "rescan-every",
    },
    /// From a stop request to SIGTERM of the run's process group.
    "term_after" => term_after: Duration = Duration::from_secs(10), {
        flag: "term-after",
    },
    /// From a stop request to SIGKILL of the run's process group.
    "kill_after" => kill_after: Duration = Duration::from_secs(30), {
        flag: "kill-after",
    },
    /// Whether sweepd, told to stop (SIGTERM, SIGINT), stops its runs (they
    /// run again at its next start) rather than leaving them to run on for
    /// the next sweepd to take up; `sweepctl shutdown --stop-runs` does so
    /// either way.
    "stop_runs_on_exit" => stop_runs_on_exit: bool = false, {
        flag: "stop-runs-on-exit" value "BOOL",
    },
    /// Each log of a local run (stdout.log, stderr.log) is kept under this
    /// many MiB, its most recent part; 0: no cap.
    "log_max_mib" => log_max_mib: u64 = 1024, {
        flag: "log-max-mib" value "MIB",
    },
    [gpu] FileGpu {
        /// Folder of the cross-user GPU locks; every user's sweepd on the host
        /// must use the same one.
        "lock_dir" => gpu_lock_dir: PathBuf = default_lock_dir(), {
            flag: "gpu-lock-dir" value "DIR",
            default_help: "/run/lock/sweepd",
        },
        /// How often the GPUs are looked at.
        "sample_every" => gpu_sample_every: Duration = Duration::from_secs(5), {
            flag: "gpu-sample-every",
        },
        /// How long a GPU rests after a run of ours used it.
        "cooldown" => gpu_cooldown: Duration = Duration::from_secs(5), {
            flag: "gpu-cooldown",
        },
        /// A GPU whose memory in use (by anyone) is above this, or above 5 %
        /// of its total if that is more, is busy.
        "max_memory_mib" => gpu_max_memory_mib: u64 = 1024, {
            flag: "gpu-max-memory-mib" value "MIB",
        },
        /// A GPU above this utilisation (%) is busy.
        "max_utilization" => gpu_max_utilization: u32 = 10, {
            flag: "gpu-max-utilization" value "PERCENT",
        },
        /// The nvidia-smi to look at the GPUs with, and not NVML (file only).
        "nvidia_smi" => gpu_nvidia_smi: Option<PathBuf> = None, {
            shown: |p: &Option<PathBuf>| match p {
                Some(p) => p.display().to_string(),
                None => "(NVML, else nvidia-smi on PATH)".to_owned(),
            },
        },
    }
    [slurm] FileSlurm {
        /// How often Slurm jobs are looked at (one squeue for all) and their
        /// output read.
        "poll" => slurm_poll: Duration = Duration::from_secs(5), {
            flag: "slurm-poll",
        },
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Default,
    File,
    Flag,
}

/// One setting: its value as text (what the file and flags say) and origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub name: String,
    pub value: String,
    pub from: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub from: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            from: Origin::Default,
        }
    }

    fn set(&mut self, value: Option<T>, from: Origin) {
        if let Some(value) = value {
            *self = Setting { value, from };
        }
    }
}

/// One declared setting's names, for checks that they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// As `sweepctl config` shows it and `config.toml` writes it
    /// (`table.key` under a table).
    pub name: &'static str,
    /// Its flag without the dashes, if it has one.
    pub flag: Option<&'static str>,
}

/// `settings.json` in the home: what the running daemon uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub pid: u32,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    pub settings: Vec<Shown>,
}
