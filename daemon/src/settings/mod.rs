//! The daemon's own settings: built-in defaults, then the configuration file
//! (`~/.config/sweepd/config.toml`, or `--config`), then command-line flags.
//! Each value remembers where it came from, for `sweepctl config`; the
//! running daemon writes them to `settings.json` in its home.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gpu::placement::{Thresholds, default_lock_dir};

/// Each log of a local run (`stdout.log`, `stderr.log`) is kept under this
/// many MiB by default: 1 GiB.
pub const DEFAULT_LOG_MAX_MIB: u64 = 1024;

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

/// Everything the daemon can be told, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    pub max_running: Setting<usize>,
    pub settle: Setting<Duration>,
    pub empty_after: Setting<Duration>,
    pub rescan_every: Setting<Duration>,
    pub term_after: Setting<Duration>,
    pub kill_after: Setting<Duration>,
    /// MiB; 0: no cap.
    pub log_max_mib: Setting<u64>,
    pub gpu_lock_dir: Setting<PathBuf>,
    pub gpu_sample_every: Setting<Duration>,
    pub gpu_cooldown: Setting<Duration>,
    pub gpu_max_memory_mib: Setting<u64>,
    pub gpu_max_utilization: Setting<u32>,
    pub gpu_nvidia_smi: Setting<Option<PathBuf>>,
    pub slurm_poll: Setting<Duration>,
}

/// What `config.toml` may hold; every key is optional, an unknown one is an
/// error (a misspelt key would otherwise be silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub max_running: Option<usize>,
    #[serde(default, with = "duration")]
    pub settle: Option<Duration>,
    #[serde(default, with = "duration")]
    pub empty_after: Option<Duration>,
    #[serde(default, with = "duration")]
    pub rescan_every: Option<Duration>,
    #[serde(default, with = "duration")]
    pub term_after: Option<Duration>,
    #[serde(default, with = "duration")]
    pub kill_after: Option<Duration>,
    pub log_max_mib: Option<u64>,
    #[serde(default)]
    pub gpu: FileGpu,
    #[serde(default)]
    pub slurm: FileSlurm,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSlurm {
    /// How often Slurm jobs are looked at (one `squeue` for all) and their
    /// output read.
    #[serde(default, with = "duration")]
    pub poll: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGpu {
    pub lock_dir: Option<PathBuf>,
    #[serde(default, with = "duration")]
    pub sample_every: Option<Duration>,
    #[serde(default, with = "duration")]
    pub cooldown: Option<Duration>,
    pub max_memory_mib: Option<u64>,
    pub max_utilization: Option<u32>,
    pub nvidia_smi: Option<PathBuf>,
}

/// Durations as people write them: "30s", "2m", "1h 30m".
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); e.g. \"30s\", \"2m\""
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

/// `$XDG_CONFIG_HOME/sweepd/config.toml` (`~/.config/sweepd/config.toml`).
pub fn default_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.config_dir().join("sweepd").join("config.toml"))
}

impl Default for Settings {
    fn default() -> Self {
        let inbox = crate::watcher::InboxConfig::default();
        let stop = crate::executor::StopTimes::default();
        let gpu = Thresholds::default();
        Settings {
            file: None,
            max_running: Setting::default(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
            settle: Setting::default(inbox.settle),
            empty_after: Setting::default(inbox.empty_after),
            rescan_every: Setting::default(inbox.rescan),
            term_after: Setting::default(stop.term_after),
            kill_after: Setting::default(stop.kill_after),
            log_max_mib: Setting::default(DEFAULT_LOG_MAX_MIB),
            gpu_lock_dir: Setting::default(default_lock_dir()),
            gpu_sample_every: Setting::default(Duration::from_secs(5)),
            gpu_cooldown: Setting::default(gpu.cooldown),
            gpu_max_memory_mib: Setting::default(gpu.max_memory_mib),
            gpu_max_utilization: Setting::default(gpu.max_utilization_pct),
            gpu_nvidia_smi: Setting::default(None),
            slurm_poll: Setting::default(crate::executor::slurm::SlurmConfig::default().poll),
        }
    }
}

impl Settings {
    /// The defaults, then `path` (`required`: a file named on purpose must
    /// exist; the default one may be absent).
    pub fn load(path: Option<&Path>, required: bool) -> Result<Settings, SettingsError> {
        let mut settings = Settings::default();
        let Some(path) = path else {
            return Ok(settings);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(settings);
            }
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: FileSettings = toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        settings.file = Some(path.to_owned());
        settings.apply(file, Origin::File);
        Ok(settings)
    }

    /// Values from the file or the command line (`from`) over these.
    pub fn apply(&mut self, given: FileSettings, from: Origin) {
        self.max_running
            .set(given.max_running.map(|n| n.max(1)), from);
        self.settle.set(given.settle, from);
        self.empty_after.set(given.empty_after, from);
        self.rescan_every.set(given.rescan_every, from);
        self.term_after.set(given.term_after, from);
        self.kill_after.set(given.kill_after, from);
        self.log_max_mib.set(given.log_max_mib, from);
        self.gpu_lock_dir.set(given.gpu.lock_dir, from);
        self.gpu_sample_every.set(given.gpu.sample_every, from);
        self.gpu_cooldown.set(given.gpu.cooldown, from);
        self.gpu_max_memory_mib.set(given.gpu.max_memory_mib, from);
        self.gpu_max_utilization
            .set(given.gpu.max_utilization, from);
        self.gpu_nvidia_smi
            .set(given.gpu.nvidia_smi.map(Some), from);
        self.slurm_poll.set(given.slurm.poll, from);
    }

    /// Every setting as `config.toml` names it, its value, and its origin.
    pub fn shown(&self) -> Vec<Shown> {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        let row = |name: &str, value: String, from: Origin| Shown {
            name: name.to_owned(),
            value,
            from,
        };
        vec![
            row(
                "max_running",
                self.max_running.value.to_string(),
                self.max_running.from,
            ),
            row("settle", d(&self.settle.value), self.settle.from),
            row(
                "empty_after",
                d(&self.empty_after.value),
                self.empty_after.from,
            ),
            row(
                "rescan_every",
                d(&self.rescan_every.value),
                self.rescan_every.from,
            ),
            row(
                "term_after",
                d(&self.term_after.value),
                self.term_after.from,
            ),
            row(
                "kill_after",
                d(&self.kill_after.value),
                self.kill_after.from,
            ),
            row(
                "log_max_mib",
                self.log_max_mib.value.to_string(),
                self.log_max_mib.from,
            ),
            row(
                "gpu.lock_dir",
                self.gpu_lock_dir.value.display().to_string(),
                self.gpu_lock_dir.from,
            ),
            row(
                "gpu.sample_every",
                d(&self.gpu_sample_every.value),
                self.gpu_sample_every.from,
            ),
            row(
                "gpu.cooldown",
                d(&self.gpu_cooldown.value),
                self.gpu_cooldown.from,
            ),
            row(
                "gpu.max_memory_mib",
                self.gpu_max_memory_mib.value.to_string(),
                self.gpu_max_memory_mib.from,
            ),
            row(
                "gpu.max_utilization",
                self.gpu_max_utilization.value.to_string(),
                self.gpu_max_utilization.from,
            ),
            row(
                "gpu.nvidia_smi",
                self.gpu_nvidia_smi.value.as_ref().map_or_else(
                    || "(NVML, else nvidia-smi on PATH)".to_owned(),
                    |p| p.display().to_string(),
                ),
                self.gpu_nvidia_smi.from,
            ),
            row(
                "slurm.poll",
                d(&self.slurm_poll.value),
                self.slurm_poll.from,
            ),
        ]
    }
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

#[cfg(test)]
mod tests;
