//! The control socket: a Unix socket in the home (mode 0600) that only its
//! owner may use (the peer's uid is checked), speaking the control protocol.
//! Requests become messages to the scheduler; verdicts on inbox files come
//! from the watcher.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;
use tokio_util::codec::{Framed, LinesCodec};
use tokio_util::sync::CancellationToken;

use crate::intake::Verdict;
use crate::protocol::control::{CONTROL_VERSION, MAX_LINE, Request, Response};
use crate::scheduler::{Control, SchedulerHandle};
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

/// Serve until `shutdown`.
pub async fn run(
    listener: UnixListener,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    shutdown: CancellationToken,
) {
    let me = nix::unistd::getuid().as_raw();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let peer = stream.peer_cred().ok().map(|cred| cred.uid());
                    if peer != Some(me) {
                        tracing::warn!(uid = ?peer, "refused a control connection from another user");
                        // Say so (best effort, never waiting on them), then hang up.
                        let refusal = crate::protocol::control::Response::Refused {
                            message: format!(
                                "this sweepd (uid {me}) answers only its own user; you are uid {}",
                                peer.map_or("unknown".to_owned(), |u| u.to_string())
                            ),
                        };
                        let _ = stream.try_write(refusal.to_line().as_bytes());
                        continue;
                    }
                    tokio::spawn(serve(stream, scheduler.clone(), notices.clone(), shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
            }
        }
    }
}

async fn serve(
    stream: UnixStream,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    shutdown: CancellationToken,
) {
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
    while let Some(line) = tokio::select! {
        () = shutdown.cancelled() => None,
        line = next_line(&mut lines) => line,
    } {
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
            Request::AwaitVerdict { name } => {
                await_verdict(&mut lines, notices.subscribe(), &name, &shutdown).await
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
        Ok(id) => match scheduler.control(control, id).await {
            Ok(message) => Response::Done { message },
            Err(message) => Response::Refused { message },
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
