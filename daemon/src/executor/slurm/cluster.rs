//! The Slurm cluster as sweepd talks to it: `sbatch`, `squeue` and `scancel`
//! from PATH (with the daemon's environment, `SLURM_CONF` included), and one
//! poller that asks `squeue` about every watched job at once, however many
//! runs there are, so the controller sees one query per interval.
//!
//! When the controller cannot be reached, nothing is lost: jobs go on in
//! Slurm, the poller retries with a doubling interval (up to a minute), and
//! each failure (and the recovery) is reported to the scheduler, which shows
//! it in `sweepctl status`.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::squeue::{self, JobInfo, SqueueError};

/// How sweepd talks to Slurm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmConfig {
    /// How often jobs are looked at and their output read.
    pub poll: Duration,
    /// A Slurm command that has not answered in this long has failed.
    pub command_timeout: Duration,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            poll: crate::settings::defaults::slurm_poll(),
            command_timeout: Duration::from_secs(60),
        }
    }
}

/// What went wrong with a Slurm command.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// It could not be started (not on PATH).
    #[error("cannot run `{program}`: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("`{program}` was not answered within {} s", after.as_secs())]
    Timeout { program: String, after: Duration },
    /// It ran and failed; `stderr` is what it said (trimmed).
    #[error("`{program} {}` failed ({status}){}", args.join(" "), said(stderr))]
    Failed {
        program: String,
        args: Vec<String>,
        status: ExitStatus,
        stderr: String,
    },
    #[error("sbatch printed {printed:?}, not a job id")]
    NotAJobId { printed: String },
    #[error(transparent)]
    Squeue(#[from] SqueueError),
}

fn said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl ClusterError {
    /// Whether the command may work if tried again (the controller down or
    /// slow, the queue full), rather than having been refused (a bad
    /// partition). Only Slurm's own words count, not the arguments sweepd gave.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Timeout { .. } => true,
            ClusterError::Failed { stderr, .. } => transient(stderr),
            ClusterError::Squeue(SqueueError::Said(said)) => transient(said),
            ClusterError::Spawn { .. }
            | ClusterError::NotAJobId { .. }
            | ClusterError::Squeue(_) => false,
        }
    }
}

/// The longest wait between two tries while the controller is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the poller saw of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Job(JobInfo),
    /// Not in `squeue` (ended long enough ago to be forgotten).
    Gone,
}

#[derive(Debug)]
enum Request {
    Watch(u64, mpsc::UnboundedSender<Seen>),
    Forget(u64),
}

/// A cheap handle to the cluster; clones share the poller.
#[derive(Debug, Clone)]
pub struct Cluster {
    requests: mpsc::UnboundedSender<Request>,
    problems: mpsc::UnboundedSender<Option<String>>,
    pub config: SlurmConfig,
}

impl Cluster {
    /// Start the poller (on the current tokio runtime). What goes wrong
    /// talking to Slurm, and that it works again (`None`), goes to `problems`.
    pub fn start(config: SlurmConfig, problems: mpsc::UnboundedSender<Option<String>>) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(poll(config.clone(), rx, problems.clone()));
        Self {
            requests,
            problems,
            config,
        }
    }

    /// Hear what the poller sees of `job`, after each look, until forgotten.
    pub fn watch(&self, job: u64) -> mpsc::UnboundedReceiver<Seen> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.requests.send(Request::Watch(job, tx));
        rx
    }

    pub fn forget(&self, job: u64) {
        let _ = self.requests.send(Request::Forget(job));
    }

    /// Say what is wrong (or, with None, that it works again).
    pub fn report(&self, problem: Option<String>) {
        let _ = self.problems.send(problem);
    }

    /// `sbatch --parsable ARGS`: the new job's id.
    pub async fn submit(&self, args: &[String]) -> Result<u64, ClusterError> {
        let out = self.run("sbatch", args).await?;
        // `--parsable` prints `id` or `id;cluster`.
        let id = out.trim().split(';').next().unwrap_or_default();
        id.parse().map_err(|_| ClusterError::NotAJobId {
            printed: out.trim().to_owned(),
        })
    }

    /// The newest job with this name, over or not.
    pub async fn find(&self, name: &str) -> Result<Option<u64>, ClusterError> {
        let jobs = self.squeue().await?;
        Ok(jobs
            .values()
            .filter(|j| j.name == name)
            .map(|j| j.job_id)
            .max())
    }

    /// `scancel --signal=SIG --full JOB`: the batch shell and every process
    /// of the job get the signal.
    pub async fn signal(&self, job: u64, signal: &str) -> Result<(), ClusterError> {
        self.run(
            "scancel",
            &[
                format!("--signal={signal}"),
                "--full".into(),
                job.to_string(),
            ],
        )
        .await
        .map(drop)
    }

    /// `scancel JOB`: Slurm's TERM, then KILL after its KillWait.
    pub async fn cancel(&self, job: u64) -> Result<(), ClusterError> {
        self.run("scancel", &[job.to_string()]).await.map(drop)
    }

    async fn squeue(&self) -> Result<HashMap<u64, JobInfo>, ClusterError> {
        squeue_jobs(&self.config).await
    }

    async fn run(&self, program: &str, args: &[String]) -> Result<String, ClusterError> {
        run(program, args, self.config.command_timeout).await
    }
}

/// Whether what a failed Slurm command said means it may work if tried
/// again (the controller down or slow), rather than having been refused.
fn transient(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    [
        "unable to contact",
        "connection refused",
        "connect failure",
        "socket timed out",
        "timed out",
        "zero bytes were transmitted",
        "communication connection failure",
        "slurm_persist_conn",
        "not answered within",
        // A full queue (QOSMaxSubmitJobPerUserLimit, AssocMaxSubmitJobLimit)
        // empties as jobs end.
        "submit limit",
        "maxsubmitjob",
    ]
    .iter()
    .any(|needle| error.contains(needle))
}

async fn squeue_jobs(config: &SlurmConfig) -> Result<HashMap<u64, JobInfo>, ClusterError> {
    // This user's jobs in every state: later Slurm lists only pending and
    // running ones by default, and an ended job's state says how it ended
    // (22.05 ignores filters with --json and lists everything it holds).
    let out = run(
        "squeue",
        &["--json".into(), "--me".into(), "--states=all".into()],
        config.command_timeout,
    )
    .await?;
    Ok(squeue::parse(&out)?)
}

async fn run(program: &str, args: &[String], timeout: Duration) -> Result<String, ClusterError> {
    let mut command = Command::new(program);
    command.args(args).kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => {
            return Err(ClusterError::Timeout {
                program: program.to_owned(),
                after: timeout,
            });
        }
        Ok(Err(error)) => {
            return Err(ClusterError::Spawn {
                program: program.to_owned(),
                error,
            });
        }
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(ClusterError::Failed {
        program: program.to_owned(),
        args: args.to_vec(),
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// The poller: while any job is watched, one `squeue` per interval, each
/// watcher told what became of its job.
async fn poll(
    config: SlurmConfig,
    mut requests: mpsc::UnboundedReceiver<Request>,
    problems: mpsc::UnboundedSender<Option<String>>,
) {
    let mut watchers: HashMap<u64, mpsc::UnboundedSender<Seen>> = HashMap::new();
    let mut delay = config.poll;
    let mut next = Instant::now() + delay;
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                None => return,
                Some(Request::Watch(job, tx)) => {
                    if watchers.is_empty() {
                        next = Instant::now() + config.poll;
                    }
                    watchers.insert(job, tx);
                }
                Some(Request::Forget(job)) => {
                    watchers.remove(&job);
                }
            },
            () = sleep_until(next), if !watchers.is_empty() => {
                match squeue_jobs(&config).await {
                    Ok(jobs) => {
                        // Every answer clears what anyone reported (a
                        // submission's trouble too); unchanged, it costs nothing.
                        let _ = problems.send(None);
                        delay = config.poll;
                        watchers.retain(|job, tx| {
                            let seen = jobs.get(job).cloned().map_or(Seen::Gone, Seen::Job);
                            tx.send(seen).is_ok()
                        });
                    }
                    Err(e) => {
                        let _ = problems.send(Some(format!(
                            "cannot reach Slurm: {e}; trying again in {} s, the jobs go on meanwhile",
                            delay.as_secs_f64().ceil()
                        )));
                        delay = (delay * 2).min(MAX_BACKOFF);
                    }
                }
                next = Instant::now() + delay;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(program: &str, args: &[&str], code: i32, stderr: &str) -> ClusterError {
        use std::os::unix::process::ExitStatusExt;
        ClusterError::Failed {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            status: ExitStatus::from_raw(code << 8),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn errors_read_as_before_and_know_whether_to_try_again() {
        let table = [
            (
                failed(
                    "sbatch",
                    &["--parsable", "run.sh"],
                    1,
                    "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
                ),
                "`sbatch --parsable run.sh` failed (exit status: 1): sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
                true,
            ),
            (
                failed(
                    "sbatch",
                    &["--parsable", "--comment=timed out", "run.sh"],
                    1,
                    "sbatch: error: Batch job submission failed: Invalid partition name specified",
                ),
                "`sbatch --parsable --comment=timed out run.sh` failed (exit status: 1): sbatch: error: Batch job submission failed: Invalid partition name specified",
                false,
            ),
            (
                failed("scancel", &["7"], 1, ""),
                "`scancel 7` failed (exit status: 1)",
                false,
            ),
            (
                ClusterError::Timeout {
                    program: "squeue".into(),
                    after: Duration::from_secs(60),
                },
                "`squeue` was not answered within 60 s",
                true,
            ),
            (
                ClusterError::Spawn {
                    program: "sbatch".into(),
                    error: std::io::Error::from(std::io::ErrorKind::NotFound),
                },
                "cannot run `sbatch`: entity not found",
                false,
            ),
            (
                ClusterError::NotAJobId {
                    printed: "oops".into(),
                },
                "sbatch printed \"oops\", not a job id",
                false,
            ),
            (
                ClusterError::Squeue(SqueueError::Said(
                    "Unable to contact slurm controller".into(),
                )),
                "squeue: Unable to contact slurm controller",
                true,
            ),
            (
                ClusterError::Squeue(SqueueError::NoJobs),
                "squeue's JSON has no `jobs` list",
                false,
            ),
        ];
        for (error, text, again) in table {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.is_transient(), again, "{text}");
        }
    }

    #[test]
    fn which_failures_are_worth_another_try() {
        assert!(transient(
            "`sbatch --parsable` failed (exit status: 1): sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)"
        ));
        assert!(transient("`squeue` was not answered within 60 s"));
        assert!(transient(
            "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)"
        ));
        assert!(!transient(
            "sbatch: error: Batch job submission failed: Invalid partition name specified"
        ));
        assert!(!transient(
            "sbatch: error: Batch job submission failed: Requested node configuration is not available"
        ));
    }
}
