//! sweepd: runs W&B-style sweeps from `~/.sweeps/inbox` in the foreground
//! until SIGTERM or SIGINT (a service manager puts it in the background).
//! A second SIGINT/SIGTERM ends it at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use sweepd::daemon::{DaemonConfig, run};
use sweepd::executor::StopTimes;
use sweepd::scheduler;
use sweepd::settings::{self, FileGpu, FileSettings, FileSlurm, Origin, Settings};
use sweepd::watcher::InboxConfig;
use sweepd_core::store::Home;

#[derive(Parser)]
#[command(
    name = "sweepd",
    version,
    about = "Run W&B-style sweeps dropped into ~/.sweeps/inbox"
)]
struct Args {
    /// The sweeps home (default: $SWEEPS_HOME, else ~/.sweeps).
    #[arg(long)]
    home: Option<PathBuf>,
    /// The configuration file (default: $SWEEPD_CONFIG, else
    /// ~/.config/sweepd/config.toml if it exists). Flags win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Runs at once over all sweeps [default: the number of CPU cores].
    #[arg(long)]
    max_running: Option<usize>,
    /// An inbox file is taken once unchanged this long [default: 1s].
    #[arg(long, value_parser = humantime::parse_duration)]
    settle: Option<Duration>,
    /// An empty inbox file is rejected once it has stayed empty this long
    /// [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    empty_after: Option<Duration>,
    /// The whole inbox is rescanned this often, for what file events missed
    /// [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    rescan_every: Option<Duration>,
    /// From a stop request to SIGTERM of the run's process group [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    term_after: Option<Duration>,
    /// From a stop request to SIGKILL of the run's process group [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    kill_after: Option<Duration>,
    /// Each log of a local run (stdout.log, stderr.log) is kept under this
    /// many MiB, its most recent part; 0: no cap [default: 1024].
    #[arg(long, value_name = "MIB")]
    log_max_mib: Option<u64>,
    /// Run even as root (runs would run as root too; on a shared host run one
    /// sweepd per user instead: sweepd@USER.service).
    #[arg(long)]
    allow_root: bool,
    /// Folder of the cross-user GPU locks; every user's sweepd on the host must
    /// use the same one [default: /run/lock/sweepd].
    #[arg(long, value_name = "DIR")]
    gpu_lock_dir: Option<PathBuf>,
    /// How often the GPUs are looked at [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    gpu_sample_every: Option<Duration>,
    /// How long a GPU rests after a run of ours used it [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    gpu_cooldown: Option<Duration>,
    /// A GPU whose memory in use (by anyone) is above this, or above 5 % of
    /// its total if that is more, is busy [default: 1024].
    #[arg(long, value_name = "MIB")]
    gpu_max_memory_mib: Option<u64>,
    /// A GPU above this utilisation (%) is busy [default: 10].
    #[arg(long, value_name = "PERCENT")]
    gpu_max_utilization: Option<u32>,
    /// How often Slurm jobs are looked at (one squeue for all) and their
    /// output read [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    slurm_poll: Option<Duration>,
}

impl Args {
    /// The flags given, as settings over the file's.
    fn overrides(&self) -> FileSettings {
        FileSettings {
            max_running: self.max_running,
            settle: self.settle,
            empty_after: self.empty_after,
            rescan_every: self.rescan_every,
            term_after: self.term_after,
            kill_after: self.kill_after,
            log_max_mib: self.log_max_mib,
            gpu: FileGpu {
                lock_dir: self.gpu_lock_dir.clone(),
                sample_every: self.gpu_sample_every,
                cooldown: self.gpu_cooldown,
                max_memory_mib: self.gpu_max_memory_mib,
                max_utilization: self.gpu_max_utilization,
                nvidia_smi: None,
            },
            slurm: FileSlurm {
                poll: self.slurm_poll,
            },
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Orphans of runs (a trainer's grandchild that called setsid, once the
    // trainer has exited) come to sweepd, which kills and reaps them.
    let subreaper = sweepd::executor::orphans::become_subreaper();
    if nix::unistd::geteuid().is_root() && !args.allow_root {
        eprintln!(
            "sweepd: refusing to run as root: every run would run as root. Run sweepd as the \
             user whose sweeps it runs (the systemd user unit, or sweepd@USER.service), or pass \
             --allow-root (e.g. in a container where root is the only user)."
        );
        return ExitCode::from(2);
    }
    // Logs go to stderr, never into runs' output. Under systemd the journal
    // stamps each line, so no timestamps of our own there.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false);
    if journal {
        builder.without_time().with_ansi(false).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    // Runs, records and control connections all take descriptors.
    match sweepd::server::raise_open_file_limit() {
        Ok((soft, _)) => tracing::debug!(soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    if let Err(e) = subreaper {
        tracing::warn!(error = %e, "cannot become the runs' subreaper: what they leave outside their process group is reparented to init");
    }
    let home = match args
        .home
        .clone()
        .map(Home::new)
        .map(Ok)
        .unwrap_or_else(Home::from_env)
    {
        Ok(home) => home,
        Err(e) => {
            eprintln!("sweepd: {e}");
            return ExitCode::from(2);
        }
    };
    // Defaults, then the file, then flags.
    let (file, required) = match (&args.config, std::env::var_os("SWEEPD_CONFIG")) {
        (Some(path), _) => (Some(path.clone()), true),
        (None, Some(path)) => (Some(PathBuf::from(path)), true),
        (None, None) => (settings::default_path(), false),
    };
    let mut settings = match Settings::load(file.as_deref(), required) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("sweepd: {e}");
            return ExitCode::from(2);
        }
    };
    settings.apply(args.overrides(), Origin::Flag);
    let user_home = directories::BaseDirs::new()
        .map_or_else(|| PathBuf::from("/"), |b| b.home_dir().to_owned());
    let mut scheduler = scheduler::Config::new(user_home);
    scheduler.max_running = settings.max_running.value;
    scheduler.gpu.sample_every = settings.gpu_sample_every.value;
    scheduler.slurm.poll = settings.slurm_poll.value;
    scheduler.gpu.thresholds.cooldown = settings.gpu_cooldown.value;
    scheduler.gpu.thresholds.max_memory_mib = settings.gpu_max_memory_mib.value;
    scheduler.gpu.thresholds.max_utilization_pct = settings.gpu_max_utilization.value;
    scheduler.gpu.lock_dir = settings.gpu_lock_dir.value.clone();
    if let Some(program) = &settings.gpu_nvidia_smi.value {
        scheduler.gpu.probe.nvidia_smi = Some(program.clone());
    }
    scheduler.log_max = Some(settings.log_max_mib.value.saturating_mul(1 << 20)).filter(|&b| b > 0);
    scheduler.stop = StopTimes {
        term_after: settings.term_after.value,
        kill_after: settings.kill_after.value.max(settings.term_after.value),
    };
    let inbox = InboxConfig {
        settle: settings.settle.value,
        empty_after: settings.empty_after.value,
        rescan: settings.rescan_every.value,
        ..InboxConfig::default()
    };
    let home_root = home.root().to_owned();
    let config = DaemonConfig {
        home,
        scheduler,
        inbox,
        settings: Some(settings::Report {
            version: 1,
            pid: std::process::id(),
            file: settings.file.clone(),
            settings: settings.shown(),
        }),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sweepd: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone(), home_root));
        match run(config, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            // Another daemon has the home: starting again will not help
            // (systemd: RestartPreventExitStatus=2).
            Err(e @ sweepd::daemon::DaemonError::Locked(_)) => {
                eprintln!("sweepd: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("sweepd: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // A look at the GPUs may still be running (nvidia-smi on a wedged GPU):
    // do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// First SIGINT/SIGTERM: shut down gracefully. Second: kill this home's runs and exit now.
async fn watch_signals(shutdown: CancellationToken, home: std::path::PathBuf) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutting down: stopping runs (signal again to exit at once)");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("exiting at once: runs are killed and will run again at the next start");
    sweepd::executor::orphans::kill_all(&sweepd::executor::orphans::find_in(&home));
    std::process::exit(130);
}
