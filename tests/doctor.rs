//! `sweepctl doctor` on this machine (no GPU) and with things broken on
//! purpose: nvidia-smi failing as it does without a driver, a lock folder
//! anyone could tamper with, a trainer that cannot find libtorch, one that
//! hangs. Each check says ok / warning / problem with a fix; the exit
//! status is 1 when any is a problem.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::users::sweepctl_for_other;
use common::{Run, World};
use serde_json::Value;

/// sweepctl copied to a folder of its own (no trainer beside it), run in
/// the world with the lock folder `locks/` and `env` added.
fn doctor(w: &World, args: &[&str], env: &[(&str, &str)]) -> Run {
    let (_dir, sweepctl) = sweepctl_for_other();
    let locks = w.path("locks");
    let out = w
        .command_of(&sweepctl)
        .args(["doctor", "--gpu-lock-dir", locks.to_str().unwrap()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("sweepctl runs");
    Run(out)
}

/// The line of check `name`: its level and what it said.
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.get(9..)
                .is_some_and(|rest| rest.starts_with(&format!("{name} ")))
        })
        .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
}

fn script(w: &World, name: &str, body: &str) -> PathBuf {
    let path = w.file(name, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn driver_here() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
}

#[test]
fn on_a_machine_without_a_gpu_it_says_so_and_nothing_is_a_problem() {
    let w = World::new();
    let run = doctor(&w, &[], &[]);
    let out = run.stdout();
    if driver_here() {
        assert!(line(&out, "nvidia driver").starts_with("ok "), "{out}");
    } else {
        let driver = line(&out, "nvidia driver");
        assert!(
            driver.starts_with("warning") && driver.contains("no NVIDIA driver: runs use the CPU"),
            "{out}"
        );
        assert_eq!(run.code(), 0, "a CPU machine has no problem:\n{out}");
    }
    assert!(line(&out, "sweepd").contains("not running for"), "{out}");
    assert!(line(&out, "trainer").starts_with("warning"), "{out}");
    assert!(line(&out, "gpu locks").contains("will be made"), "{out}");
    assert!(line(&out, "home").starts_with("ok "), "{out}");
    assert!(out.contains("0 problem(s)") || driver_here(), "{out}");
}

#[test]
fn a_failing_nvidia_smi_a_tampered_lock_folder_and_a_trainer_without_libtorch_are_problems() {
    let w = World::new();
    // A folder every user can write, not sticky: lock files could be swapped.
    std::fs::create_dir(w.path("locks")).unwrap();
    std::fs::set_permissions(w.path("locks"), std::fs::Permissions::from_mode(0o777)).unwrap();
    // What the dynamic loader says when libtorch is not where it looks.
    let trainer = script(
        &w,
        "sweepd-mnist",
        "echo \"$0: error while loading shared libraries: libtorch_cpu.so: cannot open shared object file: No such file or directory\" >&2; exit 127",
    );
    let run = doctor(
        &w,
        &["--trainer", trainer.to_str().unwrap()],
        &[("FAKE_NVIDIA_SMI_FAIL", "1")],
    );
    let out = run.stdout();
    assert_eq!(run.code(), 1, "{out}");
    let smi = line(&out, "nvidia-smi");
    assert!(
        smi.starts_with("problem")
            && smi.contains("exit status: 9")
            && smi.contains("NVIDIA-SMI has failed"),
        "{out}"
    );
    assert!(out.contains("fix: the driver is not loaded"), "{out}");
    let locks = line(&out, "gpu locks");
    assert!(
        locks.starts_with("problem") && locks.contains("not sticky (mode 777)"),
        "{out}"
    );
    assert!(out.contains("sudo install -d -m 1777"), "{out}");
    let trainer = line(&out, "trainer");
    assert!(
        trainer.starts_with("problem") && trainer.contains("libtorch not found"),
        "{out}"
    );
    assert!(
        out.contains("fix: scripts/setup-trainer installs libtorch"),
        "{out}"
    );
    assert!(out.contains("3 problem(s)"), "{out}");

    // The same as JSON.
    let run = doctor(
        &w,
        &[
            "--json",
            "--trainer",
            w.path("sweepd-mnist").to_str().unwrap(),
        ],
        &[("FAKE_NVIDIA_SMI_FAIL", "1")],
    );
    assert_eq!(run.code(), 1);
    let report: Value = serde_json::from_str(&run.stdout()).expect("one JSON object");
    let checks = report["checks"].as_array().unwrap();
    let level = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["level"].as_str().unwrap().to_owned())
    };
    assert_eq!(level("nvidia-smi").as_deref(), Some("problem"));
    assert_eq!(level("gpu locks").as_deref(), Some("problem"));
    assert_eq!(level("trainer").as_deref(), Some("problem"));
    assert_eq!(report["problems"], 3);
    assert!(checks.iter().all(|c| c["said"].is_string()));
    assert!(
        checks
            .iter()
            .filter(|c| c["level"] == "problem")
            .all(|c| c["fix"].is_string())
    );
}

#[test]
fn a_check_that_hangs_is_cut_off_and_said_to_hang() {
    let w = World::new();
    let trainer = script(&w, "sweepd-mnist", "exec sleep 1000");
    let gpus = w.file(
        "gpus.csv",
        "0, GPU-0a0a0a0a-0000-4000-8000-000000000000, Fake H100, 81559, 3, 0\n",
    );
    let run = doctor(
        &w,
        &["--timeout", "1s", "--trainer", trainer.to_str().unwrap()],
        &[("FAKE_NVIDIA_SMI_STATE", gpus.to_str().unwrap())],
    );
    let out = run.stdout();
    assert_eq!(run.code(), 1, "{out}");
    assert!(
        line(&out, "trainer").contains("did not answer within 1 s"),
        "{out}"
    );
    let smi = line(&out, "nvidia-smi");
    assert!(
        smi.starts_with("ok") && smi.contains("1 GPU(s): 0 Fake H100 (3/81559 MiB)"),
        "{out}"
    );
}

/// `scripts/gpu-check` where there is no GPU: it stops before building or
/// running anything (no results file), saying why, whether nvidia-smi is
/// missing or fails as it does without a driver.
#[test]
fn gpu_check_without_a_gpu_stops_at_once_saying_why() {
    let w = World::new();
    let tools = w.path("tools");
    std::fs::create_dir(&tools).unwrap();
    let link = |name: &str, to: &Path| std::os::unix::fs::symlink(to, tools.join(name)).unwrap();
    let which = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no {name} on PATH"))
    };
    for tool in ["dirname", "timeout", "grep", "bash"] {
        link(tool, &which(tool));
    }
    // The interpreter itself, not a version manager's shim.
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    link(
        "python3",
        Path::new(String::from_utf8_lossy(&python.stdout).trim()),
    );
    let out_file = w.path("results.json");
    let gpu_check = || {
        let out = std::process::Command::new("/bin/bash")
            .arg(common::repo_root().join("scripts/gpu-check"))
            .args(["--out", out_file.to_str().unwrap()])
            .env_clear()
            .env("PATH", &tools)
            .env("HOME", w.path("."))
            .env("FAKE_NVIDIA_SMI_FAIL", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = gpu_check();
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("no NVIDIA GPU here: nvidia-smi is not on PATH"),
        "{said}"
    );
    link(
        "nvidia-smi",
        &common::repo_root().join("tests/fakes/nvidia-smi"),
    );
    let (code, said) = gpu_check();
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("nvidia-smi -L failed: NVIDIA-SMI has failed"),
        "{said}"
    );
    assert!(!out_file.exists(), "nothing was run");
}

#[test]
fn a_home_others_can_write_is_a_problem_and_one_they_can_read_a_warning() {
    let w = World::new();
    let home = w.path("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = doctor(&w, &[], &[]);
    let out = run.stdout();
    assert_eq!(run.code(), 1, "{out}");
    let line_of_home = line(&out, "home");
    assert!(
        line_of_home.starts_with("problem")
            && line_of_home.contains("writable by others (mode 777)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("fix: chmod 700 {}", home.display())),
        "{out}"
    );
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = doctor(&w, &[], &[]).stdout();
    assert!(
        line(&out, "home").starts_with("warning") && out.contains("readable by others (mode 755)"),
        "{out}"
    );
}
