//! The search space: a sweep's parameters flattened into leaves (in W&B's
//! order), which of them a run has (`sweepd.conditions`), which runs may be
//! run at all (`sweepd.constraints`), and run parameters assembled back
//! into nested objects.

use std::collections::HashMap;

use serde_json::Value;

use crate::spec::{
    Condition, Constraint, Distribution, Expr, Parameters, SweepSpec, Val, named, resolve,
};

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

/// All leaves, sorted by name at each nesting level, depth first, and what
/// decides which of them a run has.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub leaves: Vec<Leaf>,
    structure: Structure,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Structure {
    /// Dotted name to leaf.
    index: HashMap<String, usize>,
    /// The conditions' expressions.
    conditions: Vec<Expr>,
    /// The conditions as written, for messages.
    condition_texts: Vec<String>,
    /// Per leaf, the conditions (indices) that must hold for a run to have it.
    when: Vec<Vec<usize>>,
    /// Every leaf after the leaves its conditions read.
    order: Vec<usize>,
    constraints: Vec<Expr>,
    constraint_texts: Vec<String>,
}

impl Space {
    /// The space of a checked sweep.
    pub fn new(spec: &SweepSpec) -> Self {
        Self::with(
            &spec.parameters,
            &spec.sweepd.conditions,
            &spec.sweepd.constraints,
        )
    }

    /// Parameters with conditions and constraints; names that do not
    /// resolve (which `validate` refuses) are left out.
    pub fn with(
        parameters: &Parameters,
        conditions: &[Condition],
        constraints: &[Constraint],
    ) -> Self {
        let leaves: Vec<Leaf> = parameters
            .leaves()
            .into_iter()
            .map(|(path, distribution)| Leaf {
                path,
                distribution: distribution.clone(),
            })
            .collect();
        let all = named(parameters);
        let index: HashMap<String, usize> = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| (leaf.name(), i))
            .collect();
        let mut when = vec![Vec::new(); leaves.len()];
        let mut exprs = Vec::new();
        let mut texts = Vec::new();
        for condition in conditions {
            let Ok(target) = resolve(&all, &condition.target) else {
                continue;
            };
            let k = exprs.len();
            exprs.push(condition.when.clone());
            texts.push(condition.text.clone());
            for (i, leaf) in leaves.iter().enumerate() {
                if leaf.path.starts_with(&target.path) {
                    when[i].push(k);
                }
            }
        }
        let order = order(&when, &exprs, &index);
        Self {
            leaves,
            structure: Structure {
                index,
                conditions: exprs,
                condition_texts: texts,
                when,
                order,
                constraints: constraints.iter().map(|c| c.expr.clone()).collect(),
                constraint_texts: constraints.iter().map(|c| c.text.clone()).collect(),
            },
        }
    }

    /// Whether some parameter is not in every run.
    pub fn is_conditional(&self) -> bool {
        !self.structure.conditions.is_empty()
    }

    /// Whether some runs are ruled out by constraints.
    pub fn is_constrained(&self) -> bool {
        !self.structure.constraints.is_empty()
    }

    /// Whether a run may lack this leaf.
    pub fn is_conditional_leaf(&self, leaf: usize) -> bool {
        !self.structure.when[leaf].is_empty()
    }

    /// The leaves whose values decide which leaves a run has.
    pub fn deciders(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .structure
            .conditions
            .iter()
            .flat_map(|e| e.names())
            .filter_map(|(name, _)| self.structure.index.get(name).copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Which leaves a run with these values (one per leaf, in leaf order)
    /// has: those whose conditions hold, read on the leaves it has.
    pub fn active(&self, values: &[Value]) -> Vec<bool> {
        let s = &self.structure;
        let mut active = vec![true; self.leaves.len()];
        if s.conditions.is_empty() {
            return active;
        }
        for &leaf in &s.order {
            let on = s.when[leaf].iter().all(|&k| {
                let lookup = |name: &str| {
                    let &i = s.index.get(name)?;
                    active[i].then(|| Val::from_json(&values[i])).flatten()
                };
                crate::spec::expr_eval(&s.conditions[k], &lookup) == Some(Val::Bool(true))
            });
            active[leaf] = on;
        }
        active
    }

    /// Whether values (with the leaves a run has) satisfy every constraint.
    pub fn satisfies(&self, values: &[Value], active: &[bool]) -> bool {
        self.broken(values, active).is_none()
    }

    /// The first constraint the values break, as written.
    pub fn broken(&self, values: &[Value], active: &[bool]) -> Option<String> {
        let s = &self.structure;
        let lookup = |name: &str| {
            let &i = s.index.get(name)?;
            active[i].then(|| Val::from_json(&values[i])).flatten()
        };
        s.constraints
            .iter()
            .position(|e| !crate::spec::holds(e, &lookup))
            .map(|k| s.constraint_texts[k].clone())
    }

    /// The conditions a leaf's runs meet, as written.
    pub fn conditions_of(&self, leaf: usize) -> Vec<String> {
        let s = &self.structure;
        s.when[leaf]
            .iter()
            .map(|&k| s.condition_texts[k].clone())
            .collect()
    }

    /// Whether a run's parameters satisfy every constraint.
    pub fn admits(&self, params: &ParamSet) -> bool {
        let s = &self.structure;
        let lookup = |name: &str| {
            let &i = s.index.get(name)?;
            Space::lookup(params, &self.leaves[i].path).and_then(Val::from_json)
        };
        s.constraints.iter().all(|e| crate::spec::holds(e, &lookup))
    }

    /// Build a run's parameters from one value per leaf (in leaf order):
    /// nested parameters become nested objects, and leaves the run does not
    /// have (their conditions do not hold) are left out.
    pub fn assemble(&self, values: Vec<Value>) -> ParamSet {
        debug_assert_eq!(values.len(), self.leaves.len());
        let active = self.active(&values);
        let mut out = ParamSet::new();
        for ((leaf, value), on) in self.leaves.iter().zip(values).zip(active) {
            if !on {
                continue;
            }
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

/// Leaves ordered so that each comes after every leaf its conditions read
/// (depth first; a cycle, which `validate` refuses, is cut where met).
fn order(when: &[Vec<usize>], conditions: &[Expr], index: &HashMap<String, usize>) -> Vec<usize> {
    let reads: Vec<Vec<usize>> = when
        .iter()
        .map(|ks| {
            ks.iter()
                .flat_map(|&k| conditions[k].names())
                .filter_map(|(name, _)| index.get(name).copied())
                .collect()
        })
        .collect();
    let mut seen = vec![false; when.len()];
    let mut out = Vec::with_capacity(when.len());
    fn visit(i: usize, reads: &[Vec<usize>], seen: &mut [bool], out: &mut Vec<usize>) {
        if seen[i] {
            return;
        }
        seen[i] = true;
        for &j in &reads[i] {
            visit(j, reads, seen, out);
        }
        out.push(i);
    }
    for i in 0..when.len() {
        visit(i, &reads, &mut seen, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Format, check};
    use serde_json::json;

    fn space(yaml: &str) -> Space {
        let spec = check(yaml, Format::Yaml).spec.expect("valid");
        Space::new(&spec)
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
