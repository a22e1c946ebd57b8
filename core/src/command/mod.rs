//! How a run is invoked: its argv (the sweep's command with W&B's macros) and
//! the Python formatting of values that W&B's agent uses.

mod argv;
pub mod python;

pub use argv::{CommandError, Macros, argv};
