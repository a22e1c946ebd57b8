//! A person's commands for a sweep (`sweepctl pause|resume|stop|cancel`,
//! `extend`, `enqueue`): what each may do in each state, and the answer,
//! typed. The control socket turns the answer into the words `sweepctl`
//! prints.

use std::path::PathBuf;
use std::{fmt, io};

use crate::search::ParamSet;
use crate::store::{SweepId, SweepState};

use super::{Scheduler, recorded};
use crate::sweep::{ContinueError, Event, import};

#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Pause,
    Resume,
    /// No new runs; running ones finish (W&B's `--stop`).
    Stop,
    /// Running runs are stopped too (W&B's `--cancel`).
    Cancel,
    /// A new run_cap (`sweepctl extend`).
    Extend(RunCap),
    /// Runs with these parameters before the search's own (`sweepctl
    /// enqueue`); what each leaves out is drawn from the space.
    Enqueue(Vec<ParamSet>),
    /// The finished runs of this file as seeds of its search (`sweepctl
    /// import`).
    Import(PathBuf),
}

/// The run_cap `sweepctl extend` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunCap {
    To(u64),
    /// This many more than the cap now (or than the runs so far, for a
    /// sweep without one).
    More(u64),
}

impl Control {
    /// What it does, as in "cannot pause it".
    fn verb(&self) -> &'static str {
        match self {
            Control::Pause => "pause it",
            Control::Resume => "resume it",
            Control::Stop => "stop it",
            Control::Cancel => "cancel it",
            Control::Extend(_) => "extend it",
            Control::Enqueue(_) => "queue runs",
            Control::Import(_) => "import runs",
        }
    }
}

/// A command carried out: the sweep is now in `state` (and what the
/// command did, where there is more to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controlled {
    pub sweep: SweepId,
    pub state: SweepState,
    pub detail: Option<String>,
}

impl fmt::Display for Controlled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sweep {} is {}", self.sweep, self.state.as_str())?;
        match &self.detail {
            Some(detail) => write!(f, "; {detail}"),
            None => Ok(()),
        }
    }
}

/// Why a command was not carried out (or not yet recorded).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no sweep {0}")]
    NoSuchSweep(SweepId),
    /// Not in this state (pausing a paused sweep, resuming a finished one).
    #[error("sweep {sweep} is {}: cannot {}", state.as_str(), control.verb())]
    NotNow {
        sweep: SweepId,
        state: SweepState,
        control: Control,
    },
    /// Carried out, but its record could not be written; it is written as
    /// soon as it can be.
    #[error(
        "sweep {sweep} is {} but sweepd cannot record it yet ({error}); it is written as soon as it can be",
        state.as_str()
    )]
    NotRecorded {
        sweep: SweepId,
        state: SweepState,
        error: io::Error,
    },
    /// The sweep cannot be continued so (extend, enqueue), and why.
    #[error("sweep {sweep}: cannot {verb}: {why}")]
    Cannot {
        sweep: SweepId,
        verb: &'static str,
        why: String,
    },
    #[error("sweepd is shutting down")]
    ShuttingDown,
}

impl Scheduler {
    pub(super) fn control(
        &mut self,
        control: Control,
        id: &SweepId,
    ) -> Result<Controlled, ControlError> {
        let sweep = self
            .sweeps
            .get_mut(id)
            .ok_or_else(|| ControlError::NoSuchSweep(id.clone()))?;
        let state = sweep.model.state();
        let verb = control.verb();
        let cannot = |why: String| ControlError::Cannot {
            sweep: id.clone(),
            verb,
            why,
        };
        let mut detail = None;
        let result = match (control, state) {
            (Control::Pause, SweepState::Running) => sweep.on(Event::Pause),
            (Control::Resume, SweepState::Paused) => sweep.on(Event::Resume),
            (Control::Stop, SweepState::Running | SweepState::Paused) => sweep.on(Event::Stop),
            (Control::Cancel, SweepState::Running | SweepState::Paused) => sweep.on(Event::Cancel),
            // A stopped sweep whose runs are still finishing can be canceled too.
            (Control::Cancel, SweepState::Finished) if sweep.active() > 0 => {
                sweep.on(Event::Cancel)
            }
            (Control::Extend(cap), _) => {
                let from = sweep.model.run_cap();
                let to = match cap {
                    RunCap::To(n) => n,
                    RunCap::More(k) => from.unwrap_or(sweep.model.proposals_that_count()) + k,
                };
                if let Some(points) = sweep.grid_points()
                    && u128::from(to) > points
                {
                    return Err(cannot(format!(
                        "its grid has {points} points, so run_cap {to} would never be reached"
                    )));
                }
                detail = Some(match from {
                    Some(from) => format!("run_cap {to} (was {from})"),
                    None => format!("run_cap {to} (it had none)"),
                });
                sweep
                    .continued(|model| model.extend(to))
                    .map_err(|e| cannot(e.to_string()))?
            }
            (Control::Enqueue(given), _) => {
                let sets = sweep.check_given(&given).map_err(cannot)?;
                let first = sweep.model.next_run_number();
                let count = sets.len() as u32;
                detail = Some(match count {
                    1 => format!("queued run {first}"),
                    _ => format!("queued runs {first} to {}", first + count - 1),
                });
                sweep
                    .continued(|model| model.enqueue(sets))
                    .map_err(|e: ContinueError| cannot(e.to_string()))?
            }
            (Control::Import(file), _) => {
                let shown = file.display().to_string();
                let imported = import::read(&file, &sweep.spec).map_err(cannot)?;
                let skipped = match imported.skipped.as_slice() {
                    [] => String::new(),
                    lines => format!("; skipped {} row(s): {}", lines.len(), lines.join("; ")),
                };
                if imported.seeds.is_empty() {
                    return Err(cannot(format!("{shown} has no run to import{skipped}")));
                }
                detail = Some(format!(
                    "imported {} finished run(s) from {shown} as seeds of its search{skipped}",
                    imported.seeds.len()
                ));
                let name = file
                    .file_name()
                    .map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
                sweep
                    .continued(|model| Ok(model.import(imported.seeds, name)))
                    .map_err(|e: ContinueError| cannot(e.to_string()))?
            }
            (control, state) => {
                return Err(ControlError::NotNow {
                    sweep: id.clone(),
                    state,
                    control,
                });
            }
        };
        if let Err(e) = result {
            // Done here, not yet on disk: written again once it can be.
            let not_recorded = ControlError::NotRecorded {
                sweep: id.clone(),
                state: sweep.model.state(),
                error: same_error(&e),
            };
            recorded(
                &mut self.disk,
                sweep,
                Err(e),
                "cannot record a person's command",
            );
            return Err(not_recorded);
        }
        Ok(Controlled {
            sweep: id.clone(),
            state: sweep.model.state(),
            detail,
        })
    }
}

/// The same error again, for the answer (the original goes to the disk's
/// bookkeeping, which tells a full disk by its OS error).
fn same_error(e: &io::Error) -> io::Error {
    e.raw_os_error().map_or_else(
        || io::Error::new(e.kind(), e.to_string()),
        io::Error::from_raw_os_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words `sweepctl` prints for each answer, as before they were types.
    #[test]
    fn answers_read_as_sweepctl_prints_them() {
        let id: SweepId = "20261128-153012-mnist-7k3q".parse().unwrap();
        let done = Controlled {
            sweep: id.clone(),
            state: SweepState::Paused,
            detail: None,
        };
        assert_eq!(
            done.to_string(),
            "sweep 20261128-153012-mnist-7k3q is paused"
        );
        let table = [
            (
                ControlError::NoSuchSweep(id.clone()),
                "no sweep 20261128-153012-mnist-7k3q",
            ),
            (
                ControlError::NotNow {
                    sweep: id.clone(),
                    state: SweepState::Finished,
                    control: Control::Resume,
                },
                "sweep 20261128-153012-mnist-7k3q is finished: cannot resume it",
            ),
            (
                ControlError::NotRecorded {
                    sweep: id.clone(),
                    state: SweepState::Canceled,
                    error: same_error(&io::Error::from_raw_os_error(28)),
                },
                "sweep 20261128-153012-mnist-7k3q is canceled but sweepd cannot record it yet \
                 (No space left on device (os error 28)); it is written as soon as it can be",
            ),
            (ControlError::ShuttingDown, "sweepd is shutting down"),
        ];
        for (error, text) in table {
            assert_eq!(error.to_string(), text);
        }
        let custom = io::Error::other("quota");
        assert_eq!(same_error(&custom).to_string(), "quota");
        assert_eq!(same_error(&custom).kind(), io::ErrorKind::Other);
    }
}
