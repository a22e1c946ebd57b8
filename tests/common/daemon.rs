//! A real sweepd for end-to-end tests, and reading what it wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::World;

/// A bound on every wait; far above what the machine needs when idle.
pub const BOUND: Duration = Duration::from_secs(60);

/// Wait until `ready` holds, polling the folders (bounded).
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn start(w: &World) -> Daemon {
        Self::start_with(w, &["--settle", "100ms"])
    }

    pub fn start_with(w: &World, args: &[&str]) -> Daemon {
        Self::start_env(w, args, &[])
    }

    /// With these variables added to its (scrubbed) environment.
    pub fn start_env(w: &World, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let mut command = w.command("sweepd");
        command.envs(env.iter().copied());
        Self::spawn(w, command, args)
    }

    /// Started through `wrapper`, a program and its arguments that run the
    /// rest of the line (`prlimit --nofile=N --`, `sh -c 'ulimit -v N &&
    /// exec "$0" "$@"'`).
    pub fn start_wrapped(w: &World, wrapper: &[&str], args: &[&str]) -> Daemon {
        let mut command = w.command_of(wrapper[0]);
        command.args(&wrapper[1..]).arg(super::bin("sweepd"));
        Self::spawn(w, command, args)
    }

    /// With the fake nvidia-smi (tests/fakes/nvidia-smi) reading the GPUs
    /// from `gpus.csv` in the world, its GPU locks in `locks/`, looking
    /// often, with no cooldown; `env` added.
    pub fn start_fake_gpus(w: &World, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        Self::start_fake_gpus_with(w, env, &[])
    }

    /// With the fake GPUs, and more flags (`--max-running 9`, say).
    pub fn start_fake_gpus_with(
        w: &World,
        env: &[(&str, &std::ffi::OsStr)],
        more: &[&str],
    ) -> Daemon {
        let smi = super::repo_root().join("tests/fakes/nvidia-smi");
        let state = w.path("gpus.csv");
        let locks = w.path("locks");
        let mut all = vec![
            ("SWEEPD_NVIDIA_SMI", smi.as_os_str()),
            ("FAKE_NVIDIA_SMI_STATE", state.as_os_str()),
        ];
        all.extend_from_slice(env);
        let mut args = vec![
            "--settle",
            "100ms",
            "--gpu-sample-every",
            "50ms",
            "--gpu-cooldown",
            "0s",
            "--gpu-lock-dir",
            locks.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        Self::start_env(w, &args, &all)
    }

    /// The sweepd at `program` (a copy of the built one, say).
    pub fn start_from(w: &World, program: &Path, args: &[&str]) -> Daemon {
        Self::spawn(w, w.command_of(program), args)
    }

    fn spawn(w: &World, mut command: std::process::Command, args: &[&str]) -> Daemon {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(w.path("sweepd.log"))
            .unwrap();
        let mut child = command
            .args([
                // CI runs as root in a container; the refusal has its own test.
                "--allow-root",
                "--empty-after",
                "1s",
                "--term-after",
                "300ms",
                "--kill-after",
                "1s",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sweepd starts");
        // The socket file may be a dead daemon's: wait until this one answers.
        let socket = w.path("home/sweepd.sock");
        wait_until("sweepd to listen", || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "sweepd exited ({status}); its log:\n{}",
                    fs::read_to_string(w.path("sweepd.log")).unwrap_or_default()
                );
            }
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        Daemon { child }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    /// A graceful stop, so that no run outlives the test; then a kill.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn home(w: &World) -> PathBuf {
    w.path("home")
}

/// Write a sweep file and submit it: the sweep's folder and its id.
pub fn submit(w: &World, name: &str, text: &str) -> (PathBuf, String) {
    w.file(name, text);
    let id = w
        .sweepctl(["submit", name])
        .expect_code(0)
        .stdout()
        .trim()
        .to_owned();
    (home(w).join("sweeps").join(&id), id)
}

pub fn sweeps(w: &World) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(home(w).join("sweeps"))
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

pub fn state(sweep: &Path) -> String {
    let text = fs::read_to_string(sweep.join("state.json")).unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .map(|v| v["state"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// A sweep's run folders, in run order.
pub fn run_dirs(sweep: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = fs::read_dir(sweep.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    runs
}

pub fn summaries(sweep: &Path) -> Vec<Value> {
    run_dirs(sweep)
        .iter()
        .filter_map(|r| fs::read_to_string(r.join("summary.json")).ok())
        .map(|t| serde_json::from_str(&t).unwrap())
        .collect()
}

pub fn counted(summaries: &[Value]) -> usize {
    summaries
        .iter()
        .filter(|s| {
            ["finished", "failed", "killed", "crashed"].contains(&s["state"].as_str().unwrap())
                && s.get("retried_by").is_none()
        })
        .count()
}

/// Drop a file into the inbox the safe way: written elsewhere, renamed in.
pub fn drop_file(w: &World, name: &str, bytes: &[u8]) {
    let staging = w.path(&format!("staging-{name}"));
    fs::write(&staging, bytes).unwrap();
    fs::rename(&staging, home(w).join("inbox").join(name)).unwrap();
}

/// The (k, iteration) of every run of a sweep over `k` that early
/// termination stopped, in run order; every other run must have finished.
pub fn hyperband_stops(sweep: &Path, runs: usize) -> Vec<[u64; 2]> {
    let summaries = summaries(sweep);
    assert_eq!(summaries.len(), runs);
    let mut stops = Vec::new();
    for r in &summaries {
        let n = r["run"].as_u64().unwrap();
        let p = fs::read_to_string(sweep.join(format!("runs/{n:04}/params.json"))).unwrap();
        let k = serde_json::from_str::<Value>(&p).unwrap()["k"]
            .as_u64()
            .unwrap();
        match r["state"].as_str().unwrap() {
            "killed" => {
                assert_eq!(r["reason"], "early_terminate", "{r:#}");
                stops.push([k, r["early_terminate"]["iteration"].as_u64().unwrap()]);
            }
            "finished" => {}
            other => panic!("run {n} ended {other}: {r:#}"),
        }
    }
    stops
}

/// W&B's engine on 27 scripted curves (tests/wandb-oracle/hyperband): the
/// curves written into the world, and the sweep's rule and grid.
pub struct Hyperband27 {
    pub curves: PathBuf,
    /// The sweep's `early_terminate` (flow YAML) and its `k` values.
    pub early_terminate: String,
    pub ks: String,
    /// (k, iteration) of every run W&B stops, running them one by one.
    pub stops: Vec<[u64; 2]>,
}

pub fn hyperband_27(w: &World) -> Hyperband27 {
    let expected: Value = serde_json::from_str(
        &fs::read_to_string(super::repo_root().join("tests/wandb-oracle/hyperband/expected.json"))
            .unwrap(),
    )
    .unwrap();
    let ks: Vec<String> = (0..27).map(|k| k.to_string()).collect();
    Hyperband27 {
        curves: w.file("curves.json", &expected["curves"].to_string()),
        early_terminate: expected["configs"]["max27-s3-eta3"]["early_terminate"].to_string(),
        ks: ks.join(", "),
        stops: serde_json::from_value(expected["sequential"]["max27-s3-eta3"].clone()).unwrap(),
    }
}
