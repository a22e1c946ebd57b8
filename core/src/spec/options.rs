//! `sweepd:`: our own settings, kept in one block so that W&B's keys keep
//! W&B's meaning (W&B itself would refuse the block: remove it to go back).

use std::collections::BTreeMap;
use std::time::Duration;

use super::checker::{Checker, choice, is_env_var_name};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};
use super::gpus::{GpuShare, check_memory, check_share};
use super::objectives::{Objective, OutcomeConstraint, read_objectives, read_outcome_constraints};
use super::slurm::{Executor, check_executor};
use super::structure::{Condition, Constraint, read_conditions, read_constraints};

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
    /// GPUs each run gets (0: CPU only), or a share of one (0.25: four
    /// runs to a GPU). Unset: 1 where sweepd sees GPUs, else 0.
    pub gpus_per_run: Option<GpuShare>,
    /// GPU memory (MiB) a run needs: a run that shares a GPU is placed only
    /// where this much is free. Unset: its share of the GPU's memory.
    pub gpu_memory_mib: Option<u64>,
    /// Where runs run: here, or as Slurm jobs.
    pub executor: Executor,
    /// What `import wandb` is in a run's Python.
    pub wandb: WandbMode,
    /// Runs with these parameters first, in order, before the search's own
    /// proposals (checked against the space with the parameters).
    pub enqueue: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Earlier sweeps whose finished runs seed the Bayesian search.
    pub warm_start: Vec<WarmStart>,
    /// Parameters (or groups) a run has only when a condition holds.
    pub conditions: Vec<Condition>,
    /// Conditions every run's parameters satisfy.
    pub constraints: Vec<Constraint>,
    /// Several metrics optimised together (two or more), or none.
    pub objectives: Vec<Objective>,
    /// Bounds on logged metrics that a run must keep to count as good.
    pub outcome_constraints: Vec<OutcomeConstraint>,
}

/// One earlier sweep to warm-start from (`sweepd.warm_start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmStart {
    /// Its id, any unique part of one, or its folder.
    pub sweep: String,
    /// The metric to read from its runs: named when it differs from this
    /// sweep's (else the two sweeps' metrics must be the same).
    pub metric: Option<String>,
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
            gpu_memory_mib: None,
            executor: Executor::Local,
            wandb: WandbMode::Sweepd,
            enqueue: Vec::new(),
            warm_start: Vec::new(),
            conditions: Vec::new(),
            constraints: Vec::new(),
            objectives: Vec::new(),
            outcome_constraints: Vec::new(),
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
    "gpu_memory",
    "executor",
    "slurm",
    "wandb",
    "enqueue",
    "warm_start",
    "conditions",
    "constraints",
    "objectives",
    "outcome_constraints",
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
        match check_share(c, n, &fields.child("gpus_per_run")) {
            Some(v) => options.gpus_per_run = Some(v),
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("gpu_memory") {
        match check_memory(c, n, &fields.child("gpu_memory")) {
            Some(v) => options.gpu_memory_mib = Some(v),
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
    if let (Executor::Slurm(_), Some(GpuShare::Fraction { .. }), Some(n)) = (
        &options.executor,
        options.gpus_per_run,
        fields.get("gpus_per_run"),
    ) {
        c.error_help(
            n.position,
            &fields.child("gpus_per_run"),
            "Slurm gives a job whole GPUs, not a share of one",
            "share GPUs on this machine (executor: local), or ask Slurm for whole ones",
        );
        ok = false;
    }
    if let Some(n) = fields.get("env") {
        match env(c, n, &fields.child("env")) {
            Some(e) => options.env = e,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("enqueue") {
        match enqueue(c, n, &fields.child("enqueue")) {
            Some(e) => options.enqueue = e,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("warm_start") {
        match warm_start(c, n, &fields.child("warm_start")) {
            Some(w) => options.warm_start = w,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("conditions") {
        match read_conditions(c, n, &fields.child("conditions")) {
            Some(v) => options.conditions = v,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("constraints") {
        match read_constraints(c, n, &fields.child("constraints")) {
            Some(v) => options.constraints = v,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("objectives") {
        match read_objectives(c, n, &fields.child("objectives")) {
            Some(v) => options.objectives = v,
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("outcome_constraints") {
        match read_outcome_constraints(c, n, &fields.child("outcome_constraints")) {
            Some(v) => options.outcome_constraints = v,
            None => ok = false,
        }
    }
    ok.then_some(options)
}

/// The items of a list, or an error that it is none.
fn list<'n>(c: &mut Checker, node: &'n Node, path: &KeyPath, help: &str) -> Option<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        _ => {
            c.error_help(
                node.position,
                path,
                format!("expected a list, found {}", node.describe()),
                help,
            );
            None
        }
    }
}

/// `enqueue: [{lr: 0.01, optimizer: adam}, ...]`: each a mapping of
/// parameter names to values (checked against the parameters later).
fn enqueue(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
    let help = "write `enqueue: [{lr: 0.01, optimizer: adam}]`: one mapping of parameters per run";
    let items = list(c, node, path, help)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match c.json_value(item, &path.index(i)) {
            Some(serde_json::Value::Object(set)) => out.push(set),
            Some(_) => {
                c.error_help(
                    item.position,
                    &path.index(i),
                    format!(
                        "expected a mapping of parameters, found {}",
                        item.describe()
                    ),
                    help,
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `warm_start: [SWEEP, {sweep: SWEEP, metric: NAME}]`.
fn warm_start(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<Vec<WarmStart>> {
    let help = "write `warm_start: [SWEEP-ID]`, or `[{sweep: SWEEP-ID, metric: NAME}]` to read another metric of its runs";
    let items = list(c, node, path, help)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        let read = match &item.value {
            Value::Str(sweep) => Some(WarmStart {
                sweep: sweep.clone(),
                metric: None,
            }),
            Value::Map(_) => warm_start_entry(c, item, &at),
            _ => {
                c.error_help(
                    item.position,
                    &at,
                    format!("expected a sweep id or folder, found {}", item.describe()),
                    help,
                );
                None
            }
        };
        match read {
            Some(w) if !w.sweep.trim().is_empty() => out.push(w),
            Some(_) => {
                c.error(item.position, &at, "a warm start must name a sweep");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
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

/// `{sweep: SWEEP, metric: NAME}`.
fn warm_start_entry(c: &mut Checker, item: &Node, at: &KeyPath) -> Option<WarmStart> {
    let fields = c.mapping(item, at, "a warm start")?;
    c.only_keys(&fields, &["sweep", "metric"], "a warm start");
    let sweep = c.require(&fields, "sweep", "a warm start")?;
    let sweep = c.string(sweep, &fields.child("sweep"))?;
    let metric = match fields.get("metric") {
        Some(m) => Some(c.string(m, &fields.child("metric"))?),
        None => None,
    };
    Some(WarmStart { sweep, metric })
}
