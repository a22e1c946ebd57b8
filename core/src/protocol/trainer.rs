//! The trainer protocol, version 1: how sweepd and a run talk.
//!
//! sweepd writes JSON lines to the run's stdin: first a [`ToTrainer::Start`]
//! with the parameters, later perhaps a [`ToTrainer::Stop`]. The run prints to
//! stdout: a line holding a JSON object is a metric record, like `wandb.log`
//! (`{"loss": 0.31, "epoch": 1}`, optionally with `_step`); any other line is
//! plain log. docs/protocol.md is the user's description of the same.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::search::ParamSet;

/// The version in every start message; a trainer may refuse one it does not know.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest stdout line read as a metric record; longer lines are plain log.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A message from sweepd to a run, one JSON object per stdin line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToTrainer {
    Start {
        protocol: u32,
        sweep_id: String,
        run_id: String,
        params: ParamSet,
    },
    Stop {
        reason: StopReason,
    },
}

/// Why sweepd asks a run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The early-termination rule judged the run.
    EarlyTerminate,
    /// A person stopped or canceled it.
    User,
    /// The daemon is shutting down (the run will be run again after restart).
    Shutdown,
    /// The run exceeded `sweepd.timeout`.
    Timeout,
}

impl StopReason {
    /// The word on the wire, also a stopped run's recorded reason.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EarlyTerminate => "early_terminate",
            StopReason::User => "user",
            StopReason::Shutdown => "shutdown",
            StopReason::Timeout => "timeout",
        }
    }
}

impl ToTrainer {
    /// The message as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("protocol messages serialize");
        line.push('\n');
        line
    }
}

/// What one stdout line of a run is.
#[derive(Debug, Clone, PartialEq)]
pub enum StdoutLine {
    /// A JSON object: the values it logs. Non-finite numbers (`NaN`,
    /// `Infinity`, which Python's json writes) are kept as `null`.
    Record(Map<String, Value>),
    /// Anything else.
    Log,
}

/// Read one stdout line (without its newline).
pub fn classify(line: &[u8]) -> StdoutLine {
    let trimmed = line.trim_ascii();
    if trimmed.first() != Some(&b'{') || trimmed.len() > MAX_RECORD_BYTES {
        return StdoutLine::Log;
    }
    let Ok(text) = std::str::from_utf8(trimmed) else {
        return StdoutLine::Log;
    };
    let parsed = serde_json::from_str::<Map<String, Value>>(text)
        .or_else(|_| serde_json::from_str::<Map<String, Value>>(&non_finite_as_null(text)));
    match parsed {
        Ok(map) => StdoutLine::Record(map),
        Err(_) => StdoutLine::Log,
    }
}

/// Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity`, which JSON
/// has not: outside strings, turn them into `null`.
fn non_finite_as_null(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        match token {
            Some(t) => {
                out.push_str("null");
                rest = &rest[t.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The wire format is fixed: these files are what version 1 looks like.
    #[test]
    fn messages_match_the_golden_files() {
        let start = ToTrainer::Start {
            protocol: PROTOCOL_VERSION,
            sweep_id: "20261128-mnist-a1b2".into(),
            run_id: "20261128-mnist-a1b2/3".into(),
            params: json!({"batch_size": 64, "learning_rate": 0.01, "optimizer": {"name": "adam"}})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(start.to_line(), include_str!("golden/start.jsonl"));
        let reasons = [
            StopReason::EarlyTerminate,
            StopReason::User,
            StopReason::Shutdown,
            StopReason::Timeout,
        ];
        let stops: String = reasons
            .into_iter()
            .map(|reason| ToTrainer::Stop { reason }.to_line())
            .collect();
        for reason in reasons {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(stops, include_str!("golden/stop.jsonl"));
        for line in include_str!("golden/start.jsonl")
            .lines()
            .chain(include_str!("golden/stop.jsonl").lines())
        {
            let parsed: ToTrainer = serde_json::from_str(line).unwrap();
            assert_eq!(parsed.to_line().trim_end(), line);
        }
    }

    #[test]
    fn json_objects_are_records_and_the_rest_is_log() {
        assert_eq!(
            classify(br#"{"loss": 0.31, "epoch": 1, "_step": 7}"#),
            StdoutLine::Record(
                json!({"loss": 0.31, "epoch": 1, "_step": 7})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            classify(b"  {\"a\": 1}  \r"),
            StdoutLine::Record(json!({"a": 1}).as_object().unwrap().clone())
        );
        for log in [
            &b"Epoch 1/10"[..],
            b"[1, 2]",
            b"{not json",
            b"",
            b"\xff\xfe{",
            b"{\"a\": 1} trailing",
            b"42",
        ] {
            assert_eq!(
                classify(log),
                StdoutLine::Log,
                "{}",
                String::from_utf8_lossy(log)
            );
        }
        let huge = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        assert_eq!(classify(huge.as_bytes()), StdoutLine::Log);
    }

    #[test]
    fn pythons_non_finite_numbers_become_null() {
        assert_eq!(
            classify(br#"{"loss": NaN, "gain": Infinity, "low": -Infinity, "note": "NaN stays", "ok": 1.5}"#),
            StdoutLine::Record(
                json!({"loss": null, "gain": null, "low": null, "note": "NaN stays", "ok": 1.5})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(
            non_finite_as_null(r#"{"s": "a\"NaN"}"#),
            r#"{"s": "a\"NaN"}"#
        );
    }
}
