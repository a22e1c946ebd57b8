//! The scheduler in-process, in a temp home, running real (tiny) trainers.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::executor::StopTimes;
use crate::intake::{self, Submission, Verdict};
use crate::store::{RunState, Via};

const BOUND: Duration = Duration::from_secs(30);

struct World {
    _dir: tempfile::TempDir,
    home: Home,
    config: Config,
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_runs();
    }
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let mut config = Config::new(dir.path().to_owned());
        config.max_running = 4;
        config.monitor_exe = Some(crate::monitor::sweepd_exe());
        // These tests are not about GPUs: none, whatever the machine has.
        config.gpu.probe = crate::gpu::ProbeConfig::off();
        config.stop = StopTimes {
            term_after: Duration::from_millis(200),
            kill_after: Duration::from_millis(500),
        };
        Self {
            _dir: dir,
            home,
            config,
        }
    }

    /// Nothing a test's runs left (a shutdown lets go of runs, which run
    /// on with their monitors) outlives it.
    fn kill_runs(&self) {
        let left = crate::executor::orphans::find_in(self.home.root());
        crate::executor::orphans::kill_all(&left);
    }

    /// File a sweep as the inbox would.
    fn add(&self, text: &str) -> SweepId {
        let claimed = self.home.spool().join("claimed.yaml");
        std::fs::write(&claimed, text).unwrap();
        let submission = Submission {
            name: "t.yaml".into(),
            via: Via::Inbox,
            submitted_from: None,
        };
        match intake::file(&self.home, &claimed, &submission).unwrap() {
            Verdict::Accepted { id, .. } => id,
            Verdict::Rejected { reasons } => panic!("rejected: {reasons}"),
        }
    }

    fn start(
        &self,
    ) -> (
        SchedulerHandle,
        CancellationToken,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let (handle, mailbox) = channel();
        let token = CancellationToken::new();
        let task = tokio::spawn(run(
            self.home.clone(),
            self.config.clone(),
            mailbox,
            token.clone(),
        ));
        (handle, token, task)
    }

    /// Wait (bounded) until the sweep's state on disk is `state`.
    async fn wait_for(&self, id: &SweepId, state: SweepState) {
        let dir = self.home.sweep(id);
        tokio::time::timeout(BOUND, async {
            while dir.read_state().map(|r| r.state).ok() != Some(state) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("sweep never became {state:?}; events: {:?}", dir.events()));
    }

    fn runs(&self, id: &SweepId) -> Vec<crate::store::RunSummary> {
        let dir = self.home.sweep(id);
        dir.run_numbers()
            .unwrap()
            .into_iter()
            .map(|n| dir.run(n).read_summary().unwrap())
            .collect()
    }
}

/// Wait (bounded) as long as `busy` holds.
async fn wait_while(mut busy: impl FnMut() -> bool) {
    tokio::time::timeout(BOUND, async {
        while busy() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("waited too long");
}

/// A child's exit status, waiting a bounded time (it is killed if it overstays).
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("the process was not ended");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn counted(runs: &[crate::store::RunSummary]) -> usize {
    runs.iter()
        .filter(|r| r.state.counts() && r.retried_by.is_none())
        .count()
}

const METRIC: &str =
    r#"command: [sh, -c, 'echo "{\"loss\": 1}"; echo "{\"loss\": 0.5}"', "${args}"]"#;

#[tokio::test]
async fn a_random_sweep_runs_to_its_run_cap() {
    let w = World::new();
    let id = w.add(&format!(
        "method: random\nmetric: {{name: loss}}\nrun_cap: 5\n{METRIC}\nparameters: {{x: {{min: 0.0, max: 1.0}}}}\nsweepd: {{max_parallel: 2}}\n"
    ));
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 5);
    assert!(
        runs.iter().all(|r| r.state == RunState::Finished),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .all(|r| r.metric.as_ref().map(|m| (m.count, m.best)) == Some((2, Some(0.5))))
    );
    assert_eq!(
        w.home.sweep(&id).read_state().unwrap().reason.as_deref(),
        Some("run_cap reached")
    );
    let params: Vec<_> = (1..=5)
        .map(|n| w.home.sweep(&id).run(n).read_params().unwrap())
        .collect();
    assert!(params.windows(2).all(|p| p[0] != p[1]), "distinct draws");
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_grid_ends_when_every_point_has_run() {
    let w = World::new();
    let id = w.add(&format!(
        "method: grid\n{METRIC}\nparameters: {{a: {{values: [1, 2, 3]}}, b: {{values: [x, y]}}}}\n"
    ));
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let dir = w.home.sweep(&id);
    let params: Vec<serde_json::Value> = (1..=6)
        .map(|n| serde_json::Value::Object(dir.run(n).read_params().unwrap()))
        .collect();
    assert_eq!(params[0], serde_json::json!({"a": 1, "b": "x"}));
    assert_eq!(params[5], serde_json::json!({"a": 3, "b": "y"}));
    assert_eq!(dir.run_numbers().unwrap().len(), 6);
    assert_eq!(
        dir.read_state().unwrap().reason.as_deref(),
        Some("every point of the grid has run")
    );
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_crashed_run_is_run_again_and_the_count_stays_exact() {
    let w = World::new();
    // The first run of each proposal kills itself (a crash); its retry succeeds.
    let id = w.add(
        "method: random\nrun_cap: 3\ncommand: [sh, -c, 'if [ \"$SWEEP_RUN_ID\" = \"${SWEEP_ID}/1\" ]; then kill -9 $$; fi; echo ok']\n\
         parameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {retry: 1}\n",
    );
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let runs = w.runs(&id);
    assert_eq!(runs[0].state, RunState::Crashed);
    assert_eq!(runs[0].signal, Some(9));
    let retry = runs[0].retried_by.expect("retried");
    let again = &runs[retry as usize - 1];
    assert_eq!(
        (again.proposal, again.attempt, again.state),
        (1, 2, RunState::Finished)
    );
    assert_eq!(counted(&runs), 3);
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn runs_a_dead_daemon_left_behind_are_recovered() {
    let w = World::new();
    let id = w.add("method: random\nrun_cap: 2\ncommand: [sh, -c, 'echo \"{\\\"loss\\\": 2}\"']\nmetric: {name: loss}\nparameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {retry: 1}\n");
    // As a daemon killed mid-run leaves it: a run marked running, its process
    // still alive with the run's folder in its environment, a line printed.
    let dir = w.home.sweep(&id);
    let params: crate::search::ParamSet =
        serde_json::json!({"x": 0.5}).as_object().unwrap().clone();
    let token = crate::store::new_token();
    let summary = crate::store::RunSummary {
        state: RunState::Running,
        started_at: Some(crate::store::now()),
        token: Some(token.clone()),
        ..crate::store::RunSummary::queued(1, 1, 1)
    };
    dir.run(1).create(&params, &summary).unwrap();
    std::fs::write(dir.run(1).stdout_file(), "{\"loss\": 7}\n").unwrap();
    let mut orphan = std::process::Command::new("sleep")
        .arg("1000")
        .env(crate::executor::orphans::TOKEN_VAR, &token)
        .spawn()
        .unwrap();
    // Its environment shows a moment after spawn returns (see orphans' test).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !crate::executor::orphans::find().contains_key(&token) {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan never showed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let status = wait_exit(&mut orphan);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the orphan was killed"
    );
    let runs = w.runs(&id);
    assert_eq!(runs[0].state, RunState::Interrupted);
    assert_eq!(
        runs[0].metric.as_ref().map(|m| m.last),
        Some(Some(7.0)),
        "what it printed is kept"
    );
    assert_eq!(counted(&runs), 2);
    assert_eq!(
        runs.iter().filter(|r| r.proposal == 1).count(),
        2,
        "proposal 1 ran again"
    );
    let records: Vec<serde_json::Value> =
        crate::store::atomic::read_json_lines(&dir.run(1).metrics_file()).unwrap();
    assert_eq!(records.len(), 1);
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn pause_resume_and_cancel() {
    let w = World::new();
    let id = w.add("method: random\nrun_cap: 50\ncommand: [sh, -c, 'echo started; exec sleep 1000']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    let (handle, token, task) = w.start();
    let dir = w.home.sweep(&id);
    wait_while(|| !w.runs(&id).iter().any(|r| r.state == RunState::Running)).await;
    let paused = handle.control(Control::Pause, id.clone()).await.unwrap();
    assert_eq!(paused.state, SweepState::Paused);
    assert_eq!(paused.to_string(), format!("sweep {id} is paused"));
    let again = handle
        .control(Control::Pause, id.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            ControlError::NotNow {
                state: SweepState::Paused,
                control: Control::Pause,
                ..
            }
        ),
        "{again:?}"
    );
    assert!(again.to_string().contains("is paused: cannot pause it"));
    assert_eq!(
        handle
            .control(Control::Resume, id.clone())
            .await
            .unwrap()
            .to_string(),
        format!("sweep {id} is running")
    );
    handle.control(Control::Cancel, id.clone()).await.unwrap();
    w.wait_for(&id, SweepState::Canceled).await;
    wait_while(|| w.runs(&id).iter().any(|r| !r.state.is_terminal())).await;
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 1, "max_parallel 1: one run started");
    assert_eq!(
        (runs[0].state, runs[0].reason.as_deref()),
        (RunState::Killed, Some("user"))
    );
    let unknown: SweepId = "20000101-000000-nope-aaaa".parse().unwrap();
    let refused = handle
        .control(Control::Stop, unknown.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ControlError::NoSuchSweep(id) if *id == unknown),
        "{refused:?}"
    );
    assert!(refused.to_string().starts_with("no sweep"));
    drop(dir);
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_shutdown_that_stops_runs_interrupts_them_and_a_restart_runs_them_again() {
    let w = World::new();
    w.config
        .stop_runs_on_exit
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let id = w.add("method: random\nrun_cap: 1\ncommand: [sh, -c, 'if [ ! -e \"$SWEEP_RUN_DIR/../../done\" ]; then touch \"$SWEEP_RUN_DIR/../../done\"; exec sleep 1000; fi; echo ok']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    let (_handle, token, task) = w.start();
    wait_while(|| !w.home.sweep(&id).root().join("done").exists()).await;
    token.cancel();
    task.await.unwrap().unwrap();
    let runs = w.runs(&id);
    assert_eq!(runs[0].state, RunState::Interrupted, "{runs:?}");
    assert_eq!(runs.len(), 2, "its retry is queued");
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    assert_eq!(counted(&w.runs(&id)), 1);
    token.cancel();
    task.await.unwrap().unwrap();
}

/// By default a shutdown lets go of its runs: each runs on with its monitor
/// (recorded as running), and the next scheduler takes it up where its
/// folder ends, so that it ends once, with every value once.
#[tokio::test]
async fn a_shutdown_leaves_runs_running_and_a_restart_takes_them_up() {
    let w = World::new();
    let id = w.add(concat!(
        "method: random\nrun_cap: 1\nmetric: {name: loss, goal: minimize}\n",
        r#"command: [sh, -c, 'echo "{\"loss\": 1}"; while [ ! -e "$SWEEP_RUN_DIR/go" ]; do sleep 0.02; done; echo "{\"loss\": 2}"']"#,
        "\nparameters: {x: {min: 0.0, max: 1.0}}\n"
    ));
    let run = w.home.sweep(&id).run(1);
    let (_handle, token, task) = w.start();
    wait_while(|| {
        std::fs::read_to_string(run.metrics_file())
            .unwrap_or_default()
            .lines()
            .count()
            < 1
    })
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 1, "nothing queued again: {runs:?}");
    assert_eq!(runs[0].state, RunState::Running, "{runs:?}");
    assert_eq!(
        crate::monitor::alive(&run.monitor_file()).unwrap(),
        crate::monitor::Liveness::Alive,
        "its monitor runs on"
    );
    let (_handle, token, task) = w.start();
    std::fs::write(run.root().join("go"), "").unwrap();
    w.wait_for(&id, SweepState::Finished).await;
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        (runs[0].state, runs[0].exit_code),
        (RunState::Finished, Some(0))
    );
    let losses: Vec<f64> = run
        .read_metrics()
        .unwrap()
        .iter()
        .filter_map(|r| r["loss"].as_f64())
        .collect();
    assert_eq!(losses, [1.0, 2.0], "every value once, in order");
    assert_eq!(runs[0].metric.as_ref().map(|m| m.count), Some(2));
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_person_s_process_naming_a_run_folder_is_left_alone() {
    let w = World::new();
    let id = w.add("method: random\nrun_cap: 1\ncommand: [sh, -c, 'echo ok']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    // Someone ran a trainer by hand with the run's folder in its environment.
    let mut bystander = std::process::Command::new("sleep")
        .arg("1000")
        .env("SWEEP_RUN_DIR", w.home.sweep(&id).run(1).root())
        .spawn()
        .unwrap();
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert!(bystander.try_wait().unwrap().is_none(), "still running");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

#[tokio::test]
async fn a_re_run_a_crash_kept_from_being_queued_is_queued_at_the_next_start() {
    let w = World::new();
    let id = w.add("method: random\nrun_cap: 1\ncommand: [sh, -c, 'echo ok']\nparameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {retry: 1}\n");
    // As a daemon killed between recording a crash and queueing its re-run leaves it.
    let dir = w.home.sweep(&id);
    let params: crate::search::ParamSet =
        serde_json::json!({"x": 0.25}).as_object().unwrap().clone();
    let crashed = crate::store::RunSummary {
        state: RunState::Crashed,
        reason: Some("killed by signal 9, not by sweepd".into()),
        ..crate::store::RunSummary::queued(1, 1, 1)
    };
    dir.run(1).create(&params, &crashed).unwrap();
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    token.cancel();
    task.await.unwrap().unwrap();
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        (runs[0].retried_by, runs[1].proposal, runs[1].state),
        (Some(2), 1, RunState::Finished)
    );
    assert_eq!(
        dir.run(2).read_params().unwrap(),
        params,
        "the same proposal"
    );
    assert_eq!(counted(&runs), 1);
}

#[tokio::test]
async fn a_sweep_whose_runs_cannot_start_fails_with_the_reason() {
    let w = World::new();
    let id = w.add(
        "method: random\ncommand: [/nonexistent/trainer]\nparameters: {x: {min: 0.0, max: 1.0}}\n",
    );
    let (handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Failed).await;
    let reason = w.home.sweep(&id).read_state().unwrap().reason.unwrap();
    assert!(
        reason.starts_with("3 runs in a row could not start: cannot start `/nonexistent/trainer`"),
        "{reason}"
    );
    assert_eq!(w.runs(&id).len(), 3);
    // A variable the command needs and the daemon lacks: the first run says so.
    let id = w.add("method: random\ncommand: [sh, \"${envvar:SWEEPD_TEST_NEVER_SET}\"]\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    assert!(handle.send(Msg::Added(id.clone())));
    w.wait_for(&id, SweepState::Failed).await;
    assert_eq!(w.runs(&id).len(), 1);
    let reason = w.home.sweep(&id).read_state().unwrap().reason.unwrap();
    assert!(
        reason.contains("SWEEPD_TEST_NEVER_SET is not set"),
        "{reason}"
    );
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn stop_ends_queued_runs_and_lets_running_ones_finish() {
    let w = World::new();
    let id = w.add("method: random\nrun_cap: 10\ncommand: [sh, -c, 'exec sleep 1000']\nparameters: {x: {min: 0.0, max: 1.0}}\n");
    let (handle, token, task) = w.start();
    wait_while(|| !w.runs(&id).iter().any(|r| r.state == RunState::Running)).await;
    handle.control(Control::Stop, id.clone()).await.unwrap();
    let state = w.home.sweep(&id).read_state().unwrap();
    assert_eq!(
        (state.state, state.reason.as_deref()),
        (SweepState::Finished, Some("stopped by user"))
    );
    assert_eq!(
        w.runs(&id)
            .iter()
            .filter(|r| r.state == RunState::Running)
            .count(),
        1,
        "it goes on"
    );
    handle.control(Control::Cancel, id.clone()).await.unwrap();
    w.wait_for(&id, SweepState::Canceled).await;
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_run_that_reaches_metric_target_finishes_the_sweep() {
    let w = World::new();
    // Run x logs loss = x; the first run under 0.3 ends the sweep.
    let id = w.add(
        "method: grid\nmetric: {name: loss, target: 0.3}\n\
         command: [python3, -c, 'import json, sys; print(json.dumps({\"loss\": json.loads(sys.argv[1])[\"x\"]}))', '${args_json}']\n\
         parameters: {x: {values: [0.9, 0.5, 0.2, 0.1, 0.05]}}\n",
    );
    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let record = w.home.sweep(&id).read_state().unwrap();
    assert_eq!(
        record.reason.as_deref(),
        Some("run 3 reached the target loss = 0.3 (0.2)")
    );
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 3, "no run after the target: {runs:?}");
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn runs_failing_in_a_row_pause_the_sweep_and_resume_counts_afresh() {
    let w = World::new();
    let id = w.add(
        "method: random\nrun_cap: 20\ncommand: [sh, -c, 'echo no data >&2; exit 3']\n\
         parameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {max_failures_in_a_row: 3}\n",
    );
    let (handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Paused).await;
    let reason = w.home.sweep(&id).read_state().unwrap().reason.unwrap();
    assert_eq!(
        reason,
        "3 runs in a row failed or crashed (the last, run 3: exited with status 3); \
         see `sweepctl logs`, then `sweepctl resume`"
    );
    assert_eq!(
        w.runs(&id).len(),
        3,
        "not one more run after the third failure"
    );
    // Resumed, it gets three more chances, not one.
    handle.control(Control::Resume, id.clone()).await.unwrap();
    w.wait_for(&id, SweepState::Paused).await;
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 6, "{runs:?}");
    assert!(runs.iter().all(|r| r.state == RunState::Failed));
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_run_the_rule_was_stopping_when_the_daemon_died_stays_stopped() {
    let w = World::new();
    let id = w.add(
        "method: grid\nmetric: {name: loss}\nearly_terminate: {type: hyperband, min_iter: 1, eta: 3}\n\
         command: [sh, -c, 'echo \"{\\\"loss\\\": 2}\"']\nparameters: {x: {values: [1]}}\n",
    );
    // The daemon died after deciding to stop run 1, before it ended.
    let dir = w.home.sweep(&id);
    let params: crate::search::ParamSet = serde_json::json!({"x": 1}).as_object().unwrap().clone();
    let judgement = sweepd_core::early_stop::Judgement {
        iteration: 1,
        band: 1,
        value: 9.0,
        threshold: 1.0,
        runs_at_band: 3,
        strict: true,
        eta: 3.0,
        stop: true,
    };
    let summary = crate::store::RunSummary {
        state: RunState::Running,
        started_at: Some(crate::store::now()),
        early_terminate: Some(judgement.clone()),
        ..crate::store::RunSummary::queued(1, 1, 1)
    };
    dir.run(1).create(&params, &summary).unwrap();
    std::fs::write(dir.run(1).stdout_file(), "{\"loss\": 9}\n").unwrap();

    let (_handle, token, task) = w.start();
    w.wait_for(&id, SweepState::Finished).await;
    let runs = w.runs(&id);
    assert_eq!(runs.len(), 1, "not run again: {runs:?}");
    assert_eq!(
        (runs[0].state, runs[0].reason.as_deref()),
        (RunState::Killed, Some("early_terminate"))
    );
    assert_eq!(runs[0].early_terminate, Some(judgement));
    token.cancel();
    task.await.unwrap().unwrap();
}
