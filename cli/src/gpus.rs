//! `sweepctl gpus`: the GPUs as the running sweepd last saw them (its
//! `gpus.json`), with the run of ours holding each (or the runs sharing it); without a running sweepd,
//! a look of its own (NVML, else nvidia-smi), or why there are none.

use std::io::Write;

use anyhow::Result;
use sweepd::gpu::{HeldGpu, Probe, ProbeConfig, Report};
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::daemon_file;
use crate::table::write_rows;

pub fn run(home: &Home, json: bool) -> Result<Outcome> {
    let from_daemon: Option<Report> = daemon_file(home, &home.gpus_file());
    let (report, seen_by) = match from_daemon {
        Some(report) => {
            let by = format!("sweepd, at {}", report.taken_at);
            (report, by)
        }
        None => {
            let snapshot = Probe::new(ProbeConfig::from_env()).snapshot();
            let report = Report {
                version: 1,
                taken_at: String::new(),
                source: snapshot.source,
                note: snapshot.note,
                gpus: snapshot
                    .gpus
                    .into_iter()
                    .map(|gpu| HeldGpu {
                        gpu,
                        held_by: None,
                        shared: None,
                    })
                    .collect(),
            };
            (report, "sweepctl (sweepd is not running)".to_owned())
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(Outcome::Ok);
    }
    let na = || "n/a".to_owned();
    if report.gpus.is_empty() {
        writeln!(out, "no GPUs")?;
    } else {
        let header = [
            "gpu",
            "uuid",
            "name",
            "memory used",
            "utilization",
            "held by",
        ]
        .map(String::from);
        let rows: Vec<Vec<String>> = report
            .gpus
            .iter()
            .map(|h| {
                let g = &h.gpu;
                let memory = match (g.memory_used_mib, g.memory_total_mib) {
                    (Some(used), Some(total)) => format!("{used} / {total} MiB"),
                    (None, Some(total)) => format!("n/a / {total} MiB"),
                    _ => na(),
                };
                vec![
                    g.index.to_string(),
                    g.uuid.clone(),
                    g.name.clone(),
                    memory,
                    g.utilization_pct.map_or_else(na, |u| format!("{u} %")),
                    match (&h.held_by, h.shared) {
                        (None, _) => "-".to_owned(),
                        (Some(runs), None) => runs.clone(),
                        // 0.75 of it: three runs of 0.25.
                        (Some(runs), Some(used)) => format!("{runs} ({used:.2} shared)"),
                    },
                ]
            })
            .collect();
        write_rows(&mut out, &header, &rows)?;
    }
    writeln!(
        out,
        "source: {}; seen by {seen_by}",
        crate::terminal::text(&report.source)
    )?;
    if let Some(note) = &report.note {
        writeln!(out, "note: {}", crate::terminal::escape_lines(note))?;
    }
    Ok(Outcome::Ok)
}
