//! Runs that outlived a daemon that died (kill -9, a crash of the daemon
//! alone). Each run, and every process it starts, carries a token in its
//! environment that only sweepd sets and that is written in the run's
//! summary before the run starts; a process is taken for a leftover run only
//! by that token, never by a pid (which may have been recycled) or by a
//! variable a person might set.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The variable that carries a run's token.
pub const TOKEN_VAR: &str = "SWEEPD_RUN_TOKEN";

/// A fresh token for a run.
pub fn new_token() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(std::process::id());
    format!("{a:016x}{b:016x}")
}

/// This user's processes that carry a run token, by token.
pub fn find() -> HashMap<String, Vec<i32>> {
    find_where(|_| true)
}

/// Those of them whose run folder lies in `home` (a daemon exiting at once
/// takes its own runs with it, not another home's).
pub fn find_in(home: &std::path::Path) -> Vec<i32> {
    let folder = format!("SWEEP_RUN_DIR={}/", home.display());
    find_where(|environ| {
        environ
            .split(|&b| b == 0)
            .any(|var| var.starts_with(folder.as_bytes()))
    })
    .into_values()
    .flatten()
    .collect()
}

fn find_where(also: impl Fn(&[u8]) -> bool) -> HashMap<String, Vec<i32>> {
    let mut found: HashMap<String, Vec<i32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    let needle = format!("{TOKEN_VAR}=");
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
        if !also(&environ) {
            continue;
        }
        if let Some(token) = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(needle.as_bytes()))
        {
            found
                .entry(String::from_utf8_lossy(token).into_owned())
                .or_default()
                .push(pid);
        }
    }
    found
}

/// Kill these processes (and the groups they lead) and wait, a few seconds
/// at most, until they are gone: a run is read to its end only once nothing
/// can write to it any more.
pub fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let pid = Pid::from_raw(pid);
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Running, or stopped, but not a zombie waiting for its parent.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn finds_and_kills_a_leftover_run_by_its_token() {
        let token = new_token();
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .env(TOKEN_VAR, &token)
            .process_group(0)
            .spawn()
            .unwrap();
        // Spawning returns once the child has begun to exec, a moment before
        // the kernel has set up its environment: look until it shows (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let found = loop {
            let found = find();
            if found.contains_key(&token) || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if found.get(&token) != Some(&vec![child.id() as i32]) {
            let _ = child.kill();
        }
        assert_eq!(found.get(&token), Some(&vec![child.id() as i32]));
        assert_ne!(new_token(), token);
        kill_all(&found[&token]);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
