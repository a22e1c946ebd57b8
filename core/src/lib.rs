//! sweepd-core: a sweep without processes or an async runtime. Everything
//! here is plain data, rules and files, shared by the daemon (`sweepd`) and
//! the command line (`sweepctl`).
//!
//! - [`spec`]: sweep files checked into a [`spec::SweepSpec`] (pure).
//! - [`search`]: grid, random and Bayesian search behind one trait (pure, seeded).
//! - [`early_stop`]: W&B's hyperband rule, judging runs by their values (pure).
//! - [`store`]: the sweeps home and per-sweep folders (atomic files, whole-line logs).
//! - [`protocol`]: the trainer protocol and the control socket's messages.
//! - [`value`]: parameter values and when two are the same.

pub mod early_stop;
pub mod protocol;
pub mod search;
pub mod spec;
pub mod store;
pub mod sweep;
pub mod value;
