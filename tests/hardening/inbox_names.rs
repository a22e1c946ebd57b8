//! Issue 15: see main.rs.
//!
//! A file with a 250-character name could not be claimed (the spool's prefix
//! made the name too long) and stayed in the inbox for good, an error logged
//! at every rescan. A file written slowly in place was taken half-written and
//! rejected without a word about why it might be cut off.

use std::fs;
use std::io::Write;
use std::time::Duration;

use crate::common::World;
use crate::common::daemon::{Daemon, drop_file, home, sweeps, wait_until};

const GOOD: &str = "method: grid\ncommand: [sh, -c, 'exit 0']\nparameters: {x: {values: [1, 2]}}\n";

fn rejected(w: &World) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(home(w).join("rejected"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn inbox_is_empty(w: &World) -> bool {
    fs::read_dir(home(w).join("inbox"))
        .unwrap()
        .next()
        .is_none()
}

#[test]
fn a_name_too_long_to_claim_is_rejected_saying_so_and_leaves_the_inbox() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let long = format!("{}.yaml", "n".repeat(245));
    assert_eq!(long.len(), 250);
    let staging = w.file("short.yaml", GOOD);
    fs::rename(&staging, home(&w).join("inbox").join(&long)).unwrap();
    wait_until("the file to leave the inbox with its reasons", || {
        inbox_is_empty(&w) && rejected(&w).len() == 2
    });
    let names = rejected(&w);
    assert!(names.iter().all(|n| n.len() <= 160), "{names:?}");
    let reasons_file = names.iter().find(|n| n.ends_with(".error.txt")).unwrap();
    let reasons = fs::read_to_string(home(&w).join("rejected").join(reasons_file)).unwrap();
    assert!(
        reasons.contains("the file name is 250 bytes long"),
        "{reasons}"
    );
    assert!(reasons.contains("at most 200 bytes"), "{reasons}");
    assert!(
        reasons.contains(&format!("original name: {long}")),
        "{reasons}"
    );
    // The file is kept whole beside its reasons.
    let kept = names.iter().find(|n| !n.ends_with(".error.txt")).unwrap();
    assert!(kept.ends_with(".yaml"), "{kept}");
    assert_eq!(
        fs::read_to_string(home(&w).join("rejected").join(kept)).unwrap(),
        GOOD
    );
    // And the inbox goes on.
    drop_file(&w, "next.yaml", GOOD.as_bytes());
    wait_until("the next file's sweep", || sweeps(&w).len() == 1);
}

#[test]
fn a_file_that_does_not_parse_says_it_may_have_been_taken_while_being_written() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    // What a writer cut off in the middle leaves.
    drop_file(
        &w,
        "cut.yaml",
        b"method: grid\nprogram: p\nparameters: {x: {values: [1, 2",
    );
    wait_until("the cut-off file to be rejected", || {
        rejected(&w).len() == 2
    });
    let names = rejected(&w);
    let reasons = fs::read_to_string(home(&w).join("rejected").join(&names[1])).unwrap();
    assert!(
        reasons.starts_with("cut.yaml:4:1: error: cannot read the file"),
        "{reasons}"
    );
    assert!(
        reasons.contains("if this file was still being written when sweepd took it"),
        "{reasons}"
    );
    assert!(reasons.contains("`mv` it into the inbox"), "{reasons}");
    assert!(reasons.contains("`sweepctl submit FILE`"), "{reasons}");
}

#[test]
fn a_writer_that_pauses_with_its_file_open_is_waited_for() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    // Once a first file is taken, the inbox is watched.
    drop_file(&w, "first.yaml", GOOD.as_bytes());
    wait_until("the first sweep", || sweeps(&w).len() == 1);

    let (head, tail) = GOOD.split_at(GOOD.len() - 10);
    let mut file = fs::File::create(home(&w).join("inbox/slow.yaml")).unwrap();
    file.write_all(head.as_bytes()).unwrap();
    // The writer's pause, far longer than the daemon's settle time (100 ms
    // here): the scenario itself, not a wait for the daemon.
    std::thread::sleep(Duration::from_secs(2));
    file.write_all(tail.as_bytes()).unwrap();
    drop(file);
    wait_until("the slow file's sweep", || sweeps(&w).len() == 2);
    assert!(rejected(&w).is_empty(), "{:?}", rejected(&w));
}
