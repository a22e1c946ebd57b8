//! A sweep that continues: `sweepctl extend` (a new run_cap) and
//! `sweepctl enqueue` (runs with given parameters, before the search's
//! own). Each either changes the sweep, with its records, or says why not
//! and changes nothing.

use super::{Effect, SweepModel};
use crate::search::ParamSet;
use crate::store::{EventKind, Seed, SweepState};

/// The reason a sweep that reached its run_cap finished with.
pub(super) const CAP_REACHED: &str = "run_cap reached";

/// Why a sweep cannot be extended or given runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContinueError {
    #[error("it is {state}{}: only a running or paused sweep, or one that finished by reaching its run_cap, can be {verb}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Ended {
        state: &'static str,
        reason: Option<String>,
        verb: &'static str,
    },
    #[error("run_cap {to} is below the {counted} runs it has already")]
    BelowRuns { to: u64, counted: u64 },
    #[error("its run_cap is {0} already")]
    Unchanged(u64),
    #[error(
        "its run_cap {cap} leaves room for {room} more run{}, not {wanted}: raise it first (sweepctl extend SWEEP --more {more})",
        if *room == 1 { "" } else { "s" },
        more = wanted - room
    )]
    NoRoom { cap: u64, room: u64, wanted: u64 },
}

impl SweepModel {
    /// The run_cap in force (the file's, or the last `extend`'s).
    pub fn run_cap(&self) -> Option<u64> {
        self.rules.run_cap
    }

    /// Set run_cap to `to`: a running or paused sweep keeps going with the
    /// new cap; one that finished by reaching its cap runs again. The
    /// search goes on from the runs there are (it holds no state of its
    /// own), so the runs are those one longer sweep would have had.
    pub fn extend(&mut self, to: u64) -> Result<Vec<Effect>, ContinueError> {
        self.may_continue("extended")?;
        let counted = self.proposals_that_count();
        if to < counted {
            return Err(ContinueError::BelowRuns { to, counted });
        }
        let from = self.rules.run_cap;
        if from == Some(to) {
            return Err(ContinueError::Unchanged(to));
        }
        let mut fx = Vec::new();
        self.rules.run_cap = Some(to);
        self.record.run_cap = Some(to);
        fx.push(Effect::SaveState);
        fx.push(Effect::Log(EventKind::Extended { from, to }));
        if self.record.state == SweepState::Finished && to > counted {
            self.set_state(SweepState::Running, None, &mut fx);
        }
        // A cap lowered to the runs there are: the sweep ends as theirs do.
        self.finish_if_done(&mut fx);
        Ok(fx)
    }

    /// Queue runs with these parameters (already checked against the
    /// space), in order, ahead of any new proposal of the search. They
    /// count toward run_cap, so there must be room for all of them.
    pub fn enqueue(&mut self, params: Vec<ParamSet>) -> Result<Vec<Effect>, ContinueError> {
        self.may_continue("given runs")?;
        if self.record.state == SweepState::Finished {
            // Finished by its cap: there is no room by definition.
            let cap = self.rules.run_cap.unwrap_or(0);
            return Err(ContinueError::NoRoom {
                cap,
                room: 0,
                wanted: params.len() as u64,
            });
        }
        if let Some(cap) = self.rules.run_cap {
            let room = cap.saturating_sub(self.proposals_that_count());
            if params.len() as u64 > room {
                return Err(ContinueError::NoRoom {
                    cap,
                    room,
                    wanted: params.len() as u64,
                });
            }
        }
        let mut fx = Vec::new();
        let mut runs = Vec::with_capacity(params.len());
        for set in params {
            let proposal = self.runs.values().map(|r| r.summary.proposal).max();
            runs.push(self.queue(set, proposal.unwrap_or(0) + 1, 1, &mut fx));
        }
        fx.push(Effect::Log(EventKind::Enqueued { runs }));
        Ok(fx)
    }

    /// Add finished runs from elsewhere (`sweepctl import`, already checked
    /// against the space) to the seeds of its search; `from` names their
    /// file. They are not runs and count toward nothing.
    pub fn import(&mut self, seeds: Vec<Seed>, from: String) -> Vec<Effect> {
        let added = seeds.len();
        self.seeds.extend(seeds);
        vec![
            Effect::SaveSeeds,
            Effect::Log(EventKind::Seeded {
                added,
                from: vec![from],
                left_out: Vec::new(),
            }),
        ]
    }

    /// Whether the sweep may still be continued: running, paused, or
    /// finished by reaching its run_cap.
    fn may_continue(&self, verb: &'static str) -> Result<(), ContinueError> {
        let state = self.record.state;
        let open = match state {
            SweepState::Running | SweepState::Paused => true,
            SweepState::Finished => self.record.reason.as_deref() == Some(CAP_REACHED),
            SweepState::Canceled | SweepState::Failed => false,
        };
        if open {
            Ok(())
        } else {
            Err(ContinueError::Ended {
                state: state.as_str(),
                reason: self.record.reason.clone(),
                verb,
            })
        }
    }
}
