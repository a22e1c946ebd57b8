//! `sweepctl status [SWEEP]` and `sweepctl show RUN`, read from the folders:
//! they work whether or not the daemon runs (and say which).

use std::io::Write;

use anyhow::Result;
use serde_json::{Value, json};
use sweepd_core::store::{Home, RunId};

use crate::Outcome;
use crate::client::Client;
use crate::table::write_rows;
use crate::terminal;
use crate::view::{
    SweepView, flat_params, resolve_run, resolve_sweep, run_state_word, show_value, sweep_ids,
};

pub fn status(home: &Home, sweep: Option<&str>, json: bool) -> Result<Outcome> {
    let daemon = Client::answers(home);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match sweep {
        None => {
            let views: Vec<SweepView> = sweep_ids(home)?
                .iter()
                .filter_map(|id| SweepView::load(home, id).ok())
                .collect();
            // A full disk may keep sweepd from saying so in the sweeps' records.
            let disk_full = sweepd_core::store::space::shortage(home.root());
            if json {
                let lines: Vec<_> = views.iter().map(SweepView::line).collect();
                writeln!(
                    out,
                    "{}",
                    json!({"daemon_running": daemon, "disk_full": disk_full, "sweeps": lines})
                )?;
                return Ok(Outcome::Ok);
            }
            if !daemon {
                writeln!(
                    out,
                    "sweepd is not running on {} (read from its folders)",
                    terminal::escape(&home.root().display().to_string())
                )?;
            }
            if let Some(why) = disk_full {
                writeln!(out, "warning: {}", terminal::text(&why))?;
            }
            if views.is_empty() {
                writeln!(
                    out,
                    "no sweeps yet: drop a sweep file into {}",
                    terminal::escape(&home.inbox().display().to_string())
                )?;
                return Ok(Outcome::Ok);
            }
            let header: Vec<String> = [
                "sweep", "name", "method", "state", "runs", "best", "best run",
            ]
            .map(str::to_owned)
            .to_vec();
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    let l = v.line();
                    let cap = l.total.map_or(String::new(), |c| format!(" of {c}"));
                    let runs = format!(
                        "{} done{cap}, {} running, {} failed",
                        l.counted,
                        l.running,
                        l.failed + l.crashed
                    );
                    let best = match (&l.metric, l.best) {
                        (Some(m), Some(b)) => format!("{} {b}", terminal::name(m)),
                        _ => String::new(),
                    };
                    vec![
                        l.id,
                        terminal::name(&l.name),
                        l.method,
                        l.state,
                        runs,
                        best,
                        l.best_run.map(|r| short_run(&r)).unwrap_or_default(),
                    ]
                })
                .collect();
            write_rows(&mut out, &header, &rows)?;
        }
        Some(wanted) => {
            let id = resolve_sweep(home, wanted)?;
            let view = SweepView::load(home, &id)?;
            let goal = view.goal();
            if json {
                let runs: Vec<_> = view
                    .runs
                    .iter()
                    .map(|r| json!({"summary": r.summary, "params": r.params, "best": r.best(goal), "values": r.values.len()}))
                    .collect();
                let mut answer =
                    json!({"daemon_running": daemon, "sweep": view.line(), "runs": runs});
                if let Some(front) = view.model.front() {
                    answer["front"] = front_json(&front);
                }
                writeln!(out, "{answer}")?;
                return Ok(Outcome::Ok);
            }
            let line = view.line();
            writeln!(
                out,
                "{} ({}, {}): {}{}{}",
                line.id,
                terminal::name(&line.name),
                line.method,
                line.state,
                line.reason
                    .as_deref()
                    .map(|r| format!(": {}", terminal::text(r)))
                    .unwrap_or_default(),
                if daemon {
                    ""
                } else {
                    "  [sweepd is not running]"
                }
            )?;
            if let Some(why) = &line.waiting {
                writeln!(out, "{}", terminal::text(why))?;
            }
            if let Some(problem) = &line.executor_problem {
                writeln!(out, "{}", terminal::text(problem))?;
            }
            if let Some(cap) = line.run_cap {
                writeln!(out, "run_cap {cap}: {} counted so far", line.counted)?;
            }
            if let Some(mib) = line.gpu_memory_mib {
                writeln!(
                    out,
                    "a run was seen using up to {mib} MiB of GPU memory: its next runs go where that and a fifth more are free (unless the file sets gpu_memory)"
                )?;
            }
            if line.seeds > 0 {
                let seeds = view.model.seeds();
                let imported = seeds.iter().filter(|s| s.imported).count();
                writeln!(
                    out,
                    "seeded by {} finished run{} from elsewhere ({} from earlier sweeps, {imported} imported): its search learns from them; they are not its runs",
                    line.seeds,
                    if line.seeds == 1 { "" } else { "s" },
                    line.seeds - imported
                )?;
            }
            // Every run's parameter names: with conditions, runs differ.
            let mut names: Vec<String> = Vec::new();
            for r in &view.runs {
                for (k, _) in flat_params(&r.params) {
                    if !names.contains(&k) {
                        names.push(k);
                    }
                }
            }
            let front = view.model.front();
            let objectives: Vec<String> = front
                .as_ref()
                .map(|f| f.objectives.iter().map(|o| o.name.clone()).collect())
                .unwrap_or_default();
            let mut header: Vec<String> = vec!["run".into(), "state".into()];
            header.extend(names.iter().map(|n| terminal::name(n)));
            if objectives.is_empty() {
                header.push(
                    line.metric
                        .as_deref()
                        .map_or_else(|| "metric".into(), terminal::name),
                );
            } else {
                header.extend(objectives.iter().map(|o| terminal::name(o)));
                header.push("front".into());
            }
            let rows: Vec<Vec<String>> = view
                .runs
                .iter()
                .map(|r| {
                    let mut row = vec![r.summary.run.to_string(), run_state_word(r.summary.state)];
                    let flat = flat_params(&r.params);
                    row.extend(names.iter().map(|n| {
                        flat.iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| terminal::name(&show_value(v)))
                            .unwrap_or_default()
                    }));
                    match &front {
                        None => row.push(r.best(goal).map(|b| b.to_string()).unwrap_or_default()),
                        Some(front) => {
                            row.extend(objectives.iter().map(|o| {
                                r.latest
                                    .get(o)
                                    .and_then(Value::as_f64)
                                    .map(|v| v.to_string())
                                    .unwrap_or_default()
                            }));
                            let on = front.runs.iter().any(|(n, _)| *n == r.summary.run);
                            let broke = front.infeasible.contains(&r.summary.run);
                            row.push(
                                if on {
                                    "*"
                                } else if broke {
                                    "breaks a bound"
                                } else {
                                    ""
                                }
                                .into(),
                            );
                        }
                    }
                    row
                })
                .collect();
            write_rows(&mut out, &header, &rows)?;
            if let Some(front) = &front {
                let goals: Vec<String> = front
                    .objectives
                    .iter()
                    .map(|o| format!("{} {}", terminal::name(&o.name), o.goal.name()))
                    .collect();
                let runs: Vec<String> = front.runs.iter().map(|(n, _)| n.to_string()).collect();
                writeln!(
                    out,
                    "Pareto front ({}): {}",
                    goals.join(", "),
                    if runs.is_empty() {
                        "no finished run with every objective yet".to_owned()
                    } else {
                        format!(
                            "run{} {}",
                            if runs.len() == 1 { "" } else { "s" },
                            runs.join(", ")
                        )
                    }
                )?;
            }
        }
    }
    Ok(Outcome::Ok)
}

/// `{"objectives": [{name, goal}], "runs": [{"run": 3, "values": [..]}], "infeasible": [..]}`.
pub fn front_json(front: &sweepd_core::sweep::front::Front) -> serde_json::Value {
    json!({
        "objectives": front
            .objectives
            .iter()
            .map(|o| json!({"name": o.name, "goal": o.goal.name()}))
            .collect::<Vec<_>>(),
        "runs": front
            .runs
            .iter()
            .map(|(n, values)| json!({"run": n, "values": values}))
            .collect::<Vec<_>>(),
        "infeasible": front.infeasible,
    })
}

fn short_run(run: &str) -> String {
    run.rsplit_once('/')
        .map_or(run.to_owned(), |(_, n)| format!("#{n}"))
}

/// Say on stderr that what follows is read from the folders alone.
pub fn note_when_offline(home: &Home) {
    if !Client::answers(home) {
        eprintln!(
            "(sweepd is not running on {}: read from its folders)",
            terminal::escape(&home.root().display().to_string())
        );
    }
}

pub fn show(home: &Home, wanted: &str, json: bool) -> Result<Outcome> {
    let (id, n) = resolve_run(home, wanted)?;
    note_when_offline(home);
    let view = SweepView::load(home, &id)?;
    let run = view
        .runs
        .iter()
        .find(|r| r.summary.run == n)
        .ok_or_else(|| anyhow::anyhow!("run {n} has no summary yet"))?;
    let run_id = RunId {
        sweep: id.clone(),
        run: n,
    };
    let mut out = std::io::stdout().lock();
    if json {
        let value = json!({
            "run": run_id.to_string(),
            "summary": run.summary,
            "params": run.params,
            "best": run.best(view.goal()),
            "folder": run.dir.root(),
        });
        writeln!(out, "{value}")?;
        return Ok(Outcome::Ok);
    }
    let s = &run.summary;
    writeln!(out, "run       {run_id}")?;
    writeln!(
        out,
        "state     {}{}",
        run_state_word(s.state),
        s.reason
            .as_deref()
            .map(|r| format!(" ({})", terminal::text(r)))
            .unwrap_or_default()
    )?;
    if let Some(job) = &s.slurm {
        writeln!(
            out,
            "slurm     job {}{}{}{}",
            job.job_id,
            job.state
                .as_deref()
                .map(|st| format!(", {}", terminal::name(st)))
                .unwrap_or_default(),
            job.reason
                .as_deref()
                .map(|r| format!(" ({})", terminal::text(r)))
                .unwrap_or_default(),
            job.node
                .as_deref()
                .map(|n| format!(" on {}", terminal::name(n)))
                .unwrap_or_default()
        )?;
    }
    if let Some(code) = s.exit_code {
        writeln!(out, "exit      {code}")?;
    }
    if let Some(signal) = s.signal {
        writeln!(out, "signal    {signal}")?;
    }
    writeln!(
        out,
        "attempt   {} of proposal {}{}",
        s.attempt,
        s.proposal,
        s.retried_by
            .map(|r| format!(", run again as #{r}"))
            .unwrap_or_default()
    )?;
    writeln!(out, "queued    {}", s.queued_at)?;
    if let Some(t) = &s.started_at {
        writeln!(out, "started   {t}")?;
    }
    if let Some(t) = &s.ended_at {
        writeln!(out, "ended     {t}")?;
    }
    if let Some(m) = &s.metric {
        writeln!(
            out,
            "metric    {}: {} values, last {}, best {}",
            terminal::name(&m.name),
            m.count,
            or_none(m.last),
            or_none(m.best)
        )?;
    } else if !run.values.is_empty() {
        writeln!(
            out,
            "metric    {} values so far, best {}",
            run.values.len(),
            or_none(run.best(view.goal()))
        )?;
    }
    if let Some(j) = &s.early_terminate {
        let what = if j.strict {
            "its value at the band"
        } else {
            "its best value so far"
        };
        let rank = sweepd_core::early_stop::rank_index(j.eta, j.runs_at_band) + 1;
        writeln!(
            out,
            "early     stopped by hyperband after {} values: at band {}, {what} {} is worse than the \
             threshold {}\n          (the value ranked {rank} of the {} runs' values at band {}, \
             keeping the best 1/{} of them)",
            j.iteration, j.band, j.value, j.threshold, j.runs_at_band, j.band, j.eta
        )?;
    }
    writeln!(
        out,
        "folder    {}",
        terminal::escape(&run.dir.root().display().to_string())
    )?;
    writeln!(out, "params")?;
    for (k, v) in flat_params(&run.params) {
        writeln!(
            out,
            "  {} = {}",
            terminal::name(&k),
            terminal::text(&show_value(&v))
        )?;
    }
    Ok(Outcome::Ok)
}

/// A metric value, or `none` where there is none yet.
fn or_none(value: Option<f64>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| v.to_string())
}
