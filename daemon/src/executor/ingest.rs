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
mod tests {
    use super::super::log_cap::tests::{allocated, dirs};
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

    /// Each of 0..n arrived once, in order: as values, records and `_step`s.
    fn check_all_once(run: &RunDir, values: &[f64], n: u32) {
        let expected: Vec<f64> = (0..n).map(f64::from).collect();
        assert_eq!(values, expected, "the values");
        let written = records(run);
        let losses: Vec<f64> = written
            .iter()
            .map(|r| r["loss"].as_f64().unwrap())
            .collect();
        assert_eq!(losses, expected, "each record once, in order");
        let steps: Vec<i64> = written
            .iter()
            .map(|r| r["_step"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, (0..i64::from(n)).collect::<Vec<_>>(), "the steps");
    }

    /// The race a cap must not lose: the run appends (each record split
    /// across two writes, log lines between) while the reader reads and
    /// punches.
    #[test]
    fn a_run_writing_while_its_log_is_punched_loses_no_record() {
        for dir in dirs() {
            let run = RunDir::new(dir.path());
            append(&run, "");
            let (cap, n) = (16 * 1024, 20_000);
            let path = run.stdout_file();
            let writer = std::thread::spawn(move || {
                let mut log = OpenOptions::new().append(true).open(path).unwrap();
                for i in 0..n {
                    let pad = "p".repeat(i as usize % 50);
                    let text = format!("{{\"loss\": {i}, \"pad\": \"{pad}\"}}\nlog {i}\n");
                    let (head, tail) = text.as_bytes().split_at(text.len() / 2);
                    log.write_all(head).unwrap();
                    log.write_all(tail).unwrap();
                }
            });
            let mut ingest = Ingest::open(&run, Some(&metric(Goal::Minimize)), Instant::now())
                .unwrap()
                .with_cap(Some(cap));
            let mut values = Vec::new();
            while !writer.is_finished() {
                values.extend(ingest.read_new().unwrap());
                std::thread::yield_now();
            }
            writer.join().unwrap();
            values.extend(ingest.finish().unwrap().0);
            check_all_once(&run, &values, n);
            let log = run.stdout_file();
            let size = std::fs::metadata(&log).unwrap().len();
            assert!(size > 50 * cap, "every offset kept: {size}");
            assert!(allocated(&log) <= cap + 8192, "{} on disk", allocated(&log));
        }
    }

    /// Three sessions of a capped reader, each ended by a crash (the reader
    /// dropped) within a record's line, then one that reads to the end. With
    /// `unmade`, before each restart the log is written whole again, as if
    /// sweepd had died after recording its cut point but before punching.
    fn check_restarts(root: &std::path::Path, unmade: bool) {
        let run = RunDir::new(root);
        append(&run, "");
        let goal = metric(Goal::Minimize);
        let mut whole = String::new();
        let write = |text: &str, whole: &mut String| {
            append(&run, text);
            whole.push_str(text);
        };
        let mut i = 0;
        for _ in 0..3 {
            let mut ingest = Ingest::open(&run, Some(&goal), Instant::now())
                .unwrap()
                .with_cap(Some(16 * 1024));
            for _ in 0..1000 {
                write(
                    &format!("{{\"loss\": {i}}}\nlog line {i} of a run\n"),
                    &mut whole,
                );
                i += 1;
                if i % 50 == 0 {
                    ingest.read_new().unwrap();
                }
            }
            // A record too long for the cap, cut short by the crash: the
            // reader's last cut point is at its start.
            let line_start = whole.len() as u64;
            let pad = "p".repeat(20_000);
            write(&format!("{{\"loss\": {i}, \"pad\": \"{pad}"), &mut whole);
            ingest.read_new().unwrap();
            let point = CutPoint::read(&run.stdout_file())
                .unwrap()
                .expect("it was cut");
            assert_eq!(point.resume_at, line_start, "{point:?}");
            assert_eq!(point.records_before, u64::from(i), "{point:?}");
            assert!(!point.in_line);
            drop(ingest);
            if unmade {
                std::fs::write(run.stdout_file(), &whole).unwrap();
            }
            write("\"}\n", &mut whole);
            i += 1;
        }
        let again = Ingest::open(&run, Some(&goal), Instant::now()).unwrap();
        let (values, summary) = again.finish().unwrap();
        check_all_once(&run, &values, i);
        assert_eq!(summary.unwrap().count, u64::from(i));
    }

    #[test]
    fn a_restart_after_punches_loses_and_repeats_no_record() {
        for dir in dirs() {
            check_restarts(dir.path(), false);
        }
    }

    #[test]
    fn a_restart_after_a_cut_point_but_no_punch_loses_and_repeats_no_record() {
        for dir in dirs() {
            check_restarts(dir.path(), true);
        }
    }

    /// A reader started again re-reads what its last run had read but not
    /// punched, skipping the records it finds in metrics.jsonl; a punch in
    /// the middle of that counts only the records from before it.
    #[test]
    fn a_punch_while_records_are_skipped_counts_only_those_before_it() {
        for dir in dirs() {
            let run = RunDir::new(dir.path());
            let goal = metric(Goal::Minimize);
            let mut n = 0;
            let mut text = String::new();
            while text.len() < 70_000 {
                text.push_str(&format!("{{\"loss\": {n}}}\n"));
                n += 1;
            }
            append(&run, &text);
            // A reader without a cap reads it all, then dies.
            let mut first = Ingest::open(&run, Some(&goal), Instant::now()).unwrap();
            first.read_new().unwrap();
            drop(first);
            // One with a cap re-reads it (64 KiB at a time), punching after
            // the first 64 KiB, records still to skip; then it dies too.
            let mut second = Ingest::open(&run, Some(&goal), Instant::now())
                .unwrap()
                .with_cap(Some(16 * 1024));
            second.read_new().unwrap();
            let point = CutPoint::read(&run.stdout_file())
                .unwrap()
                .expect("it was cut");
            assert!(point.records_before < u64::from(n), "{point:?}");
            drop(second);
            append(&run, &format!("{{\"loss\": {n}}}\n"));
            let last = Ingest::open(&run, Some(&goal), Instant::now()).unwrap();
            check_all_once(&run, &last.finish().unwrap().0, n + 1);
        }
    }

    /// A line too long to be a record is punched into as it is read; a
    /// restart resumes within it and takes its rest for log.
    #[test]
    fn a_restart_within_a_punched_overlong_line_takes_its_rest_for_log() {
        for dir in dirs() {
            let run = RunDir::new(dir.path());
            append(&run, "{\"loss\": 0}\n{\"loss\": \"");
            let goal = metric(Goal::Minimize);
            let mut ingest = Ingest::open(&run, Some(&goal), Instant::now())
                .unwrap()
                .with_cap(Some(64 * 1024));
            assert_eq!(ingest.read_new().unwrap(), [0.0]);
            let piece = "x".repeat(64 * 1024);
            for _ in 0..48 {
                append(&run, &piece);
                assert_eq!(ingest.read_new().unwrap(), [] as [f64; 0]);
            }
            let point = CutPoint::read(&run.stdout_file())
                .unwrap()
                .expect("it was cut");
            let size = std::fs::metadata(run.stdout_file()).unwrap().len();
            assert!(point.in_line && point.resume_at == size, "{point:?}");
            assert!(allocated(&run.stdout_file()) < 1 << 20);
            drop(ingest);
            // What ends the long line looks like a record, but is its end.
            append(&run, "{\"loss\": 99}\n{\"loss\": 1}\n");
            let again = Ingest::open(&run, Some(&goal), Instant::now()).unwrap();
            check_all_once(&run, &again.finish().unwrap().0, 2);
        }
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
