//! `sweepctl doctor`: checks this host for what sweepd needs and says, for
//! each check, ok / warning / problem and how to fix it. Every check runs
//! under a time limit (a wedged driver hangs NVML and nvidia-smi), and so
//! does every program it starts. The exit status is 0 when nothing is a
//! problem, 1 when something is.

mod gpu;
mod host;
mod run;
mod trainer;

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use sweepd_core::store::Home;

use crate::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Problem => "problem",
        }
    }
}

/// One check's verdict: what was found, and the fix where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub level: Level,
    pub said: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &str, said: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            level: Level::Ok,
            said: said.into(),
            fix: None,
        }
    }

    fn warning(name: &str, said: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.to_owned(),
            level: Level::Warning,
            said: said.into(),
            fix,
        }
    }

    fn problem(name: &str, said: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            level: Level::Problem,
            said: said.into(),
            fix: Some(fix.into()),
        }
    }
}

pub struct Options {
    pub json: bool,
    /// Train 20 steps of the bundled trainer on each GPU.
    pub gpu: bool,
    pub gpu_lock_dir: Option<PathBuf>,
    /// The bundled trainer to ask (default: beside sweepctl, else on PATH).
    pub trainer: Option<PathBuf>,
    /// How long a program a check starts may take (training on a GPU: 3
    /// times as long); a check as a whole gets twice as long.
    pub timeout: Duration,
}

pub fn run(home: &Home, options: &Options) -> Result<Outcome> {
    let limit = options.timeout;
    let bound = limit * 2;
    let mut checks = Vec::new();
    let home_for = |h: &Home| Home::new(h.root());
    let h = home_for(home);
    checks.extend(bounded("sweepd", bound, move || host::sweepd(&h)));
    checks.extend(bounded("service", bound, host::service));
    let h = home_for(home);
    checks.extend(bounded("home", bound, move || host::home(&h)));
    let h = home_for(home);
    checks.extend(bounded("inbox", bound, move || host::inbox(&h)));
    let gpus = gpu::Seen::default();
    let seen = gpus.clone();
    checks.extend(bounded("nvidia driver", bound, move || gpu::driver(&seen)));
    let seen = gpus.clone();
    checks.extend(bounded("nvidia-smi", bound, move || gpu::smi(&seen)));
    checks.extend(bounded("CUDA_VISIBLE_DEVICES", bound, gpu::visible));
    let dir = gpu::lock_dir(options.gpu_lock_dir.clone());
    checks.extend(bounded("gpu locks", bound, move || gpu::locks(&dir)));
    let program = options
        .trainer
        .clone()
        .or_else(|| run::beside_or_on_path("sweepd-mnist"));
    let asked = program.clone();
    checks.extend(bounded("trainer", bound, move || {
        trainer::backend(asked.as_deref(), limit)
    }));
    if options.gpu {
        let uuids = gpus.uuids();
        let each = limit * 3;
        let all = each * (uuids.len().max(1) as u32) + limit;
        checks.extend(bounded("training on GPUs", all, move || {
            trainer::on_each_gpu(program.as_deref(), &uuids, each)
        }));
    }
    let h = home_for(home);
    checks.extend(bounded("slurm", bound, move || host::slurm(&h, limit)));
    report(&checks, options.json)?;
    Ok(if checks.iter().any(|c| c.level == Level::Problem) {
        Outcome::Invalid
    } else {
        Outcome::Ok
    })
}

/// `check` on a thread of its own, given `limit`: past it, a problem that
/// says so (the thread is left behind; sweepctl exits soon after).
fn bounded(
    name: &str,
    limit: Duration,
    check: impl FnOnce() -> Vec<Check> + Send + 'static,
) -> Vec<Check> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check());
    });
    match rx.recv_timeout(limit) {
        Ok(checks) => checks,
        Err(_) => vec![Check::problem(
            name,
            format!("did not finish within {} s", limit.as_secs()),
            "something it asks (the driver, a file system, a daemon) hangs: see the checks above and the system log",
        )],
    }
}

fn report(checks: &[Check], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let count = |level| checks.iter().filter(|c| c.level == level).count();
    let (problems, warnings) = (count(Level::Problem), count(Level::Warning));
    if json {
        let all = serde_json::json!({"checks": checks, "problems": problems, "warnings": warnings});
        writeln!(out, "{all}")?;
        return Ok(());
    }
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in checks {
        writeln!(
            out,
            "{:<8} {:<width$}  {}",
            check.level.word(),
            check.name,
            crate::terminal::escape_lines(&check.said)
        )?;
        if let Some(fix) = &check.fix {
            writeln!(
                out,
                "{:<8} {:<width$}  fix: {}",
                "",
                "",
                crate::terminal::escape_lines(fix)
            )?;
        }
    }
    writeln!(
        out,
        "{problems} problem(s), {warnings} warning(s){}",
        if problems == 0 {
            ""
        } else {
            ": sweeps may not run as they should"
        }
    )?;
    Ok(())
}
