//! `sweepctl report SWEEP [-o FILE]`: one self-contained HTML file about a
//! sweep (parallel coordinates, parameter importance, curves, a table of
//! runs, the best run's parameters), readable offline from disk.
//!
//! - `data`: what the report shows, worked out from the sweep's folder;
//! - `importance`: the random forest and the correlations;
//! - `html`: the page, with its data, style and script inlined.

mod data;
mod html;
mod importance;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use sweepd_core::store::{Home, atomic};

use crate::Outcome;
use crate::view::{SweepView, resolve_sweep};

pub fn run(home: &Home, wanted: &str, output: Option<PathBuf>) -> Result<Outcome> {
    let id = resolve_sweep(home, wanted)?;
    let view = SweepView::load(home, &id)?;
    let data = data::ReportData::new(&view, SystemTime::now());
    let page = html::render(&data)?;
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{id}.html")));
    write(&path, page.as_bytes())?;
    let runs = data.runs.len();
    eprintln!(
        "wrote {} ({}, {runs} run{}{})",
        path.display(),
        size(page.len()),
        if runs == 1 { "" } else { "s" },
        if data.sweep.active {
            format!(
                "; a snapshot at {}: the sweep is {}",
                data.sweep.taken_at, data.sweep.state
            )
        } else {
            String::new()
        }
    );
    Ok(Outcome::Ok)
}

/// Whole or not at all: a report being rewritten is never seen half written.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b < 10 * 1024 => format!("{b} bytes"),
        b if b < 10 * 1024 * 1024 => format!("{} KiB", b / 1024),
        b => format!("{} MiB", b / (1024 * 1024)),
    }
}
