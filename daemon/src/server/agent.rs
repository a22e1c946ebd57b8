//! A connection that became an agent (docs/agents.md): the scheduler's
//! runs, stops and signals go out to it; its `next`, `started` and
//! `exited` come in, to the scheduler and to each run's supervisor. When
//! the connection closes, every run it was handed hears so (its reports
//! channel closes) and the scheduler forgets the agent.

use std::collections::HashMap;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Lines, next_line, send};
use crate::executor::{AgentReport, Exit, ToAgent};
use crate::protocol::control::{AgentRun, Request, Response};
use crate::scheduler::{AgentMsg, Msg, SchedulerHandle};

pub(super) async fn serve(
    lines: &mut Lines,
    scheduler: &SchedulerHandle,
    sweep: String,
    command: Option<Vec<String>>,
    shutdown: &CancellationToken,
) {
    let (link, mut to_agent) = mpsc::unbounded_channel();
    let (reply, joined) = oneshot::channel();
    let join = AgentMsg::Join {
        sweep,
        command,
        link,
        reply,
    };
    let answer = if scheduler.send(Msg::Agent(join)) {
        joined
            .await
            .unwrap_or_else(|_| Err("sweepd is shutting down".into()))
    } else {
        Err("sweepd is shutting down".into())
    };
    let (sweep, agent) = match answer {
        Ok(joined) => joined,
        Err(message) => {
            let _ = send(lines, Response::Refused { message }).await;
            return;
        }
    };
    let welcome = Response::Agent {
        sweep: sweep.to_string(),
    };
    // The runs handed to this agent and not yet exited: where their
    // reports go.
    let mut runs: HashMap<String, mpsc::UnboundedSender<AgentReport>> = HashMap::new();
    if send(lines, welcome).await.is_ok() {
        // While sweepd shuts down, the runs in hand still get their stop
        // sequence through this connection: it closes once they are over.
        let mut closing = false;
        loop {
            if closing && runs.is_empty() {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled(), if !closing => closing = true,
                out = to_agent.recv() => {
                    let Some(out) = out else { break };
                    let response = match out {
                        ToAgent::Run { launch, params, reports } => {
                            let launch = *launch;
                            let run = launch.id.to_string();
                            runs.insert(run.clone(), reports);
                            Response::Run(Box::new(AgentRun {
                                run,
                                wandb_run_id: launch.id.wandb_id(),
                                run_dir: launch.run_dir.root().to_owned(),
                                cwd: launch.cwd,
                                argv: (!launch.argv.is_empty()).then_some(launch.argv),
                                env: launch.env,
                                start_line: launch.start_line,
                                params,
                            }))
                        }
                        ToAgent::Stop { run, reason } => Response::Stop { run: run.to_string(), reason },
                        ToAgent::Signal { run, signal } => Response::Signal {
                            run: run.to_string(),
                            signal: if signal == Signal::SIGKILL { "KILL" } else { "TERM" }.to_owned(),
                        },
                        ToAgent::Done(message) => Response::Done { message },
                    };
                    if send(lines, response).await.is_err() {
                        break;
                    }
                }
                line = next_line(lines) => {
                    let Some(line) = line else { break };
                    let refusal = match serde_json::from_str::<Request>(&line) {
                        Ok(Request::Next) if !runs.is_empty() => {
                            Some("one run at a time: send `next` after the run's `exited`".to_owned())
                        }
                        Ok(Request::Next) => {
                            scheduler.send(Msg::Agent(AgentMsg::Ready { sweep: sweep.clone(), agent }));
                            None
                        }
                        Ok(Request::Started { pid, .. }) if !is_run_pid(pid) => {
                            Some(format!("pid {pid} cannot be a run's process group"))
                        }
                        Ok(Request::Started { run, pid }) => match runs.get(&run) {
                            Some(reports) => {
                                let _ = reports.send(AgentReport::Started { pid });
                                None
                            }
                            None => Some(format!("run {run} is not one of this agent's")),
                        },
                        Ok(Request::Exited { run, code, signal }) => {
                            // Neither: the agent could not learn it.
                            let exit = match (code, signal) {
                                (_, Some(signal)) => Some(Exit::Signal(signal)),
                                (Some(code), None) => Some(Exit::Code(code)),
                                (None, None) => None,
                            };
                            match runs.remove(&run) {
                                Some(reports) => {
                                    let _ = reports.send(AgentReport::Exited(exit));
                                    None
                                }
                                None => Some(format!("run {run} is not one of this agent's")),
                            }
                        }
                        Ok(_) => Some("an agent may send only `next`, `started` and `exited`".to_owned()),
                        Err(e) => Some(format!("not a request: {e}")),
                    };
                    if let Some(message) = refusal
                        && send(lines, Response::Refused { message }).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
    }
    // Dropping `runs` tells their supervisors the agent is gone.
    drop(runs);
    scheduler.send(Msg::Agent(AgentMsg::Left { sweep, agent }));
}

/// A pid an agent may name as its run's process group: not init, not
/// sweepd's own group, and one that fits a pid.
fn is_run_pid(pid: u32) -> bool {
    let own_group = nix::unistd::getpgrp().as_raw();
    i32::try_from(pid).is_ok_and(|pid| pid > 1 && pid != own_group)
}
