//! The machine's NVIDIA GPUs: what there is and how busy each one is. NVML
//! first (nvml-wrapper loads `libnvidia-ml.so.1` at run time: no link-time
//! NVIDIA dependency), `nvidia-smi` as the fallback, and "no GPUs" as a normal
//! state that says why. Only the GPUs this daemon may use count: an inherited
//! CUDA_VISIBLE_DEVICES (an administrator's, or a Slurm allocation's) limits
//! them (`visible`).

mod nvml;

pub use nvml::driver;
pub use placement::check_lock_folder;
pub(crate) mod placement;
pub(crate) mod smi;
pub(crate) mod visible;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One GPU as last seen. Values a device does not report (MIG, vGPU:
/// `[N/A]`) are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// NVML's (and nvidia-smi's) index: PCI bus order.
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub memory_total_mib: Option<u64>,
    pub memory_used_mib: Option<u64>,
    pub utilization_pct: Option<u32>,
}

/// A process using a GPU and the memory it holds there, as one look saw
/// it (NVML's running compute processes; nvidia-smi's compute apps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub gpu_uuid: String,
    pub pid: u32,
    /// MiB; `None` where the device does not say.
    pub memory_mib: Option<u64>,
}

/// Where GPUs are looked for.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Use this nvidia-smi and not NVML (tests, or a driver whose NVML is
    /// broken); otherwise NVML, then `nvidia-smi` on PATH.
    pub nvidia_smi: Option<PathBuf>,
    /// The daemon's CUDA_VISIBLE_DEVICES, if it has one.
    pub visible: Option<String>,
    /// Look at all (tests of things other than GPUs turn it off).
    pub enabled: bool,
}

impl ProbeConfig {
    /// From the environment: `SWEEPD_NVIDIA_SMI` and `CUDA_VISIBLE_DEVICES`.
    pub fn from_env() -> ProbeConfig {
        ProbeConfig {
            nvidia_smi: std::env::var_os("SWEEPD_NVIDIA_SMI").map(PathBuf::from),
            visible: std::env::var("CUDA_VISIBLE_DEVICES").ok(),
            enabled: true,
        }
    }

    /// No GPUs, without looking.
    pub fn off() -> ProbeConfig {
        ProbeConfig {
            nvidia_smi: None,
            visible: None,
            enabled: false,
        }
    }
}

/// What one look found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub gpus: Vec<Gpu>,
    /// `NVML`, `nvidia-smi (PATH)`, or `none`.
    pub source: String,
    /// Why there are no GPUs (or fewer than the machine has), when that is
    /// worth saying: the driver failed, CUDA_VISIBLE_DEVICES hides them, ...
    pub note: Option<String>,
    /// The look itself failed (the driver, NVML or nvidia-smi erred or hung),
    /// as opposed to finding no GPUs.
    #[serde(default)]
    pub failed: bool,
    /// The processes on the GPUs (to measure what a run uses; empty where
    /// they cannot be listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<App>,
    /// When the look began (for placement: a look that began before a run
    /// of ours let go of a GPU says nothing about it).
    #[serde(skip)]
    pub began: Option<std::time::Instant>,
}

impl Snapshot {
    /// A look that did not work out, and why.
    pub fn failure(source: String, why: String) -> Snapshot {
        Snapshot {
            gpus: Vec::new(),
            source,
            note: Some(why),
            failed: true,
            apps: Vec::new(),
            began: None,
        }
    }
}

/// `gpus.json` in the home: the daemon's latest look at the GPUs, with the
/// run of ours holding each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub taken_at: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub gpus: Vec<HeldGpu>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldGpu {
    #[serde(flatten)]
    pub gpu: Gpu,
    /// The run of ours holding it, or the runs sharing it (`, `).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// How much of it runs sharing it hold (0.75: three runs of 0.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<f64>,
}

/// How long nvidia-smi may take (it can hang on a wedged GPU).
pub const SMI_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks at the GPUs; keeps NVML loaded between looks.
pub struct Probe {
    config: ProbeConfig,
    nvml: Option<nvml_wrapper::Nvml>,
    /// Why NVML is not used.
    nvml_absent: Option<String>,
}

impl Probe {
    pub fn new(config: ProbeConfig) -> Probe {
        let (nvml, nvml_absent) = if config.nvidia_smi.is_some() || !config.enabled {
            (None, Some("nvidia-smi was named".to_owned()))
        } else {
            match nvml::init() {
                Ok(nvml) => (Some(nvml), None),
                Err(why) => (None, Some(why)),
            }
        };
        Probe {
            config,
            nvml,
            nvml_absent,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(false)
    }

    /// A look, with the GPUs' processes (`processes`: a second query).
    pub fn snapshot_with(&self, processes: bool) -> Snapshot {
        let began = std::time::Instant::now();
        Snapshot {
            began: Some(began),
            ..self.look(processes)
        }
    }

    fn look(&self, processes: bool) -> Snapshot {
        if !self.config.enabled {
            return Snapshot {
                gpus: Vec::new(),
                source: "none".to_owned(),
                note: Some("GPU detection is off".to_owned()),
                failed: false,
                apps: Vec::new(),
                began: None,
            };
        }
        let nvml = self.nvml.as_ref().map(nvml::query);
        // Which answered: NVML (None), or this nvidia-smi.
        let (found, source, smi_used) = match (nvml, &self.config.nvidia_smi) {
            (Some(Ok(gpus)), _) => (Ok(gpus), "NVML".to_owned(), None),
            // NVML loaded but failed this time: nvidia-smi may still answer.
            (Some(Err(why)), _) => match smi::on_path() {
                Some(program) => (
                    smi::query(&program, SMI_TIMEOUT).map_err(|e| format!("{why}; then {e}")),
                    format!("nvidia-smi ({})", program.display()),
                    Some(program),
                ),
                None => (Err(why), "NVML".to_owned(), None),
            },
            (None, Some(program)) => (
                smi::query(program, SMI_TIMEOUT).map_err(|e| e.to_string()),
                format!("nvidia-smi ({})", program.display()),
                Some(program.clone()),
            ),
            (None, None) => match smi::on_path() {
                Some(program) => (
                    smi::query(&program, SMI_TIMEOUT).map_err(|e| e.to_string()),
                    format!("nvidia-smi ({})", program.display()),
                    Some(program),
                ),
                None => {
                    let why = format!(
                        "no NVIDIA driver found: {}; no nvidia-smi on PATH",
                        self.nvml_absent.as_deref().unwrap_or("NVML absent")
                    );
                    return Snapshot {
                        gpus: Vec::new(),
                        source: "none".to_owned(),
                        note: Some(why),
                        failed: false,
                        apps: Vec::new(),
                        began: None,
                    };
                }
            },
        };
        match found {
            Err(why) => Snapshot::failure(source, why),
            Ok(all) => {
                let total = all.len();
                let gpus = visible::filter(all, self.config.visible.as_deref());
                let note = (gpus.len() < total).then(|| {
                    format!(
                        "{} of {total} GPUs visible (CUDA_VISIBLE_DEVICES={:?})",
                        gpus.len(),
                        self.config.visible.as_deref().unwrap_or_default()
                    )
                });
                let apps = match (processes, &smi_used, &self.nvml) {
                    (false, _, _) => Vec::new(),
                    (true, Some(program), _) => smi::apps(program, SMI_TIMEOUT),
                    (true, None, Some(nvml)) => nvml::apps(nvml),
                    (true, None, None) => Vec::new(),
                };
                Snapshot {
                    gpus,
                    source,
                    note,
                    failed: false,
                    apps,
                    began: None,
                }
            }
        }
    }
}
