//! `sweepd:`: our own settings, kept in one block so that W&B's keys keep
//! W&B's meaning (W&B itself would refuse the block: remove it to go back).

use std::collections::BTreeMap;
use std::time::Duration;

use super::checker::{Checker, choice, is_env_var_name};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};
use super::slurm::{Executor, check_executor};

#[derive(Debug, Clone, PartialEq)]
pub struct SweepdOptions {
    /// Same seed, same proposals. Without one, the daemon picks one and records it.
    pub seed: Option<u64>,
    /// Runs of this sweep at once; the daemon's default when absent.
    pub max_parallel: Option<u32>,
    /// The directory runs start in: absolute, `~/...`, or relative to where
    /// the sweep was submitted from.
    pub workdir: Option<String>,
    /// Extra environment variables for every run.
    pub env: BTreeMap<String, String>,
    /// Per-run time limit.
    pub timeout: Option<Duration>,
    /// How often a crashed or interrupted run is run again (0: never).
    pub retry: u32,
    /// After this many runs in a row fail or crash, the sweep pauses (0: never).
    pub max_failures_in_a_row: u32,
    /// GPUs each run gets (0: CPU only). Unset: 1 where sweepd sees GPUs,
    /// else 0.
    pub gpus_per_run: Option<u32>,
    /// Where runs run: here, or as Slurm jobs.
    pub executor: Executor,
    /// What `import wandb` is in a run's Python.
    pub wandb: WandbMode,
}

/// What `import wandb` gives a run's Python (`sweepd.wandb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WandbMode {
    /// sweepd's own `wandb` (the `sweepd` package under W&B's name), first
    /// on `PYTHONPATH`: `wandb.init/config/log` reach sweepd, and nothing of
    /// W&B's is imported, installed or not.
    #[default]
    Sweepd,
    /// The real `wandb` package in offline mode (its files kept for a later
    /// `wandb sync`), each `log` also reaching sweepd.
    Offline,
    /// Left alone: no `PYTHONPATH` of sweepd's.
    Off,
}

impl WandbMode {
    pub fn name(self) -> &'static str {
        match self {
            WandbMode::Sweepd => "sweepd",
            WandbMode::Offline => "offline",
            WandbMode::Off => "off",
        }
    }
}

/// `max_failures_in_a_row` when not given.
pub const DEFAULT_MAX_FAILURES_IN_A_ROW: u32 = 5;

impl Default for SweepdOptions {
    fn default() -> Self {
        Self {
            seed: None,
            max_parallel: None,
            workdir: None,
            env: BTreeMap::new(),
            timeout: None,
            retry: 0,
            max_failures_in_a_row: DEFAULT_MAX_FAILURES_IN_A_ROW,
            gpus_per_run: None,
            executor: Executor::Local,
            wandb: WandbMode::Sweepd,
        }
    }
}

pub const KEYS: &[&str] = &[
    "seed",
    "max_parallel",
    "workdir",
    "env",
    "timeout",
    "retry",
    "max_failures_in_a_row",
    "gpus_per_run",
    "executor",
    "slurm",
    "wandb",
];

pub(crate) fn check_options(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<SweepdOptions> {
    let fields = c.mapping(node, path, "`sweepd`")?;
    c.only_keys(&fields, KEYS, "`sweepd`");
    let mut ok = true;
    let mut options = SweepdOptions::default();
    if let Some(n) = fields.get("seed") {
        match c.integer(n, &fields.child("seed")).map(u64::try_from) {
            Some(Ok(seed)) => options.seed = Some(seed),
            Some(Err(_)) => {
                c.error(
                    n.position,
                    &fields.child("seed"),
                    "`seed` cannot be negative",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("max_parallel") {
        match counted(c, n, &fields.child("max_parallel"), 1) {
            Some(v) => options.max_parallel = Some(v),
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("retry") {
        match counted(c, n, &fields.child("retry"), 0) {
            Some(v) => options.retry = v,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("max_failures_in_a_row") {
        match counted(c, n, &fields.child("max_failures_in_a_row"), 0) {
            Some(v) => options.max_failures_in_a_row = v,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("gpus_per_run") {
        match counted(c, n, &fields.child("gpus_per_run"), 0) {
            Some(v) => options.gpus_per_run = Some(v),
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("workdir") {
        match c.string(n, &fields.child("workdir")) {
            Some(dir) if !dir.trim().is_empty() && !dir.contains('\0') => {
                options.workdir = Some(dir)
            }
            Some(_) => {
                c.error(
                    n.position,
                    &fields.child("workdir"),
                    "`workdir` must name a directory",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("wandb") {
        let choices =
            [WandbMode::Sweepd, WandbMode::Offline, WandbMode::Off].map(|m| (m.name(), m));
        match choice(c, n, &fields.child("wandb"), &choices) {
            Some(mode) => options.wandb = mode,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("timeout") {
        match timeout(c, n, &fields.child("timeout")) {
            Some(t) => options.timeout = Some(t),
            None => ok = false,
        }
    }
    match check_executor(c, fields.get("executor"), fields.get("slurm"), path) {
        Some(executor) => options.executor = executor,
        None => ok = false,
    }
    if let Some(n) = fields.get("env") {
        match env(c, n, &fields.child("env")) {
            Some(e) => options.env = e,
            None => ok = false,
        }
    }
    ok.then_some(options)
}

/// A whole number of at least `min` that fits a u32.
fn counted(c: &mut Checker, node: &Node, path: &KeyPath, min: i64) -> Option<u32> {
    let n = c.integer(node, path)?;
    if n < min || n > i64::from(u32::MAX) {
        c.error(
            node.position,
            path,
            format!("expected a whole number of at least {min}, found {n}"),
        );
        return None;
    }
    Some(n as u32)
}

/// `2h`, `90m`, `1h 30m`, `45s`; a bare number counts seconds.
fn timeout(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<Duration> {
    let duration = match &node.value {
        Value::Int(secs) if *secs >= 0 => Duration::from_secs(*secs as u64),
        Value::Float(secs) if *secs >= 0.0 && *secs < 1e15 => Duration::from_secs_f64(*secs),
        Value::Str(text) => match humantime::parse_duration(text) {
            Ok(d) => d,
            Err(e) => {
                c.error_help(
                    node.position,
                    path,
                    format!("cannot read {text:?} as a duration: {e}"),
                    "write it like `90s`, `30m`, `2h` or `1h 30m`",
                );
                return None;
            }
        },
        _ => {
            c.error_help(
                node.position,
                path,
                format!("expected a duration, found {}", node.describe()),
                "write it like `90s`, `30m`, `2h` or `1h 30m`",
            );
            return None;
        }
    };
    if duration.is_zero() {
        c.error(
            node.position,
            path,
            "a timeout of zero would stop every run at once",
        );
        return None;
    }
    Some(duration)
}

fn env(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<BTreeMap<String, String>> {
    let fields = c.mapping(node, path, "`env`")?;
    let (entries, mut ok) = c.string_keyed(&fields, "variable names");
    let mut out = BTreeMap::new();
    for (name, key, value) in entries {
        let child = path.key(name);
        if !is_env_var_name(name) {
            c.error(
                key.position,
                &child,
                format!(
                    "`{name}` is not an environment variable name (letters, digits and _, not starting with a digit)"
                ),
            );
            ok = false;
        }
        let text = match &value.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                c.error(
                    value.position,
                    &child,
                    format!(
                        "an environment variable needs a text value, found {}",
                        value.describe()
                    ),
                );
                ok = false;
                continue;
            }
        };
        if text.contains('\0') {
            c.error(
                value.position,
                &child,
                "an environment variable cannot hold a NUL byte",
            );
            ok = false;
        }
        out.insert(name.to_owned(), text);
    }
    ok.then_some(out)
}
