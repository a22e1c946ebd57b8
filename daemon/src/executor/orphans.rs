//! What runs leave behind: processes that left their run's process group
//! (`setsid`) and live on after the run ends, and runs that outlived a daemon
//! that died (kill -9, a crash of the daemon alone). Each run, and every
//! process it starts, carries a token in its environment that only sweepd
//! sets and that is written in the run's summary before the run starts; a
//! process is taken for a run's only by that token, never by a pid (which may
//! have been recycled) or by a variable a person might set.
//!
//! sweepd is the subreaper of its runs' descendants ([`become_subreaper`]):
//! one whose parent dies is re-parented to sweepd, not to init, so that
//! sweepd reaps it once it is killed ([`end_run`]). A process that clears its
//! environment (`env -i`) as well as leaving the group escapes the token
//! scan; see docs/daemon.md.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpgrp};

/// The variable that carries a run's token.
pub const TOKEN_VAR: &str = "SWEEPD_RUN_TOKEN";

/// This user's processes that carry a run token, by token.
pub fn find() -> HashMap<String, Vec<i32>> {
    find_where(|_| true)
}

/// Those that carry this token.
pub fn find_token(token: &str) -> Vec<i32> {
    let var = format!("{TOKEN_VAR}={token}");
    find_where(|environ| environ.split(|&b| b == 0).any(|v| v == var.as_bytes()))
        .remove(token)
        .unwrap_or_default()
}

/// Make this process the subreaper of its descendants: an orphan among them
/// (its parent died) is re-parented to it, not to init.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// The pids of runs' leaders sweepd started and tokio has not reaped yet:
/// zombies among them are tokio's to reap (it waits on them for their exit
/// status), never [`reap_adopted`]'s. Held while a leader is spawned, so
/// that a leader which exits at once is known before anyone looks.
static LEADERS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// The leaders' pids, locked: insert a leader's pid before letting go,
/// remove it once tokio has reaped it.
pub fn leaders() -> MutexGuard<'static, BTreeSet<i32>> {
    LEADERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reap orphans re-parented to sweepd whenever a child of sweepd ends
/// (SIGCHLD), until `shutdown`: without it a trainer that starts helpers
/// in the background would fill the process table with sweepd's zombies.
pub async fn reap_on_sigchld(shutdown: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut children) = signal(SignalKind::child()) else {
        tracing::warn!("cannot listen for SIGCHLD: orphans are reaped when runs end");
        return;
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            Some(()) = children.recv() => {
                let _ = tokio::task::spawn_blocking(reap_adopted).await;
            }
        }
    }
}

/// A run has ended (its leader exited, its group was killed): kill what still
/// carries its token (processes that left the group), wait until they are
/// gone, and reap those re-parented to sweepd, as well as any other orphan
/// of a run that died on its own. Returns how many processes it killed.
/// Blocking: a few milliseconds, at most seconds.
pub fn end_run(token: &str) -> usize {
    let mut killed = 0;
    // A process that forks as it is killed may leave a child: look again.
    for _ in 0..10 {
        let pids = find_token(token);
        if pids.is_empty() {
            break;
        }
        killed += pids.len();
        let seen: Vec<(i32, Option<Stat>)> = pids.iter().map(|&p| (p, Stat::of(p))).collect();
        kill_all(&pids);
        for (pid, before) in seen {
            // Only the very process seen (not a pid used again since), and
            // only once it is a zombie of ours.
            if let (Some(before), Some(now)) = (before, Stat::of(pid))
                && now.zombie
                && now.ppid == std::process::id() as i32
                && now.start == before.start
            {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }
    reap_adopted();
    killed
}

/// Reap the zombies among sweepd's children that it did not start: orphans
/// of runs re-parented to it. tokio reaps the children it started (runs'
/// leaders, nvidia-smi, Slurm's commands) by their pids; these must not be
/// touched, or tokio would lose their exit status, so no `waitpid(-1)`.
/// A child sweepd started is in sweepd's process group (its helpers:
/// nvidia-smi, Slurm's commands) or is a run's leader ([`leaders`]); any
/// other zombie child of sweepd is an adopted orphan.
pub fn reap_adopted() {
    let me = std::process::id() as i32;
    let group = getpgrp();
    let leaders = leaders();
    for pid in processes() {
        let Some(stat) = Stat::of(pid) else {
            continue;
        };
        let started_by_us = stat.group == group.as_raw() || leaders.contains(&pid);
        if stat.ppid == me && stat.zombie && !started_by_us {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// The pids in /proc now (none if it cannot be read).
fn processes() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy)]
struct Stat {
    zombie: bool,
    ppid: i32,
    group: i32,
    /// Read by the tests (a `setsid` child left sweepd's session).
    #[cfg_attr(not(test), allow(dead_code))]
    session: i32,
    /// Clock ticks after boot: with the pid, names one process for good.
    start: u64,
}

impl Stat {
    fn of(pid: i32) -> Option<Stat> {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name, in parentheses, may hold anything: fields follow the last ')'.
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        Some(Stat {
            zombie: *fields.first()? == "Z",
            ppid: fields.get(1)?.parse().ok()?,
            group: fields.get(2)?.parse().ok()?,
            session: fields.get(3)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    }
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
    let needle = format!("{TOKEN_VAR}=");
    for pid in processes() {
        if pid == std::process::id() as i32 {
            continue;
        }
        // Only our own processes' environments are readable: others fail here.
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
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
    Stat::of(pid).is_some_and(|s| !s.zombie)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::new_token;
    use std::os::unix::process::CommandExt;

    /// A process that left its run's group and session (setsid) is found by
    /// the run's token when the run ends.
    #[test]
    fn a_run_ending_kills_what_left_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let token = new_token();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("setsid sh -c 'echo $$ > \"$0\"; exec sleep 1000' \"$0\" &")
            .arg(&pid_file)
            .env(TOKEN_VAR, &token)
            .process_group(0)
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid: i32 = loop {
            let text = fs::read_to_string(&pid_file).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                break pid;
            }
            assert!(Instant::now() < deadline, "the grandchild wrote its pid");
            std::thread::sleep(Duration::from_millis(5));
        };
        // Its environment shows a moment after it starts (bounded).
        while !find_token(&token).contains(&pid) {
            assert!(
                Instant::now() < deadline,
                "the grandchild is found by its token"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let stat = Stat::of(pid).unwrap();
        assert_ne!(
            stat.session,
            nix::unistd::getsid(None).unwrap().as_raw(),
            "it left the session"
        );
        assert_eq!(end_run(&token), 1);
        assert!(!alive(pid));
        assert!(find_token(&token).is_empty());
    }

    #[test]
    fn finds_and_kills_a_leftover_run_by_its_token() {
        let token = new_token();
        // A leader of its own group, as a run's is: registered as one, or
        // another test's `end_run` would take its zombie for an orphan.
        let mut leaders = leaders();
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .env(TOKEN_VAR, &token)
            .process_group(0)
            .spawn()
            .unwrap();
        leaders.insert(child.id() as i32);
        drop(leaders);
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
        super::leaders().remove(&(child.id() as i32));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
