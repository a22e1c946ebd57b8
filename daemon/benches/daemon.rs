//! The daemon's speed and footprint, measured on the real binary in a temp
//! home: `cargo bench -p sweepd --bench daemon`.
//!
//! - inbox drop to first run started: median and p95 over 20 drops;
//! - sustained runs per second with a trivial trainer and max_parallel 2;
//! - metric lines ingested per second from one chatty run, none lost;
//! - resident memory idle and with 10 sweeps;
//! - CPU used while idle;
//! - taking up 200 running runs at start (after a kill -9), each run's
//!   monitor's resident memory, and sweepd's with those runs.
//!
//! With `SWEEPD_BENCH_MONITOR=FILE`, runs' monitors are that program (e.g.
//! the static one of `cargo monitor-static`, copied aside, since `cargo
//! bench` relinks target/release/sweepd-monitor): sweepd is copied beside it
//! into the temp folder and run from there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(300);

fn main() {
    // `cargo bench` passes --bench; nothing to filter here.
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "sweepd benchmark ({} CPU cores; monitor: {})",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        monitor_under_test().display()
    );
    let results = [
        drop_to_start(dir.path()),
        runs_per_second(dir.path()),
        metric_lines_per_second(dir.path()),
        footprint(dir.path()),
        adoption(dir.path()),
    ];
    println!();
    for lines in results {
        for line in lines {
            println!("{line}");
        }
    }
}

struct Daemon {
    child: Child,
    home: PathBuf,
}

impl Daemon {
    fn start(root: &Path, name: &str, max_running: usize) -> Daemon {
        Self::spawn(root, name, max_running, Stdio::null(), "warn")
    }

    /// With its log (info) going to `log`.
    fn start_logging(root: &Path, name: &str, max_running: usize, log: Stdio) -> Daemon {
        Self::spawn(root, name, max_running, log, "info")
    }

    fn spawn(root: &Path, name: &str, max_running: usize, log: Stdio, level: &str) -> Daemon {
        let home = root.join(name);
        let child = Command::new(sweepd_exe(root))
            .args([
                "--home",
                home.to_str().unwrap(),
                "--max-running",
                &max_running.to_string(),
            ])
            // As root (a container), the refusal would end the benchmark.
            .args(nix::unistd::geteuid().is_root().then_some("--allow-root"))
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sweepd starts");
        let daemon = Daemon { child, home };
        wait_until(|| daemon.home.join("sweepd.sock").exists());
        daemon
    }

    fn drop_sweep(&self, name: &str, text: &str) -> Instant {
        let staging = self.home.join(format!("staging-{name}"));
        fs::write(&staging, text).unwrap();
        let at = Instant::now();
        fs::rename(&staging, self.home.join("inbox").join(name)).unwrap();
        at
    }

    fn sweeps(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.home.join("sweeps"))
            .map(|e| {
                e.flatten()
                    .map(|e| e.path())
                    .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// User + system CPU time of the daemon, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Daemon {
    /// sweepd, and its runs (they would outlive it, with their monitors).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_runs(&self.home);
    }
}

/// The monitor runs get: `SWEEPD_BENCH_MONITOR`, else the one cargo built.
fn monitor_under_test() -> PathBuf {
    std::env::var_os("SWEEPD_BENCH_MONITOR").map_or_else(
        || Path::new(env!("CARGO_BIN_EXE_sweepd")).with_file_name("sweepd-monitor"),
        PathBuf::from,
    )
}

/// The sweepd to run: cargo's, or with `SWEEPD_BENCH_MONITOR` a copy of it
/// beside that monitor (sweepd starts the `sweepd-monitor` beside it).
fn sweepd_exe(root: &Path) -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_sweepd"));
    let Some(monitor) = std::env::var_os("SWEEPD_BENCH_MONITOR") else {
        return built;
    };
    let bin = root.join("bin");
    if !bin.join("sweepd").exists() {
        fs::create_dir_all(&bin).unwrap();
        fs::copy(&monitor, bin.join("sweepd-monitor")).expect("SWEEPD_BENCH_MONITOR is a file");
        fs::copy(&built, bin.join("sweepd")).unwrap();
    }
    bin.join("sweepd")
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A field of /proc/PID/smaps_rollup, in KiB.
fn rollup_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Kill every process whose environment puts its run folder in `home`.
fn kill_runs(home: &Path) {
    let folder = format!("SWEEP_RUN_DIR={}/", home.display());
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let ours = fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            env.split(|&b| b == 0)
                .any(|v| v.starts_with(folder.as_bytes()))
        });
        if ours {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

fn wait_until(mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < BOUND, "the benchmark timed out");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn state(sweep: &Path) -> String {
    let text = fs::read_to_string(sweep.join("state.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text).map_or(String::new(), |v| {
        v["state"].as_str().unwrap_or("").to_owned()
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank]
}

/// From the rename into the inbox to the first run's process printing.
fn drop_to_start(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "latency", 4);
    let mut ms = Vec::new();
    for i in 0..20 {
        let text = "method: random\nrun_cap: 1\ncommand: [sh, -c, 'echo started']\nparameters: {x: {min: 0.0, max: 1.0}}\n";
        let at = daemon.drop_sweep(&format!("s{i:02}.yaml"), text);
        let sweep = loop {
            if let Some(s) = daemon.sweeps().into_iter().nth(i) {
                break s;
            }
            assert!(at.elapsed() < BOUND);
            std::thread::sleep(Duration::from_micros(200));
        };
        let out = sweep.join("runs/0001/stdout.log");
        wait_until(|| fs::metadata(&out).is_ok_and(|m| m.len() > 0));
        ms.push(at.elapsed().as_secs_f64() * 1000.0);
        wait_until(|| state(&sweep) == "finished");
    }
    ms.sort_by(f64::total_cmp);
    vec![format!(
        "inbox drop -> first run started: median {:.0} ms, p95 {:.0} ms over {} drops (target <= 300 ms)",
        percentile(&ms, 50.0),
        percentile(&ms, 95.0),
        ms.len()
    )]
}

/// A trivial trainer, max_parallel 2: how many runs start, end and are recorded per second.
fn runs_per_second(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "throughput", 2);
    let runs = 200;
    let text = format!(
        "method: random\nrun_cap: {runs}\nmetric: {{name: loss}}\ncommand: [sh, -c, 'echo \"{{\\\"loss\\\": 1}}\"']\n\
         parameters: {{x: {{min: 0.0, max: 1.0}}}}\nsweepd: {{max_parallel: 2}}\n"
    );
    daemon.drop_sweep("throughput.yaml", &text);
    wait_until(|| !daemon.sweeps().is_empty());
    let sweep = daemon.sweeps()[0].clone();
    wait_until(|| sweep.join("runs/0001").exists());
    let start = Instant::now();
    wait_until(|| state(&sweep) == "finished");
    let secs = start.elapsed().as_secs_f64();
    vec![format!(
        "sustained runs: {runs} trivial runs in {secs:.2} s = {:.1} runs/s with max_parallel 2 (target >= 20/s)",
        f64::from(runs) / secs
    )]
}

/// One run printing many metric lines as fast as it can.
fn metric_lines_per_second(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "ingest", 2);
    let lines = 500_000;
    let program = format!(
        "import sys\nw = sys.stdout.write\nfor i in range({lines}):\n    w('{{\"loss\": %d, \"step\": %d}}\\n' % (i, i))\n"
    );
    let script = daemon.home.parent().unwrap().join("chatty.py");
    fs::write(&script, program).unwrap();
    let text = format!(
        "method: random\nrun_cap: 1\nmetric: {{name: loss}}\ncommand: [python3, \"{}\"]\nparameters: {{x: {{min: 0.0, max: 1.0}}}}\n",
        script.display()
    );
    daemon.drop_sweep("ingest.yaml", &text);
    wait_until(|| !daemon.sweeps().is_empty());
    let sweep = daemon.sweeps()[0].clone();
    let run = sweep.join("runs/0001");
    wait_until(|| run.join("stdout.log").exists());
    let start = Instant::now();
    wait_until(|| state(&sweep) == "finished");
    let secs = start.elapsed().as_secs_f64();
    let recorded = fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count();
    // The trainer alone, writing to a file: what the run itself costs.
    let alone = Instant::now();
    let status = Command::new("python3")
        .arg(&script)
        .stdout(fs::File::create(root.join("alone.log")).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let trainer_secs = alone.elapsed().as_secs_f64();
    vec![format!(
        "metric lines: {recorded} of {lines} recorded ({}), {:.0} lines/s from run start to recorded end \
         (the trainer alone takes {trainer_secs:.2} s of the {secs:.2} s) (target >= 50,000/s)",
        if recorded == lines {
            "none lost"
        } else {
            "LOST SOME"
        },
        lines as f64 / secs
    )]
}

/// Resident memory idle and with 10 sweeps, and CPU used while idle.
fn footprint(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "footprint", 16);
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = daemon.rss_kib();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let before = daemon.cpu_ticks();
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let idle_cpu =
        (daemon.cpu_ticks() - before) as f64 / ticks_per_second / window.as_secs_f64() * 100.0;
    for i in 0..10 {
        let text = "method: random\nrun_cap: 1\ncommand: [sh, -c, 'exec sleep 30']\nparameters: {x: {min: 0.0, max: 1.0}}\n";
        daemon.drop_sweep(&format!("f{i}.yaml"), text);
    }
    wait_until(|| {
        daemon.sweeps().len() == 10
            && daemon
                .sweeps()
                .iter()
                .all(|s| s.join("runs/0001/stdout.log").exists())
    });
    let busy_rss = daemon.rss_kib();
    vec![
        format!(
            "memory: {:.1} MiB resident idle (target <= 20 MB), {:.1} MiB with 10 sweeps running",
            idle_rss as f64 / 1024.0,
            busy_rss as f64 / 1024.0
        ),
        format!(
            "idle CPU: {idle_cpu:.2}% of one core over {} s",
            window.as_secs()
        ),
    ]
}

/// 200 runs running (a trainer and its monitor each); sweepd killed with -9
/// and started again: the time from its start until it has taken up all
/// 200, each monitor's resident memory, and sweepd's with 200 runs.
fn adoption(root: &Path) -> Vec<String> {
    const RUNS: usize = 200;
    let daemon = Daemon::start(root, "adopt", RUNS);
    daemon.drop_sweep(
        "many.yaml",
        &format!(
            "method: random\nrun_cap: {RUNS}\ncommand: [sh, -c, 'exec sleep 600']\n\
             parameters: {{x: {{min: 0.0, max: 1.0}}}}\nsweepd: {{max_parallel: {RUNS}}}\n"
        ),
    );
    wait_until(|| daemon.sweeps().len() == 1);
    let sweep = daemon.sweeps()[0].clone();
    let monitor_files = || -> Vec<PathBuf> {
        (1..=RUNS)
            .map(|n| sweep.join(format!("runs/{n:04}/monitor.json")))
            .filter(|p| p.exists())
            .collect()
    };
    wait_until(|| monitor_files().len() == RUNS);
    let pids: Vec<u32> = monitor_files()
        .iter()
        .map(|p| {
            let record: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap();
            record["monitor_pid"].as_u64().unwrap() as u32
        })
        .collect();
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let monitors = sorted(pids.iter().map(|&p| rss_kib(p) as f64).collect());
    // Of that, what is the monitor's own (written pages) and its share of
    // what it maps with others (the sweepd binary's pages, libc).
    let private = sorted(
        pids.iter()
            .map(|&p| rollup_kib(p, "Private_Dirty:") as f64)
            .collect(),
    );
    let pss = sorted(pids.iter().map(|&p| rollup_kib(p, "Pss:") as f64).collect());
    // Killed with -9: the runs go on, to be taken up.
    let mut first = daemon;
    let _ = first.child.kill();
    let _ = first.child.wait();
    let home = first.home.clone();
    std::mem::forget(first);
    let log_path = root.join("adopt.log");
    let log = fs::File::create(&log_path).unwrap();
    let started = Instant::now();
    let daemon = Daemon::start_logging(root, "adopt", RUNS, Stdio::from(log));
    assert_eq!(daemon.home, home);
    wait_until(|| {
        fs::read_to_string(&log_path)
            .unwrap_or_default()
            .matches("taken up again")
            .count()
            == RUNS
    });
    let took = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let with_runs = daemon.rss_kib();
    vec![
        format!(
            "taking up {RUNS} running runs at start: {:.0} ms from sweepd's start (target <= 1 s)",
            took.as_secs_f64() * 1000.0
        ),
        format!(
            "a run's monitor: {:.2} MiB resident (median of {RUNS}; max {:.2} MiB; target <= 2 MB), \
             of it {:.2} MiB its own (private dirty), {:.2} MiB proportional (PSS)",
            percentile(&monitors, 50.0) / 1024.0,
            monitors.last().copied().unwrap_or(0.0) / 1024.0,
            percentile(&private, 50.0) / 1024.0,
            percentile(&pss, 50.0) / 1024.0
        ),
        format!(
            "sweepd with {RUNS} runs taken up: {:.1} MiB resident",
            with_runs as f64 / 1024.0
        ),
    ]
}
