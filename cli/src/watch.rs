//! `sweepctl watch SWEEP`: a sweep's progress as it happens, until it ends.
//!
//! On a terminal, a panel redrawn in place (runs done, running and queued
//! out of the cap, the best value so far, the running runs' latest metric,
//! the latest events). Elsewhere (a pipe, a file), one line per event of the
//! sweep's history. With `--json`, one JSON object per change of the
//! sweep's headline. It wakes on changes to the sweep's folder (inotify),
//! and at least once a second.

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use crossterm::{cursor, queue, terminal};
use notify::{RecursiveMode, Watcher};
use sweepd_core::store::{Event, EventKind, Home, RunState};

use crate::Outcome;
use crate::terminal as safe;
use crate::view::{RunView, SweepLine, SweepView, flat_params, resolve_sweep, show_value};

/// The longest wait between two looks, folder events or not.
const TICK: Duration = Duration::from_secs(1);
/// After a change, more changes are gathered this long before a look.
const SETTLE: Duration = Duration::from_millis(100);
/// Recent events the panel shows.
const RECENT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Panel,
    Lines,
    Json,
}

pub fn run(home: &Home, wanted: &str, json: bool) -> Result<Outcome> {
    let id = resolve_sweep(home, wanted)?;
    crate::status::note_when_offline(home);
    let mode = if json {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Panel
    } else {
        Mode::Lines
    };
    let dir = home.sweep(&id);
    let (wake, changes) = mpsc::channel();
    // Without inotify (a full watch table, a filesystem that has none) the
    // tick alone drives it.
    let _watcher = notify::recommended_watcher(move |_| {
        let _ = wake.send(());
    })
    .and_then(|mut w| w.watch(dir.root(), RecursiveMode::Recursive).map(|()| w))
    .ok();
    let mut out = std::io::stdout().lock();
    let mut state = Watch::new(mode);
    let mut events = Vec::new();
    loop {
        let view = SweepView::load(home, &id)?;
        // A log read mid-append (or failing once) keeps the last good one.
        if let Ok(now) = dir.events() {
            events = now;
        }
        let ended = !view.record.state.is_active() && view.line().running == 0;
        state.show(&mut out, &view, &events, ended)?;
        if ended {
            return Ok(Outcome::Ok);
        }
        if changes.recv_timeout(TICK).is_ok() {
            let settle = Instant::now() + SETTLE;
            while let Some(left) = settle.checked_duration_since(Instant::now()) {
                if changes.recv_timeout(left).is_err() {
                    break;
                }
            }
        }
    }
}

/// What has been shown so far.
struct Watch {
    mode: Mode,
    /// Events already printed (lines mode).
    seen: usize,
    /// The last headline printed (json and lines modes).
    last: String,
    /// Lines of the panel on screen.
    drawn: u16,
    /// The terminal's size at the last draw.
    size: Option<(u16, u16)>,
    started: bool,
}

impl Watch {
    fn new(mode: Mode) -> Self {
        Self {
            mode,
            seen: 0,
            last: String::new(),
            drawn: 0,
            size: None,
            started: false,
        }
    }

    fn show(
        &mut self,
        out: &mut impl Write,
        view: &SweepView,
        events: &[Event],
        ended: bool,
    ) -> Result<()> {
        match self.mode {
            Mode::Json => {
                let line = serde_json::to_string(&view.line())?;
                if line != self.last {
                    writeln!(out, "{line}")?;
                    self.last = line;
                }
            }
            Mode::Lines => {
                // The history before watching began is summed up by the headline.
                if !self.started {
                    self.seen = events.len();
                    self.started = true;
                    self.headline(out, view)?;
                }
                for event in &events[self.seen.min(events.len())..] {
                    writeln!(out, "{}", safe::escape(&event_line(event, view)))?;
                }
                self.seen = events.len();
                if ended {
                    self.headline(out, view)?;
                }
            }
            Mode::Panel => {
                let size = terminal::size().map_or((100, 40), |(w, h)| (w.max(20), h.max(4)));
                let lines = panel(view, events, SystemTime::now());
                self.draw(out, &lines, size)?;
            }
        }
        out.flush()?;
        Ok(())
    }

    fn headline(&mut self, out: &mut impl Write, view: &SweepView) -> Result<()> {
        let line = safe::escape(&headline(&view.line()));
        if line != self.last {
            writeln!(out, "{line}")?;
            self.last = line;
        }
        Ok(())
    }

    /// Redraw in place: back to the panel's first line, each line written
    /// over the old one and cleared to its end, what is left below cleared;
    /// all in one write, so the terminal never shows a half-drawn panel.
    /// Lines are cut to the terminal's width in display columns and the panel
    /// to its height, so that every line drawn is one row; after a resize
    /// (which may have re-wrapped the old rows) the screen is cleared.
    fn draw(&mut self, out: &mut impl Write, lines: &[String], size: (u16, u16)) -> Result<()> {
        let (width, height) = (usize::from(size.0), usize::from(size.1));
        let mut frame = Vec::new();
        if self.size.is_some_and(|s| s != size) {
            queue!(
                frame,
                terminal::Clear(terminal::ClearType::All),
                cursor::MoveTo(0, 0)
            )?;
        } else if self.drawn > 0 {
            queue!(frame, cursor::MoveToPreviousLine(self.drawn))?;
        }
        self.size = Some(size);
        let room = height - 1;
        let mut shown: Vec<String> = lines.iter().map(|l| safe::fit(l, width - 1)).collect();
        if shown.len() > room {
            let hidden = shown.len() - (room - 1);
            shown.truncate(room - 1);
            shown.push(format!(
                "  ... {hidden} more lines (a taller terminal shows them)"
            ));
        }
        for line in &shown {
            frame.extend_from_slice(line.as_bytes());
            queue!(frame, terminal::Clear(terminal::ClearType::UntilNewLine))?;
            frame.push(b'\n');
        }
        queue!(frame, terminal::Clear(terminal::ClearType::FromCursorDown))?;
        out.write_all(&frame)?;
        self.drawn = shown.len() as u16;
        Ok(())
    }
}

/// The one-line headline: `ID: state; 3 done of 10, 1 running, ...`.
pub fn headline(l: &SweepLine) -> String {
    let cap = l.total.map_or(String::new(), |c| format!(" of {c}"));
    let best = match (&l.metric, l.best, &l.best_run) {
        (Some(m), Some(b), Some(r)) => format!("; best {} {b} ({r})", safe::name(m)),
        _ => String::new(),
    };
    format!(
        "{}: {}; {} done{cap}, {} running, {} queued, {} failed{best}",
        l.id,
        l.state,
        l.counted,
        l.running,
        l.queued,
        l.failed + l.crashed
    )
}

/// One event of the sweep's history as a line: `15:30:12 run 3 finished: loss 0.2`.
fn event_line(event: &Event, view: &SweepView) -> String {
    let time = event
        .time
        .get(11..19)
        .unwrap_or(event.time.as_str())
        .to_owned();
    let run = |n: u32| view.runs.iter().find(|r| r.summary.run == n);
    let what = match &event.what {
        EventKind::Accepted { original_name, .. } => {
            format!("accepted {}", safe::name(original_name))
        }
        EventKind::State { from, to, reason } => format!(
            "sweep {} -> {}{}",
            word(from),
            word(to),
            reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({})", safe::text(r)))
        ),
        EventKind::RunQueued {
            run: n, attempt, ..
        } => {
            let retry = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!(
                "run {n} queued{retry}: {}",
                run(*n).map_or(String::new(), params_text)
            )
        }
        EventKind::RunStarted { run: n, pid } => format!("run {n} started (pid {pid})"),
        EventKind::RunSubmitted { run: n, job_id } => {
            format!("run {n} submitted to Slurm as job {job_id}")
        }
        EventKind::RunEnded {
            run: n,
            state,
            reason,
        } => {
            let metric = match (metric_name(view), run(*n).and_then(|r| r.best(view.goal()))) {
                (Some(m), Some(v)) => format!(": {m} {}", short(v)),
                _ => String::new(),
            };
            format!(
                "run {n} {}{}{metric}",
                word(state),
                reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({})", safe::text(r)))
            )
        }
        EventKind::EarlyTerminated { run: n, .. } => {
            format!("run {n} stopped by early termination")
        }
        EventKind::Extended { from, to } => match from {
            Some(from) => format!("run_cap {from} -> {to}"),
            None => format!("run_cap set to {to}"),
        },
        EventKind::Enqueued { runs } => {
            let runs: Vec<String> = runs.iter().map(u32::to_string).collect();
            format!("given runs queued: {}", runs.join(", "))
        }
        EventKind::Seeded {
            added, left_out, ..
        } => {
            let left = if left_out.is_empty() {
                String::new()
            } else {
                format!("; left out {}", safe::text(&left_out.join(", ")))
            };
            format!("seeded by {added} finished runs from elsewhere{left}")
        }
        EventKind::Recovered { interrupted } => format!(
            "sweepd restarted; {} interrupted run(s) will run again",
            interrupted.len()
        ),
    };
    format!("{time} {what}")
}

/// The terminal panel, as lines.
fn panel(view: &SweepView, events: &[Event], now: SystemTime) -> Vec<String> {
    let l = view.line();
    let mut lines = vec![format!(
        "{}  {}  {} search  {}{}",
        l.id,
        safe::name(&l.name),
        l.method,
        l.state,
        l.waiting
            .as_ref()
            .map_or(String::new(), |w| format!(" (waiting: {})", safe::text(w)))
    )];
    let bar = l.total.map_or(String::new(), |cap| {
        let filled = ((l.counted as f64 / cap.max(1) as f64) * 30.0).round() as usize;
        format!(
            "[{}{}] ",
            "#".repeat(filled.min(30)),
            ".".repeat(30 - filled.min(30))
        )
    });
    lines.push(format!(
        "{bar}{} done{}, {} running, {} queued, {} failed",
        l.counted,
        l.total.map_or(String::new(), |c| format!(" of {c}")),
        l.running,
        l.queued,
        l.failed + l.crashed
    ));
    lines.push(match (view.best(), metric_name(view)) {
        (Some((run, value)), Some(m)) => format!(
            "best {m} {}  run {}  {}",
            short(value),
            run.summary.run,
            params_text(run)
        ),
        (None, Some(m)) => format!("best {m}: no value yet"),
        (_, None) => "no metric".to_owned(),
    });
    let running: Vec<&RunView> = view
        .runs
        .iter()
        .filter(|r| r.summary.state == RunState::Running)
        .collect();
    if !running.is_empty() {
        lines.push(String::new());
        lines.push(format!(
            "  run  {:<10}  {:<22}  parameters",
            "elapsed",
            metric_name(view).unwrap_or_else(|| "metric".into())
        ));
        for r in running {
            let latest = r.values.last().map_or("-".to_owned(), |v| {
                format!("{} ({} logged)", short(*v), r.values.len())
            });
            let elapsed = r.duration(now).map_or(String::new(), |s| {
                humantime::format_duration(Duration::from_secs(s as u64)).to_string()
            });
            lines.push(format!(
                "  {:<3}  {:<10}  {:<22}  {}",
                r.summary.run,
                elapsed,
                latest,
                params_text(r)
            ));
        }
    }
    let recent = &events[events.len().saturating_sub(RECENT)..];
    if !recent.is_empty() {
        lines.push(String::new());
        lines.extend(recent.iter().map(|e| format!("  {}", event_line(e, view))));
    }
    lines
}

/// A value in at most 6 significant digits: `1.33333`, `0.000123457`, `2`,
/// `1.5e-7`.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() < 1e-4 || v.abs() >= 1e15 {
        let text = format!("{v:.5e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let digits = (5 - v.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The sweep metric's name, as shown.
fn metric_name(view: &SweepView) -> Option<String> {
    view.spec
        .as_ref()
        .and_then(|s| s.metric.as_ref())
        .map(|m| safe::name(&m.name))
}

fn params_text(run: &RunView) -> String {
    flat_params(&run.params)
        .iter()
        .map(|(k, v)| format!("{}={}", safe::name(k), safe::name(&show_value(v))))
        .collect::<Vec<_>>()
        .join(" ")
}

fn word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
