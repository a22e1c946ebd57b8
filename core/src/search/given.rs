//! Parameters a person gives (`sweepctl enqueue`, `sweepd.enqueue`, a
//! warm start's earlier runs), checked against the space: every name is a
//! parameter, every value one its distribution can take. Parameters not
//! given are filled in from a draw of the space.

use serde_json::Value;

use super::{ParamSet, Random, Space};

/// Draws tried to fill in what a given run leaves out, before saying why
/// none fits.
const MAX_FILLS: usize = 1000;
use crate::spec::{Distribution, SweepSpec};

/// The runs a sweep file gives (`sweepd.enqueue`), checked, with what each
/// leaves out drawn as random search would draw that run (stream `i` of
/// the seed), so the same seed gives the same runs. sweepd queues them
/// when it first takes the sweep up, as `sweepctl enqueue` would.
pub fn given_runs(spec: &SweepSpec, seed: u64) -> Result<Vec<ParamSet>, String> {
    let space = Space::new(spec);
    let fill = Random::new(spec, seed);
    spec.sweepd
        .enqueue
        .iter()
        .enumerate()
        .map(|(i, given)| {
            space
                .check_given(given, fill.fills(i as u64))
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
    /// from `fills` (draws of the space, one value per leaf; the first that
    /// makes a run of it that keeps the constraints), assembled as a run's
    /// parameters are. A given parameter that the run would not have (its
    /// condition does not hold) or a run that breaks a constraint is refused.
    pub fn check_given(
        &self,
        given: &ParamSet,
        fills: impl Iterator<Item = Vec<Value>>,
    ) -> Result<ParamSet, NotInSpace> {
        self.names_in(given, &mut Vec::new())?;
        let mut stated = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            let value = Space::lookup(given, &leaf.path);
            if let Some(value) = value {
                admits(&leaf.distribution, value).map_err(|why| NotInSpace {
                    name: leaf.name(),
                    why,
                })?;
            }
            stated.push(value.cloned());
        }
        let complete = stated.iter().all(Option::is_some);
        let mut fills = fills.take(if complete { 1 } else { MAX_FILLS }).peekable();
        let tries: Vec<Option<Vec<Value>>> = if fills.peek().is_none() {
            vec![None]
        } else {
            Vec::new()
        };
        let mut first_error = None;
        for fill in tries.into_iter().chain(fills.map(Some)) {
            let values: Vec<Value> = stated
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) => v.clone(),
                    None => fill.as_ref().map_or(Value::Null, |f| f[i].clone()),
                })
                .collect();
            match self.fits(&values, &stated) {
                Ok(()) => return Ok(self.assemble(values)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.expect("at least one try"))
    }

    /// Whether a run with these values has every parameter it was given,
    /// and keeps the constraints.
    fn fits(&self, values: &[Value], stated: &[Option<Value>]) -> Result<(), NotInSpace> {
        let active = self.active(values);
        for (i, leaf) in self.leaves.iter().enumerate() {
            if stated[i].is_some() && !active[i] {
                return Err(NotInSpace {
                    name: leaf.name(),
                    why: format!(
                        "is not a parameter of this run: a run has it only when {}",
                        self.conditions_of(i).join(" and ")
                    ),
                });
            }
        }
        if let Some(broken) = self.broken(values, &active) {
            return Err(NotInSpace {
                name: broken,
                why: "the run breaks this constraint".into(),
            });
        }
        Ok(())
    }

    /// A finished run's parameters (an earlier sweep's, an imported one's)
    /// as this space has them: each of its parameters' values, which must
    /// be one it can take; a parameter the run lacks may only be a
    /// constant (its value is taken) or one the run would not have.
    /// Parameters the space does not have are dropped. Else why not, as a
    /// short reason (runs are counted by it).
    pub fn take(&self, params: &ParamSet) -> Result<ParamSet, String> {
        let mut values = Vec::with_capacity(self.leaves.len());
        let mut missing = Vec::new();
        for (i, leaf) in self.leaves.iter().enumerate() {
            let value = match (Space::lookup(params, &leaf.path), &leaf.distribution) {
                (Some(value), distribution) => {
                    admits(distribution, value)
                        .map_err(|_| format!("`{}` outside this sweep's space", leaf.name()))?;
                    value.clone()
                }
                (None, Distribution::Constant { value }) => value.clone(),
                (None, _) => {
                    missing.push(i);
                    Value::Null
                }
            };
            values.push(value);
        }
        let active = self.active(&values);
        if let Some(&i) = missing.iter().find(|&&i| active[i]) {
            return Err(format!("lacks `{}`", self.leaves[i].name()));
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
        Space::new(&check(yaml, Format::Yaml).spec.expect("valid"))
    }

    fn set(v: Value) -> ParamSet {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn given_values_win_and_the_rest_is_filled_in() {
        // One value per leaf: epochs, lr, model.act, model.depth, optimizer.
        let fill = vec![json!(3), json!(0.01), json!("relu"), json!(2), json!("sgd")];
        let got = space()
            .check_given(
                &set(json!({"lr": 0.05, "model": {"depth": 4}})),
                std::iter::once(fill),
            )
            .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"epochs": 3, "lr": 0.05, "model": {"act": "relu", "depth": 4}, "optimizer": "sgd"})
        );
    }

    #[test]
    fn each_kind_of_mistake_names_the_parameter() {
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
            let err = space()
                .check_given(&set(given.clone()), std::iter::empty())
                .unwrap_err();
            assert_eq!(err.name, name, "{given}");
            assert!(err.why.contains(why), "{given}: {}", err.why);
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        let got = space().check_given(
            &set(json!({"model": {"depth": 4.0}, "epochs": 2.0})),
            std::iter::empty(),
        );
        assert!(got.is_ok(), "{got:?}");
    }
}
