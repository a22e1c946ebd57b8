//! sweepd: a local, offline hyperparameter-sweep engine that reads W&B sweep files.
//!
//! - [`spec`]: sweep files checked into a [`spec::SweepSpec`] (pure).
//! - [`search`]: grid and random search behind one trait (pure, seeded).
//! - [`launch`]: a run's argv, with W&B's macros and Python's formatting of values.
//! - [`executor`]: a run as a process group: output to its folder, metrics read live,
//!   the stop sequence.
//! - [`protocol`]: the trainer protocol's messages (versioned, golden files).
//! - [`store`]: the sweeps home and per-sweep folders (atomic files, whole-line logs).
//! - [`intake`]: a submitted file checked and filed as a sweep folder, or rejected with reasons.
//! - [`scheduler`]: the one owner of sweep state; starts, records and recovers runs.
//! - [`watcher`]: the inbox, where files become sweeps; [`server`]: the control socket.
//! - [`daemon`]: all of it as one library function, `run(config, shutdown)`.
//! - [`value`]: parameter values and when two are the same.

pub mod daemon;
pub mod executor;
pub mod gpu;
pub mod intake;
pub mod launch;
pub mod protocol;
pub mod scheduler;
pub mod search;
pub mod server;
pub mod service;
pub mod settings;
pub mod spec;
pub mod stopping;
pub mod store;
pub mod value;
pub mod watcher;
