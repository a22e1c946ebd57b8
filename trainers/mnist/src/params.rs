//! The trainer's hyperparameters: the tutorial's, plus a seed and the choice
//! of training set. They arrive as a sweep's values (JSON from the start
//! message, or `--name=value` flags as W&B's `${args}` writes them) and are
//! checked here, each with a message that names it.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    Adam,
    /// SGD with momentum 0.9, as the tutorial.
    Sgd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub optimizer: Optimizer,
    pub learning_rate: f64,
    pub fc_layer_size: i64,
    pub dropout: f64,
    pub batch_size: i64,
    pub epochs: i64,
    pub seed: i64,
    /// All 60,000 training images instead of every 5th (the tutorial's subset).
    pub full_dataset: bool,
    /// A fresh order of the training images every epoch (the tutorial keeps
    /// the file's order).
    pub shuffle: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            optimizer: Optimizer::Adam,
            learning_rate: 0.001,
            fc_layer_size: 128,
            dropout: 0.3,
            batch_size: 64,
            epochs: 1,
            seed: 0,
            full_dataset: false,
            shuffle: false,
        }
    }
}

/// The parameters this trainer takes, in the order `--help` lists them.
pub const NAMES: [&str; 9] = [
    "optimizer",
    "learning_rate",
    "fc_layer_size",
    "dropout",
    "batch_size",
    "epochs",
    "seed",
    "full_dataset",
    "shuffle",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("parameter `{name}`: {problem}")]
pub struct ParamError {
    pub name: String,
    pub problem: String,
}

impl Params {
    /// The defaults overridden by `values`; every value is checked, and a name
    /// this trainer does not take is an error (a misspelt parameter would
    /// otherwise train silently with the default).
    pub fn from_values(values: &Map<String, Value>) -> Result<Params, ParamError> {
        let mut p = Params::default();
        for (name, value) in values {
            let fail = |problem: String| ParamError {
                name: name.clone(),
                problem,
            };
            match name.as_str() {
                "optimizer" => p.optimizer = optimizer(value).map_err(fail)?,
                "learning_rate" => {
                    p.learning_rate = number(value, 0.0, f64::INFINITY).map_err(fail)?
                }
                "fc_layer_size" => p.fc_layer_size = integer(value, 1).map_err(fail)?,
                "dropout" => p.dropout = number(value, 0.0, 1.0).map_err(fail)?,
                "batch_size" => p.batch_size = integer(value, 1).map_err(fail)?,
                "epochs" => p.epochs = integer(value, 1).map_err(fail)?,
                "seed" => p.seed = integer(value, i64::MIN).map_err(fail)?,
                "full_dataset" => p.full_dataset = boolean(value).map_err(fail)?,
                "shuffle" => p.shuffle = boolean(value).map_err(fail)?,
                _ => {
                    return Err(fail(format!(
                        "not a parameter of this trainer (it takes {})",
                        NAMES.join(", ")
                    )));
                }
            }
        }
        Ok(p)
    }
}

/// A `--name=value` flag's text as the value a sweep would have sent: W&B's
/// agent writes values as Python's `str()` does (`True`, `1e-05`, `adam`).
pub fn value_from_flag(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(x) = text.parse::<f64>()
        && x.is_finite()
    {
        return Value::from(x);
    }
    match text {
        "True" | "true" => Value::Bool(true),
        "False" | "false" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}

fn optimizer(value: &Value) -> Result<Optimizer, String> {
    match value.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("adam") => Ok(Optimizer::Adam),
        Some("sgd") => Ok(Optimizer::Sgd),
        _ => Err(format!(
            "unknown optimizer {value} (expected \"adam\" or \"sgd\")"
        )),
    }
}

fn number(value: &Value, min: f64, max: f64) -> Result<f64, String> {
    let range = || {
        if max.is_finite() {
            format!("a number from {min} to {max}")
        } else {
            format!("a number >= {min}")
        }
    };
    match value.as_f64() {
        Some(x) if x >= min && x <= max => Ok(x),
        _ => Err(format!("must be {}, got {value}", range())),
    }
}

/// An integer >= `min`; a float with no fraction (`64.0`) is accepted.
fn integer(value: &Value, min: i64) -> Result<i64, String> {
    let whole = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    });
    match whole {
        Some(i) if i >= min => Ok(i),
        _ if min == i64::MIN => Err(format!("must be an integer, got {value}")),
        _ => Err(format!("must be an integer >= {min}, got {value}")),
    }
}

fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("must be true or false, got {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Params, ParamError> {
        Params::from_values(v.as_object().unwrap())
    }

    #[test]
    fn the_tutorials_values_are_read() {
        let p = parse(
            json!({"optimizer": "sgd", "learning_rate": 0.05, "fc_layer_size": 512,
            "dropout": 0.4, "batch_size": 128.0, "epochs": 2, "seed": -3,
            "full_dataset": true, "shuffle": "True"}),
        )
        .unwrap();
        assert_eq!(
            p,
            Params {
                optimizer: Optimizer::Sgd,
                learning_rate: 0.05,
                fc_layer_size: 512,
                dropout: 0.4,
                batch_size: 128,
                epochs: 2,
                seed: -3,
                full_dataset: true,
                shuffle: true,
            }
        );
    }

    #[test]
    fn bad_values_say_which_parameter_and_why() {
        let cases = [
            (
                json!({"optimizer": "rmsprop"}),
                "optimizer",
                "unknown optimizer \"rmsprop\"",
            ),
            (
                json!({"batch_size": 0}),
                "batch_size",
                "must be an integer >= 1, got 0",
            ),
            (json!({"batch_size": 12.5}), "batch_size", "got 12.5"),
            (
                json!({"learning_rate": -0.1}),
                "learning_rate",
                "must be a number >= 0, got -0.1",
            ),
            (
                json!({"learning_rate": "fast"}),
                "learning_rate",
                "got \"fast\"",
            ),
            (json!({"dropout": 1.5}), "dropout", "from 0 to 1, got 1.5"),
            (json!({"epochs": 0}), "epochs", ">= 1"),
            (json!({"shuffle": 2}), "shuffle", "true or false"),
            (
                json!({"learning_rat": 0.1}),
                "learning_rat",
                "not a parameter of this trainer",
            ),
        ];
        for (values, name, problem) in cases {
            let e = parse(values.clone()).unwrap_err();
            assert_eq!(e.name, name, "{values}");
            assert!(e.problem.contains(problem), "{values}: {e}");
            assert!(e.to_string().starts_with(&format!("parameter `{name}`: ")));
        }
    }

    #[test]
    fn flags_read_as_wandb_writes_them() {
        assert_eq!(value_from_flag("64"), json!(64));
        assert_eq!(value_from_flag("1e-05"), json!(1e-5));
        assert_eq!(value_from_flag("-0.5"), json!(-0.5));
        assert_eq!(value_from_flag("True"), json!(true));
        assert_eq!(value_from_flag("False"), json!(false));
        assert_eq!(value_from_flag("adam"), json!("adam"));
        assert_eq!(value_from_flag("nan"), json!("nan"));
        let p = parse(json!({"batch_size": value_from_flag("1e-05")}));
        assert!(p.is_err(), "a fraction is not a batch size");
    }
}
