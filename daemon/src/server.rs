//! The control socket: a Unix socket in the home (mode 0600) that only its
//! owner may use (the peer's uid is checked), speaking the control protocol.
//! Requests become messages to the scheduler; verdicts on inbox files come
//! from the watcher.
//!
//! No client can use up the daemon's file descriptors: connections are
//! capped (past the cap a client is told sweepd is busy), a connection that
//! sends nothing is closed, and when `accept` fails (EMFILE) the loop backs
//! off instead of spinning.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::codec::{Framed, LinesCodec};
use tokio_util::sync::CancellationToken;

mod agent;

use crate::intake::Verdict;
use crate::protocol::control::{CONTROL_VERSION, MAX_LINE, Request, Response};
use crate::scheduler::{Control, RunCap, SchedulerHandle};
use crate::store::SweepId;
use crate::watcher::Notice;

/// Bind the socket at `path`, replacing a stale one (left by a daemon that
/// died); the home's lock already guarantees no live daemon owns it.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A client sends its first request at once (sweepctl does): one that has
/// said nothing by then is closed.
pub const FIRST_REQUEST_WITHIN: Duration = Duration::from_secs(5);

/// A connection waiting this long for its next request is closed.
pub const IDLE_AFTER: Duration = Duration::from_secs(60);

/// How long a refused client is given to read why before sweepd hangs up.
const REFUSAL_READ: Duration = Duration::from_secs(1);

/// Refused connections waited on at once (others are told and dropped at
/// once): refusals never take the owner's slots.
const REFUSALS_AT_ONCE: usize = 16;

/// The longest a client waits for a verdict on an inbox file (sweepctl
/// itself gives up after a minute).
const VERDICT_WITHIN: Duration = Duration::from_secs(300);

/// Connections served at once: a quarter of the open-file limit, so that
/// runs, records and the inbox always have descriptors left.
pub fn connection_cap() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft / 4)
        .unwrap_or(usize::MAX)
        .clamp(8, 1024)
}

/// Raise the open-file limit's soft value to its hard one (systemd's
/// default soft limit, 1024, is low for a daemon); the limits after.
pub fn raise_open_file_limit() -> io::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?)
}

/// Serve until `shutdown`.
pub async fn run(
    listener: UnixListener,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    shutdown: CancellationToken,
    exit: Exit,
) {
    let me = nix::unistd::getuid().as_raw();
    let cap = connection_cap();
    let slots = Arc::new(Semaphore::new(cap));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff.reset();
                stream
            }
            Err(e) => {
                let wait = backoff.next();
                if backoff.first() {
                    tracing::warn!(error = %e, "control socket accept failed; trying again in {} ms and backing off up to {} s (not logged again until it works)", wait.as_millis(), Backoff::MAX.as_secs());
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let peer = stream.peer_cred().ok().map(|cred| cred.uid());
        if peer != Some(me) {
            tracing::warn!(uid = ?peer, "refused a control connection from another user");
            let refusal = Response::Refused {
                message: format!(
                    "this sweepd (uid {me}) answers only its own user; you are uid {}",
                    peer.map_or("unknown".to_owned(), |u| u.to_string())
                ),
            };
            let waited_on = Arc::clone(&refusals).try_acquire_owned().ok();
            tokio::spawn(refuse(stream, refusal, waited_on));
            continue;
        }
        let Some(slot) = Arc::clone(&slots).try_acquire_owned().ok() else {
            let busy = Response::Busy {
                message: format!(
                    "sweepd is busy: {cap} control connections are open; try again shortly"
                ),
            };
            tokio::spawn(refuse(stream, busy, None));
            continue;
        };
        let (scheduler, notices, shutdown, exit) = (
            scheduler.clone(),
            notices.clone(),
            shutdown.clone(),
            exit.clone(),
        );
        tokio::spawn(async move {
            serve(stream, scheduler, notices, shutdown, exit).await;
            drop(slot);
        });
    }
}

/// Say why a connection is not served, then hang up. With a permit, the
/// client's first line is read first (briefly): hanging up on unread data
/// would reset the connection under the client before it reads why.
async fn refuse(
    stream: UnixStream,
    why: Response,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let Some(_permit) = permit else {
        let _ = lines.get_ref().try_write(why.to_line().as_bytes());
        return;
    };
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        let _ = send(&mut lines, why).await;
        while next_line(&mut lines).await.is_some() {}
    })
    .await;
}

/// Waits between failed accepts: doubling from 50 ms up to `MAX`.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(2);

    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        (Duration::from_millis(50) * 2u32.saturating_pow(self.failures - 1).min(64)).min(Self::MAX)
    }

    fn first(&self) -> bool {
        self.failures == 1
    }

    fn reset(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "the control socket accepts again");
        }
        self.failures = 0;
    }
}

/// How a client shuts sweepd down (`sweepctl shutdown`): the daemon's own
/// stop, and whether its runs are stopped too.
#[derive(Clone)]
pub struct Exit {
    pub daemon: CancellationToken,
    pub stop_runs: Arc<std::sync::atomic::AtomicBool>,
}

async fn serve(
    stream: UnixStream,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    shutdown: CancellationToken,
    exit: Exit,
) {
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    let mut within = FIRST_REQUEST_WITHIN;
    while let Some(line) = tokio::select! {
        () = shutdown.cancelled() => None,
        line = tokio::time::timeout(within, next_line(&mut lines)) => line.ok().flatten(),
    } {
        within = IDLE_AFTER;
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(e) => {
                let _ = send(
                    &mut lines,
                    Response::Refused {
                        message: format!("not a request: {e}"),
                    },
                )
                .await;
                continue;
            }
        };
        let sent = match request {
            Request::Hello { .. } => {
                send(
                    &mut lines,
                    Response::Hello {
                        version: CONTROL_VERSION,
                        pid: std::process::id(),
                    },
                )
                .await
            }
            Request::Pause { sweep } => {
                control(&mut lines, &scheduler, Control::Pause, &sweep).await
            }
            Request::Resume { sweep } => {
                control(&mut lines, &scheduler, Control::Resume, &sweep).await
            }
            Request::Stop { sweep } => control(&mut lines, &scheduler, Control::Stop, &sweep).await,
            Request::Cancel { sweep } => {
                control(&mut lines, &scheduler, Control::Cancel, &sweep).await
            }
            Request::Extend {
                sweep,
                run_cap,
                more,
            } => {
                let cap = match (run_cap, more) {
                    (Some(n), None) => Some(RunCap::To(n)),
                    (None, Some(k)) => Some(RunCap::More(k)),
                    _ => None,
                };
                match cap {
                    Some(cap) => {
                        control(&mut lines, &scheduler, Control::Extend(cap), &sweep).await
                    }
                    None => {
                        let message = "extend takes one of run_cap and more".to_owned();
                        send(&mut lines, Response::Refused { message }).await
                    }
                }
            }
            Request::Import { sweep, file } => {
                control(&mut lines, &scheduler, Control::Import(file), &sweep).await
            }
            Request::Enqueue { sweep, runs } => {
                control(&mut lines, &scheduler, Control::Enqueue(runs), &sweep).await
            }
            Request::Agent { sweep, command } => {
                // The connection is the agent's from now on.
                agent::serve(&mut lines, &scheduler, sweep, command, &shutdown).await;
                return;
            }
            Request::Shutdown { stop_runs } => {
                let stop_runs =
                    stop_runs || exit.stop_runs.load(std::sync::atomic::Ordering::Relaxed);
                exit.stop_runs
                    .store(stop_runs, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(stop_runs, "shutdown asked for by sweepctl");
                let message = if stop_runs {
                    "sweepd is shutting down and stopping its runs (they run again at its next start)"
                } else {
                    "sweepd is shutting down; its runs run on, and the next sweepd takes them up"
                };
                let sent = send(
                    &mut lines,
                    Response::Done {
                        message: message.to_owned(),
                    },
                )
                .await;
                exit.daemon.cancel();
                sent
            }
            Request::Next | Request::Started { .. } | Request::Exited { .. } => {
                let message = "not an agent: send `agent` first (docs/agents.md)".to_owned();
                send(&mut lines, Response::Refused { message }).await
            }
            Request::AwaitVerdict { name } => {
                let waiting = await_verdict(&mut lines, notices.subscribe(), &name, &shutdown);
                match tokio::time::timeout(VERDICT_WITHIN, waiting).await {
                    Ok(sent) => sent,
                    Err(_) => {
                        let message =
                            format!("no verdict on {name} within {} s", VERDICT_WITHIN.as_secs());
                        send(&mut lines, Response::Refused { message }).await
                    }
                }
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

type Lines = Framed<UnixStream, LinesCodec>;

async fn send(lines: &mut Lines, response: Response) -> Result<(), ()> {
    let line = response.to_line();
    lines.send(line.trim_end().to_owned()).await.map_err(|_| ())
}

async fn control(
    lines: &mut Lines,
    scheduler: &SchedulerHandle,
    control: Control,
    sweep: &str,
) -> Result<(), ()> {
    let response = match sweep.parse::<SweepId>() {
        Err(e) => Response::Refused {
            message: e.to_string(),
        },
        // The scheduler's answer, in the words sweepctl prints.
        Ok(id) => match scheduler.control(control, id).await {
            Ok(done) => Response::Done {
                message: done.to_string(),
            },
            Err(refused) => Response::Refused {
                message: refused.to_string(),
            },
        },
    };
    send(lines, response).await
}

/// Subscribed before answering `waiting`, so the verdict cannot slip past.
async fn await_verdict(
    lines: &mut Lines,
    mut notices: broadcast::Receiver<Notice>,
    name: &str,
    shutdown: &CancellationToken,
) -> Result<(), ()> {
    send(lines, Response::Waiting).await?;
    loop {
        let notice = tokio::select! {
            () = shutdown.cancelled() => {
                return send(lines, Response::Refused { message: "sweepd is shutting down".into() }).await;
            }
            // The client hung up (or spoke out of turn): stop waiting for it.
            _ = next_line(lines) => return Err(()),
            notice = notices.recv() => notice,
        };
        match notice {
            Ok(notice) if notice.name == name => {
                let response = match notice.verdict {
                    Verdict::Accepted { id, warnings } => Response::Accepted {
                        sweep: id.to_string(),
                        warnings,
                    },
                    Verdict::Rejected { reasons } => Response::Rejected { reasons },
                };
                return send(lines, response).await;
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return Err(()),
        }
    }
}

/// The next line from the peer; None when it hung up, or sent something
/// that is not a line of text within the length limit.
async fn next_line(lines: &mut Lines) -> Option<String> {
    match lines.next().await {
        Some(Ok(line)) => Some(line),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_back_off_doubling_up_to_the_cap_and_start_over() {
        let mut backoff = Backoff::default();
        let waits: Vec<u128> = (0..8).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert!(!backoff.first());
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(50));
        assert!(backoff.first(), "a new episode is logged again");
    }

    #[test]
    fn the_connection_cap_leaves_most_descriptors_to_the_rest() {
        let cap = connection_cap();
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert!((8..=1024).contains(&cap));
        assert!(cap as u64 <= soft / 4 || cap == 8, "{cap} of {soft}");
    }
}
