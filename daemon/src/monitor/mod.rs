//! A run's monitor: the small process that is a local run's parent, so that
//! the run outlives sweepd (a restart, an upgrade, a crash). It is the
//! program `sweepd-monitor` (or the sweepd binary itself, see [`Exe`]),
//! started as `... __monitor RUN_DIR -- COMMAND...` with the run's
//! environment and working directory; it goes into a session of its own.
//! It
//!
//! - takes the run's GPU locks from sweepd (passed over its stdin, a Unix
//!   socket) and holds them until the run is over; the trainer inherits them
//!   too, so that the GPU stays locked while anything of the run lives;
//! - makes the trainer's stdin a named pipe in the run's folder (`stdin`)
//!   and holds it open, so that whichever sweepd runs can write the
//!   protocol's messages there and the trainer never reads an end of file;
//! - starts the trainer, its stdout and stderr appended to the run's files,
//!   as the leader of a process group of its own, and becomes the subreaper
//!   of everything it starts;
//! - writes `monitor.json` and holds it locked for as long as it lives (so a
//!   sweepd knows it is alive), and tells sweepd the trainer's pid;
//! - waits, asleep, for its children (SIGTERM, SIGINT and SIGHUP are passed
//!   on to the trainer's group as SIGTERM);
//! - once the trainer has exited, kills what is left of the run (its group,
//!   and whatever carries its token), writes `exit.json`, and exits.
//!
//! See docs/daemon.md ("Runs outlive sweepd").

mod exe;
mod handoff;
mod liveness;

pub use exe::{Exe, NAME};
pub use handoff::{Handoff, Started, read_answer};
pub use liveness::{Liveness, alive};

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::executor::orphans;
use crate::store::monitor::{ExitRecord, MONITOR_VERSION, MonitorRecord};
use crate::store::{RunDir, now};

/// The first argument that makes `sweepd` a monitor.
pub const ARG: &str = "__monitor";

/// `sweepd __monitor RUN_DIR -- PROGRAM ARGS...` (the arguments after
/// [`ARG`]). Never returns an error to anyone: what goes wrong is written to
/// the run's stderr.log (the monitor's own stderr) and `exit.json`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter();
    let (Some(run_dir), Some(dashes)) = (args.next(), args.next()) else {
        eprintln!("sweepd {ARG}: usage: sweepd {ARG} RUN_DIR -- PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let argv: Vec<OsString> = args.collect();
    if dashes != "--" || argv.is_empty() {
        eprintln!("sweepd {ARG}: usage: sweepd {ARG} RUN_DIR -- PROGRAM [ARGS...]");
        return ExitCode::from(2);
    }
    // Out of sweepd's session and process group: a terminal's Ctrl-C or
    // hangup, or a signal to sweepd's group, does not reach the run.
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_name(c"sweepd-monitor");
    let run = RunDir::new(PathBuf::from(run_dir));
    match monitor(&run, &argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweepd {ARG}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn monitor(run: &RunDir, argv: &[OsString]) -> std::io::Result<()> {
    let handoff = Handoff::receive()?;
    let _ = orphans::become_subreaper();
    // Room for exit.json, taken now: a run that ends on a full disk (maybe
    // of it) still has its end recorded.
    let exit_file = ExitFile::reserve(&run.exit_file());
    let started_at = now();
    let trainer = match spawn(run, argv, handoff.start_line()) {
        Ok(trainer) => trainer,
        Err(why) => {
            let record = ExitRecord {
                version: MONITOR_VERSION,
                pid: 0,
                code: None,
                signal: None,
                not_started: Some(why.clone()),
                ended_at: now(),
            };
            let written = exit_file.commit(&record);
            handoff.reply(&Started::Failed { why });
            return written;
        }
    };
    let pid = trainer.id();
    // Signals are taken with sigwait, never by handlers; blocked only now,
    // since the trainer would inherit the mask. One that came before is
    // not lost: the wait first looks for a trainer that has exited already.
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        signals.add(signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)?;
    let record = MonitorRecord {
        version: MONITOR_VERSION,
        monitor_pid: std::process::id(),
        pid,
        started_at,
        gpus: handoff.gpus().to_vec(),
        sweepd: env!("CARGO_PKG_VERSION").to_owned(),
    };
    // Held until this process exits: the lock says the monitor lives.
    let _alive = match liveness::write_locked(&run.monitor_file(), &record) {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!("sweepd {ARG}: cannot write monitor.json: {e}; the run ends with sweepd");
            None
        }
    };
    handoff.reply(&Started::Running { pid });
    drop(handoff);
    let _ = rustix::stdio::dup2_stdin(File::open("/dev/null")?);
    // tokio's Child is not here: the trainer is reaped below, by pid.
    drop(trainer);

    let status = wait_for(pid as i32, &signals);
    // What the trainer left: its group, and whatever carries its token.
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    if let Ok(token) = std::env::var(orphans::TOKEN_VAR) {
        orphans::end_run(&token);
    }
    reap_all();
    // Nobody writes to it any more; a pipe left in the folder would hang
    // whoever reads every file there (`cat`, `grep -r`).
    let _ = std::fs::remove_file(run.stdin_pipe());
    let record = ExitRecord {
        version: MONITOR_VERSION,
        pid,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        not_started: None,
        ended_at: now(),
    };
    exit_file.commit(&record)
}

/// `exit.json`, its space taken ahead in a file beside it, so that writing
/// it at the end needs no new space on the disk.
struct ExitFile {
    path: PathBuf,
    reserved: Option<(PathBuf, File)>,
}

impl ExitFile {
    const ROOM: usize = 4096;

    fn reserve(path: &Path) -> ExitFile {
        let pending = path.with_file_name(".exit.json.pending");
        let reserved = (|| {
            let mut file = File::create(&pending)?;
            std::io::Write::write_all(&mut file, &[b' '; Self::ROOM])?;
            file.sync_all()?;
            Ok::<_, std::io::Error>(file)
        })();
        ExitFile {
            path: path.to_owned(),
            reserved: reserved.ok().map(|file| (pending, file)),
        }
    }

    /// Write `record` into the space taken, then rename it into place
    /// (atomically, as every record); without it, the usual way.
    fn commit(self, record: &ExitRecord) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        match self.reserved {
            Some((pending, file)) if bytes.len() <= Self::ROOM => {
                use std::os::unix::fs::FileExt;
                file.write_all_at(&bytes, 0)?;
                file.set_len(bytes.len() as u64)?;
                file.sync_all()?;
                std::fs::rename(&pending, &self.path)?;
                crate::store::atomic::sync_dir(self.path.parent().unwrap_or(Path::new(".")))
            }
            reserved => {
                if let Some((pending, _)) = reserved {
                    let _ = std::fs::remove_file(pending);
                }
                record.write(&self.path)
            }
        }
    }
}

/// Start the trainer: stdin the run's named pipe, stdout and stderr
/// appended to its files, a process group of its own. The error says why
/// it could not start.
fn spawn(run: &RunDir, argv: &[OsString], start_line: &str) -> Result<std::process::Child, String> {
    let (program, args) = argv.split_first().expect("checked: a program");
    let shown = || {
        argv.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let stdin = stdin_pipe(&run.stdin_pipe(), start_line)
        .map_err(|e| format!("cannot make the run's stdin pipe: {e}"))?;
    let command = |program: &Path| -> std::io::Result<Command> {
        let append = |path| OpenOptions::new().create(true).append(true).open(path);
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::from(stdin.try_clone()?))
            .stdout(Stdio::from(append(run.stdout_file())?))
            .stderr(Stdio::from(append(run.stderr_file())?))
            .process_group(0);
        Ok(command)
    };
    let program = Path::new(program);
    let spawned = match command(program).and_then(|mut c| c.spawn()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match program
            .to_str()
            .and_then(|name| bundled(name, &std::env::var_os("PATH").unwrap_or_default()))
        {
            Some(path) => command(&path).and_then(|mut c| c.spawn()),
            None => Err(e),
        },
        spawned => spawned,
    };
    spawned.map_err(|e| format!("cannot start `{}`: {e}", shown()))
}

/// The named pipe that is the trainer's stdin, made afresh with the start
/// message in it (so it is the first thing the trainer reads, whatever
/// becomes of sweepd), and a reading end for the trainer. This process
/// holds a writing end as long as it lives (leaked on purpose: it closes
/// when the monitor exits), so the pipe never reads as ended.
fn stdin_pipe(path: &Path, start_line: &str) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))?;
    // Read and write: opening does not wait for a reader.
    let mut holder = OpenOptions::new().read(true).write(true).open(path)?;
    let reader = File::open(path)?;
    let room = match rustix::pipe::fcntl_getpipe_size(&holder) {
        Ok(size) if size > start_line.len() => size,
        _ => rustix::pipe::fcntl_setpipe_size(&holder, start_line.len() + 1).unwrap_or(0),
    };
    if room > start_line.len() {
        std::io::Write::write_all(&mut holder, start_line.as_bytes())?;
    } else {
        // Larger than a pipe holds: written as the trainer reads it.
        let mut writer = holder.try_clone()?;
        let line = start_line.to_owned();
        std::thread::spawn(move || {
            // Signals are the main thread's to take (sigwait).
            let _ = nix::sys::signal::pthread_sigmask(
                SigmaskHow::SIG_BLOCK,
                Some(&SigSet::all()),
                None,
            );
            std::io::Write::write_all(&mut writer, line.as_bytes())
        });
    }
    std::mem::forget(holder);
    Ok(reader)
}

/// A bare program name that is not on `path` (a PATH) may be one of the
/// trainers that come with sweepd (`sweepd-mnist`), installed beside the
/// daemon.
pub fn bundled(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    if name.contains('/') {
        return None;
    }
    if std::env::split_paths(path).any(|dir| dir.join(name).is_file()) {
        return None;
    }
    let beside = std::env::current_exe().ok()?.parent()?.join(name);
    beside.is_file().then_some(beside)
}

/// Sleep until the trainer exits (reaping any orphan that ends before it);
/// a SIGTERM, SIGINT or SIGHUP to the monitor goes to the trainer's group
/// as SIGTERM. The trainer's exit status (None: it could not be read).
fn wait_for(pid: i32, signals: &SigSet) -> Option<std::process::ExitStatus> {
    let mut signal = Signal::SIGCHLD;
    loop {
        if signal == Signal::SIGCHLD {
            if let Some(status) = reap(pid) {
                return status;
            }
        } else {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        }
        signal = match signals.wait() {
            Ok(signal) => signal,
            Err(_) => continue,
        };
    }
}

/// Reap whatever has ended; `Some` once the trainer has (with its status,
/// None if it could not be read).
fn reap(pid: i32) -> Option<Option<std::process::ExitStatus>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => {
                return Some(Some(std::process::ExitStatus::from_raw((code & 0xff) << 8)));
            }
            Ok(WaitStatus::Signaled(p, signal, _)) if p.as_raw() == pid => {
                return Some(Some(std::process::ExitStatus::from_raw(signal as i32)));
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            // No child at all: the trainer was reaped elsewhere.
            Err(_) => return Some(None),
        }
    }
}

/// Reap every child that has ended (orphans of the run, killed).
fn reap_all() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// The built `sweepd` binary, which the library's own tests start runs'
/// monitors with (their own executable is the test harness). `cargo test`
/// builds it for the integration tests; `cargo test --lib` alone does not.
#[cfg(test)]
pub fn sweepd_exe() -> PathBuf {
    let test = std::env::current_exe().expect("the test's executable");
    // target/<profile>/deps/sweepd-<hash> -> target/<profile>/sweepd
    let exe = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("sweepd");
    assert!(
        exe.is_file(),
        "these tests need the sweepd binary at {} (built by `cargo test -p sweepd`, or `cargo build -p sweepd`)",
        exe.display()
    );
    exe
}
