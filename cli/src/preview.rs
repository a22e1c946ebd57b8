//! `sweepctl preview FILE [-n N] [--seed S] [--json]`

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use sweepd_core::search::{Bayes, Grid, Leaf, ParamSet, PointCount, Random, Space, given_runs};
use sweepd_core::spec::{self, Format, Method, SweepSpec};

use crate::Outcome;
use crate::table::{column_widths, write_row};

/// Random runs shown when `-n` is not given.
const DEFAULT_RANDOM_RUNS: u64 = 10;

/// Grid runs shown when `-n` is not given: every run of any grid a person
/// would run to the end, and not an endless stream for one they would not.
const DEFAULT_GRID_RUNS: u128 = 10_000;

pub fn run(path: &Path, n: Option<u64>, seed: Option<u64>, json: bool) -> Result<Outcome> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let validation = spec::check_bytes(&bytes, Format::from_path(path));
    // Problems go to stderr, so that stdout holds only the runs.
    for d in validation.diagnostics.iter() {
        let report = sweepd_core::spec::render(&name, &text, d);
        eprintln!("{}", crate::terminal::escape_report(&report));
    }
    let Some(spec) = validation.spec else {
        eprintln!("{name}: invalid, nothing to preview");
        return Ok(Outcome::Invalid);
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match spec.method {
        Method::Grid => preview_grid(&mut out, &name, &spec, n, json)?,
        Method::Random => preview_random(&mut out, &name, &spec, n, seed, json)?,
        Method::Bayes => preview_bayes(&mut out, &name, &spec, n, seed, json)?,
    }
    out.flush().context("cannot write to standard output")?;
    Ok(Outcome::Ok)
}

fn preview_grid(
    out: &mut impl Write,
    name: &str,
    spec: &SweepSpec,
    n: Option<u64>,
    json: bool,
) -> Result<()> {
    let grid = Grid::new(spec).context("the checked grid cannot be listed")?;
    let size = grid.count();
    // What run_cap lets run: `None` while that is the whole grid.
    let capped = spec
        .run_cap
        .map(u128::from)
        .filter(|&cap| size.exceeds(cap));
    let runnable = capped.map_or(size, PointCount::Exact);
    let shown = runnable.min(n.map_or(DEFAULT_GRID_RUNS, u128::from));
    let cut_by_default = n.is_none() && runnable.exceeds(shown);
    let runs = grid
        .points()
        .take(usize::try_from(shown).unwrap_or(usize::MAX));
    if json {
        if cut_by_default {
            eprintln!("{name}: the first {shown} of {runnable} runs; pass -n to see more");
        }
        return write_json(out, runs);
    }
    let plural = if size == PointCount::Exact(1) {
        ""
    } else {
        "s"
    };
    let mut header = format!("{name}: grid search over {size} point{plural}");
    match grid.skipped() {
        Some(0) => {}
        Some(skipped) => header.push_str(&format!(
            " ({skipped} more skipped: they break a constraint)"
        )),
        None => header.push_str(" before constraints (too many to count those they skip)"),
    }
    if let Some(cap) = capped {
        header.push_str(&format!("; run_cap stops it after {cap}"));
    }
    if runnable.exceeds(shown) {
        header.push_str(&format!("; showing the first {shown}"));
        if cut_by_default {
            header.push_str(" (pass -n to see more)");
        }
    }
    writeln!(out, "{}", crate::terminal::escape(&header))?;
    write_table(out, &Space::new(spec), runs)
}

fn preview_random(
    out: &mut impl Write,
    name: &str,
    spec: &SweepSpec,
    n: Option<u64>,
    seed: Option<u64>,
    json: bool,
) -> Result<()> {
    let (seed, chosen) = pick_seed(seed.or(spec.sweepd.seed));
    let wanted = n.unwrap_or(DEFAULT_RANDOM_RUNS);
    let shown = spec.run_cap.map_or(wanted, |cap| wanted.min(cap));
    let random = Random::new(spec, seed);
    // The runs the file gives come first; the search's own draws follow,
    // each from its run's stream.
    let given = given_runs(spec, seed).map_err(anyhow::Error::msg)?;
    let from = given.len() as u64;
    let runs = given
        .into_iter()
        .chain((from..).map(|i| random.draw(i)))
        .take(shown as usize);
    if json {
        return write_json(out, runs);
    }
    let extent = match spec.run_cap {
        Some(cap) => format!("run_cap {cap}"),
        None => "unbounded (no run_cap)".to_owned(),
    };
    writeln!(
        out,
        "{name}: random search, {extent}; {}; the first {shown} runs:",
        seed_note(seed, chosen)
    )?;
    write_table(out, &Space::new(spec), runs)
}

fn preview_bayes(
    out: &mut impl Write,
    name: &str,
    spec: &SweepSpec,
    n: Option<u64>,
    seed: Option<u64>,
    json: bool,
) -> Result<()> {
    let (seed, chosen) = pick_seed(seed.or(spec.sweepd.seed));
    // The runs the file gives take the first places of the design.
    let given = given_runs(spec, seed).map_err(anyhow::Error::msg)?;
    let design = Bayes::new(spec, seed).initial_design();
    let known = design.len().max(given.len()) as u64;
    let limit = [n, spec.run_cap]
        .into_iter()
        .flatten()
        .fold(known, u64::min);
    let skip = given.len();
    let runs = given
        .into_iter()
        .chain(design.into_iter().skip(skip))
        .take(limit as usize);
    if json {
        return write_json(out, runs);
    }
    writeln!(
        out,
        "{name}: bayes search; {}; its initial design, the first {limit} runs \
         (after them, each run is chosen by the model from the results of the runs before it):",
        seed_note(seed, chosen)
    )?;
    write_table(out, &Space::new(spec), runs)
}

/// The seed asked for, else a fresh one (and whether it was chosen here).
fn pick_seed(asked: Option<u64>) -> (u64, bool) {
    match asked {
        Some(seed) => (seed, false),
        None => (rand_seed(), true),
    }
}

fn seed_note(seed: u64, chosen: bool) -> String {
    if chosen {
        format!(
            "seed {seed}, chosen at random: pass --seed {seed} or set sweepd.seed to see these runs again"
        )
    } else {
        format!("seed {seed}")
    }
}

/// A fresh seed that can also be written as `sweepd.seed` (YAML integers stop at 2^63 - 1).
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // A fresh RandomState is seeded from the OS: enough for a preview seed.
    RandomState::new().hash_one(std::time::SystemTime::now()) >> 1
}

fn write_json(out: &mut impl Write, runs: impl Iterator<Item = ParamSet>) -> Result<()> {
    for run in runs {
        writeln!(out, "{}", Value::Object(run))?;
    }
    Ok(())
}

/// Rows whose widths set the columns; later rows are streamed, not held.
const WIDTH_SAMPLE: usize = 1000;

fn write_table(
    out: &mut impl Write,
    space: &Space,
    runs: impl Iterator<Item = ParamSet>,
) -> Result<()> {
    let mut header = vec!["run".to_owned()];
    header.extend(space.leaves.iter().map(Leaf::name));
    let mut rows = runs.enumerate().map(|(i, run)| {
        let mut row = vec![(i + 1).to_string()];
        row.extend(
            space
                .leaves
                .iter()
                .map(|leaf| match Space::lookup(&run, &leaf.path) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    // Not a parameter of this run (its condition does not hold).
                    None => "-".to_owned(),
                }),
        );
        row
    });
    let first: Vec<Vec<String>> = rows.by_ref().take(WIDTH_SAMPLE).collect();
    let widths = column_widths(&header, &first);
    write_row(out, &header, &widths)?;
    for row in first.iter().map(Vec::as_slice) {
        write_row(out, row, &widths)?;
    }
    for row in rows {
        write_row(out, &row, &widths)?;
    }
    Ok(())
}
