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
use sweepd::settings::{self, Flags, Origin, Settings};
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
    // The settings' flags, declared with the settings (sweepd::settings).
    #[command(flatten)]
    settings: Flags,
    /// Run even as root (runs would run as root too; on a shared host run one
    /// sweepd per user instead: sweepd@USER.service).
    #[arg(long)]
    allow_root: bool,
}

fn main() -> ExitCode {
    // A run's monitor (sweepd started by itself): nothing else of the
    // daemon is set up, so that it stays small.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(sweepd::monitor::ARG)) {
        return sweepd::monitor::main(std::env::args_os().skip(2).collect());
    }
    let args = Args::parse();
    // Orphans of runs (a trainer's grandchild that called setsid, once the
    // trainer has exited) come to sweepd, which kills and reaps them.
    let subreaper = sweepd::daemon::become_subreaper();
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
    match sweepd::daemon::raise_open_file_limit() {
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
    settings.apply(args.settings.overrides(), Origin::Flag);
    let user_home = directories::BaseDirs::new()
        .map_or_else(|| PathBuf::from("/"), |b| b.home_dir().to_owned());
    let home_root = home.root().to_owned();
    let scheduler = settings.scheduler_config(user_home);
    let stop_runs = scheduler.stop_runs_on_exit.clone();
    let config = DaemonConfig {
        home,
        scheduler,
        inbox: settings.inbox_config(),
        settings: Some(settings.report(std::process::id())),
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
        tokio::spawn(watch_signals(shutdown.clone(), home_root, stop_runs));
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

/// First SIGINT/SIGTERM: shut down gracefully (leaving runs to run on, or
/// stopping them: `stop_runs`). Second: exit now, killing this home's runs
/// if they were being stopped.
async fn watch_signals(
    shutdown: CancellationToken,
    home: std::path::PathBuf,
    stop_runs: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    let stopping = || stop_runs.load(std::sync::atomic::Ordering::Relaxed);
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    if stopping() {
        tracing::info!("shutting down: stopping runs (signal again to exit at once)");
    } else {
        tracing::info!("shutting down: runs run on for the next sweepd to take up");
    }
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    if stopping() {
        tracing::warn!("exiting at once: runs are killed and will run again at the next start");
        sweepd::daemon::kill_leftovers(&home);
    } else {
        tracing::warn!("exiting at once: runs run on");
    }
    std::process::exit(130);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Args;

    /// `sweepd --help` lists every setting's flag, as declared.
    #[test]
    fn the_help_lists_every_settings_flag() {
        Args::command().debug_assert();
        let help = Args::command().render_help().to_string();
        for declared in sweepd::settings::DECLARED {
            if let Some(flag) = declared.flag {
                assert!(help.contains(&format!("--{flag} ")), "--{flag} in\n{help}");
            }
        }
    }
}
