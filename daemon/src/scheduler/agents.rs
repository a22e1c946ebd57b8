//! The agents of sweeps that have neither `program` nor `command`
//! (docs/agents.md): who joined which sweep, which of them wait for a run,
//! and the scheduler's answers to them. An agent is one connection; the
//! runs it is handed are followed by `executor::agent`.

use std::collections::{BTreeMap, VecDeque};

use tokio::sync::oneshot;

use super::{Scheduler, Sweep};
use crate::executor::{AgentLink, ToAgent};
use crate::spec::{self, Format, SweepSpec};
use crate::store::SweepId;

pub type AgentId = u64;

/// What an agent's connection tells the scheduler.
#[derive(Debug)]
pub enum AgentMsg {
    /// Serve the sweep `sweep` (an id or a unique part of one), running
    /// `command` for each run (None: a function of the agent's own).
    Join {
        sweep: String,
        command: Option<Vec<String>>,
        link: AgentLink,
        reply: oneshot::Sender<Result<(SweepId, AgentId), String>>,
    },
    /// Ready for a run.
    Ready { sweep: SweepId, agent: AgentId },
    /// Gone (its connection closed).
    Left { sweep: SweepId, agent: AgentId },
}

/// One agent as the scheduler holds it.
#[derive(Debug, Clone)]
pub(super) struct Agent {
    pub link: AgentLink,
    pub command: Option<Vec<String>>,
}

/// A sweep's agents, and which of them wait for a run (in the order they
/// asked).
#[derive(Debug, Default)]
pub(super) struct Agents {
    all: BTreeMap<AgentId, Agent>,
    ready: VecDeque<AgentId>,
}

impl Agents {
    fn ready(&mut self, id: AgentId) {
        if self.all.contains_key(&id) && !self.ready.contains(&id) {
            self.ready.push_back(id);
        }
    }

    fn leave(&mut self, id: AgentId) {
        self.all.remove(&id);
        self.ready.retain(|&r| r != id);
    }

    /// Whether an agent (still connected) waits for a run.
    pub fn has_ready(&mut self) -> bool {
        while let Some(id) = self.ready.front() {
            if self.all.get(id).is_some_and(|a| !a.link.is_closed()) {
                return true;
            }
            self.ready.pop_front();
        }
        false
    }

    /// The agent that has waited longest, no longer waiting.
    pub fn take_ready(&mut self) -> Option<Agent> {
        self.has_ready().then(|| {
            let id = self.ready.pop_front().expect("has_ready");
            self.all[&id].clone()
        })
    }

    /// Tell the agents waiting for a run that none will come.
    fn dismiss(&mut self, why: &str) {
        for id in self.ready.drain(..) {
            if let Some(agent) = self.all.get(&id) {
                let _ = agent.link.send(ToAgent::Done(why.to_owned()));
            }
        }
    }
}

impl Scheduler {
    pub(super) fn on_agent(&mut self, msg: AgentMsg) {
        match msg {
            AgentMsg::Join {
                sweep,
                command,
                link,
                reply,
            } => {
                let joined = self.join(&sweep, command, link);
                let _ = reply.send(joined);
            }
            AgentMsg::Ready { sweep, agent } => {
                if let Some(s) = self.sweeps.get_mut(&sweep) {
                    s.agents.ready(agent);
                }
            }
            AgentMsg::Left { sweep, agent } => {
                if let Some(s) = self.sweeps.get_mut(&sweep) {
                    s.agents.leave(agent);
                    tracing::info!(sweep = %sweep, agent, "an agent left");
                }
            }
        }
    }

    fn join(
        &mut self,
        part: &str,
        command: Option<Vec<String>>,
        link: AgentLink,
    ) -> Result<(SweepId, AgentId), String> {
        let id = self.resolve(part)?;
        let sweep = self.sweeps.get_mut(&id).expect("resolved");
        if !sweep.runs_by_agents() {
            return Err(format!(
                "sweep {id} has a `program` or `command` of its own: sweepd starts its runs itself \
                 (agents serve sweeps with neither)"
            ));
        }
        if sweep.is_slurm() {
            return Err(format!(
                "sweep {id} runs as Slurm jobs (`sweepd.executor: slurm`): agents run runs here, \
                 so they serve local sweeps only"
            ));
        }
        if !sweep.model.state().is_active() {
            return Err(format!("{}: it hands out no more runs", ended(sweep)));
        }
        if let Some(command) = &command {
            check_command(&sweep.spec, command)?;
        }
        self.next_agent += 1;
        let agent = self.next_agent;
        sweep.agents.all.insert(agent, Agent { link, command });
        tracing::info!(sweep = %id, agent, "an agent joined");
        Ok((id, agent))
    }

    /// The sweep `part` names: its whole id, else the one sweep whose id
    /// holds it.
    fn resolve(&self, part: &str) -> Result<SweepId, String> {
        if let Some(id) = self.sweeps.keys().find(|id| id.as_str() == part) {
            return Ok(id.clone());
        }
        let matches: Vec<&SweepId> = self
            .sweeps
            .keys()
            .filter(|id| id.as_str().contains(part))
            .collect();
        match matches.as_slice() {
            [] => Err(format!(
                "no sweep `{part}` in {} (`sweepctl status` lists them)",
                self.home.root().display()
            )),
            [one] => Ok((*one).clone()),
            several => Err(format!(
                "`{part}` is part of {} sweep ids ({}): give more of it",
                several.len(),
                several
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Tell the waiting agents of sweeps that hand out no more runs.
    pub(super) fn dismiss_agents(&mut self) {
        for sweep in self.sweeps.values_mut() {
            if !sweep.model.state().is_active() {
                let why = ended(sweep);
                sweep.agents.dismiss(&why);
            }
        }
    }
}

/// "sweep ID is finished: run_cap reached", say.
fn ended(sweep: &Sweep) -> String {
    let record = sweep.model.record();
    match &record.reason {
        Some(reason) => format!("sweep {} is {}: {reason}", sweep.id, record.state.as_str()),
        None => format!("sweep {} is {}", sweep.id, record.state.as_str()),
    }
}

/// What sweepd would say of `command` as the sweep's own: its macros
/// checked by the sweep checker itself.
fn check_command(spec: &SweepSpec, command: &[String]) -> Result<(), String> {
    if command.is_empty() {
        return Err("the agent's command is empty".to_owned());
    }
    let parameters: serde_json::Map<String, serde_json::Value> = spec
        .parameters
        .0
        .keys()
        .map(|name| (name.clone(), serde_json::json!({ "value": 0 })))
        .collect();
    let text = serde_json::json!({
        "method": "grid",
        "command": command,
        "parameters": parameters,
    })
    .to_string();
    let checked = spec::check(&text, Format::Json);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            // Positions in the text made here would mean nothing to the user.
            let d = spec::Diagnostic {
                position: None,
                ..d.clone()
            };
            d.display_in("the agent's command").to_string()
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
