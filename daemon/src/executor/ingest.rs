//! A run's stdout, as the run wrote it to `stdout.log`, read into
//! `metrics.jsonl`: each JSON-object line becomes a metric record with `_step`,
//! `_timestamp` and `_runtime` added, and the sweep metric's values are
//! counted (`last`, `best`). Reading resumes where `metrics.jsonl` ends, so
//! after a crash nothing the run printed is lost or written twice. With a cap
//! (`log_max`), the head of `stdout.log` that has been read is punched out
//! ([`log_cap`](super::log_cap)) once [`CutPoint`] says where reading resumes
//! after a restart; the records from before there are then taken from
//! `metrics.jsonl` itself.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::log_cap::LogCap;
use crate::protocol::trainer::{MAX_RECORD_BYTES, StdoutLine, classify};
use crate::spec::{Goal, Metric};
use crate::store::capped_log::CutPoint;
use crate::store::{MetricSummary, RunDir};

pub struct Ingest {
    log: PathBuf,
    stdout: File,
    metrics: File,
    /// How far `stdout.log` has been read (an offset: punching moves none).
    pos: u64,
    /// Where the current line (not yet ended by a newline) begins in it.
    line_start: u64,
    /// Bytes of the current line not yet ended by a newline.
    partial: Vec<u8>,
    /// The current line is longer than any record: it is log, skip to its end.
    overlong: bool,
    /// Records already in metrics.jsonl (after a restart) not to write again.
    skip: u64,
    /// Whole records in metrics.jsonl.
    written: u64,
    /// Holds `stdout.log` under `log_max`.
    cap: Option<LogCap>,
    /// The sweep metric's values in records of lines before where reading
    /// resumed after a restart, not yet returned.
    carried: Vec<f64>,
    /// Records a write refused (a full disk), written first at the next.
    unwritten: Vec<u8>,
    next_step: i64,
    started: Instant,
    metric: Option<(String, Goal)>,
    summary: Option<MetricSummary>,
}

impl Ingest {
    /// Open the run's files; `started` is when the run started (for `_runtime`).
    pub fn open(run: &RunDir, metric: Option<&Metric>, started: Instant) -> io::Result<Self> {
        let log = run.stdout_file();
        let resume = CutPoint::read(&log)?;
        let records_before = resume.as_ref().map_or(0, |p| p.records_before);
        let (written, earlier) = complete_records(&run.metrics_file(), records_before)?;
        // The run writes it; a run that never started has none yet.
        let mut stdout = match File::open(&log) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                File::create(&log)?;
                File::open(&log)?
            }
            other => other?,
        };
        let pos = resume.as_ref().map_or(0, |p| p.resume_at);
        stdout.seek(SeekFrom::Start(pos))?;
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.metrics_file())?;
        let mut ingest = Self {
            log,
            stdout,
            metrics,
            pos,
            line_start: pos,
            partial: Vec::new(),
            // Resuming within a line too long to be a record: its rest is log.
            overlong: resume.as_ref().is_some_and(|p| p.in_line),
            skip: written.saturating_sub(records_before),
            written,
            cap: None,
            carried: Vec::new(),
            unwritten: Vec::new(),
            next_step: 0,
            started,
            metric: metric.map(|m| (m.name.clone(), m.goal)),
            summary: metric.map(|m| MetricSummary {
                name: m.name.clone(),
                count: 0,
                last: None,
                best: None,
            }),
        };
        // The records of the lines before: counted, and `_step` goes on after them.
        for record in earlier {
            if let Some(step) = record.get("_step").and_then(Value::as_i64) {
                ingest.next_step = step.saturating_add(1);
            }
            if let Some(value) = ingest.metric_value(&record) {
                ingest.carried.push(value);
            }
        }
        Ok(ingest)
    }

    /// Hold `stdout.log` under `cap` bytes as it is read (None or 0: no cap).
    pub fn with_cap(mut self, cap: Option<u64>) -> Self {
        self.cap = cap
            .filter(|&c| c > 0)
            .and_then(|cap| match LogCap::open(&self.log, cap) {
                Ok(held) => Some(held),
                Err(e) => {
                    tracing::warn!(log = %self.log.display(), error = %e, "cannot hold the log under log_max");
                    None
                }
            });
        self
    }

    /// Read what the run has written since; returns the sweep metric's new values.
    pub fn read_new(&mut self) -> io::Result<Vec<f64>> {
        let mut values = std::mem::take(&mut self.carried);
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = self.stdout.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.take(&chunk[..n], &mut out, &mut values);
            self.keep_under_cap(&mut out);
        }
        self.write_out(&mut out)?;
        Ok(values)
    }

    /// Lines and the start of a line, as read.
    fn take(&mut self, bytes: &[u8], out: &mut Vec<u8>, values: &mut Vec<f64>) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.push_bytes(&rest[..end]);
            self.end_line(out, values);
            self.pos += end as u64 + 1;
            self.line_start = self.pos;
            rest = &rest[end + 1..];
        }
        self.push_bytes(rest);
        self.pos += rest.len() as u64;
    }

    /// Append `out` to metrics.jsonl whole or not at all: a write cut short
    /// (a full disk) is cut back off, and what it held is kept, in order,
    /// for the next write.
    fn write_out(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if !self.unwritten.is_empty() {
            let mut held = std::mem::take(&mut self.unwritten);
            held.append(out);
            *out = held;
        }
        if out.is_empty() {
            return Ok(());
        }
        let before = self.metrics.metadata()?.len();
        if let Err(e) = self.metrics.write_all(out) {
            let _ = self.metrics.set_len(before);
            self.unwritten = std::mem::take(out);
            return Err(e);
        }
        out.clear();
        Ok(())
    }

    /// Once `stdout.log` holds more than the cap, punch out its head: only
    /// what has been read, up to the current line (or into it, when it is
    /// too long to be a record). First every record read so far goes durably
    /// to metrics.jsonl, then the [`CutPoint`] that a restart resumes from;
    /// it holds whether the punch is then made or not.
    fn keep_under_cap(&mut self, out: &mut Vec<u8>) {
        let limit = if self.overlong {
            self.pos
        } else {
            self.line_start
        };
        let Some(end) = self.cap.as_mut().and_then(|cap| cap.due(limit)) else {
            return;
        };
        if self.write_out(out).is_err() {
            return; // read_new tries again, and says why it cannot
        }
        let recorded = self
            .metrics
            .sync_data()
            .and_then(|()| self.cut_point(limit, end))
            .and_then(|point| point.write(&self.log));
        let cap = self.cap.as_mut().expect("a cap is due");
        match recorded {
            Ok(()) => cap.punch(end),
            Err(e) => cap.failed("cannot record where stdout.log resumes", &e),
        }
    }

    /// Reading resumes at `at` (all before it read), the hole to end at `end`.
    fn cut_point(&self, at: u64, end: u64) -> io::Result<CutPoint> {
        let mut before = [0u8];
        self.stdout.read_exact_at(&mut before, end - 1)?;
        Ok(CutPoint {
            version: CutPoint::VERSION,
            resume_at: at,
            records_before: self.written.saturating_sub(self.skip),
            in_line: self.overlong,
            lines_from: (before[0] == b'\n').then_some(end),
        })
    }

    /// At the run's end: read the rest, a last line without newline included,
    /// and return the new values and the metric's summary.
    pub fn finish(mut self) -> io::Result<(Vec<f64>, Option<MetricSummary>)> {
        let mut values = self.read_new()?;
        if !self.partial.is_empty() || self.overlong {
            let mut out = Vec::new();
            self.end_line(&mut out, &mut values);
            self.write_out(&mut out)?;
        }
        self.metrics.sync_data()?;
        Ok((values, self.summary))
    }

    /// The metric's summary so far.
    pub fn summary(&self) -> Option<&MetricSummary> {
        self.summary.as_ref()
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_RECORD_BYTES + 2 {
            self.overlong = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<u8>, values: &mut Vec<f64>) {
        let line = std::mem::take(&mut self.partial);
        if std::mem::take(&mut self.overlong) {
            return;
        }
        let StdoutLine::Record(record) = classify(&line) else {
            return;
        };
        let record = self.stamp(record);
        if let Some(value) = self.metric_value(&record) {
            values.push(value);
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        serde_json::to_writer(&mut *out, &record).expect("a JSON map serializes");
        out.push(b'\n');
        self.written += 1;
    }

    /// Add `_step` (the run's own, or the next number), `_timestamp` and `_runtime`.
    fn stamp(&mut self, mut record: Map<String, Value>) -> Map<String, Value> {
        let step = match record.get("_step").and_then(Value::as_i64) {
            Some(step) => step,
            None => {
                record.insert("_step".into(), Value::from(self.next_step));
                self.next_step
            }
        };
        self.next_step = step.saturating_add(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        record.entry("_timestamp").or_insert(Value::from(now));
        record
            .entry("_runtime")
            .or_insert(Value::from(self.started.elapsed().as_secs_f64()));
        record
    }

    /// The sweep metric in this record, if it is a finite number; counted.
    fn metric_value(&mut self, record: &Map<String, Value>) -> Option<f64> {
        let (name, goal) = self.metric.as_ref()?;
        let value = record.get(name)?.as_f64().filter(|v| v.is_finite())?;
        let summary = self.summary.as_mut()?;
        summary.count += 1;
        summary.last = Some(value);
        summary.best = Some(match (summary.best, goal) {
            (None, _) => value,
            (Some(best), Goal::Minimize) => best.min(value),
            (Some(best), Goal::Maximize) => best.max(value),
        });
        Some(value)
    }
}

/// How many whole records `metrics.jsonl` holds, and the `first` of them; a
/// torn last line (a write cut short by power loss) is cut off so appends
/// start on a fresh line.
fn complete_records(
    path: &std::path::Path,
    first: u64,
) -> io::Result<(u64, Vec<Map<String, Value>>)> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        file.set_len(whole as u64)?;
        file.seek(SeekFrom::End(0))?;
    }
    let count = bytes[..whole].iter().filter(|&&b| b == b'\n').count() as u64;
    let earlier = bytes[..whole]
        .split(|&b| b == b'\n')
        .take(usize::try_from(first.min(count)).unwrap_or(usize::MAX))
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect();
    Ok((count, earlier))
}

#[cfg(test)]
mod tests;
