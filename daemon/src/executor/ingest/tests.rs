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
