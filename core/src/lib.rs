//! sweepd-core: a sweep without processes or an async runtime. Everything
//! here is plain data, rules and files, shared by the daemon (`sweepd`) and
//! the command line (`sweepctl`).
//!
//! - [`spec`]: sweep files checked into a [`spec::SweepSpec`] (pure).
//! - [`search`]: grid, random and Bayesian search behind one trait (pure, seeded).
//! - [`command`]: a run's argv, with W&B's macros and Python's formatting of values.
//! - [`early_stop`]: W&B's hyperband rule, judging runs by their values (pure).
//! - [`store`]: the sweeps home and per-sweep folders (atomic files, whole-line logs).
//! - [`protocol`]: the trainer protocol and the control socket's messages.
//! - [`sweep`]: the sweep model: a sweep's runs and the rules that move
//!   them, events in and effects out; its journal in the sweep's folder.
//! - [`value`]: parameter values and when two are the same.

pub mod command;
pub mod early_stop;
pub mod pareto;
pub mod protocol;
pub mod search;
pub mod spec;
pub mod store;
pub mod sweep;
pub mod value;
