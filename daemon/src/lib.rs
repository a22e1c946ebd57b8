//! sweepd: a local, offline hyperparameter-sweep engine that reads W&B sweep files.
//!
//! - [`spec`]: sweep files checked into a [`spec::SweepSpec`] (pure).
//! - [`search`]: grid and random search behind one trait (pure, seeded).
//! - [`launch`]: a run's argv, with W&B's macros and Python's formatting of values.
//! - [`value`]: parameter values and when two are the same.

pub mod launch;
pub mod search;
pub mod spec;
pub mod value;
