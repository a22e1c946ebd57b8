//! sweepd: a local, offline hyperparameter-sweep engine that reads W&B sweep files.
//!
//! - [`spec`]: sweep files checked into a [`spec::SweepSpec`] (pure).
//! - [`search`]: grid and random search behind one trait (pure, seeded).

pub mod search;
pub mod spec;
pub mod value;
