//! `sweepctl watch SWEEP`: progress as it happens, one line per change, until
//! the sweep ends.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use sweepd::store::Home;

use crate::Outcome;
use crate::view::{SweepView, resolve_sweep};

const EVERY: Duration = Duration::from_millis(500);

pub fn run(home: &Home, wanted: &str, json: bool) -> Result<Outcome> {
    let id = resolve_sweep(home, wanted)?;
    crate::status::note_when_offline(home);
    let mut out = std::io::stdout().lock();
    let mut last = String::new();
    loop {
        let view = SweepView::load(home, &id)?;
        let l = view.line();
        let ended = !view.record.state.is_active() && l.running == 0;
        let cap = l.run_cap.map_or(String::new(), |c| format!(" of {c}"));
        let best = match (&l.metric, l.best, &l.best_run) {
            (Some(m), Some(b), Some(r)) => format!("; best {m} {b} ({r})"),
            _ => String::new(),
        };
        let line = format!(
            "{}: {}; {} done{cap}, {} running, {} queued, {} failed{best}",
            l.id,
            l.state,
            l.counted,
            l.running,
            l.queued,
            l.failed + l.crashed
        );
        if line != last {
            if json {
                writeln!(out, "{}", serde_json::to_string(&l)?)?;
            } else {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            last = line;
        }
        if ended {
            return Ok(Outcome::Ok);
        }
        std::thread::sleep(EVERY);
    }
}
