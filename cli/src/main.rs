//! sweepctl: the command-line side of sweepd.
//!
//! Exit codes: 0 success; 1 a sweep file is invalid (or rejected); 2 usage,
//! I/O or daemon errors.

mod agent;
mod client;
mod config;
mod continuing;
mod control;
mod doctor;
mod export;
mod gpus;
mod logs;
mod preview;
mod report;
mod service;
mod shutdown;
mod status;
mod submit;
mod table;
mod terminal;
mod validate;
mod view;
mod watch;

/// Sweeps with known runs in the daemon's layout, for unit tests.
#[cfg(test)]
#[path = "../../tests/common/synthetic.rs"]
mod synthetic;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sweepctl",
    version,
    about = "Check, preview, submit, watch and steer W&B-style sweeps run by sweepd"
)]
struct Cli {
    /// The sweeps home (default: $SWEEPS_HOME, else ~/.sweeps).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check sweep files: every problem, with line, column and key path.
    ///
    /// Exit status: 0 when every file is valid (warnings allowed), 1 when any
    /// is invalid, 2 when a file cannot be read.
    Validate {
        /// Sweep files (YAML, or JSON when named *.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Show the runs a sweep would start, before any GPU is spent.
    Preview {
        /// The sweep file.
        file: PathBuf,
        /// How many runs to show (default: the whole grid, or 10 random runs).
        #[arg(short = 'n', long = "runs")]
        n: Option<u64>,
        /// Seed for random search (default: `sweepd.seed` in the file, else a random one).
        #[arg(long)]
        seed: Option<u64>,
        /// One JSON object of parameters per run, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Check a sweep file and hand it to sweepd; prints the sweep's id.
    ///
    /// Exit status 1 when the file is invalid (here, or by sweepd's verdict).
    Submit { file: PathBuf },
    /// Every sweep, or one sweep's runs.
    Status {
        /// A sweep id, or any unique part of one.
        sweep: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One run: state, parameters, metric, times.
    Show {
        /// SWEEP/N, e.g. 20261128-153012-mnist-7k3q/3 (any unique part of the sweep id will do).
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// What a run printed on stdout (or stderr).
    Logs {
        run: String,
        /// Keep printing until the run ends.
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(long)]
        stderr: bool,
        /// Each line as a JSON object: {"line": ..., "record": {...} or null}.
        #[arg(long)]
        json: bool,
    },
    /// No new runs until resumed; running runs go on.
    Pause { sweep: String },
    /// Start runs again.
    Resume { sweep: String },
    /// No new runs; running runs finish (W&B's --stop).
    Stop { sweep: String },
    /// Stop the sweep and its running runs (W&B's --cancel).
    Cancel { sweep: String },
    /// Give a sweep more runs: a new run_cap for a running or paused sweep,
    /// or for one that finished by reaching its run_cap (it runs again).
    /// Its search goes on from the runs it has.
    Extend {
        sweep: String,
        /// The new run_cap.
        #[arg(
            long,
            value_name = "N",
            required_unless_present = "more",
            conflicts_with = "more"
        )]
        run_cap: Option<u64>,
        /// This many runs more than the cap now.
        #[arg(long, value_name = "K")]
        more: Option<u64>,
    },
    /// Queue a run with given parameters (NAME=VALUE ..., a dotted NAME for
    /// a nested one) ahead of the search's own proposals; it counts toward
    /// run_cap and the search learns from it. Parameters left out are drawn
    /// from the space.
    Enqueue {
        sweep: String,
        #[arg(value_name = "NAME=VALUE", required = true)]
        params: Vec<String>,
    },
    /// Add finished runs from a file (sweepctl export's CSV or JSON lines,
    /// or W&B's runs table exported as CSV) as seeds of a sweep's search:
    /// the search learns from them; they are not its runs and take none of
    /// its run_cap. Rows that cannot be used are reported by line and skipped.
    Import { sweep: String, file: PathBuf },
    /// Stop sweepd and wait until it has exited. Its runs run on (each with
    /// its monitor) and the next sweepd takes them up.
    Shutdown {
        /// Stop the runs too (they run again at sweepd's next start).
        #[arg(long)]
        stop_runs: bool,
    },
    /// Follow a sweep's progress until it ends: a live panel on a terminal,
    /// one line per event otherwise.
    Watch {
        sweep: String,
        /// One JSON object per change of the sweep's headline.
        #[arg(long)]
        json: bool,
    },
    /// Write a sweep's report: one self-contained HTML file (parallel
    /// coordinates, parameter importance, curves, the runs, the best run's
    /// parameters) that opens from disk with no network.
    Report {
        sweep: String,
        /// Where to write it (default: SWEEP-ID.html here).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// One row per run (parameters flattened with dots, state, times, summary
    /// metrics), for pandas or a spreadsheet.
    Export {
        sweep: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: export::Format,
        /// Where to write it (default: standard output).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The GPUs sweepd sees (NVML, else nvidia-smi; SWEEPD_NVIDIA_SMI names
    /// one), their memory and utilisation, or why there are none.
    Gpus {
        #[arg(long)]
        json: bool,
    },
    /// Check this host for what sweepd needs: the daemon and its service,
    /// the home, the inbox, the NVIDIA driver, nvidia-smi, the GPU locks,
    /// the bundled trainer's libtorch and CUDA, Slurm. Each check says ok,
    /// warning or problem, with the fix; exit status 1 when any is a problem.
    Doctor {
        #[arg(long)]
        json: bool,
        /// Also train 20 steps of the bundled trainer on each GPU.
        #[arg(long)]
        gpu: bool,
        /// The GPU lock folder to check (default: sweepd's setting).
        #[arg(long, value_name = "DIR")]
        gpu_lock_dir: Option<PathBuf>,
        /// The bundled trainer to ask (default: sweepd-mnist beside
        /// sweepctl, else on PATH).
        #[arg(long, value_name = "PATH")]
        trainer: Option<PathBuf>,
        /// How long a program a check starts may take (NVML and a check as
        /// a whole: twice as long; 20 steps on a GPU: 3 times).
        #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// The daemon's settings and where each came from (default, config file,
    /// command line); the running sweepd's, else what it would use.
    Config {
        #[arg(long)]
        json: bool,
    },
    /// Run the runs of a sweep that has neither `program` nor `command`
    /// (W&B's `wandb agent`): COMMAND for each run sweepd hands out, with
    /// `--name=value` arguments appended (or W&B's macros in COMMAND
    /// expanded), until N runs or the sweep hands out no more.
    Agent {
        /// A sweep id, or any unique part of one.
        sweep: String,
        /// Run at most this many runs.
        #[arg(long)]
        count: Option<u64>,
        /// The command to run for each run.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// sweepd as a systemd service.
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Write the systemd user unit (~/.config/systemd/user/sweepd.service)
    /// running this installation's sweepd, and say what to do next.
    Install {
        /// Where to write the unit.
        #[arg(long, value_name = "DIR")]
        unit_dir: Option<PathBuf>,
        /// The sweepd to run (default: the one beside sweepctl, else on PATH).
        #[arg(long, value_name = "PATH")]
        sweepd: Option<PathBuf>,
        /// Replace a unit that differs.
        #[arg(long)]
        force: bool,
    },
}

/// How a command ended, mapped to the documented exit codes.
pub enum Outcome {
    Ok,
    Invalid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = || view::home_from(cli.home.clone());
    let result = match cli.command {
        Command::Validate { files, json } => validate::run(&files, json),
        Command::Preview {
            file,
            n,
            seed,
            json,
        } => preview::run(&file, n, seed, json),
        Command::Submit { file } => home().and_then(|h| submit::run(&h, &file)),
        Command::Status { sweep, json } => {
            home().and_then(|h| status::status(&h, sweep.as_deref(), json))
        }
        Command::Show { run, json } => home().and_then(|h| status::show(&h, &run, json)),
        Command::Logs {
            run,
            follow,
            stderr,
            json,
        } => home().and_then(|h| {
            logs::run(
                &h,
                &run,
                logs::Options {
                    follow,
                    stderr,
                    json,
                },
            )
        }),
        Command::Pause { sweep } => home().and_then(|h| control::run(&h, "pause", &sweep)),
        Command::Resume { sweep } => home().and_then(|h| control::run(&h, "resume", &sweep)),
        Command::Stop { sweep } => home().and_then(|h| control::run(&h, "stop", &sweep)),
        Command::Cancel { sweep } => home().and_then(|h| control::run(&h, "cancel", &sweep)),
        Command::Extend {
            sweep,
            run_cap,
            more,
        } => home().and_then(|h| continuing::extend(&h, &sweep, run_cap, more)),
        Command::Import { sweep, file } => {
            home().and_then(|h| continuing::import(&h, &sweep, &file))
        }
        Command::Enqueue { sweep, params } => {
            home().and_then(|h| continuing::enqueue(&h, &sweep, &params))
        }
        Command::Shutdown { stop_runs } => home().and_then(|h| shutdown::run(&h, stop_runs)),
        Command::Watch { sweep, json } => home().and_then(|h| watch::run(&h, &sweep, json)),
        Command::Report { sweep, output } => home().and_then(|h| report::run(&h, &sweep, output)),
        Command::Export {
            sweep,
            format,
            output,
        } => home().and_then(|h| export::run(&h, &sweep, format, output)),
        Command::Agent {
            sweep,
            count,
            command,
        } => home().and_then(|h| agent::run(&h, &sweep, count, command)),
        Command::Config { json } => home().and_then(|h| config::run(&h, json)),
        Command::Gpus { json } => home().and_then(|h| gpus::run(&h, json)),
        Command::Doctor {
            json,
            gpu,
            gpu_lock_dir,
            trainer,
            timeout,
        } => home().and_then(|h| {
            doctor::run(
                &h,
                &doctor::Options {
                    json,
                    gpu,
                    gpu_lock_dir,
                    trainer,
                    timeout,
                },
            )
        }),
        Command::Service(ServiceCommand::Install {
            unit_dir,
            sweepd,
            force,
        }) => service::install(service::Install {
            unit_dir,
            sweepd,
            home: cli.home.clone(),
            force,
        }),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        // A closed pipe (`sweepctl preview ... | head`) is the reader's choice, not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "sweepctl: {}",
                terminal::escape_lines(&format!("{error:#}"))
            );
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
