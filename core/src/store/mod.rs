//! Disk is the truth: the sweeps home and the per-sweep folders, written so
//! that a crash at any moment leaves whole files (temp file + fsync + rename
//! for state; whole lines appended for logs), and read back after a restart.
//! docs/layout.md describes the same for people.

pub mod atomic;
pub mod capped_log;
mod home;
mod ids;
pub mod inbox;
pub mod monitor;
mod records;
mod run_dir;
mod seeds;
pub mod space;
mod sweep_dir;

pub use home::{HOME_VAR, Home, HomeLock, LockError};
pub use ids::{BadId, RunId, SweepId, new_token};
pub use records::{
    Event, EventKind, MetricSummary, RECORD_VERSION, RunState, RunSummary, SlurmJob, Source,
    SweepRecord, SweepState, Via, now,
};
pub use run_dir::{RunDir, metric_values};
pub use seeds::Seed;
pub use sweep_dir::SweepDir;
