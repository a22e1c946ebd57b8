//! The tutorial's training loop on tensors decoded once: batches are views
//! (or one index_select when shuffling) of the whole set on the device, so
//! there is no per-sample work. `batch loss` after every batch; `loss` (the
//! epoch's mean batch loss), `epoch` (from 0, as the tutorial) and
//! `val_accuracy` (on the 10,000 test images) after every epoch.

use serde_json::{Value, json};
use tch::{Device, Kind, Tensor, nn, nn::ModuleT, nn::OptimizerConfig};

use crate::data::{Mnist, normalise};
use crate::model::Net;
use crate::params::{Optimizer, Params};

/// The tutorial trains on every 5th training image.
pub const SUBSET_STEP: i64 = 5;

/// Training and test inputs, normalised, on the device.
pub struct Data {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

impl Data {
    pub fn prepare(mnist: &Mnist, full_dataset: bool, device: Device) -> Data {
        let step = if full_dataset { 1 } else { SUBSET_STEP };
        let n = mnist.train.labels.size()[0];
        Data {
            train_x: normalise(&mnist.train.images.slice(0, 0, n, step)).to_device(device),
            train_y: mnist.train.labels.slice(0, 0, n, step).to_device(device),
            test_x: normalise(&mnist.test.images).to_device(device),
            test_y: mnist.test.labels.to_device(device),
        }
    }

    pub fn train_len(&self) -> i64 {
        self.train_y.size()[0]
    }
}

/// The network with its optimizer.
pub struct Trainer {
    // Owns the parameters the network and optimizer refer to.
    vs: nn::VarStore,
    net: Net,
    opt: nn::Optimizer,
}

impl Trainer {
    /// A fresh network; the seed fixes its initial weights, dropout masks and
    /// shuffles (bit for bit on CPU).
    pub fn new(params: &Params, device: Device) -> Result<Trainer, tch::TchError> {
        tch::manual_seed(params.seed);
        let vs = nn::VarStore::new(device);
        let net = Net::new(&vs.root(), params.fc_layer_size, params.dropout)?;
        let opt = match params.optimizer {
            Optimizer::Adam => nn::Adam::default().build(&vs, params.learning_rate)?,
            Optimizer::Sgd => nn::Sgd {
                momentum: 0.9,
                ..Default::default()
            }
            .build(&vs, params.learning_rate)?,
        };
        Ok(Trainer { vs, net, opt })
    }

    /// Write the network's weights to `path`.
    pub fn save(&self, path: &std::path::Path) -> Result<(), tch::TchError> {
        self.vs.save(path)
    }

    /// Take the network's weights from `path` (as `save` wrote them).
    pub fn load(&mut self, path: &std::path::Path) -> Result<(), tch::TchError> {
        self.vs.load(path)
    }

    /// One optimizer step on a batch; its loss.
    pub fn step(&mut self, x: &Tensor, y: &Tensor) -> f64 {
        let loss = self.net.forward_t(x, true).nll_loss(y);
        self.opt.backward_step(&loss);
        loss.double_value(&[])
    }

    /// The share of `x` classified as `y`, without dropout.
    pub fn accuracy(&self, x: &Tensor, y: &Tensor) -> f64 {
        let _guard = tch::no_grad_guard();
        let n = y.size()[0];
        let mut correct = 0;
        for start in (0..n).step_by(1000) {
            let len = 1000.min(n - start);
            let predicted = self
                .net
                .forward_t(&x.narrow(0, start, len), false)
                .argmax(-1, false);
            correct += predicted
                .eq_tensor(&y.narrow(0, start, len))
                .sum(Kind::Int64)
                .int64_value(&[]);
        }
        correct as f64 / n as f64
    }
}

/// How training ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Finished,
    /// sweepd asked the run to stop (the reason), heard between batches:
    /// after `batches` batches of `epoch` (from 0).
    Stopped {
        reason: String,
        epoch: i64,
        batches: i64,
    },
}

/// Train from epoch `first` (0, or the epochs a checkpoint has done) up to
/// `params.epochs`, reporting through `log`; `stop` is asked after every
/// batch, and `epoch_done` is told after every epoch (with the epochs done).
pub fn train(
    params: &Params,
    data: &Data,
    trainer: &mut Trainer,
    first: i64,
    stop: impl Fn() -> Option<String>,
    mut log: impl FnMut(Value) -> std::io::Result<()>,
    mut epoch_done: impl FnMut(&Trainer, i64),
) -> std::io::Result<Ended> {
    let n = data.train_len();
    let batch_size = params.batch_size.min(n);
    let batches = (n + batch_size - 1) / batch_size;
    for epoch in first..params.epochs {
        let order = params
            .shuffle
            .then(|| Tensor::randperm(n, (Kind::Int64, data.train_x.device())));
        let mut total = 0.0;
        for b in 0..batches {
            let start = b * batch_size;
            let len = batch_size.min(n - start);
            let (x, y) = match &order {
                Some(order) => {
                    let rows = order.narrow(0, start, len);
                    (
                        data.train_x.index_select(0, &rows),
                        data.train_y.index_select(0, &rows),
                    )
                }
                None => (
                    data.train_x.narrow(0, start, len),
                    data.train_y.narrow(0, start, len),
                ),
            };
            let loss = trainer.step(&x, &y);
            total += loss;
            log(json!({ "batch loss": loss }))?;
            if let Some(reason) = stop() {
                return Ok(Ended::Stopped {
                    reason,
                    epoch,
                    batches: b + 1,
                });
            }
        }
        let accuracy = trainer.accuracy(&data.test_x, &data.test_y);
        log(json!({ "loss": total / batches as f64, "epoch": epoch, "val_accuracy": accuracy }))?;
        epoch_done(trainer, epoch + 1);
    }
    Ok(Ended::Finished)
}
