//! NVML through nvml-wrapper, which `dlopen`s `libnvidia-ml.so.1` (installed
//! with the NVIDIA driver): on a machine without it, `init` fails cleanly and
//! nvidia-smi (or nothing) is used instead.

use nvml_wrapper::Nvml;

use super::{App, Gpu};

pub fn init() -> Result<Nvml, String> {
    Nvml::init().map_err(|e| format!("NVML: {e}"))
}

pub fn query(nvml: &Nvml) -> Result<Vec<Gpu>, String> {
    let fail = |what: &str, e: nvml_wrapper::error::NvmlError| format!("NVML {what}: {e}");
    let count = nvml.device_count().map_err(|e| fail("device count", e))?;
    (0..count)
        .map(|index| {
            let device = nvml.device_by_index(index).map_err(|e| fail("device", e))?;
            let memory = device.memory_info().ok();
            Ok(Gpu {
                index,
                uuid: device.uuid().map_err(|e| fail("uuid", e))?,
                name: device.name().unwrap_or_default(),
                memory_total_mib: memory.as_ref().map(|m| m.total / (1 << 20)),
                memory_used_mib: memory.as_ref().map(|m| m.used / (1 << 20)),
                utilization_pct: device.utilization_rates().ok().map(|u| u.gpu),
            })
        })
        .collect()
}

/// The driver's version and how many GPUs NVML counts.
pub fn driver() -> Result<(String, u32), String> {
    let nvml = init()?;
    let version = nvml
        .sys_driver_version()
        .map_err(|e| format!("NVML driver version: {e}"))?;
    let count = nvml
        .device_count()
        .map_err(|e| format!("NVML device count: {e}"))?;
    Ok((version, count))
}

/// The compute processes on every GPU (none where NVML cannot say).
pub fn apps(nvml: &Nvml) -> Vec<App> {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|index| nvml.device_by_index(index).ok())
        .flat_map(|device| {
            let uuid = device.uuid().unwrap_or_default();
            let processes = device.running_compute_processes().unwrap_or_default();
            processes.into_iter().map(move |p| App {
                gpu_uuid: uuid.clone(),
                pid: p.pid,
                memory_mib: match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => Some(bytes / (1 << 20)),
                    UsedGpuMemory::Unavailable => None,
                },
            })
        })
        .collect()
}
