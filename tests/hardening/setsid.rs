//! Item 6: what a run leaves behind. A trainer's grandchild that called
//! `setsid` left the run's process group and outlived the run (and a daemon
//! restart); now the run's monitor is its subreaper and kills (and reaps)
//! whatever carries the run's token when the run ends, with or without a
//! sweepd. And a run's `stdout.log` grew
//! without bound; now each log holds only its most recent `--log-max-mib`
//! on disk (its head punched out).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::World;
use crate::common::daemon::{Daemon, summaries, sweeps, wait_until};

/// Starts a grandchild in a session of its own, from a subshell that exits
/// at once (the grandchild is an orphan while the run runs); it writes its
/// pid to `grandchild.pid` in the run's folder. The trainer waits for that
/// (bounded), then logs a value; with an argument, sleeps on after that.
const TRAINER: &str = r#"read start
( setsid sh -c 'echo $$ > "$SWEEP_RUN_DIR/pid.tmp"; mv "$SWEEP_RUN_DIR/pid.tmp" "$SWEEP_RUN_DIR/grandchild.pid"; exec sleep 1000' & )
i=0
while [ ! -e "$SWEEP_RUN_DIR/grandchild.pid" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done
echo '{"loss": 1}'
if [ -n "$1" ]; then exec sleep 1000; fi
"#;

fn sweep_file(w: &World, linger: bool) -> PathBuf {
    let trainer = w.file("trainer.sh", TRAINER);
    let arg = if linger { ", linger" } else { "" };
    w.file(
        "s.yaml",
        &format!(
            "method: grid\ncommand: [sh, '{}'{arg}]\nmetric: {{name: loss}}\nparameters: {{a: {{value: 1}}}}\nsweepd: {{retry: 0}}\n",
            trainer.display()
        ),
    )
}

/// What /proc says of a process: (state, parent), None once it is gone.
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields[0].chars().next()?, fields[1].parse().ok()?))
}

/// Kills the grandchild at the end whatever happens, if it is still this
/// world's (its environment names the world's folder).
struct Reaper(Option<i32>, PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0
            && fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&*self.1.to_string_lossy()))
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn grandchild(sweep: &Path) -> i32 {
    let file = sweep.join("runs/0001/grandchild.pid");
    wait_until("the grandchild to start", || file.exists());
    fs::read_to_string(&file).unwrap().trim().parse().unwrap()
}

#[test]
fn a_grandchild_that_calls_setsid_dies_with_its_run() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    let sweepd = daemon.child.id() as i32;
    sweep_file(&w, false);
    w.sweepctl(["submit", "s.yaml"]).expect_code(0);
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    let pid = grandchild(&sweep);
    let _reaper = Reaper(Some(pid), w.dir.path().to_owned());
    wait_until("the run to finish", || {
        summaries(&sweep)
            .first()
            .is_some_and(|s| s["state"] == "finished")
    });
    // Gone, and reaped: no zombie of sweepd's is left behind either.
    wait_until("the grandchild to be gone", || match proc_stat(pid) {
        None => true,
        Some((state, parent)) => state == 'Z' && parent != sweepd,
    });
    let summary: Value = summaries(&sweep)[0].clone();
    assert_eq!(summary["metric"]["count"], 1, "{summary}");
}

/// A run (and the grandchild it left in a session of its own) outlives a
/// daemon killed with -9: the grandchild is its monitor's, not sweepd's.
/// The next sweepd takes the run up; canceling the sweep then stops it, and
/// the grandchild goes with it.
#[test]
fn a_grandchild_that_calls_setsid_outlives_a_dead_daemon_and_dies_with_its_run() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    sweep_file(&w, true);
    w.sweepctl(["submit", "s.yaml"]).expect_code(0);
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    let pid = grandchild(&sweep);
    let _reaper = Reaper(Some(pid), w.dir.path().to_owned());
    // Its parent exited: it is the run's monitor's now, not init's.
    let parent_is = |name: &str| {
        proc_stat(pid).is_some_and(|(_, parent)| {
            fs::read_to_string(format!("/proc/{parent}/comm")).is_ok_and(|c| c.trim() == name)
        })
    };
    wait_until("the subshell to exit", || !parent_is("sh"));
    assert!(parent_is("sweepd-monitor"), "{:?}", proc_stat(pid));
    daemon.kill9();
    assert!(
        proc_stat(pid).is_some_and(|(state, _)| state != 'Z'),
        "the run goes on without sweepd"
    );
    let _daemon = Daemon::start(&w);
    wait_until("the run to be taken up", || {
        fs::read_to_string(w.path("sweepd.log")).is_ok_and(|l| l.contains("taken up again"))
    });
    let id = sweep.file_name().unwrap().to_str().unwrap().to_owned();
    w.sweepctl(["cancel", &id]).expect_code(0);
    wait_until("the grandchild to be gone", || {
        proc_stat(pid).is_none_or(|(state, _)| state == 'Z')
    });
    wait_until("the run to be recorded as stopped", || {
        summaries(&sweep)
            .first()
            .is_some_and(|s| s["state"] == "killed")
    });
    assert_eq!(summaries(&sweep).len(), 1, "never run again");
}

/// Prints 8 MB on stdout (a value every 1000 lines) and 4 MB on stderr.
const CHATTY: &str = r#"import sys
sys.stdin.readline()
pad = "x" * 60
for i in range(100000):
    print(f"line {i} {pad}")
    if i % 1000 == 0:
        print(f'{{"loss": {i}}}')
    if i % 2 == 0:
        print(f"warning {i} {pad}", file=sys.stderr)
print('{"loss": -1}')
print("the last line")
"#;

#[test]
fn a_chatty_run_keeps_only_the_tail_of_its_logs() {
    let w = World::new();
    let _daemon = Daemon::start_with(&w, &["--settle", "100ms", "--log-max-mib", "1"]);
    let trainer = w.file("chatty.py", CHATTY);
    w.file(
        "s.yaml",
        &format!(
            "method: grid\ncommand: [python3, '{}']\nmetric: {{name: loss}}\nparameters: {{a: {{value: 1}}}}\n",
            trainer.display()
        ),
    );
    w.sweepctl(["submit", "s.yaml"]).expect_code(0);
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();
    let run = sweep.join("runs/0001");
    // The disk blocks a log holds: its punched-out head holds none.
    let on_disk = |name: &str| fs::metadata(run.join(name)).map_or(0, |m| m.blocks() * 512);
    let mib = 1 << 20;
    let mut most = 0;
    wait_until("the run to finish", || {
        most = most.max(on_disk("stdout.log"));
        summaries(&sweep)
            .first()
            .is_some_and(|s| s["state"] == "finished")
    });
    // What a look caught while it ran; at the end it is all held to the cap.
    assert!(most < 3 * mib, "{most} bytes of stdout while it ran");
    for name in ["stdout.log", "stderr.log"] {
        assert!(
            on_disk(name) <= mib + 64 * 1024,
            "{name}: {}",
            on_disk(name)
        );
    }
    // Nothing moved under the run: every offset is kept, the head a hole.
    let size = fs::metadata(run.join("stdout.log")).unwrap().len();
    assert!(size > 7_000_000, "{size}");
    assert!(!run.join("stdout.log.1").exists());
    // People are shown the tail, from its first whole line, without the hole.
    let id = sweep.file_name().unwrap().to_str().unwrap();
    let tail = w
        .sweepctl(["logs", &format!("{id}/1")])
        .expect_code(0)
        .stdout();
    let pad = "x".repeat(60);
    let shown = |text: &str| text.len() as u64;
    assert!(
        shown(&tail) > mib / 2 && shown(&tail) <= mib + 64 * 1024,
        "{}",
        tail.len()
    );
    assert!(
        tail.lines()
            .all(|l| (l.starts_with("line ") && l.ends_with(&pad))
                || l.starts_with("{\"loss\": ")
                || l == "the last line"),
        "whole lines only: {}",
        &tail[..200]
    );
    assert!(
        tail.ends_with("{\"loss\": -1}\nthe last line\n"),
        "{}",
        &tail[tail.len().saturating_sub(200)..]
    );
    let errors = w
        .sweepctl(["logs", "--stderr", &format!("{id}/1")])
        .expect_code(0)
        .stdout();
    assert!(!errors.contains('\0') && shown(&errors) <= mib + 64 * 1024);
    let last_warning = format!("warning 99998 {pad}\n");
    assert!(errors.ends_with(&last_warning), "the last warnings stay");
    // Every value arrived, those of lines cut off included.
    let summary: Value = summaries(&sweep)[0].clone();
    assert_eq!(summary["metric"]["count"], 101, "{summary}");
    assert_eq!(summary["metric"]["best"], -1.0, "{summary}");
    let records = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 101);
}
