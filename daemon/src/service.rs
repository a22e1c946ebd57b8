//! systemd's side of a `Type=notify` service: READY=1 once the control socket
//! is up and the sweeps are loaded, STATUS= with the scheduler's one-line
//! summary whenever it changes, STOPPING=1 when shutdown begins, and
//! WATCHDOG=1 pings when the unit sets `WatchdogSec=`. Outside systemd (no
//! NOTIFY_SOCKET) every call is a no-op. Runs never inherit these variables
//! (scheduler::launch::NOT_INHERITED).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Tell systemd how the daemon stands until `shutdown`: READY with the first
/// summary, then each new summary, and STOPPING when shutdown begins. The
/// watchdog is fed only while `heartbeat` (the scheduler's turns) moves, so
/// a stuck scheduler gets sweepd restarted.
pub async fn report(
    mut status: watch::Receiver<String>,
    heartbeat: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let watchdog = sd_notify::watchdog_enabled();
    if let Some(interval) = watchdog {
        tracing::info!(interval = ?interval, "systemd's watchdog is on");
    }
    // Ping at half the interval, as sd_watchdog_enabled(3) advises.
    let mut ping = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |d| d / 2));
    let mut ready = false;
    let mut last_beat = None;
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let line = status.borrow_and_update().clone();
                if line.is_empty() {
                    continue;
                }
                if ready {
                    notify(&[NotifyState::Status(&line)]);
                } else {
                    notify(&[NotifyState::Ready, NotifyState::Status(&line)]);
                    ready = true;
                }
            }
            _ = ping.tick(), if watchdog.is_some() && ready => {
                let beat = heartbeat.load(Ordering::Relaxed);
                if last_beat != Some(beat) {
                    notify(&[NotifyState::Watchdog]);
                    last_beat = Some(beat);
                }
            }
            () = shutdown.cancelled() => break,
        }
    }
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status(
            "stopping: runs get the stop message, then SIGTERM/SIGKILL after the grace periods",
        ),
    ]);
}
