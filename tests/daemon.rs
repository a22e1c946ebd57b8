//! The daemon end to end: the real `sweepd` and `sweepctl` in a temp home,
//! with trainers that behave and trainers that misbehave.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::daemon::{
    BOUND, Daemon, counted, drop_file, home, hyperband_stops, state, summaries, sweeps, wait_until,
};
use common::users::as_other;
use common::{World, repo_root};
use serde_json::Value;

fn python_trainer() -> String {
    repo_root()
        .join("trainers/examples/mnist_standin.py")
        .display()
        .to_string()
}

/// The MNIST tutorial sweep, with the stand-in trainer for the real one.
fn tutorial_with_standin() -> String {
    let text = fs::read_to_string(repo_root().join("examples/mnist-tutorial.yaml")).unwrap();
    text.replace(
        "program: sweepd-mnist",
        &format!("program: {}", python_trainer()),
    )
    .replace("  - ${program}\n", "  - python3\n  - ${program}\n")
}

#[test]
fn the_tutorial_sweep_runs_end_to_end_from_the_inbox() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    drop_file(
        &w,
        "mnist-tutorial.yaml",
        tutorial_with_standin().as_bytes(),
    );
    wait_until("the sweep to finish", || {
        sweeps(&w).first().is_some_and(|s| state(s) == "finished")
    });
    let sweep = &sweeps(&w)[0];
    let runs = summaries(sweep);
    assert_eq!(runs.len(), 5, "run_cap 5");
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:?}");
    assert!(
        runs.iter().all(|r| r["metric"]["count"] == 1),
        "one epoch: one loss each"
    );
    // The file, byte for byte, and every run's record.
    assert_eq!(
        fs::read_to_string(sweep.join("sweep.yaml")).unwrap(),
        tutorial_with_standin()
    );
    for n in 1..=5 {
        let run = sweep.join(format!("runs/{n:04}"));
        let params: Value =
            serde_json::from_str(&fs::read_to_string(run.join("params.json")).unwrap()).unwrap();
        assert!(["adam", "sgd"].contains(&params["optimizer"].as_str().unwrap()));
        let records = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert!(
            records
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
        );
        assert!(records.contains("\"val_accuracy\""));
    }
    // sweepctl sees it, with and without the daemon.
    let status = w.sweepctl(["status"]).expect_code(0).stdout();
    assert!(
        status.contains("mnist-tutorial") && status.contains("5 done of 5"),
        "{status}"
    );
    let json = w.sweepctl(["status", "--json"]).expect_code(0).json_lines();
    assert_eq!(json[0]["daemon_running"], true);
    assert_eq!(json[0]["sweeps"][0]["counted"], 5);
    assert!(daemon.terminate().success());
    let offline = w.sweepctl(["status"]).expect_code(0).stdout();
    assert!(offline.starts_with("sweepd is not running"), "{offline}");
    let id = json[0]["sweeps"][0]["id"].as_str().unwrap().to_owned();
    let show = w
        .sweepctl(["show", &format!("{id}/2")])
        .expect_code(0)
        .stdout();
    assert!(
        show.contains("state     finished") && show.contains("optimizer = "),
        "{show}"
    );
    let logs = w
        .sweepctl(["logs", &format!("{}/2", &id[id.len() - 4..])])
        .expect_code(0)
        .stdout();
    assert!(logs.contains("\"val_accuracy\""), "{logs}");
    let lines = w
        .sweepctl(["logs", "--json", &format!("{id}/2")])
        .expect_code(0)
        .json_lines();
    assert_eq!(lines.len(), logs.lines().count());
    let last = lines.last().unwrap();
    assert_eq!(
        last["record"]["val_accuracy"],
        serde_json::from_str::<Value>(last["line"].as_str().unwrap()).unwrap()["val_accuracy"]
    );
    let watched = w.sweepctl(["watch", "--json", &id]).expect_code(0);
    assert!(
        watched.stderr().contains("sweepd is not running"),
        "{}",
        watched.stderr()
    );
    let progress = watched.json_lines();
    assert_eq!(
        (
            progress.len(),
            progress[0]["state"].as_str(),
            progress[0]["counted"].as_u64()
        ),
        (1, Some("finished"), Some(5))
    );
}

#[test]
fn a_file_still_being_written_is_not_taken_half_done() {
    use std::io::Write;
    let w = World::new();
    let _daemon = Daemon::start_with(&w, &["--settle", "2s"]);
    let text = "method: random\nrun_cap: 1\ncommand: [sh, -c, 'echo ok']\nparameters: {x: {min: 0.0, max: 1.0}}\n";
    let (first, rest) = text.split_at(30);
    // Written in place, in two parts, the file kept open between them.
    let mut file = fs::File::create(home(&w).join("inbox/slow.yaml")).unwrap();
    file.write_all(first.as_bytes()).unwrap();
    file.sync_all().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    file.write_all(rest.as_bytes()).unwrap();
    drop(file);
    wait_until("the sweep", || {
        sweeps(&w).first().is_some_and(|s| state(s) == "finished")
    });
    assert!(
        !home(&w).join("rejected").read_dir().unwrap().any(|_| true),
        "nothing rejected"
    );
}

#[test]
fn submit_prints_the_id_or_the_reasons() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file(
        "grid.yaml",
        "method: grid\ncommand: [sh, -c, 'echo \"{\\\"loss\\\": 1}\"']\nmetric: {name: loss}\nparameters: {a: {values: [1, 2]}}\n",
    );
    let run = w.sweepctl(["submit", "grid.yaml"]).expect_code(0);
    let id = run.stdout().trim().to_owned();
    assert!(id.contains("-grid-"), "{id}");
    let source: Value = serde_json::from_str(
        &fs::read_to_string(home(&w).join("sweeps").join(&id).join("source.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(source["via"], "submit");
    assert_eq!(source["original_name"], "grid.yaml");
    assert_eq!(
        Path::new(source["submitted_from"].as_str().unwrap()),
        w.dir.path()
    );
    // Invalid here: not even sent.
    w.file(
        "bad.yaml",
        "method: grd\nprogram: p\nparameters: {a: {value: 1}}\n",
    );
    let bad = w.sweepctl(["submit", "bad.yaml"]).expect_code(1);
    assert!(
        bad.stderr().contains("bad.yaml:1:9: error: method:"),
        "{}",
        bad.stderr()
    );
    // Valid with a warning (nothing to run: it waits for agents): the
    // daemon's warnings come back with the id.
    w.file(
        "b.yaml",
        "method: random\nrun_cap: 1\nparameters: {a: {min: 0.0, max: 1.0}}\n",
    );
    let accepted = w.sweepctl(["submit", "b.yaml"]).expect_code(0);
    assert!(
        accepted.stderr().contains("it waits for agents"),
        "{}",
        accepted.stderr()
    );
    assert!(!accepted.stdout().trim().is_empty());
    assert!(
        !home(&w).join("rejected").exists()
            || fs::read_dir(home(&w).join("rejected"))
                .unwrap()
                .next()
                .is_none(),
        "nothing rejected"
    );
}

/// A run interrupted (its monitor killed) after logging a fine value is
/// replaced by its re-run, which is told where the earlier attempt is
/// (SWEEP_RESUME_DIR): `status` names the re-run as the best run, not the
/// interrupted one (the daemon counts each proposal's latest run).
#[test]
fn the_best_run_is_never_a_run_that_was_run_again() {
    let w = World::new();
    // The first attempt logs a better value, then is interrupted (its
    // monitor killed); the second logs a worse one, and says where it was
    // told to resume from.
    let trainer = w.file(
        "trainer.sh",
        "read start\n\
         if [ ! -e \"$0.tried\" ]; then touch \"$0.tried\"; echo '{\"loss\": 0.1}'; exec sleep 1000; fi\n\
         echo \"$SWEEP_RESUME_DIR\" > \"$SWEEP_RUN_DIR/resumed-from\"\n\
         echo '{\"loss\": 0.5}'\n",
    );
    let file = w.file(
        "s.yaml",
        &format!(
            "method: grid\ncommand: [sh, '{}']\nmetric: {{name: loss}}\nparameters: {{a: {{value: 1}}}}\n",
            trainer.display()
        ),
    );
    let _daemon = Daemon::start(&w);
    let id = w
        .sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0)
        .stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    let first = sweep.join("runs/0001/metrics.jsonl");
    wait_until("the first run's value", || {
        fs::read_to_string(&first).is_ok_and(|t| t.contains("0.1"))
    });
    let monitor: Value =
        serde_json::from_str(&fs::read_to_string(sweep.join("runs/0001/monitor.json")).unwrap())
            .unwrap();
    let monitor_pid = monitor["monitor_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let status = w.sweepctl(["status", "--json"]).expect_code(0).json_lines();
    let line = &status[0]["sweeps"][0];
    assert_eq!(line["interrupted"], 1, "{line}");
    assert_eq!(line["best"], 0.5, "{line}");
    assert!(line["best_run"].as_str().unwrap().ends_with("/2"), "{line}");
    let runs = summaries(&sweep);
    assert!(
        runs[0]["reason"].as_str().unwrap().contains("monitor died"),
        "{runs:?}"
    );
    let resumed = fs::read_to_string(sweep.join("runs/0002/resumed-from")).unwrap();
    assert_eq!(
        Path::new(resumed.trim()),
        sweep.join("runs/0001"),
        "SWEEP_RESUME_DIR is the earlier attempt"
    );
    // The first attempt's trainer went with its monitor.
    let pid = runs[0]["pid"].as_i64().unwrap() as i32;
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z"),
        "the first attempt's trainer is gone"
    );
}

/// A program named without a path is looked for on PATH first, then beside
/// sweepd, where the bundled trainers (sweepd-mnist) are installed.
#[test]
fn a_bare_program_name_not_on_path_is_found_beside_sweepd() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let trainer = |path: PathBuf, loss: u32| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("#!/bin/sh\necho '{{\"loss\": {loss}}}'\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    };
    let install = w.path("install");
    fs::create_dir_all(&install).unwrap();
    fs::copy(common::bin("sweepd"), install.join("sweepd")).unwrap();
    trainer(install.join("only-beside"), 1);
    trainer(install.join("on-both"), 3);
    trainer(w.path("onpath/on-both"), 2);
    let path = format!("{}:/usr/bin:/bin", w.path("onpath").display());
    let child = Command::new(install.join("sweepd"))
        .current_dir(w.dir.path())
        .env_clear()
        .env("PATH", &path)
        .env("HOME", w.dir.path())
        .env("SWEEPS_HOME", home(&w))
        .args(["--allow-root", "--settle", "100ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon { child };
    let socket = home(&w).join("sweepd.sock");
    wait_until("the copied sweepd to listen", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    for (program, loss) in [("only-beside", 1.0), ("on-both", 2.0)] {
        let file = format!("{program}.yaml");
        w.file(
            &file,
            &format!("method: grid\nprogram: {program}\ncommand: [\"${{program}}\"]\nmetric: {{name: loss}}\nparameters: {{a: {{value: 1}}}}\n"),
        );
        let id = w
            .sweepctl(["submit", file.as_str()])
            .expect_code(0)
            .stdout();
        let sweep = home(&w).join("sweeps").join(id.trim());
        wait_until("the sweep to end", || {
            state(&sweep) != "running" && !state(&sweep).is_empty()
        });
        let runs = summaries(&sweep);
        assert_eq!(runs[0]["state"], "finished", "{program}: {}", runs[0]);
        assert_eq!(runs[0]["metric"]["best"], loss, "{program}: which one ran");
    }
}

/// systemd's `Type=notify`: READY=1 with a STATUS line once sweepd serves,
/// a STATUS line as runs come and go, STOPPING=1 when SIGTERM begins the
/// shutdown; runs do not inherit NOTIFY_SOCKET.
#[test]
fn sweepd_tells_systemd_ready_status_and_stopping() {
    let w = World::new();
    let path = w.path("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(BOUND)).unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification from sweepd");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let child = w
        .command("sweepd")
        .args([
            "--allow-root",
            "--settle",
            "100ms",
            "--max-running",
            "3",
            "--gpu-sample-every",
            "20ms",
        ])
        .env("NOTIFY_SOCKET", &path)
        // systemd's watchdog at 0.2 s: pinged every 0.1 s while the scheduler turns
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon { child };
    let first = next();
    assert!(first.lines().any(|l| l == "READY=1"), "{first}");
    assert!(
        first.contains("STATUS=0 of 3 runs running, 0 queued; sweeps: 0 running, 0 paused"),
        "{first}"
    );
    assert!(
        std::os::unix::net::UnixStream::connect(home(&w).join("sweepd.sock")).is_ok(),
        "READY comes after the control socket is up"
    );
    // The run notes what of systemd's it sees, then waits to be stopped.
    w.file(
        "env.yaml",
        "method: grid\ncommand: [sh, -c, 'echo \"[$NOTIFY_SOCKET$WATCHDOG_USEC]\" > \"$SWEEP_RUN_DIR/env\"; read start; read stop']\nmetric: {name: loss}\nparameters: {a: {value: 1}}\n",
    );
    let id = w.sweepctl(["submit", "env.yaml"]).expect_code(0).stdout();
    let id = id.trim().to_owned();
    let sweep = home(&w).join("sweeps").join(&id);
    let mut seen = vec![first];
    while !seen.last().unwrap().contains("STATUS=1 of 3 runs running") {
        seen.push(next());
    }
    // Fed every 0.1 s while the scheduler turns (it looks at the GPUs every 20 ms).
    while !seen.iter().any(|m| m == "WATCHDOG=1\n") {
        seen.push(next());
    }
    // "Running" is said when the process starts, before its shell has run
    // a line: wait for the note, or a loaded machine cancels it first.
    wait_until("the run to note its environment", || {
        fs::read_to_string(sweep.join("runs/0001/env")).is_ok_and(|t| t.ends_with('\n'))
    });
    w.sweepctl(["cancel", &id]).expect_code(0);
    wait_until("the sweep to be canceled", || state(&sweep) == "canceled");
    assert_eq!(
        fs::read_to_string(sweep.join("runs/0001/env")).unwrap(),
        "[]\n",
        "NOTIFY_SOCKET and WATCHDOG_USEC are not inherited"
    );
    assert!(daemon.terminate().success());
    while !seen.last().unwrap().contains("STOPPING=1") {
        seen.push(next());
    }
    assert_eq!(
        seen.iter().filter(|m| m.contains("READY=1")).count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m == "WATCHDOG=1\n"),
        "the watchdog was fed: {seen:?}"
    );
}

/// SIGTERM (systemd's stop) during a sweep: the runs get the stop message
/// (reason `shutdown`) and end, sweepd exits, the runs are recorded as
/// interrupted; after a restart they run again and the sweep completes.
#[test]
fn sigterm_with_stop_runs_on_exit_interrupts_runs_which_run_again_after_a_restart() {
    let w = World::new();
    // Logs a value, then (until `go` exists) waits for the stop message and
    // writes it down.
    w.file(
        "grid.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"; [ -e go ] && exit 0; read stop; echo \"$stop\" > \"$SWEEP_RUN_DIR/heard\"']\nmetric: {name: loss}\nparameters: {a: {values: [1, 2]}}\nsweepd: {max_parallel: 2}\n",
    );
    let daemon = Daemon::start_with(&w, &["--settle", "100ms", "--stop-runs-on-exit", "true"]);
    let id = w.sweepctl(["submit", "grid.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("both runs to log", || {
        (1..=2).all(|n| {
            fs::read_to_string(sweep.join(format!("runs/{n:04}/metrics.jsonl")))
                .is_ok_and(|m| m.contains("loss"))
        })
    });
    assert!(daemon.terminate().success(), "a clean exit");
    for n in 1..=2 {
        let heard = fs::read_to_string(sweep.join(format!("runs/{n:04}/heard"))).unwrap();
        let stop: Value = serde_json::from_str(&heard).unwrap();
        assert_eq!(stop["reason"], "shutdown", "run {n}");
    }
    let runs = summaries(&sweep);
    assert!(
        runs[..2].iter().all(|r| r["state"] == "interrupted"),
        "{runs:?}"
    );
    assert!(
        runs[2..].iter().all(|r| r["state"] == "queued"),
        "queued again, to run after the restart: {runs:?}"
    );
    assert_eq!(state(&sweep), "running");

    w.file("go", "");
    let _daemon = Daemon::start(&w);
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs.len(), 4, "each interrupted run ran again: {runs:?}");
    assert!(
        runs[2..].iter().all(|r| r["state"] == "finished"),
        "{runs:?}"
    );
    assert_eq!(counted(&runs), 2);
}

/// As root (or root of a user namespace, for a test run by a user) sweepd
/// refuses to start without --allow-root, and starts nothing.
#[test]
fn sweepd_refuses_to_run_as_root_unless_told() {
    let w = World::new();
    // Root runs it directly; a user as root of a user namespace.
    let mut command = if nix::unistd::geteuid().is_root() {
        Command::new(common::bin("sweepd"))
    } else {
        let mut unshare = Command::new("unshare");
        unshare.arg("--map-root-user").arg(common::bin("sweepd"));
        unshare
    };
    let out = command
        .env("SWEEPS_HOME", home(&w))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing to run as root"), "{stderr}");
    assert!(stderr.contains("--allow-root"), "{stderr}");
    assert!(!home(&w).exists(), "nothing was set up");
}

#[test]
fn a_second_daemon_on_the_same_home_names_the_first_and_exits() {
    let w = World::new();
    let first = Daemon::start(&w);
    let second = w.command("sweepd").arg("--allow-root").output().unwrap();
    assert_eq!(second.status.code(), Some(2), "a restart would not help");
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("another sweepd already runs on this home"),
        "{message}"
    );
    assert!(
        message.contains(&format!("\"pid\":{}", first.child.id())),
        "{message}"
    );
}

#[test]
fn pause_resume_and_cancel_through_the_socket() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file("long.yaml", "method: random\nrun_cap: 100\ncommand: [sh, -c, 'exec sleep 1000']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    let id = w
        .sweepctl(["submit", "long.yaml"])
        .expect_code(0)
        .stdout()
        .trim()
        .to_owned();
    let sweep = home(&w).join("sweeps").join(&id);
    wait_until("a running run", || {
        summaries(&sweep).iter().any(|s| s["state"] == "running")
    });
    let short = &id[id.len() - 4..];
    assert!(
        w.sweepctl(["pause", short])
            .expect_code(0)
            .stdout()
            .contains("is paused")
    );
    assert_eq!(state(&sweep), "paused");
    assert!(
        w.sweepctl(["pause", short])
            .expect_code(2)
            .stderr()
            .contains("cannot pause it")
    );
    w.sweepctl(["resume", short]).expect_code(0);
    w.sweepctl(["cancel", short]).expect_code(0);
    wait_until("the run to be killed", || {
        summaries(&sweep).iter().all(|s| s["state"] == "killed")
    });
    assert_eq!(state(&sweep), "canceled");
    assert!(
        w.sweepctl(["stop", "nothing-like-it"])
            .expect_code(2)
            .stderr()
            .contains("no sweep matches")
    );
}

/// A trainer printing numbered metric lines, slowly enough to be killed midway.
const CHATTY: &str = "method: random\nrun_cap: 12\nmetric: {name: loss}\n\
    command: [sh, -c, 'i=0; while [ $i -lt 25 ]; do echo \"{\\\"loss\\\": $i, \\\"i\\\": $i}\"; i=$((i+1)); sleep 0.02; done']\n\
    parameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {max_parallel: 2, retry: 1}\n";

#[test]
fn kill_9_of_the_daemon_ten_times_loses_nothing_and_counts_exactly() {
    let w = World::new();
    let mut daemon = Daemon::start(&w);
    drop_file(&w, "chatty.yaml", CHATTY.as_bytes());
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    // Kill at moments spread over the sweep, from a fixed pseudo-random sequence.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(50 + x % 400));
        daemon.kill9();
        daemon = Daemon::start(&w);
    }
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(
        counted(&runs),
        12,
        "exactly run_cap counted runs: {runs:#?}"
    );
    for n in 1..=runs.len() {
        let run = sweep.join(format!("runs/{n:04}"));
        let stdout = fs::read_to_string(run.join("stdout.log")).unwrap_or_default();
        let metrics = fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
        let records: Vec<Value> = metrics
            .lines()
            .map(|l| serde_json::from_str(l).expect("every metrics line parses"))
            .collect();
        // Every whole line the run printed is a record, once, in order.
        let printed: Vec<i64> = stdout
            .lines()
            .filter(|l| stdout.contains(&format!("{l}\n")))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["i"].as_i64().unwrap())
            .collect();
        let recorded: Vec<i64> = records.iter().map(|r| r["i"].as_i64().unwrap()).collect();
        assert_eq!(recorded, printed, "run {n}");
    }
    drop(daemon);
}

/// Hyperband through the daemon: runs whose curves are worse than the
/// others' at a band are stopped there, as `killed` (early_terminate), with
/// the rule's reasons in their summary, and `sweepctl show` explains it.
#[test]
fn early_termination_stops_the_worse_runs_at_their_band() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    // Run x logs loss = x (1 + 1/(i+1)) for i = 0..8: a larger x is worse at every iteration.
    let sweep_file = "method: grid\nmetric: {name: loss, goal: minimize}\n\
        early_terminate: {type: hyperband, min_iter: 2, eta: 2}\n\
        command: [python3, -c, 'import json, sys, time; x = json.loads(sys.argv[1])[\"x\"]; \
        [(print(json.dumps({\"loss\": x * (1 + 1 / (i + 1))}), flush=True), time.sleep(0.1)) for i in range(8)]', \
        '${args_json}']\n\
        parameters: {x: {values: [1, 2, 3, 4, 5, 6]}}\nsweepd: {max_parallel: 3}\n";
    drop_file(&w, "hb.yaml", sweep_file.as_bytes());
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    let x_of = |n: u64| -> i64 {
        let p = fs::read_to_string(sweep.join(format!("runs/{n:04}/params.json"))).unwrap();
        serde_json::from_str::<Value>(&p).unwrap()["x"]
            .as_i64()
            .unwrap()
    };
    for r in &runs {
        let x = x_of(r["run"].as_u64().unwrap());
        if x == 1 {
            assert_eq!(
                r["state"], "finished",
                "the best run is never stopped: {r:#}"
            );
        }
        if x >= 4 {
            // They start once runs 1-3 have values at band 2, and are worse
            // than those at every band: each is stopped at the band it reaches
            // among them (2 when they have all passed it, as a rule).
            assert_eq!(r["state"], "killed", "{r:#}");
            assert_eq!(r["reason"], "early_terminate", "{r:#}");
            let j = &r["early_terminate"];
            let band = j["band"].as_u64().unwrap();
            assert!([2, 4, 8].contains(&band), "{r:#}");
            assert_eq!(j["iteration"].as_u64().unwrap(), band, "{r:#}");
            assert!(
                j["value"].as_f64().unwrap() > j["threshold"].as_f64().unwrap(),
                "{r:#}"
            );
            assert!(j["runs_at_band"].as_u64().unwrap() >= 3, "{r:#}");
        }
    }
    let events = fs::read_to_string(sweep.join("events.jsonl")).unwrap();
    let stopped = events
        .lines()
        .filter(|l| l.contains("\"early_terminated\""))
        .count();
    let killed = runs
        .iter()
        .filter(|r| r["reason"] == "early_terminate")
        .count();
    assert!(killed >= 3 && stopped == killed, "{events}");
    let id = sweep.file_name().unwrap().to_str().unwrap().to_owned();
    let worst = runs
        .iter()
        .find(|r| x_of(r["run"].as_u64().unwrap()) == 6)
        .unwrap();
    let shown = w
        .sweepctl(["show", &format!("{id}/{}", worst["run"])])
        .expect_code(0)
        .stdout();
    let band = &worst["early_terminate"]["band"];
    assert!(
        shown.contains(&format!(
            "stopped by hyperband after {band} values: at band {band}"
        )),
        "{shown}"
    );
}

/// The 27 scripted runs of tests/wandb-oracle/hyperband, one after the other
/// through the real daemon: the runs stopped, and the iteration at which each
/// was, are those W&B's engine stops (expected.json, "sequential").
#[test]
fn twenty_seven_scripted_runs_are_stopped_where_wandb_stops_them() {
    let w = World::new();
    let wandb = common::daemon::hyperband_27(&w);
    // It honours the stop message (through trainers/python), so a stopped
    // run ends at once.
    let trainer = w.file(
        "curve.py",
        &format!(
            "import json, sys, time\n\
             sys.path.insert(0, {:?})\n\
             import sweepd_trainer as sweep\n\
             k = sweep.init()['k']\n\
             for v in json.load(open(sys.argv[1]))[k]:\n    \
             if sweep.should_stop():\n        break\n    \
             sweep.log({{'loss': v}})\n    time.sleep(0.02)\n",
            repo_root().join("trainers/python").display().to_string()
        ),
    );
    let sweep_file = format!(
        "method: grid\nmetric: {{name: loss, goal: minimize}}\nearly_terminate: {}\n\
         command: [python3, '{}', '{}']\n\
         parameters: {{k: {{values: [{}]}}}}\nsweepd: {{max_parallel: 1}}\n",
        wandb.early_terminate,
        trainer.display(),
        wandb.curves.display(),
        wandb.ks
    );
    let _daemon = Daemon::start(&w);
    drop_file(&w, "hb27.yaml", sweep_file.as_bytes());
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    assert_eq!(
        hyperband_stops(&sweep, 27),
        wandb.stops,
        "(run, iteration) of every stop"
    );
}

/// A trainer that ignores the stop message and SIGTERM is still stopped
/// within the grace period (--kill-after, 1 s here) plus one second of the
/// rule's decision.
#[test]
fn early_termination_reaches_a_trainer_that_ignores_stop_and_sigterm() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let sweep_file = "method: grid\nmetric: {name: loss}\n\
        early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n\
        command: [python3, -c, 'import json, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); \
        print(json.dumps({\"loss\": json.loads(sys.argv[1])[\"x\"]}), flush=True); time.sleep(60)', '${args_json}']\n\
        parameters: {x: {values: [1, 5]}}\nsweepd: {max_parallel: 2}\n";
    drop_file(&w, "stubborn.yaml", sweep_file.as_bytes());
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    wait_until("the worse run to be killed", || {
        summaries(&sweep).iter().any(|r| r["state"] == "killed")
    });
    let runs = summaries(&sweep);
    let killed = runs.iter().find(|r| r["state"] == "killed").unwrap();
    assert_eq!(killed["reason"], "early_terminate", "{killed:#}");
    let n = killed["run"].as_u64().unwrap();
    let events = fs::read_to_string(sweep.join("events.jsonl")).unwrap();
    let decided = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "early_terminated" && e["run"] == n)
        .expect("the decision is an event");
    let at = |t: &Value| humantime::parse_rfc3339(t.as_str().unwrap()).unwrap();
    let took = at(&killed["ended_at"])
        .duration_since(at(&decided["time"]))
        .unwrap();
    eprintln!("the stubborn run ended {took:?} after the decision");
    assert!(
        took <= Duration::from_secs(2),
        "stopped {took:?} after the decision"
    );
    assert!(
        took >= Duration::from_millis(900),
        "it ignored SIGTERM, so SIGKILL at 1 s: {took:?}"
    );
}

/// A bayes sweep with runs in parallel: the model's proposals (after the
/// initial design of 5) are made while other runs are pending, none repeats
/// another, and they find what the design did not.
#[test]
fn a_bayes_sweep_runs_in_parallel_through_the_daemon() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let sweep_file = "method: bayes\nrun_cap: 10\nmetric: {name: loss, goal: minimize}\n\
        command: [python3, -c, 'import json, sys; x = json.loads(sys.argv[1])[\"x\"]; print(json.dumps({\"loss\": (x - 0.3) ** 2}))', '${args_json}']\n\
        parameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {max_parallel: 3, seed: 7}\n";
    drop_file(&w, "bayes.yaml", sweep_file.as_bytes());
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs.len(), 10, "{runs:#?}");
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:#?}");
    let xs: Vec<f64> = (1..=10)
        .map(|n| {
            let p = fs::read_to_string(sweep.join(format!("runs/{n:04}/params.json"))).unwrap();
            serde_json::from_str::<Value>(&p).unwrap()["x"]
                .as_f64()
                .unwrap()
        })
        .collect();
    for (i, a) in xs.iter().enumerate() {
        for b in &xs[i + 1..] {
            assert!((a - b).abs() > 1e-9, "two runs at x = {a}: {xs:?}");
        }
    }
    let gap = |x: &f64| (x - 0.3).abs();
    let design = xs[..5].iter().map(gap).fold(f64::INFINITY, f64::min);
    let model = xs[5..].iter().map(gap).fold(f64::INFINITY, f64::min);
    assert!(
        model < design / 4.0 && model < 0.01,
        "design {design}, model {model}: {xs:?}"
    );
}

#[test]
fn bad_inbox_files_are_rejected_with_a_reason_while_a_good_sweep_runs() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file("good.yaml", "method: random\nrun_cap: 1\ncommand: [sh, -c, 'exec sleep 1000']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    let id = w
        .sweepctl(["submit", "good.yaml"])
        .expect_code(0)
        .stdout()
        .trim()
        .to_owned();
    let good = home(&w).join("sweeps").join(&id);
    wait_until("the good sweep's run", || {
        summaries(&good).iter().any(|s| s["state"] == "running")
    });

    let ok = "method: random\nprogram: p\nparameters: {x: {min: 0.0, max: 1.0}}\n";
    let mut binary = vec![0u8; 4096];
    let mut x: u32 = 7;
    for b in binary.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let big = format!("{ok}# {}\n", "x".repeat(10 << 20));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed.yaml", b"method: [grid\nparameters: {\n".to_vec(), "cannot read the file"),
        ("binary.yaml", binary, "error"),
        ("empty.yaml", Vec::new(), "is empty"),
        ("huge.yaml", big.into_bytes(), "at most 1048576 bytes"),
        ("notes.txt", ok.as_bytes().to_vec(), "not a sweep file"),
        ("README", ok.as_bytes().to_vec(), "not a sweep file"),
        ("typo.yaml", b"method: random\nprogram: p\nparameters: {x: {distribution: unifrom, min: 0, max: 1}}\n".to_vec(), "did you mean `uniform`?"),
        // `${lr}` would be the parameter's value (sweepd's extension); a name
        // that is neither a parameter nor a macro is refused.
        ("macro.yaml", b"method: random\ncommand: [python, \"--lr=${learning_rate}\"]\nparameters: {lr: {min: 0.0, max: 1.0}}\n".to_vec(), "unknown macro `${learning_rate}`"),
        ("bayes.yaml", b"method: bayes\nprogram: p\nparameters: {x: {min: 0.0, max: 1.0}}\n".to_vec(), "needs a `metric`"),
        ("broken.json", b"{\"method\": \"grid\",, }".to_vec(), "cannot read the file"),
        ("latin1.yaml", b"method: random\nprogram: caf\xe9\nparameters: {x: {value: 1}}\n".to_vec(), "not UTF-8"),
        ("list.yaml", b"- method: grid\n".to_vec(), "must be a mapping"),
        ("two-docs.yaml", format!("{ok}---\n{ok}").into_bytes(), "cannot read the file"),
        ("dup.yaml", format!("{ok}method: grid\n").into_bytes(), "written twice"),
        ("tag.yaml", b"method: !!python/name:os.system grid\nprogram: p\nparameters: {x: {value: 1}}\n".to_vec(), "error"),
        ("grid.yaml", b"method: grid\nprogram: p\nparameters: {x: {min: 0.0, max: 1.0}}\n".to_vec(), "grid search cannot take"),
        ("launch.yaml", format!("{ok}job: my-job:v0\n").into_bytes(), "Launch jobs are not supported"),
        ("timeout.yaml", format!("{ok}sweepd: {{timeout: soon}}\n").into_bytes(), "as a duration"),
        ("cap.yaml", format!("{ok}run_cap: -3\n").into_bytes(), "at least 1"),
    ];
    assert_eq!(cases.len(), 19);
    for (name, bytes, _) in &cases {
        drop_file(&w, name, bytes);
    }
    // Two more kinds that are not plain files.
    fs::create_dir(home(&w).join("inbox/folder.yaml")).unwrap();
    std::os::unix::fs::symlink(w.file("target.yaml", ok), home(&w).join("inbox/link.yaml"))
        .unwrap();

    let rejected = home(&w).join("rejected");
    let reason_of = |name: &str| -> Option<String> {
        fs::read_dir(&rejected).ok()?.flatten().find_map(|e| {
            let file = e.file_name().into_string().ok()?;
            file.ends_with(&format!("-{name}.error.txt"))
                .then(|| fs::read_to_string(e.path()).unwrap())
        })
    };
    let kept = |name: &str| {
        fs::read_dir(&rejected).unwrap().flatten().any(|e| {
            e.file_name()
                .to_str()
                .unwrap()
                .ends_with(&format!("-{name}"))
        })
    };
    for (name, _, why) in &cases {
        // The reason is written first, then the file moved beside it.
        wait_until(&format!("{name} to be rejected"), || {
            reason_of(name).is_some() && kept(name)
        });
        let reason = reason_of(name).unwrap();
        assert!(reason.contains(why), "{name}: {reason}");
    }
    wait_until("the folder to be rejected", || {
        reason_of("folder.yaml").is_some()
    });
    assert!(
        reason_of("folder.yaml")
            .unwrap()
            .contains("not a regular file")
    );
    wait_until("the link to be rejected", || {
        reason_of("link.yaml").is_some()
    });
    assert!(reason_of("link.yaml").unwrap().contains("symbolic link"));
    assert!(
        fs::read_dir(home(&w).join("inbox"))
            .unwrap()
            .next()
            .is_none(),
        "the inbox is empty again"
    );
    // The good sweep ran on through all of it.
    assert_eq!(state(&good), "running");
    assert!(summaries(&good).iter().any(|s| s["state"] == "running"));
    assert_eq!(sweeps(&w).len(), 1, "no bad file became a sweep");
}

const GPU0: &str = "GPU-0a0a0a0a-0000-4000-8000-000000000000";
const GPU1: &str = "GPU-1b1b1b1b-0000-4000-8000-000000000001";

/// sweepd with the fake nvidia-smi, `extra_env` added.
fn gpu_daemon(w: &World, extra_env: &[(&str, &str)]) -> Daemon {
    let env: Vec<(&str, &std::ffi::OsStr)> = extra_env
        .iter()
        .map(|(k, v)| (*k, std::ffi::OsStr::new(v)))
        .collect();
    Daemon::start_fake_gpus(w, &env)
}

/// A trainer that notes the GPUs it was given in its folder, claims each in
/// `held/` (failing if another run holds it), works a little, and lets go.
const GPU_TRAINER: &str = "command: [sh, -c, 'read start; echo \"$CUDA_VISIBLE_DEVICES|$CUDA_DEVICE_ORDER|$SWEEPD_GPUS\" > \"$SWEEP_RUN_DIR/gpu\"; [ -z \"$CUDA_VISIBLE_DEVICES\" ] || (set -o noclobber; echo $SWEEP_RUN_ID > held/$CUDA_VISIBLE_DEVICES) || exit 3; cp \"$SWEEPS_HOME/gpus.json\" \"$SWEEP_RUN_DIR/gpus-seen.json\"; echo \"{\\\"loss\\\": 1}\"; sleep 0.3; rm -f held/$CUDA_VISIBLE_DEVICES']\nmetric: {name: loss}\n";

fn gpu_of(sweep: &Path, n: u32) -> String {
    fs::read_to_string(sweep.join(format!("runs/{n:04}/gpu")))
        .unwrap()
        .trim()
        .to_owned()
}

fn lock_file(w: &World, uuid: &str) -> fs::File {
    fs::create_dir_all(w.path("locks")).unwrap();
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(w.path(&format!("locks/gpu-{uuid}.lock")))
        .unwrap()
}

#[test]
fn four_runs_on_two_gpus_never_share_one_and_every_gpu_is_released() {
    let w = World::new();
    w.file(
        "gpus.csv",
        &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n1, {GPU1}, Fake H100, 81559, 3, 0\n"),
    );
    fs::create_dir(w.path("held")).unwrap();
    let _daemon = gpu_daemon(&w, &[]);
    w.file(
        "gpus.yaml",
        &format!("method: grid\n{GPU_TRAINER}parameters: {{a: {{values: [1, 2, 3, 4]}}}}\nsweepd: {{gpus_per_run: 1, max_parallel: 4}}\n"),
    );
    let id = w.sweepctl(["submit", "gpus.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert!(
        runs.iter().all(|r| r["state"] == "finished"),
        "exit 3 would mean two runs held one GPU at once: {runs:?}"
    );
    let given: Vec<String> = (1..=4).map(|n| gpu_of(&sweep, n)).collect();
    for g in &given {
        let [uuid, order, index] = g.split('|').collect::<Vec<_>>()[..] else {
            panic!("{g}")
        };
        assert!([GPU0, GPU1].contains(&uuid), "one GPU, by UUID: {g}");
        assert_eq!(order, "PCI_BUS_ID");
        assert_eq!(index, if uuid == GPU0 { "0" } else { "1" });
    }
    assert!(given.iter().any(|g| g.starts_with(GPU0)) && given.iter().any(|g| g.starts_with(GPU1))); // While each ran, gpus.json (`sweepctl gpus`) named it as its GPU's holder.
    for n in 1..=4 {
        let seen: Value = serde_json::from_str(
            &fs::read_to_string(sweep.join(format!("runs/{n:04}/gpus-seen.json"))).unwrap(),
        )
        .unwrap();
        let mine = gpu_of(&sweep, n);
        let held = seen["gpus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| mine.starts_with(g["uuid"].as_str().unwrap()))
            .unwrap();
        assert_eq!(held["held_by"], format!("{}/{n}", id.trim()), "{seen}");
    }

    // Released: no run holds a GPU, and both locks are free.
    let report: Value =
        serde_json::from_str(&fs::read_to_string(home(&w).join("gpus.json")).unwrap()).unwrap();
    assert_eq!(report["gpus"].as_array().unwrap().len(), 2);
    assert!(
        report["gpus"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("held_by").is_none()),
        "{report}"
    );
    // Released when the run ended; but a process sweepd is spawning at that
    // moment (the next look at the GPUs) shares its descriptors from fork to
    // exec, so on a loaded machine the lock may outlive the lease by as long.
    for uuid in [GPU0, GPU1] {
        wait_until(&format!("{uuid}'s lock to be free"), || {
            nix::fcntl::Flock::lock(
                lock_file(&w, uuid),
                nix::fcntl::FlockArg::LockExclusiveNonblock,
            )
            .is_ok()
        });
    }
    assert_eq!(fs::read_dir(w.path("held")).unwrap().count(), 0);
}

#[test]
fn a_busy_gpu_and_another_sweepds_lock_make_runs_wait_saying_why() {
    let w = World::new();
    w.file(
        "gpus.csv",
        &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n1, {GPU1}, Fake H100, 81559, 40000, 97\n"),
    );
    fs::create_dir(w.path("held")).unwrap();
    // Another user's sweepd holds GPU 0.
    let other = nix::fcntl::Flock::lock(
        lock_file(&w, GPU0),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .map_err(|(_, e)| e)
    .unwrap();
    let _daemon = gpu_daemon(&w, &[]);
    w.file(
        "wait.yaml",
        &format!("method: grid\n{GPU_TRAINER}parameters: {{a: {{value: 1}}}}\nsweepd: {{gpus_per_run: 1}}\n"),
    );
    let id = w.sweepctl(["submit", "wait.yaml"]).expect_code(0).stdout();
    let id = id.trim();
    let sweep = home(&w).join("sweeps").join(id);
    let waiting = || {
        let record: Value =
            serde_json::from_str(&fs::read_to_string(sweep.join("state.json")).unwrap_or_default())
                .unwrap_or_default();
        record["waiting"].as_str().unwrap_or("").to_owned()
    };
    wait_until("the sweep to wait", || !waiting().is_empty());
    let why = waiting();
    let log = fs::read_to_string(w.path("sweepd.log")).unwrap_or_default();
    assert!(
        why.contains("GPU 0: locked by another sweepd"),
        "{why}\n{log}"
    );
    assert!(why.contains("GPU 1: in use by others"), "{why}");
    assert!(
        !sweep.join("runs/0001").exists(),
        "no run was started or queued"
    );
    let status = w.sweepctl(["status", id]).expect_code(0).stdout();
    assert!(status.contains("waiting for 1 free GPU(s)"), "{status}");

    drop(other);
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    assert!(gpu_of(&sweep, 1).starts_with(GPU0));
    assert_eq!(waiting(), "", "nothing holds it back any more");
}

#[test]
fn without_a_driver_gpu_sweeps_wait_and_cpu_sweeps_run_with_no_gpu_visible() {
    let w = World::new();
    w.file("gpus.csv", "");
    fs::create_dir(w.path("held")).unwrap();
    let _daemon = gpu_daemon(&w, &[("FAKE_NVIDIA_SMI_FAIL", "1")]);
    w.file(
        "gpu.yaml",
        &format!("method: grid\n{GPU_TRAINER}parameters: {{a: {{value: 1}}}}\nsweepd: {{gpus_per_run: 1}}\n"),
    );
    w.file(
        "cpu.yaml",
        &format!("method: grid\n{GPU_TRAINER}parameters: {{a: {{value: 1}}}}\nsweepd: {{gpus_per_run: 0}}\n"),
    );
    let gpu_sweep = home(&w).join("sweeps").join(
        w.sweepctl(["submit", "gpu.yaml"])
            .expect_code(0)
            .stdout()
            .trim(),
    );
    let cpu_sweep = home(&w).join("sweeps").join(
        w.sweepctl(["submit", "cpu.yaml"])
            .expect_code(0)
            .stdout()
            .trim(),
    );
    wait_until("the CPU sweep to finish", || {
        state(&cpu_sweep) == "finished"
    });
    assert_eq!(
        gpu_of(&cpu_sweep, 1),
        "||",
        "CUDA_VISIBLE_DEVICES set and empty"
    );
    let status = w
        .sweepctl(["status", gpu_sweep.file_name().unwrap().to_str().unwrap()])
        .expect_code(0)
        .stdout();
    assert!(
        status.contains("needs 1 GPU(s) and sweepd sees 0") && status.contains("exit status: 9"),
        "{status}"
    );
    assert_eq!(state(&gpu_sweep), "running");
}

/// A second user cannot steer the first user's sweeps through the control
/// socket, nor get a sweep accepted through the first user's inbox, even
/// where the first user's folders were opened up (the modes are the first
/// guard; the peer's uid and the file's owner are checked behind them).
#[test]
fn another_user_can_neither_steer_sweeps_nor_use_the_inbox() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    w.file(
        "mine.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"; read stop']\nmetric: {name: loss}\nparameters: {a: {value: 1}}\n",
    );
    let id = w.sweepctl(["submit", "mine.yaml"]).expect_code(0).stdout();
    let id = id.trim().to_owned();
    let sweep = home(&w).join("sweeps").join(&id);
    let (_copy, sweepctl) = common::users::sweepctl_for_other();
    let home_arg = home(&w).display().to_string();

    // The other user's `sweepctl pause`, which must fail.
    let pause = || {
        let out = as_other(&[
            sweepctl.to_str().unwrap(),
            "--home",
            &home_arg,
            "pause",
            &id,
        ]);
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // With the folders as sweepd makes them, the other user cannot even reach the socket.
    pause();

    // Opened up: the socket answers no one but its owner.
    common::users::open_up(&w);
    let said = pause();
    assert!(said.contains("sweepd refused: this sweepd (uid"), "{said}");
    assert_eq!(state(&sweep), "running", "not paused");
    // Nor can they give the sweep runs, a cap or history.
    let before = fs::read(sweep.join("state.json")).unwrap();
    for args in [
        &["extend", id.as_str(), "--more", "1"][..],
        &["enqueue", id.as_str(), "a=1"][..],
        &["import", id.as_str(), "/etc/hostname"][..],
    ] {
        let mut argv = vec![sweepctl.to_str().unwrap(), "--home", &home_arg];
        argv.extend_from_slice(args);
        let out = as_other(&argv);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(said.contains("sweepd refused"), "{args:?}: {said}");
    }
    assert_eq!(fs::read(sweep.join("state.json")).unwrap(), before);
    assert!(!sweep.join("seeds.jsonl").exists());
    let log = fs::read_to_string(w.path("sweepd.log")).unwrap();
    assert!(
        log.contains("refused a control connection from another user"),
        "{log}\n{said}"
    );

    // And a file the other user drops into the inbox is rejected, saying why.
    let inbox_file = home(&w).join("inbox/theirs.yaml");
    let out = as_other(&[
        "sh",
        "-c",
        &format!(
            "printf 'method: grid\\nprogram: x\\nparameters: {{a: {{value: 1}}}}\\n' > {}",
            inbox_file.display()
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rejected = home(&w).join("rejected");
    let reason = || {
        fs::read_dir(&rejected)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("theirs.yaml.error.txt")
            })
            .map(|e| fs::read_to_string(e.path()).unwrap())
    };
    wait_until("the other user's file to be rejected", || {
        reason().is_some()
    });
    assert!(
        reason().unwrap().contains("belongs to another user"),
        "{:?}",
        reason()
    );
    assert_eq!(sweeps(&w).len(), 1, "only the owner's sweep");
    // The owner still steers it.
    w.sweepctl(["cancel", &id]).expect_code(0);
    wait_until("the sweep to be canceled", || state(&sweep) == "canceled");
    drop(daemon);
}

/// sweepd's settings: defaults, then config.toml, then flags; `sweepctl
/// config` shows each with where it came from; a bad file stops sweepd with
/// the file, the line and the key.
#[test]
fn settings_come_from_defaults_the_config_file_and_flags_and_config_shows_which() {
    let w = World::new();
    // The default place: ~/.config/sweepd/config.toml (HOME is the world).
    fs::create_dir_all(w.path(".config/sweepd")).unwrap();
    w.file(
        ".config/sweepd/config.toml",
        "max_running = 3\nkill_after = \"2s\"\n[gpu]\ncooldown = \"10s\"\n",
    );
    let daemon = Daemon::start(&w); // passes --kill-after 1s and --settle 100ms
    let shown = w.sweepctl(["config", "--json"]).expect_code(0).json_lines();
    let get = |name: &str| {
        shown[0]["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(get("max_running")["value"], "3");
    assert_eq!(get("max_running")["from"], "file");
    assert_eq!(
        get("kill_after")["value"],
        "1s",
        "the flag wins over the file"
    );
    assert_eq!(get("kill_after")["from"], "flag");
    assert_eq!(get("gpu.cooldown")["value"], "10s");
    assert_eq!(get("rescan_every")["from"], "default");
    assert_eq!(shown[0]["pid"], daemon.child.id());
    let text = w.sweepctl(["config"]).expect_code(0).stdout();
    let line = text.lines().find(|l| l.starts_with("max_running")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words, ["max_running", "3", "config", "file"], "{text}");
    drop(daemon);

    w.file(
        ".config/sweepd/config.toml",
        "max_running = 3\n[gpu]\ncoldown = \"1s\"\n",
    );
    let out = w.command("sweepd").arg("--allow-root").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("config.toml") && said.contains("line 3") && said.contains("coldown"),
        "{said}"
    );
}
