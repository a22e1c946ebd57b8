//! Item 4: 1100 idle control connections against a sweepd whose open-file
//! limit is 1024 (systemd's default soft limit, here also the hard one so
//! sweepd cannot raise it). sweepd neither spins on `accept` nor stops
//! answering: `status` and `pause` work, and the log does not flood.

use std::fs;
use std::os::unix::net::UnixStream;

use crate::common::World;
use crate::common::daemon::{Daemon, home};

/// sweepd under `prlimit --nofile=LIMITS`.
fn limited(w: &World, limits: &str) -> Daemon {
    let nofile = format!("--nofile={limits}");
    Daemon::start_wrapped(w, &["prlimit", &nofile, "--"], &["--settle", "100ms"])
}

#[test]
fn eleven_hundred_idle_connections_do_not_take_the_socket_down() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    // This test itself holds the 1100 connections.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        hard >= 1400,
        "the test needs 1400 descriptors, the hard limit is {hard}"
    );
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();

    let w = World::new();
    let daemon = limited(&w, "1024:1024");
    w.file(
        "s.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"; read stop']\nmetric: {name: loss}\nparameters: {a: {value: 1}}\n",
    );
    let id = w.sweepctl(["submit", "s.yaml"]).expect_code(0).stdout();
    let id = id.trim().to_owned();

    let socket = home(&w).join("sweepd.sock");
    // Connected and silent (a connect succeeds once queued, accepted or not).
    let idle: Vec<UnixStream> = (0..1100)
        .map(|_| UnixStream::connect(&socket).expect("the socket takes the connection"))
        .collect();

    // sweepd still answers its user, and steers the sweep.
    let status = w.sweepctl(["status"]).expect_code(0).stdout();
    assert!(
        status.contains(&id) && !status.contains("not running"),
        "{status}"
    );
    let paused = w.sweepctl(["pause", &id]).expect_code(0).stdout();
    assert!(paused.contains("paused"), "{paused}");
    w.sweepctl(["cancel", &id]).expect_code(0);
    drop(idle);

    // A failing accept is logged once per episode, not once per try.
    let log = fs::read_to_string(w.path("sweepd.log")).unwrap();
    let accept_warnings = log.matches("accept failed").count();
    assert!(
        accept_warnings <= 5,
        "{accept_warnings} accept warnings:\n{log}"
    );
    assert!(log.len() < 1 << 20, "the log grew to {} bytes", log.len());
    drop(daemon);
}

#[test]
fn sweepd_raises_its_open_file_soft_limit_to_the_hard_one() {
    let w = World::new();
    let daemon = limited(&w, "1024:4096");
    let limits = fs::read_to_string(format!("/proc/{}/limits", daemon.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
}
