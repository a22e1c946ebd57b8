//! The local executor against real processes that behave and misbehave.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::*;
use crate::protocol::trainer::StopReason;
use crate::spec::{Goal, Impute, Metric};

/// A bound on every wait, far above what any of these runs needs.
const BOUND: Duration = Duration::from_secs(20);

struct Fixture {
    _dir: tempfile::TempDir,
    run: RunDir,
    tails: Tails,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("0001"));
        std::fs::create_dir_all(run.root()).unwrap();
        Self {
            _dir: dir,
            run,
            tails: Tails::start()
                .with_monitor(crate::monitor::Exe::at(crate::monitor::sweepd_exe())),
        }
    }

    fn launch(&self, script: &str) -> Launch {
        Launch {
            id: "20261128-000000-t-aaaa/1".parse().unwrap(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: self.run.root().to_owned(),
            env: vec![("EXTRA".into(), "yes".into())],
            env_remove: vec![],
            start_line: "{\"type\":\"start\"}\n".into(),
            run_dir: self.run.clone(),
            metric: Some(Metric {
                name: "loss".into(),
                goal: Goal::Minimize,
                target: None,
                impute: Impute::Worst,
                impute_while_running: None,
            }),
            timeout: None,
            stop: StopTimes {
                term_after: Duration::from_millis(200),
                kill_after: Duration::from_millis(600),
            },
            gpu_locks: Vec::new(),
        }
    }

    /// Run to the end and return every event. With `stop`, ask the run to
    /// stop once it logs its first metric (its way of saying it is ready).
    async fn run(&self, launch: Launch, stop: Option<StopReason>) -> Vec<RunEventKind> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let handle = start(launch, &Backend::Local(self.tails.clone()), tx);
        let mut events = Vec::new();
        loop {
            let event = timeout(BOUND, rx.recv())
                .await
                .expect("the run ends in time")
                .expect("events");
            if let (RunEventKind::Metric { .. }, Some(reason)) = (&event.kind, stop) {
                handle.stop(reason);
            }
            let done = matches!(event.kind, RunEventKind::Ended(_));
            events.push(event.kind);
            if done {
                return events;
            }
        }
    }
}

fn ending(events: &[RunEventKind]) -> &Ending {
    match events.last() {
        Some(RunEventKind::Ended(ending)) => ending,
        other => panic!("no ending: {other:?}"),
    }
}

#[tokio::test]
async fn a_run_reports_its_metrics_and_exit_and_leaves_its_output() {
    let f = Fixture::new();
    let script = r#"read start; echo "got $start $EXTRA"; echo '{"loss": 0.5}'; echo 'plain'; echo '{"loss": 0.2, "epoch": 1}' ; printf '{"loss": 0.3}'"#;
    let events = f.run(f.launch(script), None).await;
    assert!(matches!(events[0], RunEventKind::Started { .. }));
    let metrics: Vec<(f64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            RunEventKind::Metric { value, iteration } => Some((*value, *iteration)),
            _ => None,
        })
        .collect();
    assert_eq!(metrics, [(0.5, 1), (0.2, 2), (0.3, 3)]);
    let end = ending(&events);
    assert_eq!(end.exit(), Some(Exit::Code(0)));
    assert_eq!(
        end.metric.as_ref().map(|m| (m.count, m.best, m.last)),
        Some((3, Some(0.2), Some(0.3)))
    );
    let stdout = std::fs::read_to_string(f.run.stdout_file()).unwrap();
    assert!(
        stdout.starts_with("got {\"type\":\"start\"} yes\n"),
        "{stdout}"
    );
    assert_eq!(
        crate::store::atomic::read_json_lines::<serde_json::Value>(&f.run.metrics_file())
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn exit_codes_and_signals_are_told_apart() {
    let f = Fixture::new();
    let events = f.run(f.launch("echo oops >&2; exit 3"), None).await;
    assert_eq!(ending(&events).exit(), Some(Exit::Code(3)));
    assert_eq!(
        std::fs::read_to_string(f.run.stderr_file()).unwrap(),
        "oops\n"
    );
    let events = f.run(f.launch("kill -SEGV $$"), None).await;
    assert_eq!(ending(&events).exit(), Some(Exit::Signal(11)));
}

#[tokio::test]
async fn a_run_that_cannot_start_says_why() {
    let f = Fixture::new();
    let mut launch = f.launch("");
    launch.argv = vec!["/nonexistent/trainer".into()];
    let events = f.run(launch, None).await;
    let end = ending(&events);
    assert_eq!(end.exit(), None);
    assert!(
        end.not_started_because()
            .unwrap()
            .contains("cannot start `/nonexistent/trainer`"),
        "{end:?}"
    );
}

#[tokio::test]
async fn a_cooperative_run_stops_on_the_message() {
    let f = Fixture::new();
    let script = r#"read start; echo '{"loss": 1}'; read stop; echo "heard $stop"; exit 0"#;
    let events = f
        .run(f.launch(script), Some(StopReason::EarlyTerminate))
        .await;
    let end = ending(&events);
    assert_eq!(
        (end.exit(), end.stopped()),
        (Some(Exit::Code(0)), Some(StopReason::EarlyTerminate))
    );
    let stdout = std::fs::read_to_string(f.run.stdout_file()).unwrap();
    assert!(
        stdout.contains(r#"heard {"type":"stop","reason":"early_terminate"}"#),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_run_that_ignores_the_message_and_sigterm_is_killed() {
    let f = Fixture::new();
    let script = r#"trap '' TERM; echo '{"loss": 1}'; while :; do sleep 0.05; done"#;
    let asked = std::time::Instant::now();
    let events = f.run(f.launch(script), Some(StopReason::User)).await;
    let end = ending(&events);
    assert_eq!(
        (end.exit(), end.stopped()),
        (Some(Exit::Signal(9)), Some(StopReason::User))
    );
    // Killed at kill_after (600 ms); the bound is generous for a loaded machine.
    assert!(asked.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn sigterm_ends_a_run_that_does_not_read_stdin() {
    let f = Fixture::new();
    let events = f
        .run(
            f.launch(r#"echo '{"loss": 1}'; exec sleep 1000"#),
            Some(StopReason::User),
        )
        .await;
    assert_eq!(ending(&events).exit(), Some(Exit::Signal(15)));
}

#[tokio::test]
async fn the_timeout_stops_a_run() {
    let f = Fixture::new();
    let mut launch = f.launch("exec sleep 1000");
    launch.timeout = Some(Duration::from_millis(100));
    let events = f.run(launch, None).await;
    let end = ending(&events);
    assert_eq!(
        (end.exit(), end.stopped()),
        (Some(Exit::Signal(15)), Some(StopReason::Timeout))
    );
}

#[tokio::test]
async fn grandchildren_die_with_the_group() {
    let f = Fixture::new();
    let pid_file = f.run.root().join("grandchild.pid");
    let script = format!("sleep 1000 & echo $! > {}; exit 0", pid_file.display());
    let events = f.run(f.launch(&script), None).await;
    assert_eq!(ending(&events).exit(), Some(Exit::Code(0)));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Reaped by init once killed; poll (bounded) until it is gone.
    timeout(BOUND, async {
        while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            && !is_zombie(pid)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the grandchild died with its group");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn garbage_and_unfinished_lines_do_not_confuse_the_reader() {
    let f = Fixture::new();
    let script = r#"head -c 3000 /dev/urandom; echo; echo '{"loss": 1}'; echo '{"loss": "x"}'; printf '{"loss": 0.'; exit 1"#;
    let events = f.run(f.launch(script), None).await;
    let end = ending(&events);
    assert_eq!(end.exit(), Some(Exit::Code(1)));
    // The cut-off `{"loss": 0.` is not a record; 1 is the only value.
    assert_eq!(end.metric.as_ref().map(|m| m.count), Some(1));
}
