//! Grid search in W&B's order: parameters sorted by name (per nesting level),
//! the last one varying fastest, each parameter's values as listed, equal
//! values once (a whole-number float equals the integer), `int_uniform` from
//! min to max inclusive, `q_uniform` from min in steps of q with max excluded
//! (numpy's `arange`). A point already run, in any state, is not proposed
//! again; the grid ends when every point has been run.
//!
//! Integer axes are not materialised: `int_uniform: {min: 0, max: 10^12}`
//! costs nothing until its points are asked for. Listed values and float
//! steps (at most [`crate::spec::MAX_FLOAT_STEPS`]) are held, deduplicated.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::spec::{GridAxis, Parameters};
use crate::value::{identity, whole_number};

use super::{History, ParamSet, Search, SearchError, SearchSize, Space};

#[derive(Debug, Clone)]
pub struct Grid {
    space: Space,
    /// One entry per leaf: the axis that varies, or the constant.
    columns: Vec<Column>,
    /// Indices (into `columns`) of the axes, in grid order.
    axes: Vec<usize>,
    size: u128,
}

#[derive(Debug, Clone)]
enum Column {
    Constant(Value),
    Axis(Axis),
}

#[derive(Debug, Clone)]
enum Axis {
    /// Values, equal ones collapsed: categorical values, float steps.
    List {
        values: Vec<Value>,
        positions: HashMap<String, usize>,
    },
    /// `start, start + step, ...`, `len` of them.
    Ints { start: i64, step: i64, len: u128 },
}

impl Grid {
    /// The grid of `parameters`; every parameter must be one a grid can list
    /// (a checked grid sweep's always are).
    pub fn new(parameters: &Parameters) -> Result<Self, SearchError> {
        let space = Space::new(parameters);
        let mut columns = Vec::with_capacity(space.leaves.len());
        let mut refused = Vec::new();
        for leaf in &space.leaves {
            match leaf.distribution.grid_axis() {
                Ok(GridAxis::Constant(value)) => columns.push(Column::Constant(value.clone())),
                Ok(GridAxis::Values(values)) => {
                    columns.push(Column::Axis(Axis::list(values.iter().cloned())))
                }
                Ok(GridAxis::Ints { start, step, len }) => {
                    columns.push(Column::Axis(Axis::Ints { start, step, len }))
                }
                Ok(GridAxis::Floats { start, delta, len }) => columns.push(Column::Axis(
                    Axis::list((0..len).map(|i| Value::from(start + i as f64 * delta))),
                )),
                Err(_) => refused.push(leaf.name()),
            }
        }
        if !refused.is_empty() {
            return Err(SearchError::NotEnumerable(refused));
        }
        let axes: Vec<usize> = (0..columns.len())
            .filter(|&i| matches!(columns[i], Column::Axis(_)))
            .collect();
        let size = axes.iter().fold(1u128, |size, &i| {
            size.saturating_mul(axis(&columns, i).len())
        });
        Ok(Self {
            space,
            columns,
            axes,
            size,
        })
    }

    /// The number of distinct points (saturating at u128::MAX).
    pub fn len(&self) -> u128 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Point number `index` in grid order.
    pub fn point(&self, index: u128) -> ParamSet {
        let mut chosen = vec![0u128; self.columns.len()];
        let mut rest = index;
        for &column in self.axes.iter().rev() {
            let len = axis(&self.columns, column).len();
            chosen[column] = rest % len;
            rest /= len;
        }
        let values = self
            .columns
            .iter()
            .zip(chosen)
            .map(|(column, i)| match column {
                Column::Constant(value) => value.clone(),
                Column::Axis(axis) => axis.value(i),
            })
            .collect();
        self.space.assemble(values)
    }

    /// Every point in grid order.
    pub fn points(&self) -> impl Iterator<Item = ParamSet> + '_ {
        (0..self.size).map(|i| self.point(i))
    }

    /// The grid index of a run's parameters, if they are a point of this grid.
    pub fn index_of(&self, params: &ParamSet) -> Option<u128> {
        let mut index = 0u128;
        for &column in &self.axes {
            let axis = axis(&self.columns, column);
            let value = Space::lookup(params, &self.space.leaves[column].path)?;
            index = index
                .checked_mul(axis.len())?
                .checked_add(axis.position(value)?)?;
        }
        Some(index)
    }
}

fn axis(columns: &[Column], column: usize) -> &Axis {
    match &columns[column] {
        Column::Axis(axis) => axis,
        Column::Constant(_) => unreachable!("axes index only axis columns"),
    }
}

impl Search for Grid {
    fn size(&self) -> SearchSize {
        SearchSize::Finite(self.size)
    }

    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError> {
        let done: HashSet<u128> = history
            .trials
            .iter()
            .filter_map(|trial| self.index_of(&trial.params))
            .collect();
        // The first point not run yet; at most done.len() + 1 steps.
        Ok((0..self.size)
            .find(|i| !done.contains(i))
            .map(|i| self.point(i)))
    }
}

impl Axis {
    /// Values with equal ones collapsed as W&B does: the first occurrence
    /// keeps its place, and the last occurrence's value is used.
    fn list(values: impl Iterator<Item = Value>) -> Self {
        let mut distinct: Vec<Value> = Vec::new();
        let mut positions = HashMap::new();
        for value in values {
            let key = identity(&value);
            match positions.get(&key) {
                Some(&at) => distinct[at] = value,
                None => {
                    positions.insert(key, distinct.len());
                    distinct.push(value);
                }
            }
        }
        Axis::List {
            values: distinct,
            positions,
        }
    }

    fn len(&self) -> u128 {
        match self {
            Axis::List { values, .. } => values.len() as u128,
            Axis::Ints { len, .. } => *len,
        }
    }

    fn value(&self, i: u128) -> Value {
        match self {
            Axis::List { values, .. } => values[i as usize].clone(),
            Axis::Ints { start, step, .. } => {
                // Below `len`, so between min and max: it fits an i64.
                Value::from((i128::from(*start) + i128::from(*step) * i as i128) as i64)
            }
        }
    }

    /// Where `value` sits on this axis, comparing as W&B does.
    fn position(&self, value: &Value) -> Option<u128> {
        match self {
            Axis::List { positions, .. } => positions.get(&identity(value)).map(|&i| i as u128),
            Axis::Ints { start, step, len } => {
                let offset = i128::from(whole_number(value)?) - i128::from(*start);
                let step = i128::from(*step);
                (offset >= 0 && offset % step == 0 && ((offset / step) as u128) < *len)
                    .then(|| (offset / step) as u128)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Format, check};
    use serde_json::json;

    fn grid(yaml_parameters: &str) -> Grid {
        let text = format!("method: grid\nprogram: p\nparameters:\n{yaml_parameters}");
        let spec = check(&text, Format::Yaml).spec.expect("valid");
        Grid::new(&spec.parameters).expect("enumerable")
    }

    fn all(grid: &Grid) -> Vec<Value> {
        grid.points().map(Value::Object).collect()
    }

    #[test]
    fn last_parameter_varies_fastest() {
        let g = grid("  b: {values: [1, 2]}\n  a: {values: [x, y]}\n  c: {value: 0}\n");
        assert_eq!(
            all(&g),
            [
                json!({"a": "x", "b": 1, "c": 0}),
                json!({"a": "x", "b": 2, "c": 0}),
                json!({"a": "y", "b": 1, "c": 0}),
                json!({"a": "y", "b": 2, "c": 0}),
            ]
        );
    }

    #[test]
    fn duplicates_collapse_keeping_the_first_place_and_the_last_value() {
        let g = grid("  a: {values: [3, 3.0, 1]}\n  b: {values: [1.0, 1]}\n");
        assert_eq!(g.len(), 2);
        assert_eq!(
            all(&g),
            [json!({"a": 3.0, "b": 1}), json!({"a": 1, "b": 1})]
        );
    }

    #[test]
    fn booleans_are_not_integers_and_dicts_compare_by_content() {
        let g = grid("  a: {values: [true, 1, {x: 1, y: 2}, {y: 2, x: 1}]}\n");
        assert_eq!(g.len(), 3);
    }

    #[test]
    fn int_uniform_includes_max_and_q_uniform_excludes_it() {
        let g = grid("  i: {min: 1, max: 3}\n");
        assert_eq!(all(&g), [json!({"i": 1}), json!({"i": 2}), json!({"i": 3})]);
        let g = grid("  q: {distribution: q_uniform, min: 0, max: 10, q: 3}\n");
        assert_eq!(
            all(&g),
            [
                json!({"q": 0}),
                json!({"q": 3}),
                json!({"q": 6}),
                json!({"q": 9})
            ]
        );
        let g = grid("  q: {distribution: q_uniform, min: 0, max: 1, q: 0.3}\n");
        assert_eq!(
            all(&g),
            [
                json!({"q": 0.0}),
                json!({"q": 0.3}),
                json!({"q": 0.6}),
                json!({"q": 0.8999999999999999})
            ]
        );
    }

    #[test]
    fn huge_axes_cost_nothing_until_asked() {
        let g = grid("  i: {min: 0, max: 1000000000000}\n  j: {values: [a, b]}\n");
        assert_eq!(g.len(), 2_000_000_000_002);
        assert_eq!(Value::Object(g.point(3)), json!({"i": 1, "j": "b"}));
    }

    #[test]
    fn float_steps_that_round_to_one_value_are_one_point() {
        // (1e17 + 1) - 1e17 == 0 in floats: numpy lists 992 copies of 1e17, W&B runs one.
        let g = grid(
            "  x: {distribution: q_uniform, min: 1.0e17, max: 100000000000001000.0, q: 1.0}\n",
        );
        assert_eq!(all(&g), [json!({"x": 1e17})]);
        let mut g = g;
        assert_eq!(g.propose(&History::of_params(g.points())).unwrap(), None);
    }

    #[test]
    fn extreme_integer_axes_do_not_overflow() {
        let g = grid("  i: {min: -9223372036854775808, max: 9223372036854775807}\n");
        assert_eq!(g.len(), 1u128 << 64);
        assert_eq!(
            Value::Object(g.point((1u128 << 64) - 1)),
            json!({"i": i64::MAX})
        );
        let g = grid(
            "  q: {distribution: q_uniform, min: -9223372036854775808, max: 9223372036854775807, q: 4611686018427387904}\n",
        );
        assert_eq!(
            all(&g),
            [
                json!({"q": i64::MIN}),
                json!({"q": -4611686018427387904i64}),
                json!({"q": 0}),
                json!({"q": 4611686018427387904i64})
            ]
        );
        let last = g.point(3);
        assert_eq!(g.index_of(&last), Some(3));
    }

    #[test]
    fn proposals_skip_points_already_run_and_end() {
        let mut g = grid("  a: {values: [1, 2, 3]}\n");
        let ran = History::of_params([g.point(0), g.point(2)]);
        assert_eq!(g.propose(&ran).unwrap(), Some(g.point(1)));
        let everything = History::of_params(g.points());
        assert_eq!(g.propose(&everything).unwrap(), None);
    }

    #[test]
    fn a_whole_float_in_history_matches_the_integer_point() {
        let mut g = grid("  a: {values: [1, 2]}\n  n: {min: 1, max: 2}\n");
        let mut first = g.point(0);
        first.insert("n".into(), json!(1.0));
        first.insert("a".into(), json!(1.0));
        let next = g.propose(&History::of_params([first])).unwrap();
        assert_eq!(next, Some(g.point(1)));
    }

    #[test]
    fn runs_off_the_grid_do_not_count() {
        let mut g = grid("  a: {values: [1, 2]}\n");
        let mut stray = ParamSet::new();
        stray.insert("a".into(), json!(7));
        assert_eq!(
            g.propose(&History::of_params([stray])).unwrap(),
            Some(g.point(0))
        );
    }

    #[test]
    fn proposing_repeatedly_walks_the_grid_in_order() {
        let mut g = grid(
            "  opt:\n    parameters:\n      lr: {values: [0.1, 0.01]}\n      m: {value: 0.9}\n  bs: {distribution: q_uniform, min: 16, max: 64, q: 16}\n",
        );
        let mut history = History::default();
        while let Some(params) = g.propose(&history).unwrap() {
            history.trials.push(super::super::Trial {
                params,
                state: super::super::TrialState::Finished,
                metric: vec![],
            });
        }
        let proposed: Vec<ParamSet> = history.trials.into_iter().map(|t| t.params).collect();
        assert_eq!(proposed, g.points().collect::<Vec<_>>());
        assert_eq!(proposed.len(), 6);
    }

    #[test]
    fn continuous_parameters_are_refused_by_name() {
        let spec = check(
            "method: random\nprogram: p\nparameters:\n  lr: {min: 0.0, max: 1.0}\n  m: {parameters: {w: {distribution: normal}}}\n",
            Format::Yaml,
        )
        .spec
        .unwrap();
        assert_eq!(
            Grid::new(&spec.parameters).unwrap_err(),
            SearchError::NotEnumerable(vec!["lr".into(), "m.w".into()])
        );
    }
}
