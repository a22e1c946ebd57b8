//! A run's stdout, as the run wrote it to `stdout.log`, read into
//! `metrics.jsonl`: each JSON-object line becomes a metric record with `_step`,
//! `_timestamp` and `_runtime` added, and the sweep metric's values are
//! counted (`last`, `best`). Reading resumes where `metrics.jsonl` ends, so
//! after a crash nothing the run printed is lost or written twice. With a cap
//! (`log_max`), `stdout.log`'s head is cut off as it is read (see
//! [`log_cap`](super::log_cap)); the records that came from the part cut off
//! are then taken from `metrics.jsonl` itself.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::log_cap::{self, Cut, CutRecord, Keep, PROBE};
use crate::protocol::trainer::{MAX_RECORD_BYTES, StdoutLine, classify};
use crate::spec::{Goal, Metric};
use crate::store::{MetricSummary, RunDir};

pub struct Ingest {
    log: PathBuf,
    stdout: File,
    metrics: File,
    /// How far `stdout.log` has been read.
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
    /// Where `stdout.log` now begins, in records of metrics.jsonl.
    cut: Cut,
    /// Keep `stdout.log` under this many bytes.
    cap: Option<u64>,
    /// The filesystem has not refused to collapse `stdout.log`.
    collapsible: bool,
    /// The sweep metric's values in records of lines cut off before a
    /// restart, not yet returned.
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
        let cut = CutRecord::current(&log)?;
        let (written, earlier) = complete_records(&run.metrics_file(), cut.records)?;
        // The run writes it; a run that never started has none yet.
        let stdout = match File::open(&log) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                File::create(&log)?;
                File::open(&log)?
            }
            other => other?,
        };
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.metrics_file())?;
        let mut ingest = Self {
            log,
            stdout,
            metrics,
            pos: 0,
            line_start: 0,
            partial: Vec::new(),
            // A log that begins within a line: its rest is log.
            overlong: cut.mid_line,
            skip: written.saturating_sub(cut.records),
            written,
            cut,
            cap: None,
            collapsible: true,
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

    /// Keep `stdout.log` under `cap` bytes (about) as it is read.
    pub fn with_cap(mut self, cap: Option<u64>) -> Self {
        self.cap = cap.filter(|&c| c > 0);
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
            if self.skip == 0 && self.cap.is_some_and(|cap| self.pos > cap / 2) {
                self.write_out(&mut out)?;
                self.cut_log(&mut out, &mut values, &mut chunk)?;
            }
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

    /// Cut off `stdout.log`'s head, all it has been read up to, keeping its
    /// last half cap in `stdout.log.1`. Every record read so far is in
    /// metrics.jsonl.
    fn cut_log(
        &mut self,
        out: &mut Vec<u8>,
        values: &mut Vec<f64>,
        chunk: &mut [u8],
    ) -> io::Result<()> {
        let half = self.cap.unwrap_or(u64::MAX) / 2;
        if self.collapsible {
            let block = log_cap::block_size(&self.stdout)?;
            // Up to the current line (a record in the making stays whole),
            // or all read when that line is log anyway.
            let limit = if self.overlong {
                self.pos
            } else {
                self.line_start
            };
            let cut = limit / block * block;
            if cut == 0 {
                return Ok(()); // one record line in the making: cut later
            }
            let keep = Keep::copy(&self.log, cut.saturating_sub(half), cut)?;
            let mut last = [0u8];
            self.stdout.read_exact_at(&mut last, cut - 1)?;
            let mid_line = last[0] != b'\n';
            // Whole lines after the cut are read again after a restart.
            let mut after = vec![0u8; self.line_start.saturating_sub(cut) as usize];
            self.stdout.read_exact_at(&mut after, cut)?;
            let again = records_in(&after, mid_line);
            let mut probe = vec![0u8; PROBE.min(self.pos - cut) as usize];
            self.stdout.read_exact_at(&mut probe, cut)?;
            let new = Cut {
                records: self.written.saturating_sub(again),
                mid_line,
            };
            CutRecord::write(&self.log, new, self.cut, self.pos, (cut, &probe))?;
            let writable = OpenOptions::new().write(true).open(&self.log)?;
            if log_cap::collapse(&writable, cut)? {
                self.cut = new;
                self.pos -= cut;
                self.line_start = self.line_start.saturating_sub(cut);
                self.stdout.seek(SeekFrom::Start(self.pos))?;
                return keep.finish();
            }
            // The record stands, but its probe shows the cut was not made.
            self.collapsible = false;
        }
        // Copy, read to the end (keeping that too), truncate at once.
        let mut keep = Keep::copy(&self.log, self.pos.saturating_sub(half), self.pos)?;
        let mut probe = vec![0u8; PROBE.min(self.pos) as usize];
        self.stdout.read_exact_at(&mut probe, 0)?;
        let mut caught_up = 0;
        while caught_up < half {
            let n = self.stdout.read(chunk)?;
            if n == 0 {
                break;
            }
            keep.append(&chunk[..n])?;
            self.take(&chunk[..n], out, values);
            caught_up += n as u64;
        }
        self.write_out(out)?;
        let new = Cut {
            records: self.written,
            mid_line: self.overlong || !self.partial.is_empty(),
        };
        CutRecord::write(&self.log, new, self.cut, self.pos, (0, &probe))?;
        log_cap::truncate(&self.log)?;
        self.cut = new;
        self.pos = 0;
        self.line_start = 0;
        self.stdout.seek(SeekFrom::Start(0))?;
        keep.finish()
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

/// How many of these whole lines are records (the first one not, when it
/// is the end of a line cut in two).
fn records_in(lines: &[u8], mid_line: bool) -> u64 {
    let mut lines = lines.split(|&b| b == b'\n');
    if mid_line {
        lines.next();
    }
    lines
        .filter(|line| {
            line.len() <= MAX_RECORD_BYTES + 2 && matches!(classify(line), StdoutLine::Record(_))
        })
        .count() as u64
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

    /// A capped log, read as it grows: its tail stays on disk, every record
    /// arrives once, and a reader started again after a "crash" (the old one
    /// dropped) finds every value, those of lines cut off included.
    fn check_capped(root: &std::path::Path) {
        let run = RunDir::new(root);
        append(&run, "");
        let cap = 64 * 1024;
        let goal = metric(Goal::Minimize);
        let mut ingest = Ingest::open(&run, Some(&goal), Instant::now())
            .unwrap()
            .with_cap(Some(cap));
        let mut values = Vec::new();
        let on_disk = || {
            let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
            size(&run.stdout_file()) + size(&log_cap::rotated(&run.stdout_file()))
        };
        for i in 0..4000 {
            append(
                &run,
                &format!("{{\"loss\": {i}}}\nand a line of log, number {i}\n"),
            );
            if i % 100 == 99 {
                values.extend(ingest.read_new().unwrap());
                assert!(on_disk() <= cap + 8192, "{} bytes at {i}", on_disk());
            }
        }
        // A record cut in two by the last read.
        append(&run, "{\"loss\": 40");
        values.extend(ingest.read_new().unwrap());
        let expected: Vec<f64> = (0..4000).map(f64::from).collect();
        assert_eq!(values, expected);
        assert!(log_cap::rotated(&run.stdout_file()).exists(), "it was cut");
        drop(ingest); // the daemon dies
        append(&run, "00}\n{\"loss\": -1}\n");
        let again = Ingest::open(&run, Some(&goal), Instant::now()).unwrap();
        let (all, summary) = again.finish().unwrap();
        let mut expected = expected;
        expected.extend([4000.0, -1.0]);
        assert_eq!(all, expected, "every value, those cut off too");
        let summary = summary.unwrap();
        assert_eq!((summary.count, summary.best), (4002, Some(-1.0)));
        let written = records(&run);
        let losses: Vec<f64> = written
            .iter()
            .map(|r| r["loss"].as_f64().unwrap())
            .collect();
        assert_eq!(losses, expected, "each record once");
        let steps: Vec<i64> = written
            .iter()
            .map(|r| r["_step"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, (0..4002).collect::<Vec<i64>>());
        let tail = std::fs::read_to_string(run.stdout_file()).unwrap();
        assert!(tail.ends_with("{\"loss\": -1}\n"), "{tail}");
    }

    #[test]
    fn a_capped_log_keeps_its_tail_and_loses_no_record() {
        let dir = tempfile::tempdir().unwrap();
        check_capped(dir.path());
    }

    /// tmpfs cannot collapse a file: the log is copied and truncated.
    #[test]
    fn a_capped_log_on_tmpfs_keeps_its_tail_and_loses_no_record() {
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        check_capped(dir.path());
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
