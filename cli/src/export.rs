//! `sweepctl export SWEEP --format csv|jsonl`: one row per run, ready for
//! pandas or a spreadsheet.
//!
//! Columns: `run, proposal, attempt, state, reason, exit_code, started_at,
//! ended_at, duration_s`; then every parameter, nested ones flattened with
//! dots (`optimizer.lr`); then `best_<metric>` (the sweep metric's best value
//! by its goal, what `status` ranks by); `pareto_front` (true or false) for
//! a sweep with several objectives; then the run's summary: the last
//! value logged for every key, as W&B's run summary. A parameter named like
//! a fixed column is written `param.<name>`; a summary key that would take a
//! column already named, `summary.<key>`. After the runs, one row per seed
//! of the search (docs/continuing.md): no run number, `state` `imported`
//! or `warm_start`, `reason` where it came from, `best_<metric>` its value.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::{Map, Value};
use sweepd_core::store::Home;

use crate::Outcome;
use crate::view::{SweepView, flat_params, resolve_sweep, run_state_word};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// The column that marks runs on the Pareto front (`sweepd.objectives`).
const FRONT_COLUMN: &str = "pareto_front";

const FIXED: [&str; 9] = [
    "run",
    "proposal",
    "attempt",
    "state",
    "reason",
    "exit_code",
    "started_at",
    "ended_at",
    "duration_s",
];

pub fn run(home: &Home, wanted: &str, format: Format, output: Option<PathBuf>) -> Result<Outcome> {
    let id = resolve_sweep(home, wanted)?;
    let view = SweepView::load(home, &id)?;
    let (columns, rows) = table(&view, SystemTime::now());
    let mut bytes = Vec::new();
    match format {
        Format::Csv => write_csv(&mut bytes, &columns, &rows)?,
        Format::Jsonl => write_jsonl(&mut bytes, &columns, &rows)?,
    }
    match output {
        Some(path) => sweepd_core::store::atomic::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(Outcome::Ok)
}

/// The column names, and each run's row as (column -> value).
pub fn table(view: &SweepView, now: SystemTime) -> (Vec<String>, Vec<Map<String, Value>>) {
    let goal = view.goal();
    let mut columns: Vec<String> = FIXED.iter().map(|c| (*c).to_owned()).collect();
    let mut params: Vec<String> = Vec::new();
    let seeds = view.model.seeds();
    for set in view
        .runs
        .iter()
        .map(|r| &r.params)
        .chain(seeds.iter().map(|s| &s.params))
    {
        for (name, _) in flat_params(set) {
            if !params.contains(&name) {
                params.push(name);
            }
        }
    }
    let best_column = view
        .spec
        .as_ref()
        .and_then(|s| s.metric.as_ref())
        .map(|m| format!("best_{}", m.name));
    // A parameter named like a fixed column (`state`, `run`, ...) keeps its
    // value under `param.<name>`.
    let param_columns: Vec<(String, String)> = params
        .into_iter()
        .map(|name| {
            let taken = FIXED.contains(&name.as_str()) || best_column.as_ref() == Some(&name);
            let column = if taken {
                format!("param.{name}")
            } else {
                name.clone()
            };
            (name, column)
        })
        .collect();
    columns.extend(param_columns.iter().map(|(_, c)| c.clone()));
    columns.extend(best_column.iter().cloned());
    // With several objectives: whether the run is on the Pareto front.
    let front = view.model.front();
    if front.is_some() {
        columns.push(FRONT_COLUMN.into());
    }
    let keys: BTreeSet<&String> = view.runs.iter().flat_map(|r| r.latest.keys()).collect();
    let summary_column = |key: &str| {
        if columns.iter().any(|c| c == key) {
            format!("summary.{key}")
        } else {
            key.to_owned()
        }
    };
    let summary_columns: Vec<(String, String)> = keys
        .iter()
        .map(|k| ((*k).clone(), summary_column(k)))
        .collect();
    columns.extend(summary_columns.iter().map(|(_, c)| c.clone()));

    let rows = view
        .runs
        .iter()
        .map(|run| {
            let s = &run.summary;
            let mut row = Map::new();
            row.insert("run".into(), s.run.into());
            row.insert("proposal".into(), s.proposal.into());
            row.insert("attempt".into(), s.attempt.into());
            row.insert("state".into(), run_state_word(s.state).into());
            row.insert("reason".into(), s.reason.clone().into());
            row.insert("exit_code".into(), s.exit_code.into());
            row.insert("started_at".into(), s.started_at.clone().into());
            row.insert("ended_at".into(), s.ended_at.clone().into());
            row.insert("duration_s".into(), run.duration(now).into());
            for (name, value) in flat_params(&run.params) {
                if let Some((_, column)) = param_columns.iter().find(|(n, _)| *n == name) {
                    row.insert(column.clone(), value);
                }
            }
            if let Some(front) = &front {
                let on = front.runs.iter().any(|(n, _)| *n == s.run);
                row.insert(FRONT_COLUMN.into(), on.into());
            }
            if let Some(c) = &best_column {
                row.insert(c.clone(), run.best(goal).into());
            }
            for (key, column) in &summary_columns {
                if let Some(v) = run.latest.get(key) {
                    row.insert(column.clone(), v.clone());
                }
            }
            row
        })
        .chain(seeds.iter().map(|seed| {
            // A seed of the search (imported, or an earlier sweep's run):
            // no run of this sweep, so no run number; `reason` says whence.
            let mut row = Map::new();
            let state = if seed.imported {
                "imported"
            } else {
                "warm_start"
            };
            row.insert("state".into(), state.into());
            row.insert("reason".into(), seed.from.clone().into());
            for (name, value) in flat_params(&seed.params) {
                if let Some((_, column)) = param_columns.iter().find(|(n, _)| *n == name) {
                    row.insert(column.clone(), value);
                }
            }
            if let Some(c) = &best_column {
                row.insert(c.clone(), seed.value.into());
            }
            row
        }))
        .collect();
    (columns, rows)
}

fn write_csv(out: &mut Vec<u8>, columns: &[String], rows: &[Map<String, Value>]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(columns)?;
    for row in rows {
        w.write_record(columns.iter().map(|c| cell(row.get(c))))?;
    }
    w.flush()?;
    Ok(())
}

/// A value as a spreadsheet reads it: numbers in the shortest form that
/// reads back exactly, text as is, nothing for null, lists as JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn write_jsonl(out: &mut Vec<u8>, columns: &[String], rows: &[Map<String, Value>]) -> Result<()> {
    for row in rows {
        // Every column in every row, in column order (null where a run has none).
        let ordered: Vec<String> = columns
            .iter()
            .map(|c| {
                Ok(format!(
                    "{}:{}",
                    serde_json::to_string(c)?,
                    serde_json::to_string(row.get(c).unwrap_or(&Value::Null))?
                ))
            })
            .collect::<Result<_>>()?;
        writeln!(out, "{{{}}}", ordered.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_back_as_written() {
        assert_eq!(cell(Some(&json!(1e-5))), "0.00001");
        assert_eq!(cell(Some(&json!(0.1))), "0.1");
        assert_eq!(cell(Some(&json!("adam"))), "adam");
        assert_eq!(cell(Some(&json!(true))), "true");
        assert_eq!(cell(Some(&json!([1, 2]))), "[1,2]");
        assert_eq!(cell(Some(&Value::Null)), "");
        assert_eq!(cell(None), "");
        assert_eq!("0.00001".parse::<f64>().unwrap(), 1e-5);
    }

    #[test]
    fn jsonl_rows_keep_column_order_and_types() {
        let columns = vec!["run".to_owned(), "lr".to_owned(), "opt".to_owned()];
        let row: Map<String, Value> = json!({"opt": "sgd", "run": 2, "lr": 0.01})
            .as_object()
            .unwrap()
            .clone();
        let mut out = Vec::new();
        write_jsonl(&mut out, &columns, &[row]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"run\":2,\"lr\":0.01,\"opt\":\"sgd\"}\n"
        );
    }
}
