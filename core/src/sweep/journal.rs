//! A sweep's folder as the model's journal: the model rebuilt from it
//! (`load`), the model's effects written into it (`apply`), and everything
//! written again after writes failed (`resave`). The folder is the truth;
//! `events.jsonl` is its history.

use std::collections::BTreeMap;
use std::io;

use serde_json::{Map, Value};

use super::{Effect, Rules, RunModel, SweepModel};
use crate::spec::{self, Format, SweepSpec};
use crate::store::{RunState, SweepDir, SweepRecord, metric_values};

/// A sweep's file, checked again: the spec, or what is wrong with it now.
pub fn read_spec(dir: &SweepDir) -> io::Result<Result<SweepSpec, String>> {
    let file = dir.sweep_file();
    let validation = spec::check_bytes(&std::fs::read(&file)?, Format::from_path(&file));
    Ok(validation.spec.ok_or_else(|| {
        let first = validation
            .diagnostics
            .errors()
            .next()
            .map(|d| d.display_in("sweep file").to_string());
        format!(
            "its sweep file is no longer valid: {}",
            first.unwrap_or_default()
        )
    }))
}

/// The model as a sweep's folder holds it, with the runs whose folders
/// could not be read (number and why; they are left out). `on_records`
/// sees every run's metric records as they are read (for views that show
/// more than the sweep metric).
pub fn load(
    dir: &SweepDir,
    record: SweepRecord,
    rules: Rules,
    mut on_records: impl FnMut(u32, Vec<Map<String, Value>>),
) -> io::Result<(SweepModel, Vec<(u32, io::Error)>)> {
    let numbers = dir.run_numbers()?;
    let next_run = numbers.last().map_or(1, |n| n + 1);
    let metric = rules.metric.as_ref().map(|m| m.name.clone());
    let tracked = rules.tracked();
    let mut runs = Vec::with_capacity(numbers.len());
    let mut unreadable = Vec::new();
    for n in numbers {
        let run_dir = dir.run(n);
        match (run_dir.read_summary(), run_dir.read_params()) {
            (Ok(summary), Ok(params)) => {
                let records = run_dir.read_metrics().unwrap_or_default();
                let values = metric
                    .as_ref()
                    .map_or_else(Vec::new, |name| metric_values(&records, name));
                let outcomes = last_values(&records, &tracked);
                on_records(n, records);
                runs.push(RunModel::new(summary, params, values).with_outcomes(outcomes));
            }
            (Err(e), _) | (_, Err(e)) => unreadable.push((n, e)),
        }
    }
    let seeds = dir.read_seeds()?;
    Ok((
        SweepModel::new(rules, record, runs, next_run).with_seeds(seeds),
        unreadable,
    ))
}

/// The last finite value of each named metric that the records hold.
pub fn last_values(records: &[Map<String, Value>], names: &[String]) -> BTreeMap<String, f64> {
    names
        .iter()
        .filter_map(|name| {
            metric_values(records, name)
                .last()
                .map(|&v| (name.clone(), v))
        })
        .collect()
}

/// Write the effects that are records (every one but `StopRun`), all of
/// them even when one fails; the first error is returned. A run folder
/// that cannot be made whole is removed again (`resave` makes it later).
pub fn apply(dir: &SweepDir, model: &SweepModel, effects: &[Effect]) -> io::Result<()> {
    let mut first_error = None;
    for effect in effects {
        if let Err(e) = write(dir, model, effect) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn write(dir: &SweepDir, model: &SweepModel, effect: &Effect) -> io::Result<()> {
    match effect {
        Effect::CreateRun(n) => {
            let Some(run) = model.run(*n) else {
                return Ok(());
            };
            create_run(dir, run)
        }
        Effect::SaveRun(n) => match model.run(*n) {
            Some(run) => dir.run(*n).write_summary(&run.summary),
            None => Ok(()),
        },
        Effect::SaveState => dir.write_state(model.record()),
        Effect::SaveSeeds => dir.write_seeds(model.seeds()),
        Effect::Log(kind) => dir.append_event(kind.clone()),
        Effect::StopRun { .. } => Ok(()),
    }
}

/// Make a run's folder whole (parameters and summary), or none of it.
fn create_run(dir: &SweepDir, run: &RunModel) -> io::Result<()> {
    let run_dir = dir.run(run.summary.run);
    run_dir.create(&run.params, &run.summary).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(run_dir.root());
    })
}

/// Write everything the model holds that its folder does not, after writes
/// failed (a full disk): each run's summary that differs from its file
/// (the folder of a queued run that could not be made, made now), then the
/// sweep's state. (Events not logged then stay lost: the records are the
/// truth, events.jsonl their history.) Then `Event::Saved` to the model.
pub fn resave(dir: &SweepDir, model: &SweepModel) -> io::Result<()> {
    for run in model.runs() {
        let run_dir = dir.run(run.summary.run);
        if !run_dir.root().exists() {
            // Never made (a full disk): made now. Any other run's folder
            // was removed (to make room?): nothing to write into.
            if run.summary.state == RunState::Queued {
                create_run(dir, run)?;
            }
            continue;
        }
        match run_dir.read_summary() {
            Ok(on_disk) if on_disk == run.summary => {}
            _ => run_dir.write_summary(&run.summary)?,
        }
    }
    if dir.read_state().ok().as_ref() != Some(model.record()) {
        dir.write_state(model.record())?;
    }
    Ok(())
}

/// The rules of a sweep, or of one whose file can no longer be checked
/// (its runs are still counted and shown: `Rules::unknown`).
pub fn rules_of(spec: Option<&SweepSpec>) -> Rules {
    spec.map_or_else(Rules::unknown, Rules::of)
}
