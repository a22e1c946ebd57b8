//! sweepd: a local, offline hyperparameter-sweep engine that reads W&B sweep files.
//!
//! The sweep itself (spec, search, store, protocols, early termination) is
//! the `sweepd-core` crate; this crate runs it:
//!
//! - [`launch`]: a run's argv, with W&B's macros and Python's formatting of values.
//! - [`executor`]: a run as a process group: output to its folder, metrics read live,
//!   the stop sequence.
//! - [`intake`]: a submitted file checked and filed as a sweep folder, or rejected with reasons.
//! - [`scheduler`]: the one owner of sweep state; starts, records and recovers runs.
//! - [`watcher`]: the inbox, where files become sweeps; [`server`]: the control socket.
//! - [`daemon`]: all of it as one library function, `run(config, shutdown)`.

// The core's modules, reached as `crate::spec` and so on inside this crate.
use sweepd_core::{command, protocol, search, spec, store, sweep};

pub mod daemon;
pub mod executor;
pub mod gpu;
pub mod intake;

pub mod scheduler;
pub mod server;
pub mod service;
pub mod settings;
pub mod watcher;
