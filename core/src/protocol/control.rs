//! The control socket's protocol, version 1: one JSON object per line each
//! way. A client sends `hello` first (the daemon answers with its version),
//! then requests; each request gets one response (`await_verdict` gets
//! `waiting` at once, then the verdict).

use serde::{Deserialize, Serialize};

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
    /// Tell me what becomes of the inbox file `name` (sent before the file is
    /// put there, so the verdict cannot be missed).
    AwaitVerdict {
        name: String,
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
            Request::AwaitVerdict {
                name: "x.yaml".into(),
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
