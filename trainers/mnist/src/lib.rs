//! sweepd's bundled MNIST trainer: the model and training loop of W&B's
//! PyTorch sweep tutorial, on tch (libtorch), speaking sweepd's trainer
//! protocol (docs/protocol.md). The binary (`src/main.rs`) wires these parts
//! together; `src/bin/mnist-steps.rs` measures a training step.

pub mod check;
pub mod checkpoint;
pub mod cuda;
pub mod data;
pub mod model;
pub mod params;
pub mod protocol;
pub mod train;
