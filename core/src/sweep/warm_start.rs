//! `sweepd.warm_start`: the finished runs of earlier sweeps, gathered when
//! a sweep is accepted, as seeds of its search (`seeds.jsonl`). A run is
//! taken with the parameters of the new space only; one whose value of a
//! parameter falls outside the new space, or that lacks a parameter that
//! has no default (a constant), or has no value of the metric, is left out
//! and counted in the note.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Rules, journal};
use crate::search::{Space, TrialState};
use crate::spec::{SweepSpec, WarmStart};
use crate::store::{Home, Seed, SweepDir};

/// What the warm start gathered: the seeds, where from, and what it left
/// out (counted by reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gathered {
    pub seeds: Vec<Seed>,
    /// `SWEEP (N runs)`, per earlier sweep.
    pub from: Vec<String>,
    /// `N runs: why`, per reason.
    pub left_out: Vec<String>,
}

/// The seeds of `spec`'s warm start, from the sweeps of `home` (or folders,
/// relative to `base`, where the file was submitted from); or why it
/// cannot be done (an unknown sweep, another metric).
pub fn gather(home: &Home, spec: &SweepSpec, base: Option<&Path>) -> Result<Gathered, String> {
    let mut gathered = Gathered::default();
    if spec.sweepd.warm_start.is_empty() {
        return Ok(gathered);
    }
    let Some(metric) = &spec.metric else {
        return Err(
            "`sweepd.warm_start` needs `metric`: the earlier runs are read by its values".into(),
        );
    };
    let space = Space::new(spec);
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    for start in &spec.sweepd.warm_start {
        let (name, dir) = locate(home, start, base)?;
        let at = |why: String| format!("`sweepd.warm_start` {name}: {why}");
        let theirs = journal::read_spec(&dir)
            .map_err(|e| at(format!("cannot read its sweep file: {e}")))?
            .map_err(at)?;
        let read = match (&start.metric, &theirs.metric) {
            (Some(named), _) => named.clone(),
            (None, Some(m)) if m.name == metric.name && m.goal == metric.goal => m.name.clone(),
            (None, their) => {
                let theirs = their.as_ref().map_or("none".to_owned(), |m| {
                    format!("`{}` ({})", m.name, m.goal.name())
                });
                return Err(at(format!(
                    "its metric is {theirs}, this sweep's `{}` ({}): name the metric to read from its runs, `{{sweep: {}, metric: NAME}}`",
                    metric.name,
                    metric.goal.name(),
                    start.sweep
                )));
            }
        };
        // Their runs read by the named metric, judged by this sweep's goal.
        let mut rules = Rules::of(&theirs);
        rules.metric = Some(crate::spec::Metric {
            name: read.clone(),
            ..metric.clone()
        });
        let record = dir
            .read_state()
            .map_err(|e| at(format!("cannot read it: {e}")))?;
        let (model, _) = journal::load(&dir, record, rules, |_, _| {})
            .map_err(|e| at(format!("cannot read it: {e}")))?;
        let mut taken = 0;
        for run in model.latest_runs().into_values() {
            if !matches!(
                super::trial_state(&run.summary),
                TrialState::Finished | TrialState::EarlyTerminated
            ) {
                continue;
            }
            let why = match (model.best_of(run), space.take(&run.params)) {
                (None, _) => format!("no value of `{read}`"),
                (Some(_), Err(why)) => why,
                (Some(value), Ok(params)) => {
                    gathered.seeds.push(Seed {
                        params,
                        value,
                        from: format!("{}/{}", name, run.summary.run),
                        imported: false,
                    });
                    taken += 1;
                    continue;
                }
            };
            *left_out.entry(why).or_default() += 1;
        }
        gathered.from.push(format!("{name} ({taken} runs)"));
    }
    gathered.left_out = left_out
        .into_iter()
        .map(|(why, n)| format!("{n} run{}: {why}", if n == 1 { "" } else { "s" }))
        .collect();
    Ok(gathered)
}

/// An earlier sweep by id (or a unique part of one) in the home, or by
/// folder (with a `/`): its name for messages and its folder.
fn locate(
    home: &Home,
    start: &WarmStart,
    base: Option<&Path>,
) -> Result<(String, SweepDir), String> {
    if !start.sweep.contains('/') {
        let id = home
            .find_sweep(&start.sweep)
            .map_err(|e| format!("`sweepd.warm_start`: {e}"))?;
        return Ok((id.to_string(), home.sweep(&id)));
    }
    let path = Path::new(&start.sweep);
    let path = match (path.is_absolute(), base) {
        (false, Some(base)) => base.join(path),
        _ => path.to_path_buf(),
    };
    if !path.join("state.json").is_file() {
        return Err(format!(
            "`sweepd.warm_start`: {} is not a sweep's folder (it has no state.json)",
            path.display()
        ));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&start.sweep)
        .to_owned();
    Ok((name, SweepDir::new(path)))
}

/// The seeds' note for the log and `events.jsonl`.
pub fn describe(gathered: &Gathered) -> String {
    let mut text = format!(
        "warm start: {} finished runs from {}",
        gathered.seeds.len(),
        gathered.from.join(", ")
    );
    if !gathered.left_out.is_empty() {
        text.push_str(&format!("; left out {}", gathered.left_out.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use super::*;
    use crate::spec::{Format, check};
    use crate::store::{
        RECORD_VERSION, RunState, RunSummary, Source, SweepId, SweepRecord, SweepState, Via, now,
    };

    const EARLIER: &str = "method: random\nmetric: {name: loss, goal: minimize}\n\
                           parameters:\n  lr: {min: 0.0, max: 1.0}\n  depth: {values: [1, 2, 3]}\n";

    /// An earlier sweep in `home` with these runs: (params, state, loss values).
    fn earlier(home: &Home, runs: &[(serde_json::Value, RunState, &[f64])]) -> SweepId {
        let id = SweepId::new(
            "earlier",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            7,
        );
        let record = SweepRecord {
            state: SweepState::Finished,
            ..SweepRecord::new(id.to_string(), 1)
        };
        let source = Source {
            version: RECORD_VERSION,
            original_name: "earlier.yaml".into(),
            via: Via::Submit,
            submitted_from: None,
            received_at: now(),
            bytes: EARLIER.len() as u64,
            claimed_as: None,
        };
        let dir = home.sweep(&id);
        std::fs::create_dir_all(home.sweeps()).unwrap();
        dir.create(EARLIER.as_bytes(), false, &source, &record, &[])
            .unwrap();
        for (i, (params, state, values)) in runs.iter().enumerate() {
            let n = i as u32 + 1;
            let summary = RunSummary {
                state: *state,
                ..RunSummary::queued(n, n, 1)
            };
            let run = dir.run(n);
            run.create(params.as_object().unwrap(), &summary).unwrap();
            let lines: String = values
                .iter()
                .map(|v| format!("{{\"loss\": {v}}}\n"))
                .collect();
            std::fs::write(run.metrics_file(), lines).unwrap();
        }
        id
    }

    fn spec(text: &str) -> SweepSpec {
        check(text, Format::Yaml).spec.expect("a valid sweep file")
    }

    #[test]
    fn finished_runs_in_the_new_space_become_seeds_and_the_rest_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let id = earlier(
            &home,
            &[
                (
                    json!({"lr": 0.1, "depth": 1}),
                    RunState::Finished,
                    &[0.9, 0.4, 0.6],
                ),
                (json!({"lr": 0.9, "depth": 2}), RunState::Finished, &[0.3]),
                (json!({"lr": 0.2, "depth": 3}), RunState::Failed, &[0.1]),
                (json!({"lr": 0.3, "depth": 3}), RunState::Finished, &[]),
                (json!({"lr": 0.4}), RunState::Finished, &[0.5]),
            ],
        );
        // A narrower lr, one more parameter with a default, one dropped
        // (depth): the second run falls outside, the fifth lacks nothing
        // now (depth is gone), the constant is filled in.
        let new = spec(
            "method: bayes\nmetric: {name: loss, goal: minimize}\n\
             parameters:\n  lr: {min: 0.0, max: 0.5}\n  act: {value: relu}\n\
             sweepd: {warm_start: [earlier]}\n",
        );
        let got = gather(&home, &new, None).unwrap();
        let seeds: Vec<(serde_json::Value, f64, &str)> = got
            .seeds
            .iter()
            .map(|s| {
                (
                    serde_json::Value::Object(s.params.clone()),
                    s.value,
                    s.from.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seeds,
            [
                (
                    json!({"act": "relu", "lr": 0.1}),
                    0.4,
                    format!("{id}/1").as_str()
                ),
                (
                    json!({"act": "relu", "lr": 0.4}),
                    0.5,
                    format!("{id}/5").as_str()
                ),
            ]
        );
        assert_eq!(got.from, [format!("{id} (2 runs)")]);
        assert_eq!(
            got.left_out,
            [
                "1 run: `lr` outside this sweep's space",
                "1 run: no value of `loss`"
            ]
        );
        assert!(describe(&got).contains("left out 1 run: `lr` outside"));

        // A parameter without a default that the earlier runs lack.
        let more = spec(
            "method: bayes\nmetric: {name: loss, goal: minimize}\nparameters:\n  \
             lr: {min: 0.0, max: 1.0}\n  wd: {min: 0.0, max: 0.1}\nsweepd: {warm_start: [earlier]}\n",
        );
        let got = gather(&home, &more, None).unwrap();
        assert!(got.seeds.is_empty());
        assert_eq!(
            got.left_out,
            ["3 runs: lacks `wd`", "1 run: no value of `loss`"]
        );
    }

    #[test]
    fn another_metric_is_an_error_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        earlier(
            &home,
            &[(json!({"lr": 0.1, "depth": 1}), RunState::Finished, &[0.4])],
        );
        let params = "parameters:\n  lr: {min: 0.0, max: 1.0}\n  depth: {values: [1, 2, 3]}\n";
        let maximize = spec(&format!(
            "method: bayes\nmetric: {{name: loss, goal: maximize}}\n{params}sweepd: {{warm_start: [earlier]}}\n"
        ));
        let err = gather(&home, &maximize, None).unwrap_err();
        assert!(
            err.contains("`loss` (minimize)") && err.contains("metric: NAME"),
            "{err}"
        );
        let named = spec(&format!(
            "method: bayes\nmetric: {{name: acc, goal: maximize}}\n{params}\
             sweepd: {{warm_start: [{{sweep: earlier, metric: loss}}]}}\n"
        ));
        let got = gather(&home, &named, None).unwrap();
        assert_eq!(got.seeds.len(), 1);
        assert_eq!(got.seeds[0].value, 0.4);

        let unknown = spec(&format!(
            "method: bayes\nmetric: {{name: loss, goal: minimize}}\n{params}sweepd: {{warm_start: [nosuch]}}\n"
        ));
        let err = gather(&home, &unknown, None).unwrap_err();
        assert!(err.contains("no sweep matches \"nosuch\""), "{err}");
        let folder = spec(&format!(
            "method: bayes\nmetric: {{name: loss, goal: minimize}}\n{params}sweepd: {{warm_start: [./not/a/sweep]}}\n"
        ));
        let err = gather(&home, &folder, Some(dir.path())).unwrap_err();
        assert!(err.contains("is not a sweep's folder"), "{err}");
    }
}
