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
    pub fn new(vs: &nn::Path, fc_layer_size: i64, dropout: f64) -> Net {
        Net {
            hidden: torch_linear(vs / "hidden", 784, fc_layer_size),
            out: torch_linear(vs / "out", fc_layer_size, 10),
            dropout,
        }
    }
}

/// `nn.Linear`'s initialisation: weights and bias uniform on +-1/sqrt(fan_in)
/// (`kaiming_uniform_(a=sqrt(5))` for the weights).
fn torch_linear(vs: nn::Path, fan_in: i64, fan_out: i64) -> nn::Linear {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let uniform = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let config = nn::LinearConfig {
        ws_init: uniform,
        bs_init: Some(uniform),
        bias: true,
    };
    nn::linear(vs, fan_in, fan_out, config)
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
