//! What a run is started with: its argv, working directory and environment.

use std::path::{Path, PathBuf};

use crate::command::{CommandError, Macros, argv};
use crate::executor::orphans::TOKEN_VAR;
use crate::executor::{Launch, StopTimes};
use crate::protocol::trainer::{PROTOCOL_VERSION, ToTrainer};
use crate::search::ParamSet;
use crate::spec::SweepSpec;
use crate::store::{RunDir, RunId, Source};

/// Variables of the daemon's own that runs must not inherit (systemd's).
pub const NOT_INHERITED: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
];

/// `python` if it is on PATH, else `python3` (Debian has no `python`).
pub fn interpreter() -> String {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    if on_path("python") {
        "python"
    } else {
        "python3"
    }
    .to_owned()
}

/// The working directory of a sweep's runs: `sweepd.workdir` (absolute,
/// `~/...`, or relative to where the sweep was submitted from), else the
/// directory it was submitted from, else the user's home.
pub fn workdir(spec: &SweepSpec, source: &Source, user_home: &Path) -> PathBuf {
    let base = source
        .submitted_from
        .clone()
        .unwrap_or_else(|| user_home.to_owned());
    match spec.sweepd.workdir.as_deref() {
        None => base,
        Some("~") => user_home.to_owned(),
        Some(dir) => match dir.strip_prefix("~/") {
            Some(rest) => user_home.join(rest),
            None => base.join(dir),
        },
    }
}

/// What a run is told about GPUs.
#[derive(Debug, Clone, Copy)]
pub enum Gpus<'a> {
    /// These, by UUID (immune to CUDA's own device order).
    These(&'a [crate::gpu::Gpu]),
    /// None: CUDA_VISIBLE_DEVICES is empty.
    None,
    /// Whatever sweepd has (it found no GPUs to place).
    Inherited,
}

/// What a run runs.
#[derive(Debug, Clone, Copy)]
pub enum RunsAs<'a> {
    /// The sweep's `command` (or W&B's default, with its `program`).
    Sweep,
    /// An agent's command (`sweepctl agent SWEEP -- COMMAND`): W&B's macros
    /// expanded as in a sweep's `command`; with none, `${args}` appended.
    Command(&'a [String]),
    /// An agent's function: no argv, the agent runs its own code.
    Function,
    /// A run taken up after a restart: it runs already, nothing is started.
    Adopted,
}

impl RunsAs<'_> {
    /// The command template a run's argv is built from; None for a function.
    fn template(self, spec: &SweepSpec) -> Option<Option<Vec<String>>> {
        match self {
            RunsAs::Sweep => Some(spec.command.as_ref().map(|c| c.0.clone())),
            RunsAs::Command(command) => {
                let mut template = command.to_vec();
                if !command.iter().any(|t| t.contains("${")) {
                    template.push("${args}".to_owned());
                }
                Some(Some(template))
            }
            RunsAs::Function | RunsAs::Adopted => None,
        }
    }
}

pub struct RunContext<'a> {
    pub spec: &'a SweepSpec,
    pub runs_as: RunsAs<'a>,
    pub id: &'a RunId,
    pub run_dir: &'a RunDir,
    pub params: &'a ParamSet,
    /// The run's token (see `executor::orphans`).
    pub token: &'a str,
    pub cwd: PathBuf,
    pub interpreter: &'a str,
    pub stop: StopTimes,
    pub gpus: Gpus<'a>,
    /// sweepd's Python in the home (`crate::python`), when it could be
    /// written there.
    pub python: Option<&'a Path>,
    /// The earlier attempt this run takes over from (it was interrupted or
    /// crashed), for a trainer that resumes from its checkpoint.
    pub resume: Option<Resume>,
}

/// What a run that runs a proposal again is told of the attempt before it.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The earlier attempt's folder: `SWEEP_RESUME_DIR`.
    pub dir: RunDir,
    /// The proposal's first attempt, whose W&B id every attempt carries
    /// (W&B resumes a run by its id).
    pub first: RunId,
}

/// Everything the executor needs to start the run.
pub fn launch(ctx: RunContext<'_>) -> Result<Launch, CommandError> {
    let env_lookup = |name: &str| std::env::var(name).ok();
    // Top-level parameters this run does not have (sweepd.conditions).
    let absent: Vec<String> = ctx
        .spec
        .parameters
        .0
        .keys()
        .filter(|name| !ctx.params.contains_key(*name))
        .cloned()
        .collect();
    let argv = match ctx.runs_as.template(ctx.spec) {
        Some(template) => argv(
            template.as_deref(),
            &Macros {
                program: ctx.spec.program.as_deref(),
                interpreter: ctx.interpreter,
                params: ctx.params,
                params_json_file: &ctx.run_dir.params_file(),
                env: &env_lookup,
                absent: &absent,
            },
        )?,
        None => Vec::new(),
    };
    let sweep_id = ctx.id.sweep.to_string();
    let run_id = ctx.id.to_string();
    let run_dir = ctx.run_dir.root().display().to_string();
    let wandb_params = ctx.run_dir.wandb_params_file().display().to_string();
    let mut env = vec![
        // Python buffers a file-bound stdout; metrics should arrive as they are logged.
        ("PYTHONUNBUFFERED".to_owned(), "1".to_owned()),
        ("SWEEP_ID".to_owned(), sweep_id.clone()),
        ("SWEEP_RUN_ID".to_owned(), run_id.clone()),
        ("SWEEP_RUN_DIR".to_owned(), run_dir),
        (TOKEN_VAR.to_owned(), ctx.token.to_owned()),
        ("SWEEP_PARAM_PATH".to_owned(), wandb_params.clone()),
        ("WANDB_SWEEP_ID".to_owned(), sweep_id.clone()),
        (
            "WANDB_RUN_ID".to_owned(),
            ctx.resume
                .as_ref()
                .map_or_else(|| ctx.id.wandb_id(), |r| r.first.wandb_id()),
        ),
        ("WANDB_SWEEP_PARAM_PATH".to_owned(), wandb_params),
    ];
    if let Some(resume) = &ctx.resume {
        env.push((
            "SWEEP_RESUME_DIR".to_owned(),
            resume.dir.root().display().to_string(),
        ));
        env.push(("WANDB_RESUME".to_owned(), "allow".to_owned()));
    }
    match ctx.gpus {
        Gpus::These(gpus) => {
            let join = |f: fn(&crate::gpu::Gpu) -> String| {
                gpus.iter().map(f).collect::<Vec<_>>().join(",")
            };
            env.push(("CUDA_VISIBLE_DEVICES".to_owned(), join(|g| g.uuid.clone())));
            env.push(("CUDA_DEVICE_ORDER".to_owned(), "PCI_BUS_ID".to_owned()));
            env.push(("SWEEPD_GPUS".to_owned(), join(|g| g.index.to_string())));
        }
        Gpus::None => env.push(("CUDA_VISIBLE_DEVICES".to_owned(), String::new())),
        Gpus::Inherited => {}
    }
    let theirs = ctx.spec.sweepd.env.get("PYTHONPATH").cloned();
    let python = ctx.python.map(|root| {
        // An agent's run starts from the agent's environment, not sweepd's:
        // the agent adds its own PYTHONPATH after these.
        let pythonpath = match ctx.runs_as {
            RunsAs::Sweep => theirs.or_else(|| std::env::var("PYTHONPATH").ok()),
            RunsAs::Command(_) | RunsAs::Function => theirs,
            RunsAs::Adopted => None,
        };
        crate::python::env(root, ctx.spec.sweepd.wandb, pythonpath.as_deref())
    });
    let ours = |name: &str| python.iter().flatten().any(|(k, _)| k == name);
    env.extend(
        ctx.spec
            .sweepd
            .env
            .iter()
            .filter(|(k, _)| !ours(k))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    env.extend(python.into_iter().flatten());
    let start_line = ToTrainer::Start {
        protocol: PROTOCOL_VERSION,
        sweep_id,
        run_id,
        params: ctx.params.clone(),
    }
    .to_line();
    Ok(Launch {
        id: ctx.id.clone(),
        argv,
        cwd: ctx.cwd,
        env,
        env_remove: NOT_INHERITED.iter().map(|v| (*v).to_owned()).collect(),
        start_line,
        run_dir: ctx.run_dir.clone(),
        metric: ctx.spec.metric.clone(),
        timeout: ctx.spec.sweepd.timeout,
        stop: ctx.stop,
        gpu_locks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RECORD_VERSION, Via};

    fn source(from: Option<&str>) -> Source {
        Source {
            version: RECORD_VERSION,
            original_name: "s.yaml".into(),
            via: Via::Submit,
            submitted_from: from.map(PathBuf::from),
            received_at: String::new(),
            bytes: 0,
            claimed_as: None,
        }
    }

    fn spec(workdir: Option<&str>) -> SweepSpec {
        let extra = workdir
            .map(|w| format!("sweepd: {{workdir: \"{w}\"}}\n"))
            .unwrap_or_default();
        let text = format!("method: grid\nprogram: p\nparameters: {{a: {{value: 1}}}}\n{extra}");
        crate::spec::check(&text, crate::spec::Format::Yaml)
            .spec
            .unwrap()
    }

    #[test]
    fn workdir_rules() {
        let home = Path::new("/home/u");
        assert_eq!(
            workdir(&spec(None), &source(Some("/proj")), home),
            Path::new("/proj")
        );
        assert_eq!(
            workdir(&spec(None), &source(None), home),
            Path::new("/home/u")
        );
        assert_eq!(
            workdir(&spec(Some("/abs")), &source(Some("/proj")), home),
            Path::new("/abs")
        );
        assert_eq!(
            workdir(&spec(Some("~/runs")), &source(Some("/proj")), home),
            Path::new("/home/u/runs")
        );
        assert_eq!(
            workdir(&spec(Some("out")), &source(Some("/proj")), home),
            Path::new("/proj/out")
        );
    }

    /// W&B's variables hold what W&B accepts: a run id without `/`.
    #[test]
    fn wandb_variables_hold_ids_wandb_accepts() {
        let sweep: crate::store::SweepId = "20261204-120000-mnist-aaaa".parse().unwrap();
        let id = RunId { sweep, run: 3 };
        let run_dir = RunDir::new("/tmp/sweeps/x/runs/0003");
        let launch = launch(RunContext {
            spec: &spec(None),
            runs_as: RunsAs::Sweep,
            python: None,
            id: &id,
            run_dir: &run_dir,
            params: &ParamSet::new(),
            token: "t",
            cwd: PathBuf::from("/tmp"),
            interpreter: "python3",
            stop: StopTimes::default(),
            gpus: Gpus::Inherited,
            resume: None,
        })
        .unwrap();
        let var = |name: &str| {
            launch
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            var("WANDB_RUN_ID").as_deref(),
            Some("20261204-120000-mnist-aaaa-0003")
        );
        assert_eq!(
            var("WANDB_SWEEP_ID").as_deref(),
            Some("20261204-120000-mnist-aaaa")
        );
        assert_eq!(
            var("SWEEP_RUN_ID").as_deref(),
            Some("20261204-120000-mnist-aaaa/3")
        );
    }

    /// A run that runs its proposal again is pointed at the attempt before
    /// it, and carries the first attempt's W&B id, so W&B resumes that run.
    #[test]
    fn a_rerun_is_told_where_to_resume_from() {
        let sweep: crate::store::SweepId = "20261204-120000-mnist-aaaa".parse().unwrap();
        let id = RunId {
            sweep: sweep.clone(),
            run: 7,
        };
        let run_dir = RunDir::new("/tmp/sweeps/x/runs/0007");
        let spec = spec(None);
        let params = ParamSet::new();
        let context = |resume| RunContext {
            spec: &spec,
            runs_as: RunsAs::Sweep,
            python: None,
            id: &id,
            run_dir: &run_dir,
            params: &params,
            token: "t",
            cwd: PathBuf::from("/tmp"),
            interpreter: "python3",
            stop: StopTimes::default(),
            gpus: Gpus::Inherited,
            resume,
        };
        let var = |launch: &Launch, name: &str| {
            launch
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let fresh = launch(context(None)).unwrap();
        assert_eq!(var(&fresh, "SWEEP_RESUME_DIR"), None);
        assert_eq!(var(&fresh, "WANDB_RESUME"), None);
        let rerun = launch(context(Some(Resume {
            dir: RunDir::new("/tmp/sweeps/x/runs/0005"),
            first: RunId { sweep, run: 2 },
        })))
        .unwrap();
        assert_eq!(
            var(&rerun, "SWEEP_RESUME_DIR").as_deref(),
            Some("/tmp/sweeps/x/runs/0005")
        );
        assert_eq!(var(&rerun, "WANDB_RESUME").as_deref(), Some("allow"));
        assert_eq!(
            var(&rerun, "WANDB_RUN_ID").as_deref(),
            Some("20261204-120000-mnist-aaaa-0002")
        );
        assert_eq!(
            var(&rerun, "SWEEP_RUN_ID").as_deref(),
            Some("20261204-120000-mnist-aaaa/7")
        );
    }
}
