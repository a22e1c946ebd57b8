//! A sweep folder with known runs, of any size, written with sweepd's own
//! record types in the layout the daemon writes (docs/layout.md): for
//! reports and exports of 2,000 runs without running 2,000 processes.
//!
//! The metric `loss` (minimised) of a run ends at
//! `2 |log10(lr) + 3| + 0.4 dropout + noise`: it depends strongly on `lr`,
//! weakly on `dropout`, and not at all on `optimizer` or `model.width`.

// Shared by tests, unit tests and the report bench, each using part of it.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sweepd_core::early_stop::Judgement;
use sweepd_core::store::{
    Home, MetricSummary, RECORD_VERSION, RunState, RunSummary, Source, SweepId, SweepRecord,
    SweepState, Via,
};

pub const SWEEP_YAML: &str = "\
name: synthetic
method: random
metric:
  name: loss
  goal: minimize
parameters:
  lr:
    distribution: log_uniform_values
    min: 0.00001
    max: 0.1
  dropout:
    min: 0.0
    max: 0.5
  optimizer:
    values: [adam, sgd, rmsprop]
  model:
    parameters:
      width:
        values: [64, 128, 256, 512]
  epochs:
    value: 10
command: [python3, train.py, '${args}']
";

pub struct Synthetic {
    pub runs: u32,
    pub epochs: u32,
    pub seed: u64,
    /// The last this many runs are still running (the sweep too, then).
    pub running: u32,
}

/// What was written: the sweep's id, and each run's parameters and best loss.
pub struct Written {
    pub id: SweepId,
    pub runs: Vec<(Value, Option<f64>, RunState)>,
}

pub fn final_loss(lr: f64, dropout: f64, noise: f64) -> f64 {
    2.0 * (lr.log10() + 3.0).abs() + 0.4 * dropout + noise
}

pub fn write(home: &Path, s: &Synthetic) -> Written {
    let home = Home::new(home);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let time =
        |secs: u64| humantime::format_rfc3339_millis(t0 + Duration::from_secs(secs)).to_string();
    let id = SweepId::new("synthetic", t0, 0x5eed);
    let dir = home.sweep(&id);
    fs::create_dir_all(dir.runs()).unwrap();
    fs::write(dir.root().join("sweep.yaml"), SWEEP_YAML).unwrap();
    let source = Source {
        version: RECORD_VERSION,
        original_name: "synthetic.yaml".into(),
        via: Via::Submit,
        submitted_from: None,
        received_at: time(0),
        bytes: SWEEP_YAML.len() as u64,
        claimed_as: None,
    };
    write_json(&dir.source_file(), &source);
    let record = SweepRecord {
        state: if s.running > 0 {
            SweepState::Running
        } else {
            SweepState::Finished
        },
        created_at: time(0),
        updated_at: time(u64::from(s.runs) * 60),
        ..SweepRecord::new(id.to_string(), s.seed)
    };
    write_json(&dir.state_file(), &record);
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut written = Vec::new();
    let mut events = vec![
        json!({"time": time(0), "event": "accepted", "original_name": "synthetic.yaml", "via": "submit"}),
    ];
    for n in 1..=s.runs {
        let lr = 10f64.powf(rng.random_range(-5.0..-1.0));
        let dropout = rng.random_range(0.0..0.5);
        let optimizer = ["adam", "sgd", "rmsprop"][rng.random_range(0..3)];
        let width = [64, 128, 256, 512][rng.random_range(0..4)];
        let noise = rng.random_range(0.0..0.05);
        let params = json!({"dropout": dropout, "epochs": 10, "lr": lr, "model": {"width": width}, "optimizer": optimizer});
        let end = final_loss(lr, dropout, noise);
        let running = n > s.runs.saturating_sub(s.running);
        let (state, epochs) = if running {
            (RunState::Running, s.epochs / 2)
        } else if n % 50 == 0 {
            (RunState::Failed, 0)
        } else if n % 7 == 0 {
            (RunState::Killed, 3.min(s.epochs))
        } else {
            (RunState::Finished, s.epochs)
        };
        let values: Vec<f64> = (1..=epochs)
            .map(|e| end + 2.5 * 0.6f64.powi(e as i32))
            .collect();
        let run = dir.run(n);
        fs::create_dir_all(run.root()).unwrap();
        write_json(&run.params_file(), &params);
        let start = u64::from(n) * 60;
        let mut lines = String::new();
        for (e, v) in values.iter().enumerate() {
            let record = json!({"epoch": e + 1, "loss": v, "accuracy": 1.0 - v / 12.0,
                "_step": e, "_timestamp": 1_795_000_000 + start + e as u64, "_runtime": e as f64 + 0.5});
            lines.push_str(&record.to_string());
            lines.push('\n');
        }
        fs::write(run.metrics_file(), lines).unwrap();
        fs::write(run.stdout_file(), "").unwrap();
        fs::write(run.stderr_file(), "").unwrap();
        let best = values.iter().copied().reduce(f64::min);
        let mut summary = RunSummary::queued(n, n, 1);
        summary.queued_at = time(start);
        summary.started_at = Some(time(start));
        summary.pid = Some(10_000 + n);
        summary.state = state;
        if !running {
            summary.ended_at = Some(time(start + 10 + u64::from(epochs) * 5));
            summary.exit_code = Some(if state == RunState::Failed { 1 } else { 0 });
            summary.metric = Some(MetricSummary {
                name: "loss".into(),
                count: values.len() as u64,
                last: values.last().copied(),
                best,
            });
        }
        if state == RunState::Killed && values.len() >= 3 {
            summary.reason = Some("early_terminate".into());
            summary.exit_code = None;
            summary.signal = Some(15);
            summary.early_terminate = Some(Judgement {
                iteration: 3,
                band: 3,
                value: values[2],
                threshold: values[2] - 0.1,
                runs_at_band: 3,
                strict: true,
                eta: 3.0,
                stop: true,
            });
        }
        write_json(&run.summary_file(), &summary);
        events.push(json!({"time": time(start), "event": "run_queued", "run": n, "proposal": n, "attempt": 1}));
        events.push(
            json!({"time": time(start), "event": "run_started", "run": n, "pid": 10_000 + n}),
        );
        if !running {
            events.push(
                json!({"time": summary.ended_at, "event": "run_ended", "run": n, "state": state}),
            );
        }
        written.push((params, best, state));
    }
    let log: String = events.iter().map(|e| format!("{e}\n")).collect();
    fs::write(dir.events_file(), log).unwrap();
    Written { id, runs: written }
}

fn write_json(path: &Path, value: &impl serde::Serialize) {
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}
