//! The tutorial's network: Flatten -> Linear(784, fc_layer_size) -> ReLU ->
//! Dropout -> Linear(fc_layer_size, 10) -> LogSoftmax, initialised as
//! PyTorch's `nn.Linear` is (tch's default is Kaiming for ReLU, a weight range
//! 2.45 times wider, which trains worse here).

use tch::{Kind, Tensor, nn};

#[derive(Debug)]
pub struct Net {
    hidden: nn::Linear,
    out: nn::Linear,
    dropout: f64,
}

impl Net {
    /// Fails (rather than panics) when libtorch cannot allocate the layers.
    pub fn new(vs: &nn::Path, fc_layer_size: i64, dropout: f64) -> Result<Net, tch::TchError> {
        Ok(Net {
            hidden: torch_linear(&(vs / "hidden"), 784, fc_layer_size)?,
            out: torch_linear(&(vs / "out"), fc_layer_size, 10)?,
            dropout,
        })
    }
}

/// `nn.Linear`'s initialisation: weights and bias uniform on +-1/sqrt(fan_in)
/// (`kaiming_uniform_(a=sqrt(5))` for the weights).
fn torch_linear(vs: &nn::Path, fan_in: i64, fan_out: i64) -> Result<nn::Linear, tch::TchError> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let uniform = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    Ok(nn::Linear {
        ws: vs.f_var("weight", &[fan_out, fan_in], uniform)?,
        bs: Some(vs.f_var("bias", &[fan_out], uniform)?),
    })
}

impl nn::ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.flatten(1, -1)
            .apply(&self.hidden)
            .relu()
            .dropout(self.dropout, train)
            .apply(&self.out)
            .log_softmax(-1, Kind::Float)
    }
}
