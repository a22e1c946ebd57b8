//! The sweep model: a sweep's runs and the rules that move them, without I/O.

pub mod ending;

pub use ending::{EndedBy, Ending, Exit};
