//! The daemon as a library function: `run` takes its home, settings and stop
//! signal, so tests run a real daemon in a temp home. The binary parses
//! arguments, sets up logging and signals, and calls it.

use std::io;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::scheduler::{self, SchedulerHandle};
use crate::server;
use crate::service;
use crate::store::{Home, LockError};
use crate::watcher;

pub use crate::executor::StopTimes;
pub use crate::executor::orphans::become_subreaper;
pub use crate::scheduler::{Config as SchedulerConfig, GpuConfig};
pub use crate::server::raise_open_file_limit;
pub use crate::watcher::InboxConfig;

/// Kill what the runs of `home` left running (processes carrying a run's
/// token), once `run` has returned.
pub fn kill_leftovers(home: &std::path::Path) {
    use crate::executor::orphans;
    orphans::kill_all(&orphans::find_in(home));
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub home: Home,
    pub scheduler: scheduler::Config,
    pub inbox: InboxConfig,
    /// Written to `settings.json` in the home for `sweepctl config`.
    pub settings: Option<crate::settings::Report>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot set up the home {path}: {source}")]
    Home { path: String, source: io::Error },
    #[error("cannot open the control socket {path}: {source}")]
    Socket { path: String, source: io::Error },
    #[error("the scheduler stopped: {0}")]
    Scheduler(io::Error),
}

/// Run until `shutdown` is cancelled (or a client asks, `sweepctl
/// shutdown`); then stop taking work, let go of the runs (they run on with
/// their monitors; or, with `stop_runs_on_exit`, stop them: recorded as
/// interrupted, to run again) and return.
pub async fn run(config: DaemonConfig, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let home = config.home.clone();
    let home_error = |source| DaemonError::Home {
        path: home.root().display().to_string(),
        source,
    };
    home.create().map_err(home_error)?;
    let _lock = home.lock()?;
    let socket = home.socket();
    let listener = server::bind(&socket).map_err(|source| DaemonError::Socket {
        path: socket.display().to_string(),
        source,
    })?;
    tracing::info!(home = %home.root().display(), pid = std::process::id(), "sweepd started");
    if let Some(report) = &config.settings {
        let path = home.settings_file();
        if let Err(e) = crate::store::atomic::write_json(&path, report) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the settings");
        }
    }

    let (handle, mailbox): (SchedulerHandle, _) = scheduler::channel();
    let (notices, _) = broadcast::channel(256);
    // The watcher and the server stop first; the scheduler then stops the runs.
    let intake_stop = shutdown.child_token();
    let exit = server::Exit {
        daemon: shutdown.clone(),
        stop_runs: config.scheduler.stop_runs_on_exit.clone(),
    };
    let scheduler_task = tokio::spawn(scheduler::run(
        home.clone(),
        config.scheduler,
        mailbox,
        shutdown.clone(),
    ));
    let service_task = tokio::spawn(service::report(
        handle.status(),
        handle.heartbeat(),
        shutdown.clone(),
    ));
    let watcher_task = tokio::spawn(watcher::run(
        home.clone(),
        config.inbox,
        handle.clone(),
        notices.clone(),
        intake_stop.clone(),
    ));
    let server_task = tokio::spawn(server::run(
        listener,
        handle,
        notices,
        intake_stop.clone(),
        exit,
    ));
    // Orphans of runs re-parented to sweepd (its subreaper) are reaped as they end.
    let reaper_task = tokio::spawn(crate::executor::orphans::reap_on_sigchld(shutdown.clone()));

    let result = scheduler_task.await;
    intake_stop.cancel();
    let _ = watcher_task.await;
    let _ = server_task.await;
    let _ = service_task.await;
    let _ = reaper_task.await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("sweepd stopped");
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DaemonError::Scheduler(e)),
        Err(e) => Err(DaemonError::Scheduler(io::Error::other(e))),
    }
}
