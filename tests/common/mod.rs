//! Shared helpers for end-to-end tests: each test owns a temp dir and runs the
//! real binary there with a scrubbed environment.

#![allow(dead_code)]

pub mod daemon;
pub mod synthetic;
pub mod users;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests refer to examples/ from there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a package folder has a parent")
        .to_owned()
}

/// A binary of the workspace. Cargo names the binaries of the package a test
/// belongs to; the other package's binary sits beside them in the same
/// target folder (a workspace `cargo test` builds both before running tests).
pub fn bin(name: &str) -> PathBuf {
    let known = match name {
        "sweepctl" => option_env!("CARGO_BIN_EXE_sweepctl"),
        "sweepd" => option_env!("CARGO_BIN_EXE_sweepd"),
        _ => None,
    };
    if let Some(path) = known {
        return PathBuf::from(path);
    }
    let ours = option_env!("CARGO_BIN_EXE_sweepctl")
        .or(option_env!("CARGO_BIN_EXE_sweepd"))
        .expect("tests belong to a package with a binary");
    let path = Path::new(ours).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run the whole `cargo test` (or `cargo build`) first",
        path.display()
    );
    path
}

/// A temp dir for one test, removed when dropped, with whatever of its
/// runs is still running (runs outlive sweepd: their monitors go on).
pub struct World {
    pub dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl World {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// This user's live processes whose environment names this world's
    /// folder (runs' monitors and trainers carry `SWEEP_RUN_DIR`).
    pub fn processes(&self) -> Vec<i32> {
        let folder = self.dir.path().to_string_lossy().into_owned();
        let me = std::process::id() as i32;
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != me)
            .filter(|pid| {
                let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
                    .unwrap_or(true);
                !zombie
                    && std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                        env.split(|&b| b == 0).any(|var| {
                            var.starts_with(b"SWEEP_RUN_DIR=")
                                && String::from_utf8_lossy(var).contains(&folder)
                        })
                    })
            })
            .collect()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file into the world and return its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Run `sweepctl` in the world with only PATH, HOME and LANG set.
    pub fn sweepctl<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let output = self
            .command("sweepctl")
            .args(args)
            .output()
            .expect("sweepctl runs");
        Run(output)
    }

    /// A command for one of our binaries, run in the world with only PATH,
    /// HOME, LANG and SWEEPS_HOME (the world's `home/`) set.
    pub fn command(&self, binary: &str) -> Command {
        self.command_of(bin(binary))
    }

    /// Any program, run as `command` runs ours.
    pub fn command_of(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("LANG", "C")
            .env("SWEEPS_HOME", self.path("home"))
            // No GPUs, whatever the machine has (GPU tests give their own).
            .env(
                "SWEEPD_NVIDIA_SMI",
                repo_root().join("tests/fakes/nvidia-smi"),
            )
            .env("FAKE_NVIDIA_SMI_STATE", "/dev/null");
        command
    }
}

/// What a command did.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited, not killed")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).expect("UTF-8 stdout")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8(self.0.stderr.clone()).expect("UTF-8 stderr")
    }

    /// Each stdout line parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Fail with everything the command printed when the exit code is not `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}
