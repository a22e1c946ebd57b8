//! sweepd: the daemon that runs W&B-style sweeps, as a library.
//!
//! The sweep itself (sweep files, search, the sweep model and its rules,
//! the folders on disk, the protocols) is the `sweepd-core` crate; this
//! crate runs it. Its public API is small:
//!
//! - [`daemon`]: `run(config, shutdown)`, the whole daemon as one function
//!   (the `sweepd` binary and the tests call it), with its configuration
//!   and what the binary does to its own process around it.
//! - [`settings`]: the daemon's settings, each declared once (defaults, the
//!   config file, flags; `sweepctl config` shows them).
//! - [`monitor`]: a run's monitor, the process that keeps a local run
//!   going across restarts of sweepd (`sweepd-monitor`, or `sweepd
//!   __monitor`, calls its `main`).
//! - [`gpu`]: looking at the machine's GPUs (`sweepctl gpus` does so when
//!   no sweepd runs).
//!
//! Inside (see docs/layout.md for one line per module): `scheduler`, the
//! one owner of sweep state; `executor`, runs as process groups or Slurm
//! jobs; `watcher` and `intake`, the inbox; `server`, the control socket;
//! `service`, systemd's side.

// The core's modules, reached as `crate::spec` and so on inside this crate.
use sweepd_core::{command, protocol, search, spec, store, sweep};

pub mod daemon;
pub mod gpu;
pub mod settings;

mod executor;
mod intake;
pub mod monitor;
mod python;
mod scheduler;
mod server;
mod service;
mod watcher;

pub use watcher::how_watched;
