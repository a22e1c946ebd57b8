//! A run's output as this machine sees it: `stdout.log` read into
//! `metrics.jsonl` as the run writes it (noticed through inotify), the
//! sweep metric's new values sent as events, and both logs held under
//! `log_max`. Whoever writes the logs (the run itself, started by sweepd or
//! by an agent) appends to the files in the run's folder; this only reads.

use std::path::PathBuf;
use std::time::Instant;

use super::ingest::Ingest;
use super::log_cap::LogCap;
use super::tail::{Tails, Wake};
use super::{Launch, RunEventKind};
use crate::store::{MetricSummary, RunId};

pub(super) struct Output {
    id: RunId,
    tails: Tails,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    wake: Wake,
    stderr_cap: Option<LogCap>,
    stderr_wake: Option<Wake>,
    ingest: Option<Ingest>,
}

impl Output {
    /// Start following the run's logs; `started` is when it started (for
    /// `_runtime`).
    pub async fn follow(
        launch: &Launch,
        tails: &Tails,
        started: Instant,
        send: &impl Fn(RunEventKind),
    ) -> Self {
        let id = launch.id.clone();
        let stdout_path = launch.run_dir.stdout_file();
        let stderr_path = launch.run_dir.stderr_file();
        let log_max = tails.log_max();
        let ingest = match Ingest::open(&launch.run_dir, launch.metric.as_ref(), started) {
            Ok(ingest) => Some(ingest.with_cap(log_max)),
            Err(e) => {
                tracing::error!(run = %id, error = %e, "cannot read the run's output; its metrics are lost");
                None
            }
        };
        let wake = tails.watch(&stdout_path).await;
        // An agent's run may not have made it yet: the cap needs the file.
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
        {
            tracing::warn!(run = %id, error = %e, "cannot create the run's stderr.log");
        }
        // stderr is only looked at to hold it under the cap.
        let stderr_cap = log_max.and_then(|cap| match LogCap::open(&stderr_path, cap) {
            Ok(held) => Some(held),
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "cannot hold the run's stderr.log under log_max");
                None
            }
        });
        let stderr_wake = if stderr_cap.is_some() {
            Some(tails.watch(&stderr_path).await)
        } else {
            None
        };
        let mut output = Self {
            id,
            tails: tails.clone(),
            stdout_path,
            stderr_path,
            wake,
            stderr_cap,
            stderr_wake,
            ingest,
        };
        // What the run printed before the watch was in place (Ingest::open
        // made the file, so the watch has something to watch).
        output.read(send);
        output
    }

    /// Read what the run printed so far (what it printed before the watch
    /// was in place, say).
    pub fn read(&mut self, send: &impl Fn(RunEventKind)) {
        if let Some(ingest) = self.ingest.as_mut() {
            match ingest.read_new() {
                Ok(values) => report(values, ingest.summary(), send),
                Err(e) => {
                    tracing::warn!(run = %self.id, error = %e, "cannot read the run's output")
                }
            }
        }
    }

    /// Read the logs as they grow; never returns (a branch of the
    /// supervisor's `select!`: cancelled between reads, nothing is lost).
    pub async fn changes(&mut self, send: &impl Fn(RunEventKind)) {
        loop {
            tokio::select! {
                () = self.wake.wait() => self.read(send),
                () = wait_on(self.stderr_wake.as_ref()), if self.stderr_wake.is_some() => {
                    if let Some(held) = self.stderr_cap.as_mut() {
                        held.trim();
                    }
                }
            }
        }
    }

    /// sweepd lets go of the run, which goes on: stop following its logs
    /// (the next sweepd reads on from where `metrics.jsonl` ends).
    pub fn let_go(self) {
        self.tails.unwatch(&self.stdout_path);
        if self.stderr_wake.is_some() {
            self.tails.unwatch(&self.stderr_path);
        }
    }

    /// The run has ended: read the rest, stop following, and give the
    /// sweep metric's summary.
    pub fn finish(mut self, send: &impl Fn(RunEventKind)) -> Option<MetricSummary> {
        self.tails.unwatch(&self.stdout_path);
        if self.stderr_wake.is_some() {
            self.tails.unwatch(&self.stderr_path);
        }
        if let Some(held) = self.stderr_cap.as_mut() {
            held.trim();
        }
        match self.ingest.take().map(Ingest::finish) {
            Some(Ok((values, summary))) => {
                report(values, summary.as_ref(), send);
                summary
            }
            Some(Err(e)) => {
                tracing::error!(run = %self.id, error = %e, "cannot read the run's output");
                None
            }
            None => None,
        }
    }
}

/// One event per new value of the sweep metric, with its iteration number.
fn report(values: Vec<f64>, summary: Option<&MetricSummary>, send: &impl Fn(RunEventKind)) {
    let Some(count) = summary.map(|s| s.count) else {
        return;
    };
    let first = count - values.len() as u64 + 1;
    for (i, value) in values.into_iter().enumerate() {
        send(RunEventKind::Metric {
            value,
            iteration: first + i as u64,
        });
    }
}

async fn wait_on(wake: Option<&Wake>) {
    match wake {
        Some(wake) => wake.wait().await,
        None => std::future::pending().await,
    }
}
