//! What the per-sweep folders hold, as types: the sweep's state, where its
//! file came from, each run's summary, and the sweep's event log.
//! docs/layout.md describes the same files for people.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::early_stop::Judgement;

/// Bumped when a record's meaning changes; readers refuse what they do not know.
pub const RECORD_VERSION: u32 = 1;

/// A sweep's state, with W&B's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepState {
    /// Starting runs as its limits allow.
    Running,
    /// No new runs; running ones go on.
    Paused,
    /// No new runs: the grid is done, `run_cap` reached, the target met, or
    /// stopped by a person (running runs finish first).
    Finished,
    /// Stopped by a person; running runs were killed.
    Canceled,
    /// Cannot go on (the reason says why: too many failures in a row, ...).
    Failed,
}

impl SweepState {
    /// The word for it, as its records (and `sweepctl`) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepState::Running => "running",
            SweepState::Paused => "paused",
            SweepState::Finished => "finished",
            SweepState::Canceled => "canceled",
            SweepState::Failed => "failed",
        }
    }
}

impl SweepState {
    /// Whether runs may still be running or started.
    pub fn is_active(self) -> bool {
        matches!(self, SweepState::Running | SweepState::Paused)
    }
}

/// `state.json`: the sweep's own state; everything else is in its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub version: u32,
    pub id: String,
    pub state: SweepState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The seed of the search (the file's `sweepd.seed`, or one chosen at acceptance).
    pub seed: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Why no run can start now though the sweep would start one (no free
    /// GPU); absent when nothing holds it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// What keeps the executor from reaching its runs now (the Slurm
    /// controller unreachable), while that lasts; nothing is lost meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_problem: Option<String>,
    /// `run_cap` as `sweepctl extend` set it, over the file's; absent
    /// while the file's holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_cap: Option<u64>,
    /// The most GPU memory (MiB) one run of the sweep was seen to use on a
    /// GPU it shared (`gpus_per_run` below 1): what its next runs are
    /// placed by when the file gives no `gpu_memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mib: Option<u64>,
}

impl SweepRecord {
    /// A sweep just accepted: running, made now, nothing holding it back.
    pub fn new(id: String, seed: u64) -> SweepRecord {
        let created = now();
        SweepRecord {
            version: super::RECORD_VERSION,
            id,
            state: SweepState::Running,
            reason: None,
            seed,
            created_at: created.clone(),
            updated_at: created,
            waiting: None,
            executor_problem: None,
            run_cap: None,
            gpu_memory_mib: None,
        }
    }
}

/// How a sweep file arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Inbox,
    Submit,
}

/// `source.json`: where the sweep file came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub version: u32,
    /// The file's name as dropped or submitted.
    pub original_name: String,
    pub via: Via,
    /// The directory `sweepctl submit` was run in: the default working
    /// directory of runs. None for files dropped into the inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_from: Option<PathBuf>,
    pub received_at: String,
    pub bytes: u64,
    /// Its name in the spool when it was taken, so that a file filed just
    /// before a crash is not filed twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_as: Option<String>,
}

/// A run's state: W&B's, plus what a restart needs (`queued`, `interrupted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Parameters chosen, not started.
    Queued,
    Running,
    /// Exited 0.
    Finished,
    /// Exited non-zero.
    Failed,
    /// Stopped by sweepd: a person, early termination, or its timeout.
    Killed,
    /// It could not start, died of a signal sweepd did not send, or its exit
    /// status was lost; run again per `sweepd.retry`.
    Crashed,
    /// The daemon stopped or died while it ran; always run again (not the
    /// run's fault, so not counted against `sweepd.retry`).
    Interrupted,
}

impl RunState {
    /// The word for it, as its records (and `sweepctl`) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Killed => "killed",
            RunState::Crashed => "crashed",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl RunState {
    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunState::Queued | RunState::Running)
    }

    /// Whether the run counts toward `run_cap`: every ending but an
    /// interruption that is run again.
    pub fn counts(self) -> bool {
        matches!(
            self,
            RunState::Finished | RunState::Failed | RunState::Killed | RunState::Crashed
        )
    }
}

/// The sweep metric as a run logged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub name: String,
    /// How many values were logged (the iteration count of early termination).
    pub count: u64,
    pub last: Option<f64>,
    /// The best value by the metric's goal: a run's value, as in W&B.
    pub best: Option<f64>,
}

/// `summary.json`: one run (one execution) of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub version: u32,
    /// The run's number in the sweep (its folder name).
    pub run: u32,
    /// Which proposal of the search it runs; a retry runs the same one.
    pub proposal: u32,
    /// 1 for the first execution of a proposal, 2 for its first retry, ...
    pub attempt: u32,
    pub state: RunState,
    /// Why it was killed (`early_terminate`, `user`, `timeout`, `shutdown`) or
    /// crashed or was interrupted, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Process id, also the process group id (each run leads its own group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub queued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSummary>,
    /// The run that runs this one's proposal again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_by: Option<u32>,
    /// A secret the run's processes carry in their environment, so that a
    /// restarted daemon knows them for this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Why the early-termination rule stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_terminate: Option<Judgement>,
    /// The Slurm job that runs it (runs of `executor: slurm` sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmJob>,
}

/// A run's Slurm job, as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmJob {
    pub job_id: u64,
    /// Slurm's word for it: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED,
    /// TIMEOUT, PREEMPTED, NODE_FAIL, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it waits or ended, in Slurm's words (`Resources`, `Priority`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl RunSummary {
    /// A run just queued: its parameters chosen, nothing else known yet.
    pub fn queued(run: u32, proposal: u32, attempt: u32) -> Self {
        Self {
            version: RECORD_VERSION,
            run,
            proposal,
            attempt,
            state: RunState::Queued,
            reason: None,
            exit_code: None,
            signal: None,
            pid: None,
            queued_at: now(),
            started_at: None,
            ended_at: None,
            metric: None,
            retried_by: None,
            token: None,
            early_terminate: None,
            slurm: None,
        }
    }
}

/// One line of `events.jsonl`, the sweep's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: String,
    #[serde(flatten)]
    pub what: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Accepted {
        original_name: String,
        via: Via,
    },
    State {
        from: SweepState,
        to: SweepState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    RunQueued {
        run: u32,
        proposal: u32,
        attempt: u32,
    },
    RunStarted {
        run: u32,
        pid: u32,
    },
    /// Handed to Slurm as this job.
    RunSubmitted {
        run: u32,
        job_id: u64,
    },
    RunEnded {
        run: u32,
        state: RunState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The early-termination rule stopped a run.
    EarlyTerminated {
        run: u32,
        judgement: Judgement,
    },
    /// The daemon found this sweep after a restart.
    Recovered {
        interrupted: Vec<u32>,
    },
    /// `sweepctl extend`: run_cap changed (`from`: None when it had none).
    Extended {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<u64>,
        to: u64,
    },
    /// `sweepctl enqueue`: these runs were queued with given parameters.
    Enqueued {
        runs: Vec<u32>,
    },
    /// Finished runs from elsewhere (warm start, import) now inform the
    /// search (`seeds.jsonl`): how many, from where, and what was left out.
    Seeded {
        added: usize,
        from: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left_out: Vec<String>,
    },
}

/// Now, as RFC 3339 with milliseconds (UTC).
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words_are_the_records_own() {
        use SweepState as S;
        for state in [S::Running, S::Paused, S::Finished, S::Canceled, S::Failed] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        use RunState as R;
        for state in [
            R::Queued,
            R::Running,
            R::Finished,
            R::Failed,
            R::Killed,
            R::Crashed,
            R::Interrupted,
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn events_are_flat_json_objects() {
        let e = Event {
            time: "2026-11-28T15:30:12.000Z".into(),
            what: EventKind::RunEnded {
                run: 3,
                state: RunState::Killed,
                reason: Some("early_terminate".into()),
            },
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(
            line,
            r#"{"time":"2026-11-28T15:30:12.000Z","event":"run_ended","run":3,"state":"killed","reason":"early_terminate"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }

    #[test]
    fn what_counts_toward_run_cap() {
        use RunState::*;
        let counted: Vec<RunState> = [
            Queued,
            Running,
            Finished,
            Failed,
            Killed,
            Crashed,
            Interrupted,
        ]
        .into_iter()
        .filter(|s| s.counts())
        .collect();
        assert_eq!(counted, [Finished, Failed, Killed, Crashed]);
        assert!(!Interrupted.counts() && Interrupted.is_terminal());
    }
}
