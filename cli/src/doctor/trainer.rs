//! The bundled trainer, asked through `sweepd-mnist --check`: the libtorch
//! it loads, whether libtorch's CUDA backend loads and which CUDA libraries
//! it misses (`ldd`), and with `--gpu` 20 training steps on each GPU.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::Check;
use super::run::output;

const NAME: &str = "trainer";

fn not_installed() -> Check {
    Check::warning(
        NAME,
        "the bundled trainer sweepd-mnist is neither beside sweepctl nor on PATH: only the tutorial's sweeps need it",
        Some("scripts/setup-trainer, then `cargo build --release -p sweepd-mnist` (docs/mnist-trainer.md)".into()),
    )
}

/// `program --check ...` and its JSON line, or the problem.
fn ask(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<Value, Check> {
    let mut command = Command::new(program);
    command.arg("--check").args(args).envs(env.iter().copied());
    let said = output(&mut command, limit)
        .map_err(|why| Check::problem(NAME, why, "run it by hand to see where it hangs"))?;
    let line = said.stdout.lines().last().unwrap_or("");
    match serde_json::from_str::<Value>(line) {
        Ok(report) => Ok(report),
        Err(_) if said.stderr.contains("error while loading shared libraries") => {
            Err(Check::problem(
                NAME,
                format!(
                    "{} cannot start: libtorch not found: {}",
                    program.display(),
                    said.stderr.trim()
                ),
                "scripts/setup-trainer installs libtorch from PyPI; elsewhere set LD_LIBRARY_PATH to torch's lib folder",
            ))
        }
        Err(_) => Err(Check::problem(
            NAME,
            format!(
                "{} --check failed ({}): {}",
                program.display(),
                said.status,
                said.stderr.trim()
            ),
            "an older sweepd-mnist without --check? rebuild it with this sweepctl",
        )),
    }
}

pub fn backend(program: Option<&Path>, limit: Duration) -> Vec<Check> {
    let Some(program) = program else {
        return vec![not_installed()];
    };
    let report = match ask(program, &[], &[], limit) {
        Ok(report) => report,
        Err(problem) => return vec![problem],
    };
    let dir = report["libtorch"].as_str().unwrap_or("an unknown folder");
    let mut checks = vec![Check::ok(
        NAME,
        format!("{} loads libtorch from {dir}", program.display()),
    )];
    let devices = report["cuda_devices"].as_i64().unwrap_or(0);
    let driver = Path::new("/proc/driver/nvidia/version").exists();
    match report["cuda_backend"].as_str() {
        Some("loaded") if devices > 0 => checks.push(Check::ok(
            "CUDA backend",
            format!(
                "loads; {devices} CUDA device(s); cuDNN {}",
                if report["cudnn"] == true { "yes" } else { "no" }
            ),
        )),
        Some("loaded") if driver => checks.push(Check::problem(
            "CUDA backend",
            "loads, but CUDA sees no device although a driver is loaded",
            "is the driver too old for this CUDA (nvidia-smi shows the newest CUDA it supports)? \
             Is CUDA_VISIBLE_DEVICES hiding them?",
        )),
        Some("loaded") => checks.push(Check::ok(
            "CUDA backend",
            "loads; no CUDA device (no driver here): runs train on the CPU",
        )),
        other => {
            let why = other.unwrap_or("unknown");
            let missing = missing_libraries(dir);
            let listed = if missing.is_empty() {
                String::new()
            } else {
                format!("; missing: {}", missing.join(", "))
            };
            let said = format!("libtorch's CUDA backend does not load: {why}{listed}");
            checks.push(if driver {
                Check::problem(
                    "CUDA backend",
                    said,
                    "scripts/setup-trainer --full installs libtorch's CUDA libraries from PyPI",
                )
            } else {
                Check::ok(
                    "CUDA backend",
                    format!("{said} (no driver here: runs train on the CPU)"),
                )
            });
        }
    }
    checks
}

/// What `ldd` finds missing of `libtorch_cuda.so` in `dir`.
fn missing_libraries(dir: &str) -> Vec<String> {
    let library = Path::new(dir).join("libtorch_cuda.so");
    if !library.is_file() {
        return vec![format!("{} itself", library.display())];
    }
    let Ok(said) = output(Command::new("ldd").arg(&library), Duration::from_secs(10)) else {
        return Vec::new();
    };
    let mut missing: Vec<String> = said
        .stdout
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    missing.dedup();
    missing
}

/// 20 steps of the tutorial's network on each GPU, alone on it.
pub fn on_each_gpu(program: Option<&Path>, uuids: &[String], limit: Duration) -> Vec<Check> {
    let name = "training on GPUs";
    let Some(program) = program else {
        return vec![not_installed()];
    };
    if uuids.is_empty() {
        return vec![Check::problem(
            name,
            "--gpu: no GPU to train on (see the driver's and nvidia-smi's lines)",
            "fix what the lines above say",
        )];
    }
    uuids
        .iter()
        .map(|uuid| {
            let env = [("CUDA_VISIBLE_DEVICES", uuid.as_str()), ("CUDA_DEVICE_ORDER", "PCI_BUS_ID")];
            match ask(program, &["--check-steps", "20", "--device", "cuda:0"], &env, limit) {
                Ok(report) if report.get("error").is_none() => Check::ok(
                    name,
                    format!(
                        "{uuid}: 20 steps in {:.2} s, loss {:.3}",
                        report["seconds"].as_f64().unwrap_or(f64::NAN),
                        report["loss"].as_f64().unwrap_or(f64::NAN)
                    ),
                ),
                Ok(report) => Check::problem(
                    name,
                    format!("{uuid}: {}", report["error"].as_str().unwrap_or("failed")),
                    "see the CUDA backend's line; a GPU in a bad state may need `nvidia-smi -r` by root",
                ),
                Err(mut problem) => {
                    problem.name = name.to_owned();
                    problem.said = format!("{uuid}: {}", problem.said);
                    problem
                }
            }
        })
        .collect()
}
