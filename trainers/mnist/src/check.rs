//! `sweepd-mnist --check`: what `sweepctl doctor` asks of the trainer. Which
//! libtorch it loaded (and so where its CUDA libraries are looked for),
//! whether libtorch's CUDA backend loads and why not, how many CUDA devices
//! it sees; with `--check-steps N`, N training steps of the tutorial's
//! network on `--device` with random images (no MNIST needed), timed. One
//! JSON line on stdout; it exits 0 when what was asked for worked.

use std::time::Instant;

use serde_json::{Value, json};
use tch::{Device, Kind, Tensor};

use crate::cuda;
use crate::params::Params;
use crate::train::Trainer;

/// What was found, as one JSON object; `ok` says whether the steps (when
/// asked for) ran.
pub fn check(device: &str, steps: i64) -> (bool, Value) {
    let backend = cuda::load_backend();
    let devices = if backend.is_ok() {
        tch::Cuda::device_count()
    } else {
        0
    };
    let mut report = json!({
        "libtorch": libtorch_dir(),
        "cuda_backend": backend.as_ref().map_or_else(Clone::clone, |()| "loaded".to_owned()),
        "cuda_devices": devices,
        "cudnn": backend.is_ok() && tch::Cuda::cudnn_is_available(),
    });
    if steps < 1 {
        return (true, report);
    }
    let target = match device {
        "cpu" => Ok(Device::Cpu),
        "auto" if devices == 0 => Ok(Device::Cpu),
        "auto" | "cuda" if devices > 0 => Ok(Device::Cuda(0)),
        "cuda" => Err("cuda: no CUDA device visible".to_owned()),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) if (i as i64) < devices => Ok(Device::Cuda(i)),
            Some(Ok(_)) => Err(format!("{other}: {devices} CUDA device(s) visible")),
            _ => Err(format!(
                "--device: expected auto, cpu, cuda or cuda:N, got {other:?}"
            )),
        },
    };
    let ran = target.and_then(|d| train_steps(d, steps));
    let ok = ran.is_ok();
    match ran {
        Ok((seconds, loss)) => {
            report["steps"] = json!(steps);
            report["seconds"] = json!(seconds);
            report["loss"] = json!(loss);
        }
        Err(why) => report["error"] = json!(why),
    }
    report["device"] = json!(device);
    (ok, report)
}

/// `steps` steps of batch 64 on random images: wall seconds (synchronised)
/// and the last loss.
fn train_steps(device: Device, steps: i64) -> Result<(f64, f64), String> {
    let params = Params {
        batch_size: 64,
        ..Params::default()
    };
    let mut trainer = Trainer::new(&params, device).map_err(|e| e.to_string())?;
    let x = Tensor::randn([64, 1, 28, 28], (Kind::Float, device));
    let y = Tensor::randint(10, [64], (Kind::Int64, device));
    let started = Instant::now();
    let mut loss = f64::NAN;
    for _ in 0..steps {
        loss = trainer.step(&x, &y);
    }
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
    if !loss.is_finite() {
        return Err(format!("the loss is {loss} after {steps} steps"));
    }
    Ok((started.elapsed().as_secs_f64(), loss))
}

/// The folder of the `libtorch_cpu.so` this process loaded.
fn libtorch_dir() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.ends_with("/libtorch_cpu.so"))
        .and_then(|path| std::path::Path::new(path).parent())
        .map(|dir| dir.display().to_string())
}
