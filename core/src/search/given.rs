//! Parameters a person gives (`sweepctl enqueue`, `sweepd.enqueue`, a
//! warm start's earlier runs), checked against the space: every name is a
//! parameter, every value one its distribution can take. Parameters not
//! given are filled in from a draw of the space.

use serde_json::Value;

use super::{ParamSet, Random, Space};
use crate::spec::{Distribution, SweepSpec};

/// The runs a sweep file gives (`sweepd.enqueue`), checked, with what each
/// leaves out drawn as random search would draw that run (stream `i` of
/// the seed), so the same seed gives the same runs. sweepd queues them
/// when it first takes the sweep up, as `sweepctl enqueue` would.
pub fn given_runs(spec: &SweepSpec, seed: u64) -> Result<Vec<ParamSet>, String> {
    let space = Space::new(&spec.parameters);
    let fill = Random::new(&spec.parameters, seed);
    spec.sweepd
        .enqueue
        .iter()
        .enumerate()
        .map(|(i, given)| {
            space
                .check_given(given, &fill.draw(i as u64))
                .map_err(|e| format!("run {} of `enqueue`: {e}", i + 1))
        })
        .collect()
}

/// What is wrong with a given parameter set: the parameter and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}`: {why}")]
pub struct NotInSpace {
    /// The dotted name (`model.lr`).
    pub name: String,
    pub why: String,
}

impl Space {
    /// `given` checked against the space, with what it leaves out taken
    /// from `fill` (a run's parameters drawn from the space), assembled as
    /// a run's parameters are.
    pub fn check_given(&self, given: &ParamSet, fill: &ParamSet) -> Result<ParamSet, NotInSpace> {
        self.names_in(given, &mut Vec::new())?;
        let values = self
            .leaves
            .iter()
            .map(|leaf| match Space::lookup(given, &leaf.path) {
                Some(value) => {
                    admits(&leaf.distribution, value).map_err(|why| NotInSpace {
                        name: leaf.name(),
                        why,
                    })?;
                    Ok(value.clone())
                }
                None => Ok(Space::lookup(fill, &leaf.path)
                    .cloned()
                    .unwrap_or(Value::Null)),
            })
            .collect::<Result<Vec<Value>, NotInSpace>>()?;
        Ok(self.assemble(values))
    }

    /// A finished run's parameters (an earlier sweep's, an imported one's)
    /// as this space has them: each of its parameters' values, which must
    /// be one it can take; a parameter the run lacks may only be a
    /// constant (its value is taken). Parameters the space does not have
    /// are dropped. Else why not, as a short reason (runs are counted by it).
    pub fn take(&self, params: &ParamSet) -> Result<ParamSet, String> {
        let mut values = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            let value = match (Space::lookup(params, &leaf.path), &leaf.distribution) {
                (Some(value), distribution) => {
                    admits(distribution, value)
                        .map_err(|_| format!("`{}` outside this sweep's space", leaf.name()))?;
                    value.clone()
                }
                (None, Distribution::Constant { value }) => value.clone(),
                (None, _) => return Err(format!("lacks `{}`", leaf.name())),
            };
            values.push(value);
        }
        Ok(self.assemble(values))
    }

    /// Every name in `given` must be a parameter or a group of them.
    fn names_in(&self, given: &ParamSet, prefix: &mut Vec<String>) -> Result<(), NotInSpace> {
        for (key, value) in given {
            prefix.push(key.clone());
            let leaf = self.leaves.iter().any(|l| l.path == *prefix);
            let group = self
                .leaves
                .iter()
                .any(|l| l.path.len() > prefix.len() && l.path.starts_with(prefix));
            match value {
                Value::Object(inner) if group && !leaf => self.names_in(inner, prefix)?,
                _ if leaf => {}
                _ => {
                    let known: Vec<String> = self.leaves.iter().map(|l| l.name()).collect();
                    return Err(NotInSpace {
                        name: prefix.join("."),
                        why: if group {
                            "is a group of parameters: give its parameters inside it".into()
                        } else {
                            format!("no such parameter (the sweep's: {})", known.join(", "))
                        },
                    });
                }
            }
            prefix.pop();
        }
        Ok(())
    }
}

/// Whether `value` is one `distribution` can take; else why not.
pub fn admits(distribution: &Distribution, value: &Value) -> Result<(), String> {
    use Distribution as D;
    let within = |lo: f64, hi: f64, slack: f64| -> Result<(), String> {
        let x = number(value)?;
        if x >= lo - slack && x <= hi + slack {
            Ok(())
        } else {
            Err(format!("{x} is outside [{lo}, {hi}]"))
        }
    };
    match distribution {
        D::Constant { value: constant } => {
            if same(value, constant) {
                Ok(())
            } else {
                Err(format!("is the constant {constant}, not {value}"))
            }
        }
        D::Categorical { values } | D::CategoricalWithProbabilities { values, .. } => {
            if values.iter().any(|v| same(value, v)) {
                Ok(())
            } else {
                let listed: Vec<String> = values.iter().map(Value::to_string).collect();
                Err(format!("{value} is not one of {}", listed.join(", ")))
            }
        }
        D::IntUniform { min, max } => {
            let x = number(value)?;
            if x.fract() != 0.0 {
                return Err(format!("expected a whole number, found {x}"));
            }
            within(*min as f64, *max as f64, 0.0)
        }
        D::Uniform { min, max } | D::LogUniformValues { min, max } => within(*min, *max, 0.0),
        D::InvLogUniformValues { min, max } => within(*min, *max, 0.0),
        D::QUniform { min, max, q } => within(min.as_f64(), max.as_f64(), q.as_f64()),
        D::QLogUniformValues { min, max, q } => within(*min, *max, q.as_f64()),
        D::LogUniform { min, max } => within(min.exp(), max.exp(), 0.0),
        D::QLogUniform { min, max, q } => within(min.exp(), max.exp(), q.as_f64()),
        D::InvLogUniform { min, max } => within((-max).exp(), (-min).exp(), 0.0),
        D::Normal { .. } | D::QNormal { .. } => number(value).map(drop),
        D::LogNormal { .. } | D::QLogNormal { .. } => {
            let x = number(value)?;
            if x > 0.0 {
                Ok(())
            } else {
                Err(format!("a log-normal value is above 0, not {x}"))
            }
        }
        D::Beta { .. } | D::QBeta { .. } => within(0.0, 1.0, 0.0),
    }
}

fn number(value: &Value) -> Result<f64, String> {
    value
        .as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("expected a number, found {value}"))
}

/// Equal as values: numbers by value (`1` is `1.0`), the rest as JSON.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Format, check};
    use serde_json::json;

    fn space() -> Space {
        let yaml = "method: random\nparameters:\n  lr: {min: 0.0001, max: 0.1, distribution: log_uniform_values}\n  \
                    epochs: {min: 1, max: 10}\n  optimizer: {values: [adam, sgd]}\n  \
                    model:\n    parameters:\n      depth: {values: [2, 4]}\n      act: {value: relu}\n";
        Space::new(&check(yaml, Format::Yaml).spec.expect("valid").parameters)
    }

    fn set(v: Value) -> ParamSet {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn given_values_win_and_the_rest_is_filled_in() {
        let fill = set(json!({"lr": 0.01, "epochs": 3, "optimizer": "sgd",
                              "model": {"depth": 2, "act": "relu"}}));
        let got = space()
            .check_given(&set(json!({"lr": 0.05, "model": {"depth": 4}})), &fill)
            .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"epochs": 3, "lr": 0.05, "model": {"act": "relu", "depth": 4}, "optimizer": "sgd"})
        );
    }

    #[test]
    fn each_kind_of_mistake_names_the_parameter() {
        let fill = ParamSet::new();
        let cases = [
            (json!({"lr": 0.5}), "lr", "outside"),
            (json!({"lr": "big"}), "lr", "expected a number"),
            (json!({"epochs": 2.5}), "epochs", "whole number"),
            (json!({"epochs": 11}), "epochs", "outside [1, 10]"),
            (json!({"optimizer": "rmsprop"}), "optimizer", "not one of"),
            (json!({"model": {"depth": 3}}), "model.depth", "not one of"),
            (json!({"model": {"act": "gelu"}}), "model.act", "constant"),
            (json!({"momentum": 0.9}), "momentum", "no such parameter"),
            (
                json!({"model": {"width": 8}}),
                "model.width",
                "no such parameter",
            ),
            (json!({"model": 3}), "model", "group of parameters"),
        ];
        for (given, name, why) in cases {
            let err = space().check_given(&set(given.clone()), &fill).unwrap_err();
            assert_eq!(err.name, name, "{given}");
            assert!(err.why.contains(why), "{given}: {}", err.why);
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        let fill = ParamSet::new();
        let got = space().check_given(&set(json!({"model": {"depth": 4.0}, "epochs": 2.0})), &fill);
        assert!(got.is_ok(), "{got:?}");
    }
}
