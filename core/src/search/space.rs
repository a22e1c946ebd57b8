//! The search space: a sweep's parameters flattened into leaves (in W&B's
//! order), and run parameters assembled back into nested objects.

use crate::spec::{Distribution, Parameters};

use super::ParamSet;

/// One parameter of the flattened space.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// The names from the top level down: `["model", "lr"]` for a nested `lr`.
    pub path: Vec<String>,
    pub distribution: Distribution,
}

impl Leaf {
    /// The dotted name shown to people: `model.lr`.
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

/// All leaves, sorted by name at each nesting level, depth first.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub leaves: Vec<Leaf>,
}

impl Space {
    pub fn new(parameters: &Parameters) -> Self {
        let leaves = parameters
            .leaves()
            .into_iter()
            .map(|(path, distribution)| Leaf {
                path,
                distribution: distribution.clone(),
            })
            .collect();
        Self { leaves }
    }

    /// Build a run's parameters from one value per leaf (in leaf order):
    /// nested parameters become nested objects.
    pub fn assemble(&self, values: Vec<serde_json::Value>) -> ParamSet {
        debug_assert_eq!(values.len(), self.leaves.len());
        let mut out = ParamSet::new();
        for (leaf, value) in self.leaves.iter().zip(values) {
            let (last, parents) = leaf.path.split_last().expect("a leaf has a name");
            let mut map = &mut out;
            for parent in parents {
                let entry = map
                    .entry(parent.clone())
                    .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                map = entry.as_object_mut().expect("groups hold only objects");
            }
            map.insert(last.clone(), value);
        }
        out
    }

    /// The value a run has for a leaf, following the nesting.
    pub fn lookup<'p>(params: &'p ParamSet, path: &[String]) -> Option<&'p serde_json::Value> {
        let (first, rest) = path.split_first()?;
        let mut value = params.get(first)?;
        for name in rest {
            value = value.as_object()?.get(name)?;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Format, check};
    use serde_json::json;

    fn space(yaml: &str) -> Space {
        let spec = check(yaml, Format::Yaml).spec.expect("valid");
        Space::new(&spec.parameters)
    }

    #[test]
    fn leaves_are_sorted_per_level_like_wandb() {
        let s = space(
            "method: grid\nprogram: p\nparameters:\n  a-b: {values: [1]}\n  a:\n    parameters:\n      z: {value: 1}\n      y: {values: [2]}\n",
        );
        let names: Vec<String> = s.leaves.iter().map(Leaf::name).collect();
        // Per level, `a` sorts before `a-b`; flattened strings would sort `a-b` first.
        assert_eq!(names, ["a.y", "a.z", "a-b"]);
    }

    #[test]
    fn assemble_and_lookup_round_trip() {
        let s = space(
            "method: random\nprogram: p\nparameters:\n  opt:\n    parameters:\n      lr: {value: 0.1}\n      wd: {value: 0}\n  model.depth: {value: 3}\n",
        );
        let params = s.assemble(vec![json!(3), json!(0.1), json!(0)]);
        assert_eq!(
            json!(params),
            json!({"model.depth": 3, "opt": {"lr": 0.1, "wd": 0}})
        );
        for leaf in &s.leaves {
            assert!(
                Space::lookup(&params, &leaf.path).is_some(),
                "{}",
                leaf.name()
            );
        }
        assert_eq!(
            Space::lookup(&params, &["opt".into(), "lr".into()]),
            Some(&json!(0.1))
        );
    }
}
