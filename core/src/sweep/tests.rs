//! The sweep's rules as tables: events in, run states, the sweep's state and
//! effects out, without processes or folders. (What only real processes can
//! prove is tested end to end in the daemon.)

use serde_json::json;

use super::*;
use crate::spec::{self, Format};
use crate::store::SweepDir;

/// A sweep file's rules; `extra` is appended to a random sweep minimizing
/// `loss` (its own `metric:` replaces that one).
fn rules(extra: &str) -> Rules {
    let metric = if extra.contains("metric:") {
        ""
    } else {
        "metric: {name: loss, goal: minimize}\n"
    };
    let text = format!("method: random\n{metric}parameters:\n  x: {{min: 0.0, max: 1.0}}\n{extra}");
    let spec = spec::check(&text, Format::Yaml)
        .spec
        .unwrap_or_else(|| panic!("a valid sweep file:\n{text}"));
    Rules::of(&spec)
}

fn record() -> SweepRecord {
    SweepRecord::new("20261204-120000-t-aaaa".into(), 1)
}

/// One step of a story, as the daemon would report it.
#[derive(Debug, Clone)]
enum Step {
    /// The search proposes a new run (x = the value).
    Propose(f64),
    /// Run n starts (its process followed).
    Start(u32),
    Log(u32, f64),
    Exits(u32, i32),
    Signalled(u32, i32),
    /// Exit status `code` while the disk was full.
    ExitOnFullDisk(u32, i32),
    /// Run n could not start.
    Unstartable(u32),
    /// sweepd stopped run n for this reason.
    Stopped(u32, StopReason),
    /// Run n's agent went away before it started it.
    CutShort(u32),
    /// A metric value the model already has, sent again.
    Relog(u32, f64),
    /// Taken up after a restart: it exited (code) while no sweepd ran.
    EndedMeanwhile(u32, i32),
    /// A new sweepd found these runs left running.
    Recover(&'static [u32]),
    Control(Event),
}

fn play(model: &mut SweepModel, steps: &[Step]) -> Vec<Effect> {
    let mut all = Vec::new();
    for step in steps {
        let mut events = Vec::new();
        match step.clone() {
            Step::Propose(x) => {
                let mut params = ParamSet::new();
                params.insert("x".into(), json!(x));
                events.push(Event::Proposed(params));
            }
            Step::Start(n) => {
                events.push(Event::Attached(n));
                events.push(Event::Started {
                    run: n,
                    pid: 100 + n,
                });
            }
            Step::Log(n, value) => events.push(Event::Metric {
                run: n,
                value,
                iteration: model.run(n).map_or(1, |r| r.values.len() as u64 + 1),
            }),
            // The run's first value again, as read again after a restart.
            Step::Relog(n, value) => events.push(Event::Metric {
                run: n,
                value,
                iteration: 1,
            }),
            Step::Exits(n, code) => events.push(ended(n, EndedBy::Exited(Exit::Code(code)), false)),
            Step::Signalled(n, s) => events.push(ended(n, EndedBy::Exited(Exit::Signal(s)), false)),
            Step::ExitOnFullDisk(n, code) => {
                events.push(ended(n, EndedBy::Exited(Exit::Code(code)), true))
            }
            Step::Unstartable(n) => events.push(ended(
                n,
                EndedBy::NotStarted("no such program".into()),
                false,
            )),
            Step::Stopped(n, reason) => {
                events.push(ended(n, EndedBy::Stopped { reason, exit: None }, false))
            }
            Step::CutShort(n) => events.push(ended(
                n,
                EndedBy::Interrupted("its agent or its monitor went away".into()),
                false,
            )),
            Step::Recover(runs) => events.push(Event::Recovered {
                was_running: runs
                    .iter()
                    .map(|&run| RecoveredRun {
                        run,
                        values: None,
                        metric: None,
                        ended: None,
                    })
                    .collect(),
                disk_full: false,
            }),
            Step::EndedMeanwhile(n, code) => events.push(Event::Recovered {
                was_running: vec![RecoveredRun {
                    run: n,
                    values: None,
                    metric: None,
                    ended: Some(Ending::new(EndedBy::Exited(Exit::Code(code)), None)),
                }],
                disk_full: false,
            }),
            Step::Control(event) => events.push(event),
        }
        for event in events {
            all.extend(model.on(event));
        }
    }
    all
}

fn ended(run: u32, how: EndedBy, disk_full: bool) -> Event {
    Event::Ended {
        run,
        ending: Ending::new(how, None),
        disk_full,
    }
}

fn states(model: &SweepModel) -> Vec<(u32, RunState)> {
    model.runs().map(|r| (r.summary.run, r.state())).collect()
}

use RunState::{Crashed, Failed, Finished, Interrupted, Killed, Queued, Running};
use Step::*;

struct Case {
    name: &'static str,
    rules: &'static str,
    steps: &'static [Step],
    runs: &'static [(u32, RunState)],
    sweep: SweepState,
}

const CASES: &[Case] = &[
    Case {
        name: "a finished run is done; the sweep goes on",
        rules: "",
        steps: &[Propose(0.1), Start(1), Exits(1, 0)],
        runs: &[(1, Finished)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a crash is run again while retry allows, then no more",
        rules: "sweepd: {retry: 1}",
        steps: &[
            Propose(0.1),
            Start(1),
            Signalled(1, 11),
            Start(2),
            Signalled(2, 11),
        ],
        runs: &[(1, Crashed), (2, Crashed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "without retry a crash is not run again",
        rules: "",
        steps: &[Propose(0.1), Start(1), Signalled(1, 9)],
        runs: &[(1, Crashed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a failure (a non-zero exit) is never run again",
        rules: "sweepd: {retry: 3}",
        steps: &[Propose(0.1), Start(1), Exits(1, 2)],
        runs: &[(1, Failed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a shutdown interrupts a run, and it is run again",
        rules: "",
        steps: &[Propose(0.1), Start(1), Stopped(1, StopReason::Shutdown)],
        runs: &[(1, Interrupted), (2, Queued)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a run whose agent left before starting it runs again, retry or not",
        rules: "",
        steps: &[Propose(0.1), Start(1), CutShort(1)],
        runs: &[(1, Interrupted), (2, Queued)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a run that fails on a full disk is interrupted, not blamed",
        rules: "",
        steps: &[Propose(0.1), Start(1), ExitOnFullDisk(1, 1)],
        runs: &[(1, Interrupted), (2, Queued)],
        sweep: SweepState::Running,
    },
    Case {
        name: "failures in a row pause the sweep",
        rules: "sweepd: {max_failures_in_a_row: 2}",
        steps: &[
            Propose(0.1),
            Start(1),
            Exits(1, 1),
            Propose(0.2),
            Start(2),
            Exits(2, 1),
        ],
        runs: &[(1, Failed), (2, Failed)],
        sweep: SweepState::Paused,
    },
    Case {
        name: "a success between failures starts the count again",
        rules: "sweepd: {max_failures_in_a_row: 2}",
        steps: &[
            Propose(0.1),
            Start(1),
            Exits(1, 1),
            Propose(0.2),
            Start(2),
            Exits(2, 0),
            Propose(0.3),
            Start(3),
            Exits(3, 1),
        ],
        runs: &[(1, Failed), (2, Finished), (3, Failed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "three runs in a row that cannot start fail the sweep",
        rules: "sweepd: {retry: 5}",
        steps: &[Propose(0.1), Unstartable(1), Unstartable(2), Unstartable(3)],
        runs: &[(1, Crashed), (2, Crashed), (3, Crashed)],
        sweep: SweepState::Failed,
    },
    Case {
        name: "a value at the target finishes the sweep and ends queued runs",
        rules: "metric: {name: loss, goal: minimize, target: 0.5}\nsweepd: {max_parallel: 2}",
        steps: &[
            Propose(0.1),
            Start(1),
            Propose(0.2),
            Log(1, 0.9),
            Log(1, 0.4),
        ],
        runs: &[(1, Running), (2, Killed)],
        sweep: SweepState::Finished,
    },
    Case {
        name: "the target is not checked while paused, but at resume",
        rules: "metric: {name: loss, goal: minimize, target: 0.5}",
        steps: &[
            Propose(0.1),
            Start(1),
            Control(Event::Pause),
            Log(1, 0.1),
            Exits(1, 0),
        ],
        runs: &[(1, Finished)],
        sweep: SweepState::Paused,
    },
    Case {
        name: "run_cap counts proposals: a re-run does not add one",
        rules: "run_cap: 2\nsweepd: {retry: 1}",
        steps: &[
            Propose(0.1),
            Start(1),
            Signalled(1, 11),
            Start(2),
            Exits(2, 0),
            Propose(0.2),
            Start(3),
            Exits(3, 0),
            Propose(0.3),
        ],
        runs: &[(1, Crashed), (2, Finished), (3, Finished)],
        sweep: SweepState::Finished,
    },
    Case {
        name: "cancel ends queued runs and stops running ones",
        rules: "sweepd: {max_parallel: 2}",
        steps: &[
            Propose(0.1),
            Start(1),
            Propose(0.2),
            Control(Event::Cancel),
            Stopped(1, StopReason::User),
        ],
        runs: &[(1, Killed), (2, Killed)],
        sweep: SweepState::Canceled,
    },
    Case {
        name: "a run interrupted after the sweep was canceled is not run again",
        rules: "",
        steps: &[
            Propose(0.1),
            Start(1),
            Control(Event::Cancel),
            Stopped(1, StopReason::Shutdown),
        ],
        runs: &[(1, Interrupted)],
        sweep: SweepState::Canceled,
    },
    Case {
        name: "stop lets running runs finish",
        rules: "",
        steps: &[Propose(0.1), Start(1), Control(Event::Stop), Exits(1, 0)],
        runs: &[(1, Finished)],
        sweep: SweepState::Finished,
    },
    Case {
        name: "runs a dead daemon left running are interrupted and queued again",
        rules: "",
        steps: &[Propose(0.1), Start(1), Recover(&[1])],
        runs: &[(1, Interrupted), (2, Queued)],
        sweep: SweepState::Running,
    },
    Case {
        name: "hyperband stops a run worse than the band's threshold",
        rules: "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\nsweepd: {max_parallel: 3}",
        steps: &[
            Propose(0.1),
            Start(1),
            Propose(0.2),
            Start(2),
            Propose(0.3),
            Start(3),
            Log(1, 1.0),
            Log(2, 5.0),
            Log(3, 9.0),
            Stopped(3, StopReason::EarlyTerminate),
        ],
        runs: &[(1, Running), (2, Running), (3, Killed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a value read again after a restart counts once: the target is not reached twice",
        rules: "metric: {name: loss, goal: minimize, target: 0.5}\nsweepd: {max_parallel: 2}",
        steps: &[
            Propose(0.1),
            Start(1),
            Log(1, 0.9),
            // Read again from its output: already known, so no second
            // value to judge (0.1 would reach the target).
            Relog(1, 0.1),
        ],
        runs: &[(1, Running)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a run that ended while no sweepd ran is recorded as it ended, not run again",
        rules: "",
        steps: &[Propose(0.1), Start(1), EndedMeanwhile(1, 3)],
        runs: &[(1, Failed)],
        sweep: SweepState::Running,
    },
    Case {
        name: "a run the rule was stopping when sweepd died stays stopped",
        rules: "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\nsweepd: {max_parallel: 3}",
        steps: &[
            Propose(0.1),
            Start(1),
            Propose(0.2),
            Start(2),
            Propose(0.3),
            Start(3),
            Log(1, 1.0),
            Log(2, 5.0),
            Log(3, 9.0),
            Recover(&[1, 2, 3]),
        ],
        runs: &[
            (1, Interrupted),
            (2, Interrupted),
            (3, Killed),
            (4, Queued),
            (5, Queued),
        ],
        sweep: SweepState::Running,
    },
];

#[test]
fn the_rules_as_a_table() {
    for case in CASES {
        let mut model = SweepModel::new(rules(case.rules), record(), Vec::new(), 1);
        play(&mut model, case.steps);
        assert_eq!(states(&model), case.runs, "{}: run states", case.name);
        assert_eq!(
            model.state(),
            case.sweep,
            "{}: the sweep's state",
            case.name
        );
    }
}

#[test]
fn early_termination_stops_the_run_and_says_why_in_its_summary() {
    let mut model = SweepModel::new(
        rules("early_terminate: {type: hyperband, min_iter: 1, eta: 2}"),
        record(),
        Vec::new(),
        1,
    );
    let fx = play(
        &mut model,
        &[
            Propose(0.1),
            Start(1),
            Propose(0.2),
            Start(2),
            Propose(0.3),
            Start(3),
            Log(1, 1.0),
            Log(2, 5.0),
            Log(3, 9.0),
        ],
    );
    let stops: Vec<&Effect> = fx
        .iter()
        .filter(|e| matches!(e, Effect::StopRun { .. }))
        .collect();
    assert_eq!(
        stops,
        [&Effect::StopRun {
            run: 3,
            reason: StopReason::EarlyTerminate
        }]
    );
    let judgement = model
        .run(3)
        .unwrap()
        .summary
        .early_terminate
        .clone()
        .unwrap();
    assert_eq!((judgement.band, judgement.threshold), (1, 5.0));
}

#[test]
fn a_rerun_is_queued_with_the_same_parameters_and_named_by_the_run_it_replaces() {
    let mut model = SweepModel::new(rules("sweepd: {retry: 1}"), record(), Vec::new(), 1);
    let fx = play(&mut model, &[Propose(0.25), Start(1), Signalled(1, 11)]);
    let rerun = model.run(2).unwrap();
    assert_eq!(rerun.params, model.run(1).unwrap().params);
    assert_eq!((rerun.summary.proposal, rerun.summary.attempt), (1, 2));
    assert_eq!(model.run(1).unwrap().summary.retried_by, Some(2));
    assert!(fx.contains(&Effect::CreateRun(2)), "{fx:?}");
    assert_eq!(model.next_queued(), Some(2));
}

#[test]
fn nothing_is_proposed_or_finished_while_records_are_unsaved() {
    let mut model = SweepModel::new(rules("run_cap: 1"), record(), Vec::new(), 1);
    play(&mut model, &[Propose(0.1), Start(1)]);
    model.mark_unsaved();
    play(&mut model, &[Exits(1, 0)]);
    assert_eq!(
        model.state(),
        SweepState::Running,
        "not finished while unsaved"
    );
    assert!(!model.may_propose());
    model.on(Event::Saved);
    assert_eq!(model.state(), SweepState::Finished);
}

/// The story behind every count: a retried crash, an interruption (kill -9
/// of the daemon), an early termination, a failure, a finished run.
fn busy_sweep() -> (SweepModel, Vec<Effect>) {
    let mut model = SweepModel::new(
        rules(
            "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\nsweepd: {retry: 1, max_parallel: 4}",
        ),
        record(),
        Vec::new(),
        1,
    );
    let mut fx = play(
        &mut model,
        &[
            Propose(0.1),
            Start(1),
            Log(1, 3.0),
            Signalled(1, 11), // crashed, retried as run 2
            Start(2),
            Log(2, 0.5),
            Propose(0.2),
            Start(3),
            Log(3, 0.2), // the best value, but run 3 is interrupted below
            Propose(0.3),
            Start(4),
            Log(4, 7.0), // worse than the band's threshold: stopped
            Stopped(4, StopReason::EarlyTerminate),
            Propose(0.4),
            Start(5),
            Exits(5, 1),      // failed
            Recover(&[2, 3]), // the daemon was killed: 2 and 3 run again as 6 and 7
            Start(6),
            Log(6, 0.4),
            Exits(6, 0),
            Start(7),
            Log(7, 0.3),
            Exits(7, 0),
        ],
    );
    fx.retain(|e| !matches!(e, Effect::StopRun { .. }));
    (model, fx)
}

#[test]
fn counts_and_the_best_run_come_from_each_proposals_latest_run() {
    let (model, _) = busy_sweep();
    let counts = model.counts();
    assert_eq!(
        counts,
        Counts {
            queued: 0,
            running: 0,
            finished: 2,
            failed: 1,
            killed: 1,
            crashed: 1,
            interrupted: 2,
            counted: 4,
        }
    );
    assert_eq!(model.proposals_that_count(), 4);
    // Run 3 logged 0.2 but was interrupted and replaced by run 7: the best
    // run is a latest run, never one that was run again.
    let (best, value) = model.best().unwrap();
    assert_eq!((best.summary.run, value), (7, 0.3));
    let latest: Vec<u32> = model
        .runs()
        .map(|r| r.summary.run)
        .filter(|&n| model.is_latest(n))
        .collect();
    assert_eq!(latest, [4, 5, 6, 7], "runs 1 to 3 were run again");
}

/// The daemon's model (built by events) and the command line's (read back
/// from the folder the journal wrote) agree on every count and the best
/// run; this fails if either side counts by rules of its own.
#[test]
fn the_model_read_back_from_its_folder_counts_as_the_live_one() {
    let (live, effects) = busy_sweep();
    let home = tempfile::tempdir().unwrap();
    let dir = SweepDir::new(home.path().join(&live.record().id));
    std::fs::create_dir_all(dir.runs()).unwrap();
    dir.write_state(&record()).unwrap();
    // The effects as the daemon carries them out, in order, each against
    // the model as it was then: the final model writes the same records.
    journal::apply(&dir, &live, &effects).unwrap();
    journal::resave(&dir, &live).unwrap();
    for run in live.runs() {
        let values: Vec<String> = run
            .values
            .iter()
            .map(|v| json!({"loss": v}).to_string() + "\n")
            .collect();
        std::fs::write(dir.run(run.summary.run).metrics_file(), values.concat()).unwrap();
    }
    // A crash between two writes: run 2 (the re-run of run 1) was queued,
    // but run 1's summary was never told. Counting by proposal still counts
    // proposal 1 once.
    let run1 = dir.run(1);
    let mut summary = run1.read_summary().unwrap();
    summary.retried_by = None;
    run1.write_summary(&summary).unwrap();
    let (read, unreadable) = journal::load(
        &dir,
        dir.read_state().unwrap(),
        live.rules().clone(),
        |_, _| {},
    )
    .unwrap();
    assert!(unreadable.is_empty());
    assert_eq!(read.counts(), live.counts());
    assert_eq!(read.proposals_that_count(), live.proposals_that_count());
    let best = |m: &SweepModel| m.best().map(|(r, v)| (r.summary.run, v));
    assert_eq!(best(&read), best(&live));
    assert_eq!(read.state().as_str(), live.state().as_str());
    assert_eq!(states(&read), states(&live));
}

mod continuing;

#[test]
fn the_most_gpu_memory_a_run_used_is_kept_and_saved_only_when_it_grows() {
    let mut model = SweepModel::new(rules(""), record(), Vec::new(), 1);
    assert_eq!(model.record().gpu_memory_mib, None);
    assert_eq!(model.on(Event::GpuMemory(3000)), [Effect::SaveState]);
    assert!(
        model.on(Event::GpuMemory(2500)).is_empty(),
        "less is not news"
    );
    assert!(model.on(Event::GpuMemory(3000)).is_empty());
    assert_eq!(model.on(Event::GpuMemory(4100)), [Effect::SaveState]);
    assert_eq!(model.record().gpu_memory_mib, Some(4100));
}
