//! `sweepctl import SWEEP FILE`: finished runs from a file, as seeds of a
//! sweep's search (docs/continuing.md, "Import history"). Two formats, by
//! the file's name: `.csv` (sweepctl export's, or W&B's runs table as its
//! UI exports it) and `.jsonl` (sweepctl export's). A row is one run:
//!
//! - each parameter of the sweep from the column of its dotted name
//!   (`optimizer.lr`), else `param.<name>` or `config.<name>` (a JSON
//!   file's nested objects too); a constant may be left out;
//! - the metric from `best_<metric>` (export's), else `<metric>` (W&B's
//!   summary column, export's last value), else `summary.<metric>`;
//! - `state` (or W&B's `State`), when there is one, must be `finished`.
//!
//! Every other column is left alone. A row that cannot be read, is not
//! finished, lacks a value or falls outside the space is skipped and
//! reported by its line; the rest are imported.

use std::path::Path;

use serde_json::{Map, Value};

use crate::search::{ParamSet, Space};
use crate::spec::SweepSpec;
use crate::store::Seed;

/// The largest file imported.
pub const MAX_BYTES: u64 = 64 << 20;

/// What a file gave: its runs as seeds, and the rows skipped (`line N: why`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub seeds: Vec<Seed>,
    pub skipped: Vec<String>,
}

/// The finished runs of the file at `path` for a sweep of `spec`; or why
/// the file cannot be read at all.
pub fn read(path: &Path, spec: &SweepSpec) -> Result<Imported, String> {
    let name = path.display().to_string();
    let Some(metric) = &spec.metric else {
        return Err("the sweep has no `metric`: imported runs are read by its values".into());
    };
    // sweepd reads it between its other work: a bound keeps that short.
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {name}: {e}"))?
        .len();
    if size > MAX_BYTES {
        return Err(format!(
            "{name} is {size} bytes; an imported file is at most {MAX_BYTES} (64 MiB)"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let rows = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => csv_rows(&bytes, &name)?,
        Some("jsonl") => jsonl_rows(&bytes),
        _ => {
            return Err(format!(
                "{name}: not a .csv or .jsonl file (sweepctl export's formats, or W&B's runs table as CSV)"
            ));
        }
    };
    let space = Space::new(spec);
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or(&name);
    let mut imported = Imported::default();
    for (line, row) in rows {
        match row.and_then(|row| seed(&space, &metric.name, &row)) {
            Ok((params, value)) => imported.seeds.push(Seed {
                params,
                value,
                from: format!("{file}:{line}"),
                imported: true,
            }),
            Err(why) => imported.skipped.push(format!("line {line}: {why}")),
        }
    }
    Ok(imported)
}

type Row = Map<String, Value>;
/// A row by its line: read, or why it could not be.
type Lined = (u64, Result<Row, String>);

/// Each record with its line: a header, then rows of the same width.
fn csv_rows(bytes: &[u8], name: &str) -> Result<Vec<Lined>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{name}: not a CSV file: {e}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.len() < 2 {
        return Err(format!(
            "{name}: not a CSV file of runs: its first line has {} column(s)",
            header.len()
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let (line, row) = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let row = header
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.trim().is_empty())
                    .map(|(column, cell)| (column.clone(), Value::String(cell.to_owned())))
                    .collect();
                (line, Ok(row))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err(format!("cannot read it: {e}")))
            }
        };
        rows.push((line, row));
    }
    Ok(rows)
}

fn jsonl_rows(bytes: &[u8]) -> Vec<Lined> {
    String::from_utf8_lossy(bytes)
        .lines()
        .enumerate()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(i, text)| {
            let row = match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(row)) => Ok(row),
                Ok(other) => Err(format!("expected a JSON object, found {other}")),
                Err(e) => Err(format!("not JSON: {e}")),
            };
            (i as u64 + 1, row)
        })
        .collect()
}

/// A row's parameters (as the space has them) and its metric value.
fn seed(space: &Space, metric: &str, row: &Row) -> Result<(ParamSet, f64), String> {
    if let Some(state) = row.get("state").or_else(|| row.get("State")) {
        let state = state.as_str().unwrap_or_default();
        if !state.eq_ignore_ascii_case("finished") {
            return Err(format!("its state is {state:?}, not finished"));
        }
    }
    let value = [
        format!("best_{metric}"),
        metric.to_owned(),
        format!("summary.{metric}"),
    ]
    .iter()
    .find_map(|column| row.get(column))
    .and_then(number)
    .ok_or_else(|| format!("no value of `{metric}`"))?;
    // Each parameter's cell, typed as it reads (`4`, `0.5`, `true`), or as
    // text where the typed value is not one the parameter takes.
    let mut params = ParamSet::new();
    for leaf in &space.leaves {
        let name = leaf.name();
        let cell = [
            name.clone(),
            format!("param.{name}"),
            format!("config.{name}"),
        ]
        .iter()
        .find_map(|column| row.get(column))
        .or_else(|| Space::lookup(row, &leaf.path));
        let Some(cell) = cell else { continue };
        let value = match cell {
            Value::String(text) => {
                let typed = serde_json::from_str::<Value>(text).ok();
                match typed {
                    Some(v) if crate::search::admits(&leaf.distribution, &v).is_ok() => v,
                    _ => cell.clone(),
                }
            }
            other => other.clone(),
        };
        insert(&mut params, &leaf.path, value);
    }
    Ok((space.take(&params)?, value))
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    }
    .filter(|x| x.is_finite())
}

fn insert(params: &mut ParamSet, path: &[String], value: Value) {
    let (last, groups) = path.split_last().expect("a leaf has a name");
    let mut map = params;
    for group in groups {
        map = map
            .entry(group.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("groups are objects");
    }
    map.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::{Format, check};

    /// The tutorial's sweep (examples/mnist-tutorial.yaml's parameters).
    fn tutorial() -> SweepSpec {
        let text = "method: random\nmetric: {name: loss, goal: minimize}\nparameters:\n  \
                    optimizer: {values: [adam, sgd]}\n  fc_layer_size: {values: [128, 256, 512]}\n  \
                    dropout: {values: [0.3, 0.4, 0.5]}\n  epochs: {value: 1}\n  \
                    learning_rate: {distribution: uniform, min: 0, max: 0.1}\n  \
                    batch_size: {distribution: q_log_uniform_values, q: 8, min: 32, max: 256}\n";
        check(text, Format::Yaml).spec.expect("valid")
    }

    fn file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn wandbs_runs_table_gives_its_finished_runs_and_says_why_not_the_rest() {
        let (_dir, path) = file(
            "wandb-runs.csv",
            include_str!("../../../tests/fixtures/wandb-runs.csv"),
        );
        let got = read(&path, &tutorial()).unwrap();
        let seeds: Vec<(Value, f64, &str)> = got
            .seeds
            .iter()
            .map(|s| (Value::Object(s.params.clone()), s.value, s.from.as_str()))
            .collect();
        assert_eq!(
            seeds,
            [
                (
                    json!({"batch_size": 128, "dropout": 0.4, "epochs": 1, "fc_layer_size": 256,
                           "learning_rate": 0.0123, "optimizer": "adam"}),
                    0.4012,
                    "wandb-runs.csv:2"
                ),
                (
                    json!({"batch_size": 64, "dropout": 0.3, "epochs": 1, "fc_layer_size": 512,
                           "learning_rate": 0.0456, "optimizer": "sgd"}),
                    0.2875,
                    "wandb-runs.csv:3"
                ),
            ]
        );
        assert!(got.seeds.iter().all(|s| s.imported));
        assert_eq!(
            got.skipped,
            [
                "line 4: its state is \"crashed\", not finished",
                "line 5: no value of `loss`",
                "line 6: lacks `learning_rate`",
                "line 7: `optimizer` outside this sweep's space",
                "line 8: its state is \"running\", not finished",
            ]
        );
    }

    #[test]
    fn jsonl_rows_read_flat_or_nested_and_bad_lines_are_skipped() {
        let (_dir, path) = file(
            "runs.jsonl",
            "{\"run\": 1, \"state\": \"finished\", \"optimizer\": \"adam\", \"fc_layer_size\": 128, \
             \"dropout\": 0.5, \"epochs\": 1, \"learning_rate\": 0.01, \"batch_size\": 32, \"best_loss\": 0.5, \"loss\": 0.7}\n\
             not json\n\
             [1, 2]\n\
             {\"optimizer\": \"sgd\", \"fc_layer_size\": 256, \"dropout\": 0.3, \"learning_rate\": 0.02, \
             \"batch_size\": 40, \"loss\": 0.25}\n",
        );
        let got = read(&path, &tutorial()).unwrap();
        assert_eq!(got.seeds.len(), 2);
        assert_eq!(got.seeds[0].value, 0.5, "best_<metric> first");
        assert_eq!(
            got.seeds[1].params["epochs"],
            json!(1),
            "the constant filled in"
        );
        assert_eq!(got.seeds[1].from, "runs.jsonl:4");
        assert_eq!(got.skipped.len(), 2);
        assert!(
            got.skipped[0].starts_with("line 2: not JSON"),
            "{:?}",
            got.skipped
        );
        assert!(got.skipped[1].starts_with("line 3: expected a JSON object"));
    }

    #[test]
    fn a_file_that_is_not_runs_is_refused_whole() {
        let spec = tutorial();
        let (_d1, binary) = file("runs.csv", "\u{0}\u{1}\u{2}garbage");
        let err = read(&binary, &spec).unwrap_err();
        assert!(err.contains("not a CSV file of runs"), "{err}");
        let (_d2, other) = file("runs.txt", "a,b\n1,2\n");
        let err = read(&other, &spec).unwrap_err();
        assert!(err.contains("not a .csv or .jsonl file"), "{err}");
        let (_d3, ragged) = file("ragged.csv", "optimizer,loss\nadam,0.1,extra\n");
        let got = read(&ragged, &spec).unwrap();
        assert!(got.seeds.is_empty());
        assert!(
            got.skipped[0].starts_with("line 2: cannot read it"),
            "{:?}",
            got.skipped
        );
    }

    #[test]
    fn a_file_over_the_bound_is_refused_before_it_is_read() {
        let (_dir, path) = file("huge.csv", "optimizer,loss\n");
        // Sparse: its length says 64 MiB + 1 without writing them.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let err = read(&path, &tutorial()).unwrap_err();
        assert!(err.contains("at most 67108864 (64 MiB)"), "{err}");
        f.set_len(MAX_BYTES).unwrap();
        // At the bound it is read: a header and NUL bytes, skipped by line.
        assert!(read(&path, &tutorial()).unwrap().seeds.is_empty());
    }
}
