//! `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`, run without a
//! shell and with a timeout, and its output parsed (`[N/A]` and
//! `[Not Supported]` are values a device does not report).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use super::{App, Gpu};

pub const QUERY: &str = "--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu";
pub const APPS: &str = "--query-compute-apps=gpu_uuid,pid,used_memory";
pub const FORMAT: &str = "--format=csv,noheader,nounits";

#[derive(Debug, thiserror::Error)]
pub enum SmiError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} did not answer within {seconds} s (killed)")]
    Timeout { program: String, seconds: u64 },
    #[error("{program} failed ({status}): {message}")]
    Failed {
        program: String,
        status: String,
        message: String,
    },
    #[error("{program}: {problem}")]
    Output { program: String, problem: String },
}

/// `nvidia-smi` on PATH.
pub fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nvidia-smi"))
        .find(|p| p.is_file())
}

pub fn query(program: &Path, timeout: Duration) -> Result<Vec<Gpu>, SmiError> {
    let name = program.display().to_string();
    let stdout = run(program, QUERY, timeout)?;
    parse(&stdout).map_err(|problem| SmiError::Output {
        program: name,
        problem,
    })
}

/// The compute processes on the GPUs: `GPU-..., pid, MiB` lines (none where
/// nvidia-smi cannot say; a line it cannot read is left out).
pub fn apps(program: &Path, timeout: Duration) -> Vec<App> {
    run(program, APPS, timeout).map_or_else(|_| Vec::new(), |out| parse_apps(&out))
}

fn parse_apps(text: &str) -> Vec<App> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [uuid, pid, memory] = fields[..] else {
                return None;
            };
            Some(App {
                gpu_uuid: uuid.strip_prefix("GPU-").map(|_| uuid.to_owned())?,
                pid: pid.parse().ok()?,
                memory_mib: number(memory, "used_memory").ok()?,
            })
        })
        .collect()
}

/// nvidia-smi with `query` and the CSV format, for at most `timeout`: what
/// it printed.
fn run(program: &Path, query: &str, timeout: Duration) -> Result<String, SmiError> {
    let name = program.display().to_string();
    let mut child = Command::new(program)
        .args([query, FORMAT])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SmiError::Spawn {
            program: name.clone(),
            source,
        })?;
    // The output is a few hundred bytes: it fits the pipes while we wait.
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            let _ = child.kill();
            // A process stuck in the driver may not die at once: reap it
            // elsewhere rather than hang here.
            std::thread::spawn(move || child.wait());
            return Err(SmiError::Timeout {
                program: name,
                seconds: timeout.as_secs(),
            });
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    if !status.success() {
        // nvidia-smi says why on stdout (exit 9: no driver) or stderr.
        let message = format!("{} {}", stdout.trim(), stderr.trim())
            .trim()
            .to_owned();
        return Err(SmiError::Failed {
            program: name,
            status: status.to_string(),
            message,
        });
    }
    Ok(stdout)
}

/// Parse the lines of the query: `0, GPU-..., NVIDIA H100 80GB HBM3, 81559, 3, 0`.
pub fn parse(text: &str) -> Result<Vec<Gpu>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_line(line).map_err(|e| format!("line {}: {e}: {line:?}", i + 1)))
        .collect()
}

fn parse_line(line: &str) -> Result<Gpu, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    // A GPU's name has no comma, but be exact about what we expect.
    let [index, uuid, name, total, used, util] = fields[..] else {
        return Err(format!("{} fields, not 6", fields.len()));
    };
    let index = index
        .parse()
        .map_err(|_| format!("index {index:?} is not a number"))?;
    if !uuid.starts_with("GPU-") {
        return Err(format!("uuid {uuid:?} does not start with GPU-"));
    }
    Ok(Gpu {
        index,
        uuid: uuid.to_owned(),
        name: name.to_owned(),
        memory_total_mib: number(total, "memory.total")?,
        memory_used_mib: number(used, "memory.used")?,
        utilization_pct: number(util, "utilization.gpu")?,
    })
}

/// A number, or `None` for what the device does not report (`[N/A]`,
/// `[Not Supported]`, `[Unknown Error]`, ...).
fn number<T: std::str::FromStr>(text: &str, field: &str) -> Result<Option<T>, String> {
    if text.starts_with('[') && text.ends_with(']') {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{field} {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines_parse_and_unreported_values_are_none() {
        let text = "0, GPU-5f3e2a1b-9c8d-4e7f-a6b5-c4d3e2f1a0b9, NVIDIA H100 80GB HBM3, 81559, 3, 0\n\
                    1, GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789, NVIDIA A100-SXM4-40GB, 40960, [N/A], [Not Supported]\n";
        let gpus = parse(text).unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            gpus[0],
            Gpu {
                index: 0,
                uuid: "GPU-5f3e2a1b-9c8d-4e7f-a6b5-c4d3e2f1a0b9".into(),
                name: "NVIDIA H100 80GB HBM3".into(),
                memory_total_mib: Some(81559),
                memory_used_mib: Some(3),
                utilization_pct: Some(0),
            }
        );
        assert_eq!(
            (gpus[1].memory_used_mib, gpus[1].utilization_pct),
            (None, None)
        );
        assert_eq!(parse("\n").unwrap(), vec![]);
    }

    #[test]
    fn compute_apps_are_read_and_lines_that_are_not_apps_left_out() {
        let text = "GPU-1d3b2c4a-0000-4000-8000-000000000000, 4242, 30521\n\
                    GPU-9a8b7c6d-0000-4000-8000-000000000001, 77, [N/A]\n\
                    No running processes found\n";
        let apps = parse_apps(text);
        assert_eq!(apps.len(), 2, "{apps:?}");
        assert_eq!((apps[0].pid, apps[0].memory_mib), (4242, Some(30521)));
        assert_eq!((apps[1].pid, apps[1].memory_mib), (77, None));
        assert!(apps[1].gpu_uuid.ends_with("0001"));
    }

    #[test]
    fn malformed_output_says_which_line_and_what() {
        let e = parse("0, GPU-a, T4, 15360, 0, 0\n1, GPU-b, T4, 15360 MiB, 0, 0\n").unwrap_err();
        assert!(
            e.starts_with("line 2: memory.total \"15360 MiB\" is not a number"),
            "{e}"
        );
        assert!(
            parse("0, GPU-a, T4\n")
                .unwrap_err()
                .contains("3 fields, not 6")
        );
        assert!(
            parse("x, GPU-a, T4, 1, 0, 0\n")
                .unwrap_err()
                .contains("index \"x\"")
        );
        assert!(parse("0, 12, T4, 1, 0, 0\n").unwrap_err().contains("GPU-"));
    }
}
