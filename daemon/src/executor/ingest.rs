//! A run's stdout, as the run wrote it to `stdout.log`, read into
//! `metrics.jsonl`: each JSON-object line becomes a metric record with `_step`,
//! `_timestamp` and `_runtime` added, and the sweep metric's values are
//! counted (`last`, `best`). Reading resumes where `metrics.jsonl` ends, so
//! after a crash nothing the run printed is lost or written twice.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::protocol::trainer::{MAX_RECORD_BYTES, StdoutLine, classify};
use crate::spec::{Goal, Metric};
use crate::store::{MetricSummary, RunDir};

pub struct Ingest {
    stdout: File,
    metrics: File,
    /// Bytes of the current line not yet ended by a newline.
    partial: Vec<u8>,
    /// The current line is longer than any record: it is log, skip to its end.
    overlong: bool,
    /// Records already in metrics.jsonl (after a restart) not to write again.
    skip: u64,
    next_step: i64,
    started: Instant,
    metric: Option<(String, Goal)>,
    summary: Option<MetricSummary>,
}

impl Ingest {
    /// Open the run's files; `started` is when the run started (for `_runtime`).
    pub fn open(run: &RunDir, metric: Option<&Metric>, started: Instant) -> io::Result<Self> {
        let skip = complete_records(&run.metrics_file())?;
        // The run writes it; a run that never started has none yet.
        let stdout = match File::open(run.stdout_file()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                File::create(run.stdout_file())?;
                File::open(run.stdout_file())?
            }
            other => other?,
        };
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.metrics_file())?;
        Ok(Self {
            stdout,
            metrics,
            partial: Vec::new(),
            overlong: false,
            skip,
            next_step: 0,
            started,
            metric: metric.map(|m| (m.name.clone(), m.goal)),
            summary: metric.map(|m| MetricSummary {
                name: m.name.clone(),
                count: 0,
                last: None,
                best: None,
            }),
        })
    }

    /// Read what the run has written since; returns the sweep metric's new values.
    pub fn read_new(&mut self) -> io::Result<Vec<f64>> {
        let mut values = Vec::new();
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = self.stdout.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            let mut rest = &chunk[..n];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                self.push_bytes(&rest[..end]);
                self.end_line(&mut out, &mut values);
                rest = &rest[end + 1..];
            }
            self.push_bytes(rest);
        }
        if !out.is_empty() {
            self.metrics.write_all(&out)?;
        }
        Ok(values)
    }

    /// At the run's end: read the rest, a last line without newline included,
    /// and return the new values and the metric's summary.
    pub fn finish(mut self) -> io::Result<(Vec<f64>, Option<MetricSummary>)> {
        let mut values = self.read_new()?;
        if !self.partial.is_empty() || self.overlong {
            let mut out = Vec::new();
            self.end_line(&mut out, &mut values);
            self.metrics.write_all(&out)?;
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

/// How many whole records `metrics.jsonl` holds; a torn last line (a write cut
/// short by power loss) is cut off so appends start on a fresh line.
fn complete_records(path: &std::path::Path) -> io::Result<u64> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        file.set_len(whole as u64)?;
        file.seek(SeekFrom::End(0))?;
    }
    Ok(bytes[..whole].iter().filter(|&&b| b == b'\n').count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metric(goal: Goal) -> Metric {
        Metric {
            name: "loss".into(),
            goal,
            target: None,
            impute: crate::spec::Impute::Worst,
            impute_while_running: None,
        }
    }

    fn append(run: &RunDir, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.stdout_file())
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn records(run: &RunDir) -> Vec<Value> {
        crate::store::atomic::read_json_lines(&run.metrics_file()).unwrap()
    }

    #[test]
    fn records_are_read_as_they_come_and_the_metric_is_summarized() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        append(&run, "");
        let mut ingest = Ingest::open(&run, Some(&metric(Goal::Minimize)), Instant::now()).unwrap();
        append(
            &run,
            "starting\n{\"loss\": 0.5, \"epoch\": 0}\n{\"loss\": 0.",
        );
        assert_eq!(ingest.read_new().unwrap(), [0.5]);
        append(
            &run,
            "3, \"epoch\": 1, \"_step\": 10}\n{\"acc\": 1}\n{\"loss\": NaN}\n{\"loss\": 0.4}",
        );
        assert_eq!(ingest.read_new().unwrap(), [0.3]);
        let (last, summary) = ingest.finish().unwrap();
        assert_eq!(last, [0.4], "a last line without newline still counts");
        assert_eq!(
            summary,
            Some(MetricSummary {
                name: "loss".into(),
                count: 3,
                last: Some(0.4),
                best: Some(0.3)
            })
        );
        let steps: Vec<Value> = records(&run).iter().map(|r| r["_step"].clone()).collect();
        assert_eq!(
            steps,
            [json!(0), json!(10), json!(11), json!(12), json!(13)]
        );
        assert!(
            records(&run)
                .iter()
                .all(|r| r["_runtime"].is_f64() && r["_timestamp"].is_f64())
        );
    }

    #[test]
    fn a_restarted_reader_writes_nothing_twice_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        append(&run, "{\"loss\": 3}\n{\"loss\": 2}\n");
        let mut first = Ingest::open(&run, Some(&metric(Goal::Maximize)), Instant::now()).unwrap();
        first.read_new().unwrap();
        drop(first); // the daemon dies
        // A torn line, as a power loss mid-write would leave.
        let mut f = OpenOptions::new()
            .append(true)
            .open(run.metrics_file())
            .unwrap();
        f.write_all(b"{\"loss\": 2, \"_st").unwrap();
        append(&run, "{\"loss\": 1}\n");
        let again = Ingest::open(&run, Some(&metric(Goal::Maximize)), Instant::now()).unwrap();
        let (values, summary) = again.finish().unwrap();
        assert_eq!(values, [3.0, 2.0, 1.0]);
        assert_eq!(summary.unwrap().best, Some(3.0));
        let losses: Vec<Value> = records(&run).iter().map(|r| r["loss"].clone()).collect();
        assert_eq!(losses, [json!(3), json!(2), json!(1)]);
    }

    #[test]
    fn huge_lines_are_log_and_cost_no_memory() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        append(&run, "");
        let mut ingest = Ingest::open(&run, Some(&metric(Goal::Minimize)), Instant::now()).unwrap();
        let huge = format!(
            "{{\"loss\": 1, \"pad\": \"{}\"}}\n{{\"loss\": 2}}\n",
            "x".repeat(3 * MAX_RECORD_BYTES)
        );
        append(&run, &huge);
        assert_eq!(ingest.read_new().unwrap(), [2.0]);
        assert!(ingest.partial.capacity() <= 4 * MAX_RECORD_BYTES);
    }
}
