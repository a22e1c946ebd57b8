//! `sweepctl gpus`: the GPUs sweepd would see (NVML, else nvidia-smi), with
//! their memory and utilisation, or why there are none.

use std::io::Write;

use anyhow::Result;
use sweepd::gpu::{Probe, ProbeConfig};

use crate::Outcome;
use crate::table::write_rows;

pub fn run(json: bool) -> Result<Outcome> {
    let snapshot = Probe::new(ProbeConfig::from_env()).snapshot();
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&snapshot)?)?;
        return Ok(Outcome::Ok);
    }
    let na = || "n/a".to_owned();
    if snapshot.gpus.is_empty() {
        writeln!(out, "no GPUs")?;
    } else {
        let header = ["gpu", "uuid", "name", "memory used", "utilization"].map(String::from);
        let rows: Vec<Vec<String>> = snapshot
            .gpus
            .iter()
            .map(|g| {
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
                ]
            })
            .collect();
        write_rows(&mut out, &header, &rows)?;
    }
    writeln!(out, "source: {}", snapshot.source)?;
    if let Some(note) = &snapshot.note {
        writeln!(out, "note: {note}")?;
    }
    Ok(Outcome::Ok)
}
