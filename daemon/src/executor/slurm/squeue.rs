//! Reading `squeue --json`: each job's state (read into a [`JobState`]),
//! reason, node and exit code, in the shapes Slurm 22.05 (OpenAPI v0.0.38:
//! plain strings and a raw wait status) and later (lists of states,
//! `{"number": n, "set": true}` numbers, an exit code object) write them.

use std::collections::HashMap;

use serde_json::Value;

use super::job_state::JobState;

/// One job as `squeue` last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub job_id: u64,
    pub name: String,
    pub state: JobState,
    /// `Resources`, `Priority`, `NonZeroExitCode`, ... (None for "None").
    pub reason: Option<String>,
    pub node: Option<String>,
    /// The batch script's exit status, when Slurm knows it.
    pub exit_code: Option<i32>,
}

/// What `squeue` said instead of its jobs.
#[derive(Debug, thiserror::Error)]
pub enum SqueueError {
    #[error("squeue printed no JSON: {0}")]
    NotJson(serde_json::Error),
    /// Its own error (the controller unreachable, ...), in its words.
    #[error("squeue: {0}")]
    Said(String),
    #[error("squeue's JSON has no `jobs` list")]
    NoJobs,
}

/// Every job in `squeue --json` output, by id.
pub fn parse(json: &str) -> Result<HashMap<u64, JobInfo>, SqueueError> {
    let root: Value = serde_json::from_str(json).map_err(SqueueError::NotJson)?;
    if let Some(errors) = root.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        let field = |k: &str| {
            first
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let text = match (field("description"), field("source"), field("error")) {
            (Some(d), Some(s), Some(e)) => format!("{d} ({s}: {e})"),
            (Some(d), None, Some(e)) => format!("{d} ({e})"),
            (d, _, e) => d.or(e).map_or_else(|| first.to_string(), str::to_owned),
        };
        return Err(SqueueError::Said(text));
    }
    let jobs = root
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or(SqueueError::NoJobs)?;
    let mut out = HashMap::new();
    for job in jobs {
        let Some(job_id) = number(job.get("job_id")) else {
            continue;
        };
        let state = JobState::from(match job.get("job_state") {
            Some(Value::String(s)) => s.as_str(),
            // Later Slurm: a list, the base state first ("RUNNING", "COMPLETING").
            Some(Value::Array(states)) => {
                states.first().and_then(Value::as_str).unwrap_or("UNKNOWN")
            }
            _ => "UNKNOWN",
        });
        let reason = job
            .get("state_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "None")
            .map(str::to_owned);
        let node = job
            .get("nodes")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let name = job
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        out.insert(
            job_id,
            JobInfo {
                job_id,
                name,
                state,
                reason,
                node,
                exit_code: exit_code(job.get("exit_code")),
            },
        );
    }
    Ok(out)
}

/// A number written plainly, or as `{"number": n, "set": true}`.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::Object(o) if o.get("set").and_then(Value::as_bool) != Some(false) => {
            o.get("number").and_then(Value::as_u64)
        }
        _ => None,
    }
}

/// 22.05: the raw wait status (`768` is exit 3). Later: `{"status": [...],
/// "return_code": n or {"number": n}, "signal": {...}}`.
fn exit_code(value: Option<&Value>) -> Option<i32> {
    match value? {
        Value::Number(n) => {
            let raw = n.as_i64()?;
            // WIFEXITED: the low 7 bits are 0 and the code is in the next 8.
            (raw & 0x7f == 0).then_some(((raw >> 8) & 0xff) as i32)
        }
        Value::Object(o) => number(o.get("return_code")).map(|n| n as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As squeue 22.05.8 printed it on the test cluster (fields cut).
    const SLURM_22_05: &str = r#"{
      "meta": {"plugin": {"type": "openapi/v0.0.38"}, "Slurm": {"release": "22.05.8"}},
      "errors": [],
      "jobs": [
        {"job_id": 1, "name": "sweepd-a-1", "job_state": "FAILED", "state_reason": "NonZeroExitCode", "exit_code": 768, "nodes": "vm"},
        {"job_id": 2, "name": "sweepd-a-2", "job_state": "PENDING", "state_reason": "Resources", "exit_code": 0, "nodes": ""},
        {"job_id": 3, "name": "sweepd-a-3", "job_state": "CANCELLED", "state_reason": "None", "exit_code": 15, "nodes": "vm"}
      ]
    }"#;

    /// The shape of 23.11 and later (data_parser 0.0.40).
    const SLURM_24: &str = r#"{
      "jobs": [
        {"job_id": 7, "name": "sweepd-b-1", "job_state": ["COMPLETED"], "state_reason": "None",
         "exit_code": {"status": ["SUCCESS"], "return_code": {"set": true, "infinite": false, "number": 0}},
         "nodes": "gpu01"},
        {"job_id": 8, "name": "sweepd-b-2", "job_state": ["RUNNING", "COMPLETING"], "state_reason": "None",
         "exit_code": {"status": ["PENDING"], "return_code": {"set": false, "number": 0}}, "nodes": "gpu02"}
      ],
      "warnings": [], "errors": []
    }"#;

    #[test]
    fn reads_slurm_22_05() {
        let jobs = parse(SLURM_22_05).unwrap();
        assert_eq!(jobs[&1].state, JobState::Failed);
        assert_eq!(jobs[&1].exit_code, Some(3), "the raw status 768 is exit 3");
        assert!(jobs[&1].state.is_over());
        assert_eq!(jobs[&2].reason.as_deref(), Some("Resources"));
        assert_eq!(jobs[&2].node, None);
        assert_eq!(jobs[&2].state, JobState::Pending);
        assert_eq!(jobs[&3].reason, None);
        assert_eq!(jobs[&3].exit_code, None, "15 is a signal, not an exit");
        assert_eq!(jobs[&3].name, "sweepd-a-3");
    }

    #[test]
    fn reads_later_slurm() {
        let jobs = parse(SLURM_24).unwrap();
        assert_eq!(jobs[&7].state, JobState::Completed);
        assert_eq!(jobs[&7].exit_code, Some(0));
        assert_eq!(jobs[&7].node.as_deref(), Some("gpu01"));
        assert_eq!(jobs[&8].state, JobState::Running);
        assert_eq!(jobs[&8].exit_code, None, "not set yet");
        assert!(!jobs[&8].state.is_over());
    }

    #[test]
    fn errors_say_what_squeue_said() {
        let err =
            parse(r#"{"errors": [{"error": "Unable to contact slurm controller"}], "jobs": []}"#)
                .unwrap_err();
        assert!(matches!(err, SqueueError::Said(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "squeue: Unable to contact slurm controller"
        );
        // 22.05 with its controller down.
        let err = parse(r#"{"errors": [{"description": "Failed while looking for jobs", "error_number": -1, "error": "Unspecified error", "source": "slurm_load_jobs"}], "jobs": []}"#)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "squeue: Failed while looking for jobs (slurm_load_jobs: Unspecified error)"
        );
        let err = parse("slurm_load_jobs error").unwrap_err();
        assert!(matches!(err, SqueueError::NotJson(_)), "{err:?}");
        assert!(err.to_string().contains("no JSON"));
        assert_eq!(
            parse(r#"{"errors": []}"#).unwrap_err().to_string(),
            "squeue's JSON has no `jobs` list"
        );
    }
}
