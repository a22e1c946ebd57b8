//! The GPUs' side: the NVIDIA driver through NVML, nvidia-smi, an inherited
//! CUDA_VISIBLE_DEVICES, and the folder of the cross-user GPU locks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sweepd::gpu::{Probe, ProbeConfig};
use sweepd::settings::{self, Settings};

use super::Check;
use super::run::on_path;

/// The GPUs the checks found (by UUID), for the training check.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn set(&self, uuids: Vec<String>) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_empty() {
            *seen = uuids;
        }
    }

    pub fn uuids(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Whether the kernel has an NVIDIA driver loaded.
fn driver_loaded() -> bool {
    Path::new("/proc/driver/nvidia/version").exists() || Path::new("/dev/nvidiactl").exists()
}

pub fn driver(seen: &Seen) -> Vec<Check> {
    let name = "nvidia driver";
    match sweepd::gpu::driver() {
        Ok((version, count)) => {
            let snapshot = Probe::new(ProbeConfig::from_env()).snapshot();
            seen.set(snapshot.gpus.iter().map(|g| g.uuid.clone()).collect());
            let names: Vec<String> = snapshot
                .gpus
                .iter()
                .map(|g| format!("{} {}", g.index, g.name))
                .collect();
            vec![Check::ok(
                name,
                format!(
                    "driver {version}, {count} GPU(s) through NVML; sweepd may use {}: {}",
                    names.len(),
                    names.join(", ")
                ),
            )]
        }
        Err(why) if driver_loaded() => vec![Check::problem(
            name,
            format!("the NVIDIA driver is loaded but NVML does not answer: {why}"),
            "install the driver's libnvidia-ml.so.1 of the same version as the kernel module \
             (after a driver upgrade, reboot)",
        )],
        Err(why) => vec![Check::warning(
            name,
            format!("no NVIDIA driver: runs use the CPU ({why})"),
            Some(
                "none needed on a machine without NVIDIA GPUs; elsewhere install the NVIDIA driver"
                    .into(),
            ),
        )],
    }
}

pub fn smi(seen: &Seen) -> Vec<Check> {
    let name = "nvidia-smi";
    // As sweepd finds it: its setting, SWEEPD_NVIDIA_SMI, else PATH.
    let named = sweepd_settings()
        .gpu_nvidia_smi
        .value
        .or_else(|| std::env::var_os("SWEEPD_NVIDIA_SMI").map(PathBuf::from));
    let Some(program) = named.clone().or_else(|| on_path("nvidia-smi")) else {
        return vec![if driver_loaded() {
            Check::warning(
                name,
                "no nvidia-smi on PATH: sweepd looks at the GPUs through NVML only",
                Some("install the driver's utilities (nvidia-utils)".into()),
            )
        } else {
            Check::ok(name, "no nvidia-smi on PATH (none needed without a driver)")
        }];
    };
    let snapshot = Probe::new(ProbeConfig {
        nvidia_smi: Some(program.clone()),
        visible: std::env::var("CUDA_VISIBLE_DEVICES").ok(),
        enabled: true,
    })
    .snapshot();
    let which = match named {
        Some(_) => format!("{} (named for sweepd)", program.display()),
        None => program.display().to_string(),
    };
    if snapshot.failed {
        return vec![Check::problem(
            name,
            snapshot.note.unwrap_or_default().trim().to_owned(),
            "the driver is not loaded or does not match its utilities: `sudo modprobe nvidia`, \
             or reboot after a driver upgrade",
        )];
    }
    seen.set(snapshot.gpus.iter().map(|g| g.uuid.clone()).collect());
    let gpus: Vec<String> = snapshot
        .gpus
        .iter()
        .map(|g| {
            let memory = match (g.memory_used_mib, g.memory_total_mib) {
                (Some(used), Some(total)) => format!("{used}/{total} MiB"),
                _ => "memory n/a".to_owned(),
            };
            format!("{} {} ({memory})", g.index, g.name)
        })
        .collect();
    vec![Check::ok(
        name,
        format!(
            "{which} answers: {} GPU(s): {}",
            gpus.len(),
            gpus.join("; ")
        ),
    )]
}

pub fn visible() -> Vec<Check> {
    let name = "CUDA_VISIBLE_DEVICES";
    match std::env::var("CUDA_VISIBLE_DEVICES") {
        Err(_) => vec![Check::ok(name, "not set: sweepd may place runs on every GPU")],
        Ok(v) if v.trim().is_empty() => vec![Check::warning(
            name,
            "set and empty here: a sweepd started from this shell sees no GPU",
            Some("unset CUDA_VISIBLE_DEVICES before starting sweepd".into()),
        )],
        Ok(v) => vec![Check::warning(
            name,
            format!("set to {v:?} here: a sweepd started from this shell uses only those GPUs"),
            Some("leave it if an administrator or Slurm set it on purpose; else unset it before starting sweepd".into()),
        )],
    }
}

/// sweepd's settings as its configuration file gives them (the defaults
/// where it cannot be read).
fn sweepd_settings() -> Settings {
    let (file, required) = match std::env::var_os("SWEEPD_CONFIG") {
        Some(path) => (Some(PathBuf::from(path)), true),
        None => (settings::default_path(), false),
    };
    Settings::load(file.as_deref(), required).unwrap_or_default()
}

/// The lock folder sweepd would use: `--gpu-lock-dir`, else its
/// configuration file's, else the default.
pub fn lock_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| sweepd_settings().gpu_lock_dir.value)
}

pub fn locks(dir: &Path) -> Vec<Check> {
    let name = "gpu locks";
    match sweepd::gpu::check_lock_folder(dir) {
        Ok(said) => vec![Check::ok(name, said)],
        Err(why) => vec![Check::problem(
            name,
            why,
            format!(
                "have root create it as systemd/tmpfiles-sweepd.conf says (mode 1777, root's), \
                 e.g. `sudo install -d -m 1777 {}`, or choose another folder with --gpu-lock-dir",
                dir.display()
            ),
        )],
    }
}
