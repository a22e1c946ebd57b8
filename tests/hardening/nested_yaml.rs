//! Issue 15: see main.rs.
//!
//! A file nested 200 000 deep held the inbox for minutes (the YAML scanners
//! are quadratic in the depth) and no other file was taken meanwhile;
//! `sweepctl validate` took 21 s on 100 000 levels; `sweepctl submit` exited
//! 0 when no verdict came.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use sweepd_core::protocol::control::{CONTROL_VERSION, Response};

use crate::common::World;
use crate::common::daemon::{Daemon, drop_file, home, sweeps, wait_until};

/// The reasons beside the rejected file that was called `name`, once there.
fn reasons(w: &World, name: &str) -> Option<String> {
    fs::read_dir(home(w).join("rejected"))
        .ok()?
        .flatten()
        .find_map(|e| {
            let file = e.file_name().into_string().ok()?;
            file.ends_with(&format!("-{name}.error.txt"))
                .then(|| fs::read_to_string(e.path()).unwrap())
        })
}

#[test]
fn a_deeply_nested_file_is_refused_at_once_and_the_next_file_is_taken() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let deep = "[".repeat(200_000);
    drop_file(&w, "deep.yaml", deep.as_bytes());
    drop_file(&w, "deep.json", deep.as_bytes());
    drop_file(
        &w,
        "good.yaml",
        b"method: grid\ncommand: [sh, -c, 'exit 0']\nparameters: {x: {values: [1]}}\n",
    );
    wait_until("the good sweep's folder", || sweeps(&w).len() == 1);
    for name in ["deep.yaml", "deep.json"] {
        wait_until(&format!("{name} to be rejected"), || {
            reasons(&w, name).is_some()
        });
        let why = reasons(&w, name).unwrap();
        assert!(
            why.starts_with(&format!(
                "{name}:1:65: error: the file nests deeper than 64 levels"
            )),
            "{why}"
        );
        // The line is shown around the spot, not whole.
        assert!(why.len() < 2_000, "{} bytes of reasons", why.len());
    }
}

#[test]
fn validate_answers_a_deep_file_with_the_depth_error_quickly() {
    let w = World::new();
    w.file("deep.yaml", &"[".repeat(100_000));
    w.file("deep.json", &"{\"a\": ".repeat(100_000));
    let started = Instant::now();
    let run = w
        .sweepctl(["validate", "deep.yaml", "deep.json"])
        .expect_code(1);
    // It took 21 s (release build) before the pre-scan; it takes milliseconds.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let out = run.stdout();
    assert!(
        out.contains("deep.yaml:1:65: error: the file nests deeper than 64 levels"),
        "{out}"
    );
    assert!(
        out.contains("deep.json:1:385: error: the file nests deeper than 64 levels"),
        "{out}"
    );
    assert!(
        out.contains("help: a sweep file needs a few levels"),
        "{out}"
    );
}

#[test]
fn a_file_over_a_mebibyte_is_refused_by_validate_without_reading_it_whole() {
    let w = World::new();
    let ok = "method: grid\nprogram: p\nparameters: {x: {values: [1]}}\n";
    w.file("big.yaml", &format!("{ok}# {}\n", "x".repeat(2 << 20)));
    let out = w.sweepctl(["validate", "big.yaml"]).expect_code(1).stdout();
    assert!(
        out.contains(
            "big.yaml: error: the file is larger than a sweep file may be: at most 1048576 bytes"
        ),
        "{out}"
    );
}

#[test]
fn submit_without_a_verdict_exits_non_zero_and_says_what_to_do() {
    let w = World::new();
    fs::create_dir_all(home(&w)).unwrap();
    // A sweepd that takes the request and hangs up before any verdict.
    let listener = UnixListener::bind(home(&w).join("sweepd.sock")).unwrap();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        lines.next().unwrap().unwrap(); // hello
        let hello = Response::Hello {
            version: CONTROL_VERSION,
            pid: 1,
        };
        writer.write_all(hello.to_line().as_bytes()).unwrap();
        lines.next().unwrap().unwrap(); // await_verdict
        writer
            .write_all(Response::Waiting.to_line().as_bytes())
            .unwrap();
    });
    w.file(
        "s.yaml",
        "method: grid\nprogram: p\nparameters: {x: {values: [1]}}\n",
    );
    let run = w.sweepctl(["submit", "s.yaml"]);
    fake.join().unwrap();
    assert_eq!(run.code(), 2, "stdout:\n{}", run.stdout());
    let err = run.stderr();
    assert!(err.contains("no verdict from sweepd"), "{err}");
    assert!(err.contains("run `sweepctl status` later"), "{err}");
    // The file is in the inbox all the same, for sweepd to take.
    assert_eq!(fs::read_dir(home(&w).join("inbox")).unwrap().count(), 2);
}

/// Within the depth and size limits, a file built to cost: 60 levels of
/// 1000-character keys over a list of 250,000 values, each value a node
/// whose key path holds every key. Checking it must stay small and quick
/// (it took 128 GB or minutes when each node's path copied or hashed its
/// keys), with one clear error.
#[test]
fn a_file_built_to_cost_time_and_memory_is_checked_in_little_of_either() {
    let w = World::new();
    let mut text =
        String::from("method: grid\nprogram: p\nparameters:\n  a:\n    value: 1\nextra:\n");
    for depth in 0..60 {
        text.push_str(&format!(
            "{}k{depth:02}{}:\n",
            "  ".repeat(depth + 1),
            "x".repeat(1000)
        ));
    }
    text.push_str(&"  ".repeat(61));
    text.push_str("v: [");
    text.push_str(&vec!["1"; 250_000].join(","));
    text.push_str("]\n");
    let path = w.file("costly.yaml", &text);
    let (code, stdout, _, maxrss_kib) =
        crate::fine_grid::measured_sweepctl(&w, &["validate", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("unknown key `extra`"), "{stdout}");
    assert!(
        maxrss_kib < 300 * 1024,
        "validate peaked at {maxrss_kib} KiB"
    );
}
