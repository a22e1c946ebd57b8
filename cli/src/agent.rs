//! `sweepctl agent SWEEP [--count N] -- COMMAND...`: W&B's `wandb agent`
//! habit for sweeps that have neither `program` nor `command`: ask sweepd
//! for runs and run COMMAND for each (docs/agents.md), until N runs or the
//! sweep hands out no more. Each run is a process group of its own, its
//! output appended to its folder's logs, where sweepd reads it.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sweepd_core::protocol::control::{AgentRun, Request, Response};
use sweepd_core::protocol::trainer::ToTrainer;
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::Client;
use crate::terminal;

/// What the agent's loop hears: sweepd, or its run ending.
enum Heard {
    Sweepd(Response),
    SweepdGone(String),
    Exited(std::process::ExitStatus),
}

pub fn run(home: &Home, sweep: &str, count: Option<u64>, command: Vec<String>) -> Result<Outcome> {
    if command.is_empty() {
        bail!(
            "give the command to run for each run after `--`: sweepctl agent {sweep} -- python train.py"
        );
    }
    let command = with_own_variables(command)?;
    let Some(mut client) = Client::connect(home)? else {
        bail!(
            "no sweepd runs for {}: start one with `sweepd &` (or `sweepctl service install`)",
            home.root().display()
        );
    };
    let joined = client.request(&Request::Agent {
        sweep: sweep.to_owned(),
        command: Some(command),
    })?;
    let sweep = match joined {
        Response::Agent { sweep } => sweep,
        Response::Refused { message } => bail!("{message}"),
        other => bail!("unexpected answer from sweepd: {other:?}"),
    };
    eprintln!("sweepctl agent: serving sweep {sweep}");
    let (reader, mut writer) = client.into_parts();
    let (heard_tx, heard) = mpsc::channel();
    listen(reader, heard_tx.clone());
    let mut done = 0u64;
    while count.is_none_or(|count| done < count) {
        send(&mut writer, &Request::Next)?;
        let run = loop {
            match heard.recv() {
                Ok(Heard::Sweepd(Response::Run(run))) => break *run,
                // Late words about the run before (it ended as they were sent).
                Ok(Heard::Sweepd(Response::Stop { .. } | Response::Signal { .. })) => continue,
                Ok(Heard::Sweepd(Response::Done { message })) => {
                    eprintln!("sweepctl agent: {}", terminal::text(&message));
                    return Ok(Outcome::Ok);
                }
                Ok(Heard::Sweepd(Response::Refused { message })) => {
                    bail!("sweepd refused: {message}")
                }
                Ok(Heard::SweepdGone(why)) => bail!("{why}"),
                Ok(other) => bail!("unexpected answer from sweepd: {}", describe(&other)),
                Err(_) => bail!("sweepd closed the connection"),
            }
        };
        run_one(&run, &mut writer, &heard, &heard_tx)?;
        done += 1;
    }
    Ok(Outcome::Ok)
}

/// Run one run to its end, passing on sweepd's stops and signals.
fn run_one(
    run: &AgentRun,
    writer: &mut UnixStream,
    heard: &mpsc::Receiver<Heard>,
    heard_tx: &mpsc::Sender<Heard>,
) -> Result<()> {
    let mut child = match spawn(run) {
        Ok(child) => child,
        Err(e) => {
            // As a command that cannot start: it exits 127, as a shell says.
            let argv = run.argv.clone().unwrap_or_default().join(" ");
            eprintln!(
                "sweepctl agent: run {}: cannot start `{argv}`: {e}",
                run.run
            );
            append(
                &run.run_dir.join("stderr.log"),
                &format!("sweepctl agent: cannot start `{argv}`: {e}\n"),
            );
            return send(
                writer,
                &Request::Exited {
                    run: run.run.clone(),
                    code: Some(127),
                    signal: None,
                },
            );
        }
    };
    let pid = child.id();
    let mut stdin = child.stdin.take();
    write_line(&mut stdin, &run.start_line);
    send(
        writer,
        &Request::Started {
            run: run.run.clone(),
            pid,
        },
    )?;
    eprintln!(
        "sweepctl agent: run {} started ({})",
        run.run,
        params_line(run)
    );
    let waiter = heard_tx.clone();
    std::thread::spawn(move || {
        let status = child.wait();
        if let Ok(status) = status {
            let _ = waiter.send(Heard::Exited(status));
        }
    });
    let status = loop {
        // The waiter thread holds a sender: recv ends only with a message.
        match heard.recv().expect("a sender is held") {
            Heard::Exited(status) => break status,
            // Late words about an earlier run: not this one's.
            Heard::Sweepd(
                Response::Stop { run: other, .. } | Response::Signal { run: other, .. },
            ) if other != run.run => {}
            Heard::Sweepd(Response::Stop { reason, .. }) => {
                write_line(&mut stdin, &ToTrainer::Stop { reason }.to_line());
            }
            Heard::Sweepd(Response::Signal { signal, .. }) => {
                let signal = if signal == "KILL" {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                };
                let _ = killpg(Pid::from_raw(pid as i32), signal);
            }
            Heard::Sweepd(_) => {}
            Heard::SweepdGone(why) => {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                bail!("{why}; run {} was killed", run.run);
            }
        }
    };
    // What the run left in its group goes with it.
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    let (code, signal) = (status.code(), status.signal());
    eprintln!(
        "sweepctl agent: run {} ended: {}",
        run.run,
        match (code, signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "exit status unknown".to_owned(),
        }
    );
    send(
        writer,
        &Request::Exited {
            run: run.run.clone(),
            code,
            signal,
        },
    )
}

fn spawn(run: &AgentRun) -> std::io::Result<Child> {
    let argv = run.argv.as_deref().unwrap_or_default();
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "an empty command"))?;
    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.run_dir.join(name))
    };
    // sweepd's PYTHONPATH (its wandb first) goes before this agent's own.
    let own_path = std::env::var("PYTHONPATH").ok().filter(|p| !p.is_empty());
    let env = run.env.iter().map(|(k, v)| match (k.as_str(), &own_path) {
        ("PYTHONPATH", Some(own)) => (k.clone(), format!("{v}:{own}")),
        _ => (k.clone(), v.clone()),
    });
    Command::new(program)
        .args(args)
        .current_dir(&run.cwd)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(open("stdout.log")?)
        .stderr(open("stderr.log")?)
        .process_group(0)
        .spawn()
}

/// Hand sweepd's lines to the loop; say when it is gone.
fn listen(mut reader: BufReader<UnixStream>, to: mpsc::Sender<Heard>) {
    let _ = reader.get_ref().set_read_timeout(None);
    std::thread::spawn(move || {
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = to.send(Heard::SweepdGone("sweepd closed the connection".into()));
                    return;
                }
                Ok(_) => match serde_json::from_str::<Response>(&line) {
                    Ok(response) => {
                        if to.send(Heard::Sweepd(response)).is_err() {
                            return;
                        }
                    }
                    // A newer sweepd's word for something else: not ours.
                    Err(e) => eprintln!(
                        "sweepctl agent: ignored a line from sweepd ({e}): {}",
                        line.trim_end()
                    ),
                },
            }
        }
    });
}

fn send(writer: &mut UnixStream, request: &Request) -> Result<()> {
    writer
        .write_all(request.to_line().as_bytes())
        .context("cannot talk to sweepd")
}

/// A protocol line to the run's stdin; a run that closed it will not hear.
fn write_line(stdin: &mut Option<ChildStdin>, line: &str) {
    if let Some(pipe) = stdin.as_mut()
        && pipe
            .write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .is_err()
    {
        *stdin = None;
    }
}

fn append(path: &std::path::Path, text: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(text.as_bytes());
    }
}

fn params_line(run: &AgentRun) -> String {
    run.params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(heard: &Heard) -> String {
    match heard {
        Heard::Sweepd(response) => format!("{response:?}"),
        Heard::SweepdGone(why) => why.clone(),
        Heard::Exited(status) => format!("{status}"),
    }
}

/// `${envvar:NAME}` in COMMAND is this agent's variable (its runs start
/// from its environment), expanded before sweepd sees the command.
fn with_own_variables(command: Vec<String>) -> Result<Vec<String>> {
    command
        .into_iter()
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut rest = token.as_str();
            while let Some(start) = rest.find("${envvar:") {
                let after = &rest[start + "${envvar:".len()..];
                let Some(end) = after.find('}') else { break };
                let name = &after[..end];
                let value = std::env::var(name).with_context(|| {
                    format!("the command uses ${{envvar:{name}}} but {name} is not set here")
                })?;
                out.push_str(&rest[..start]);
                out.push_str(&value);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        })
        .collect()
}
