//! The control socket's protocol, version 1: one JSON object per line each
//! way. A client sends `hello` first (the daemon answers with its version),
//! then requests; each request gets one response (`await_verdict` gets
//! `waiting` at once, then the verdict). A client that sends `agent`
//! becomes an agent of a sweep ([docs/agents.md](../../../docs/agents.md)):
//! it asks for runs with `next` and says how each went (`started`,
//! `exited`); sweepd hands it `run`s, and `stop`s and `signal`s for them,
//! and `done` when the sweep hands out no more.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::trainer::StopReason;
use crate::search::ParamSet;

pub const CONTROL_VERSION: u32 = 1;

/// Longest request line the daemon reads.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Hello {
        version: u32,
    },
    Pause {
        sweep: String,
    },
    Resume {
        sweep: String,
    },
    Stop {
        sweep: String,
    },
    Cancel {
        sweep: String,
    },
    /// Set the sweep's run_cap to `run_cap`, or raise it by `more`
    /// (`sweepctl extend`); one of the two.
    Extend {
        sweep: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_cap: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        more: Option<u64>,
    },
    /// Queue runs with these parameters, in order, before the search's own
    /// proposals (`sweepctl enqueue`).
    Enqueue {
        sweep: String,
        runs: Vec<ParamSet>,
    },
    /// Add the finished runs of `file` (absolute; sweepctl export's CSV or
    /// JSON lines, or W&B's runs table as CSV) as seeds of the sweep's
    /// search (`sweepctl import`).
    Import {
        sweep: String,
        file: PathBuf,
    },
    /// Shut sweepd down: its runs run on for the next sweepd to take up, or
    /// with `stop_runs` are stopped (and run again at its next start).
    Shutdown {
        #[serde(default)]
        stop_runs: bool,
    },
    /// Tell me what becomes of the inbox file `name` (sent before the file is
    /// put there, so the verdict cannot be missed).
    AwaitVerdict {
        name: String,
    },
    /// Become an agent of the sweep `sweep` (an id or a unique part of
    /// one): run what sweepd hands out, `command` for each run (None: a
    /// function, the caller's own).
    Agent {
        sweep: String,
        #[serde(default)]
        command: Option<Vec<String>>,
    },
    /// An agent is ready for its next run.
    Next,
    /// An agent started run `run` as process (group) `pid`.
    Started {
        run: String,
        pid: u32,
    },
    /// An agent's run `run` exited: its code, or the signal it died of.
    Exited {
        run: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
        pid: u32,
    },
    /// The request was carried out.
    Done {
        message: String,
    },
    /// It was not, and why.
    Refused {
        message: String,
    },
    /// Too many connections are open: try again shortly.
    Busy {
        message: String,
    },
    /// The verdict will follow.
    Waiting,
    Accepted {
        sweep: String,
        warnings: String,
    },
    Rejected {
        reasons: String,
    },
    /// The client is an agent of this sweep now.
    Agent {
        sweep: String,
    },
    /// A run for an agent to run (see docs/agents.md).
    Run(Box<AgentRun>),
    /// Ask an agent's run to stop (the agent writes the protocol's stop line
    /// to its stdin).
    Stop {
        run: String,
        reason: StopReason,
    },
    /// Signal an agent's run's process group: `TERM` or `KILL`.
    Signal {
        run: String,
        signal: String,
    },
}

/// Everything an agent needs to run one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRun {
    /// sweepd's run id, `SWEEP/N`.
    pub run: String,
    /// The same run as W&B accepts a run id.
    pub wandb_run_id: String,
    pub run_dir: PathBuf,
    /// Where a command runs (a function runs where its caller is).
    pub cwd: PathBuf,
    /// The command to run; None for a function agent.
    pub argv: Option<Vec<String>>,
    /// Variables to set on top of the agent's environment.
    pub env: Vec<(String, String)>,
    /// The protocol's start message, newline included: the run's stdin
    /// begins with it.
    pub start_line: String,
    pub params: ParamSet,
}

impl Request {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("requests serialize") + "\n"
    }
}

impl Response {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("responses serialize") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_the_golden_file() {
        let requests = [
            Request::Hello {
                version: CONTROL_VERSION,
            },
            Request::Pause { sweep: "s".into() },
            Request::Resume { sweep: "s".into() },
            Request::Stop { sweep: "s".into() },
            Request::Cancel { sweep: "s".into() },
            Request::Extend {
                sweep: "s".into(),
                run_cap: Some(20),
                more: None,
            },
            Request::Enqueue {
                sweep: "s".into(),
                runs: vec![
                    [("lr".to_owned(), serde_json::json!(0.5))]
                        .into_iter()
                        .collect(),
                ],
            },
            Request::Import {
                sweep: "s".into(),
                file: "/p/runs.csv".into(),
            },
            Request::AwaitVerdict {
                name: "x.yaml".into(),
            },
            Request::Agent {
                sweep: "s".into(),
                command: None,
            },
            Request::Next,
            Request::Started {
                run: "s/1".into(),
                pid: 7,
            },
            Request::Exited {
                run: "s/1".into(),
                code: Some(0),
                signal: None,
            },
            Request::Exited {
                run: "s/2".into(),
                code: None,
                signal: Some(9),
            },
        ];
        let responses = [
            Response::Hello {
                version: CONTROL_VERSION,
                pid: 42,
            },
            Response::Done {
                message: "sweep s is paused".into(),
            },
            Response::Refused {
                message: "no sweep s".into(),
            },
            Response::Busy {
                message: "sweepd is busy".into(),
            },
            Response::Waiting,
            Response::Accepted {
                sweep: "s".into(),
                warnings: String::new(),
            },
            Response::Rejected {
                reasons: "x.yaml: error".into(),
            },
            Response::Agent { sweep: "s".into() },
            Response::Run(Box::new(AgentRun {
                run: "s/1".into(),
                wandb_run_id: "s-0001".into(),
                run_dir: "/h/sweeps/s/runs/0001".into(),
                cwd: "/p".into(),
                argv: None,
                env: vec![("SWEEP_ID".into(), "s".into())],
                start_line: "{}\n".into(),
                params: [("lr".to_owned(), serde_json::json!(0.5))]
                    .into_iter()
                    .collect(),
            })),
            Response::Stop {
                run: "s/1".into(),
                reason: StopReason::EarlyTerminate,
            },
            Response::Signal {
                run: "s/1".into(),
                signal: "TERM".into(),
            },
        ];
        let text: String = requests
            .iter()
            .map(Request::to_line)
            .chain(responses.iter().map(Response::to_line))
            .collect();
        assert_eq!(text, include_str!("golden/control.jsonl"));
        for (line, request) in text.lines().zip(&requests) {
            assert_eq!(&serde_json::from_str::<Request>(line).unwrap(), request);
        }
        for (line, response) in text.lines().skip(requests.len()).zip(&responses) {
            assert_eq!(&serde_json::from_str::<Response>(line).unwrap(), response);
        }
    }
}
