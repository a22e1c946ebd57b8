//! Issue 15: see main.rs. Deleting `sweepd.lock` (taken for a stale pid
//! file) let a second sweepd take the same home, and it killed the first
//! one's runs. The home folder itself is now locked: a second daemon is
//! refused whatever happened to the pid file.

use std::fs;
use std::process::Stdio;

use crate::common::World;
use crate::common::daemon::{Daemon, home, state, summaries, wait_until};

#[test]
fn a_second_daemon_is_refused_after_the_pid_file_was_deleted() {
    let w = World::new();
    let mut first = Daemon::start(&w);
    w.file(
        "wait.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"; while [ ! -e go ]; do sleep 0.05; done']\nmetric: {name: loss}\nparameters: {a: {value: 1}}\n",
    );
    let id = w.sweepctl(["submit", "wait.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("the run to be running", || {
        summaries(&sweep)
            .first()
            .is_some_and(|s| s["state"] == "running")
    });

    fs::remove_file(home(&w).join("sweepd.lock")).unwrap();
    let mut second = Daemon {
        child: w
            .command("sweepd")
            .arg("--allow-root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(w.path("second.log")).unwrap())
            .spawn()
            .unwrap(),
    };
    let mut exit = None;
    wait_until("the second sweepd to give up", || {
        exit = second.child.try_wait().unwrap();
        exit.is_some()
    });
    let message = fs::read_to_string(w.path("second.log")).unwrap();
    assert_eq!(exit.unwrap().code(), Some(2), "{message}");
    assert!(
        message.contains(&format!(
            "another sweepd already runs on this home ({})",
            home(&w).display()
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", first.child.id())),
        "names the first daemon: {message}"
    );
    assert!(!home(&w).join("sweepd.lock").exists(), "{message}");

    // The first daemon and its run carry on, and the sweep finishes.
    assert!(first.child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(summaries(&sweep)[0]["state"], "running");
    w.file("go", "");
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    assert_eq!(summaries(&sweep)[0]["state"], "finished");
    assert!(first.child.try_wait().unwrap().is_none(), "still running");
}
