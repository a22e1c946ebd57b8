//! Item 8: a sweep's `name` (and its parameters' values) reached the terminal
//! raw from `sweepctl status`, `show` and `watch`: colour codes, a title
//! escape, CR/LF breaking the table, and a 10,000-character name widening
//! every row. Now such text is shown escaped and cut; `--json` stays exact.

use serde_json::Value;

use crate::common::World;
use crate::common::daemon::{Daemon, state, sweeps, wait_until};

const HOSTILE: &str = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 line\r\nbreak";

/// The output as a terminal would get it: nothing that drives the
/// terminal, no line wider than a screen, and what it said.
fn check_terminal_safe(what: &str, out: &str) {
    let out_start: String = out.chars().take(600).collect();
    for bad in ['\x1b', '\x07', '\r', '\u{9b}'] {
        assert!(!out.contains(bad), "{what} printed {bad:?}:\n{out_start}");
    }
    for line in out.lines() {
        assert!(
            line.chars().count() <= 200,
            "{what} printed a line of {} characters:\n{out_start}",
            line.chars().count()
        );
    }
}

#[test]
fn names_that_would_drive_the_terminal_are_shown_escaped_and_cut() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let trainer =
        "command: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"']\nmetric: {name: loss}\n";
    w.file(
        "hostile.yaml",
        &format!(
            "name: \"\\e[31mred\\e[0m \\e]0;pwned\\a line\\r\\nbreak\"\nmethod: grid\n{trainer}\
             parameters: {{a: {{values: [\"\\e[2Jclear\\r\"]}}}}\n"
        ),
    );
    w.file(
        "long.yaml",
        &format!(
            "name: {}\nmethod: grid\n{trainer}parameters: {{a: {{value: 1}}}}\n",
            "x".repeat(10_000)
        ),
    );
    let hostile = w
        .sweepctl(["submit", "hostile.yaml"])
        .expect_code(0)
        .stdout();
    let long = w.sweepctl(["submit", "long.yaml"]).expect_code(0).stdout();
    let (hostile, long) = (hostile.trim(), long.trim());
    wait_until("both sweeps to finish", || {
        let all = sweeps(&w);
        all.len() == 2 && all.iter().all(|s| state(s) == "finished")
    });

    let status = w.sweepctl(["status"]).expect_code(0).stdout();
    check_terminal_safe("status", &status);
    assert_eq!(
        status.lines().count(),
        3,
        "a header and one line per sweep:\n{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(hostile) && l.contains("\\x1b[31mred")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(long) && l.contains("xxx…")),
        "{status}"
    );

    for id in [hostile, long] {
        let one = w.sweepctl(["status", id]).expect_code(0).stdout();
        check_terminal_safe("status SWEEP", &one);
        let show = w
            .sweepctl(["show", &format!("{id}/1")])
            .expect_code(0)
            .stdout();
        check_terminal_safe("show", &show);
        let watch = w.sweepctl(["watch", id]).expect_code(0).stdout();
        check_terminal_safe("watch", &watch);
    }
    let show = w
        .sweepctl(["show", &format!("{hostile}/1")])
        .expect_code(0)
        .stdout();
    assert!(show.contains("a = \\x1b[2Jclear\\r"), "{show}");

    // JSON says exactly what the sweep file said.
    let json: Value =
        serde_json::from_str(&w.sweepctl(["status", "--json"]).expect_code(0).stdout()).unwrap();
    let names: Vec<&str> = json["sweeps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&HOSTILE), "{names:?}");
    assert!(names.contains(&"x".repeat(10_000).as_str()));
}
