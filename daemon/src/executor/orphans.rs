//! Runs that outlived a daemon that died (kill -9, power cut of the daemon
//! alone): found by the `SWEEP_RUN_DIR` every run and its children carry in
//! their environment, so a recycled pid is never mistaken for one of ours.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The variable that names a run's folder in its environment.
pub const RUN_DIR_VAR: &str = "SWEEP_RUN_DIR";

/// Processes of this user whose `SWEEP_RUN_DIR` lies under `home`, by run folder.
pub fn find(home: &Path) -> HashMap<PathBuf, Vec<i32>> {
    let mut found: HashMap<PathBuf, Vec<i32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    let needle = format!("{RUN_DIR_VAR}=");
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        // Only our own processes' environments are readable: others fail here.
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        for var in environ.split(|&b| b == 0) {
            if let Some(value) = var.strip_prefix(needle.as_bytes()) {
                let dir = PathBuf::from(String::from_utf8_lossy(value).into_owned());
                if dir.starts_with(home) {
                    found.entry(dir).or_default().push(pid);
                }
                break;
            }
        }
    }
    found
}

/// Kill these processes and their groups at once: after a daemon crash the
/// runs are run again, and two copies must never write one folder.
pub fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let pid = Pid::from_raw(pid);
        let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn finds_and_kills_a_leftover_run_by_its_environment() {
        let home = tempfile::tempdir().unwrap();
        let run_dir = home.path().join("sweeps/s/runs/0001");
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .env(RUN_DIR_VAR, &run_dir)
            .process_group(0)
            .spawn()
            .unwrap();
        let found = find(home.path());
        assert_eq!(found.get(&run_dir), Some(&vec![child.id() as i32]));
        assert!(find(&home.path().join("other")).is_empty());
        kill_all(&found[&run_dir]);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
