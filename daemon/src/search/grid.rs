//! Grid search in W&B's order: parameters sorted by name (per nesting level),
//! the last one varying fastest, each parameter's values as listed, equal
//! values once (a whole-number float equals the integer), `int_uniform` from
//! min to max inclusive, `q_uniform` from min in steps of q with max excluded
//! (numpy's `arange`). A point already run, in any state, is not proposed
//! again; the grid ends when every point has been run.
//!
//! Axes are not materialised: `int_uniform: {min: 0, max: 10^12}` costs nothing
//! until its points are asked for.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::spec::{Distribution, Num, Parameters};

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
    /// Listed values, duplicates collapsed.
    List {
        values: Vec<Value>,
        positions: HashMap<String, usize>,
    },
    /// `start, start + step, ...`: int_uniform, and q_uniform with integer bounds and step.
    Ints { start: i64, step: i64, len: u64 },
    /// numpy's `arange` on floats: `start + i * delta` with `delta = (start + q) - start`.
    Floats { start: f64, delta: f64, len: u64 },
}

impl Grid {
    pub fn new(parameters: &Parameters) -> Result<Self, SearchError> {
        let space = Space::new(parameters);
        let mut columns = Vec::with_capacity(space.leaves.len());
        let mut refused = Vec::new();
        for leaf in &space.leaves {
            columns.push(match &leaf.distribution {
                Distribution::Constant { value } => Column::Constant(value.clone()),
                Distribution::Categorical { values } => Column::Axis(Axis::list(values)),
                Distribution::IntUniform { min, max } => Column::Axis(Axis::Ints {
                    start: *min,
                    step: 1,
                    len: (i128::from(*max) - i128::from(*min) + 1) as u64,
                }),
                Distribution::QUniform { min, max, q } => {
                    Column::Axis(Axis::arange(*min, *max, *q))
                }
                _ => {
                    refused.push(leaf.name());
                    continue;
                }
            });
        }
        if !refused.is_empty() {
            return Err(SearchError::NotEnumerable(refused));
        }
        let axes: Vec<usize> = (0..columns.len())
            .filter(|&i| matches!(columns[i], Column::Axis(_)))
            .collect();
        let size = axes.iter().fold(1u128, |size, &i| match &columns[i] {
            Column::Axis(axis) => size.saturating_mul(u128::from(axis.len())),
            Column::Constant(_) => size,
        });
        Ok(Self {
            space,
            columns,
            axes,
            size,
        })
    }

    /// The number of distinct points.
    pub fn len(&self) -> u128 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Point number `index` in grid order.
    pub fn point(&self, index: u128) -> ParamSet {
        let mut chosen = vec![0u64; self.columns.len()];
        let mut rest = index;
        for &column in self.axes.iter().rev() {
            let len = u128::from(self.axis(column).len());
            chosen[column] = (rest % len) as u64;
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
            let axis = self.axis(column);
            let value = Space::lookup(params, &self.space.leaves[column].path)?;
            index = index * u128::from(axis.len()) + u128::from(axis.position(value)?);
        }
        Some(index)
    }

    fn axis(&self, column: usize) -> &Axis {
        match &self.columns[column] {
            Column::Axis(axis) => axis,
            Column::Constant(_) => unreachable!("axes index only axis columns"),
        }
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
    /// Listed values with duplicates collapsed as W&B does: the first
    /// occurrence keeps its place, and the last occurrence's value is used.
    fn list(values: &[Value]) -> Self {
        let mut distinct: Vec<Value> = Vec::with_capacity(values.len());
        let mut positions = HashMap::with_capacity(values.len());
        for value in values {
            match positions.get(&grid_key(value)) {
                Some(&at) => distinct[at] = value.clone(),
                None => {
                    positions.insert(grid_key(value), distinct.len());
                    distinct.push(value.clone());
                }
            }
        }
        Axis::List {
            values: distinct,
            positions,
        }
    }

    /// numpy's `arange(min, max, q)`: integers when all three are integers.
    fn arange(min: Num, max: Num, q: Num) -> Self {
        match (min, max, q) {
            (Num::Int(start), Num::Int(stop), Num::Int(step)) => {
                let span = i128::from(stop) - i128::from(start);
                let step128 = i128::from(step);
                Axis::Ints {
                    start,
                    step,
                    len: ((span + step128 - 1) / step128) as u64,
                }
            }
            _ => {
                let (start, stop, step) = (min.as_f64(), max.as_f64(), q.as_f64());
                Axis::Floats {
                    start,
                    delta: (start + step) - start,
                    len: ((stop - start) / step).ceil() as u64,
                }
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            Axis::List { values, .. } => values.len() as u64,
            Axis::Ints { len, .. } | Axis::Floats { len, .. } => *len,
        }
    }

    fn value(&self, i: u64) -> Value {
        match self {
            Axis::List { values, .. } => values[i as usize].clone(),
            Axis::Ints { start, step, .. } => Value::from(start + step * i as i64),
            Axis::Floats { start, delta, .. } => Value::from(start + i as f64 * delta),
        }
    }

    /// Where `value` sits on this axis, comparing as W&B does.
    fn position(&self, value: &Value) -> Option<u64> {
        match self {
            Axis::List { positions, .. } => positions.get(&grid_key(value)).map(|&i| i as u64),
            Axis::Ints { start, step, len } => {
                let v = whole_number(value)?;
                let offset = i128::from(v) - i128::from(*start);
                let step = i128::from(*step);
                (offset >= 0 && offset % step == 0 && offset / step < i128::from(*len))
                    .then(|| (offset / step) as u64)
            }
            Axis::Floats { start, delta, len } => {
                let v = value.as_f64()?;
                let i = ((v - start) / delta).round();
                if !(0.0..*len as f64).contains(&i) {
                    return None;
                }
                let i = i as u64;
                (grid_key(&self.value(i)) == grid_key(value)).then_some(i)
            }
        }
    }
}

/// An integer, or a float with no fractional part, as an i64.
fn whole_number(value: &Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let x = value.as_f64()?;
    (x.fract() == 0.0 && x.abs() < 9.0e18).then_some(x as i64)
}

/// The identity of a grid value: canonical JSON (object keys sorted), with a
/// whole-number float written as the integer, so `3.0` and `3` are one point
/// (W&B hashes values the same way, and so does its server's run config).
pub(crate) fn grid_key(value: &Value) -> String {
    if value.is_f64()
        && let Some(i) = whole_number(value)
    {
        return i.to_string();
    }
    canonical(value)
}

fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
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
