//! Grid search in W&B's order: parameters sorted by name (per nesting level),
//! the last one varying fastest, each parameter's values as listed, equal
//! values once (a whole-number float equals the integer), `int_uniform` from
//! min to max inclusive, `q_uniform` from min in steps of q with max excluded
//! (numpy's `arange`). A point already run, in any state, is not proposed
//! again; the grid ends when every point has been run.
//!
//! Nothing grows with the grid: point `n` is decoded from `n` (mixed radix,
//! the last axis the fastest digit), and a run's point is encoded back to its
//! index, so a proposal costs O(runs so far). Integer and float steps are not
//! listed either: step `i` is computed from `i`, so a grid of 200 float axes
//! of a million steps each costs a few kilobytes. Only listed values
//! (`values: [...]`, bounded by the sweep file) are held, and the numbers of
//! the points proposed so far (so a stretch that breaks a constraint is
//! checked once).
//!
//! With `sweepd.conditions`, the grid is a union of branches: one per
//! combination of the values of the parameters that conditions read (in
//! grid order), each a grid (in W&B's order) of the parameters a run of
//! that combination has, and combinations that give the same runs once.
//! A parameter a branch lacks multiplies nothing. Points that break a
//! `sweepd.constraints` condition are skipped, and counted where the grid
//! is small enough to count.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::spec::{GridAxis, SweepSpec};
use crate::value::{identity, whole_f64, whole_number};

use super::{History, ParamSet, PointCount, Search, SearchError, SearchSize, Space};

/// Combinations of deciding values a grid takes at most (each a branch).
const MAX_BRANCHES: u128 = 10_000;
/// Grids with constraints up to this many points are counted point by point.
const MAX_COUNTED: u128 = 100_000;

#[derive(Debug, Clone)]
pub struct Grid {
    space: Space,
    branches: Vec<Branch>,
    /// Points before constraints.
    total: PointCount,
    /// Points that break a constraint, when counted.
    skipped: Option<u128>,
    /// Points are numbered below this: the total, or u128::MAX for a grid
    /// beyond it (whose later points no sweep will live to run).
    end: u128,
    /// The numbers of the points below `scanned` that satisfy the
    /// constraints, ascending: a stretch of points that break one is
    /// checked once, not at every proposal.
    open: Vec<u128>,
    scanned: u128,
}

/// One branch: the runs that have the same parameters and the same
/// deciding values.
#[derive(Debug, Clone)]
struct Branch {
    /// The number of its first point.
    start: u128,
    /// One entry per leaf.
    columns: Vec<Column>,
    /// Indices (into `columns`) of the axes, in grid order.
    axes: Vec<usize>,
    /// Deciding leaves fixed in this branch, by identity.
    fixed: Vec<(usize, String)>,
}

#[derive(Debug, Clone)]
enum Column {
    Constant(Value),
    Axis(Axis),
    /// Not a parameter of this branch's runs.
    Absent,
}

#[derive(Debug, Clone)]
enum Axis {
    /// Listed values, equal ones collapsed.
    List {
        values: Vec<Value>,
        positions: HashMap<String, usize>,
    },
    /// `start, start + step, ...`, `len` of them.
    Ints { start: i64, step: i64, len: u128 },
    /// A float q_uniform, computed step by step.
    Floats(FloatSteps),
}

impl Grid {
    /// The grid of a sweep; every parameter must be one a grid can list (a
    /// checked grid sweep's always are).
    pub fn new(spec: &SweepSpec) -> Result<Self, SearchError> {
        Self::of_space(Space::new(spec))
    }

    pub fn of_space(space: Space) -> Result<Self, SearchError> {
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
                    Axis::Floats(FloatSteps::new(start, delta, len)),
                )),
                Err(_) => refused.push(leaf.name()),
            }
        }
        if !refused.is_empty() {
            return Err(SearchError::NotEnumerable(refused));
        }
        let mut branches = branches(&space, columns)?;
        let mut total = PointCount::Exact(0);
        for branch in &mut branches {
            branch.start = total.exact().unwrap_or(u128::MAX);
            total = add(total, branch.count());
        }
        let end = total.exact().unwrap_or(u128::MAX);
        let mut grid = Self {
            space,
            branches,
            total,
            skipped: None,
            end,
            open: Vec::new(),
            scanned: 0,
        };
        if grid.space.is_constrained()
            && let Some(n) = total.exact().filter(|&n| n <= MAX_COUNTED)
        {
            grid.skipped = Some((0..n).filter(|&i| !grid.is_feasible(i)).count() as u128);
        }
        Ok(grid)
    }

    /// The number of distinct points that may run: after constraints when
    /// they could be counted (see [`Grid::skipped`]), else before.
    pub fn count(&self) -> PointCount {
        match (self.total, self.skipped) {
            (PointCount::Exact(n), Some(skipped)) => PointCount::Exact(n - skipped),
            (total, _) => total,
        }
    }

    /// How many points constraints rule out: `Some(0)` without constraints,
    /// `None` when the grid is too large to count them.
    pub fn skipped(&self) -> Option<u128> {
        if self.space.is_constrained() {
            self.skipped
        } else {
            Some(0)
        }
    }

    /// Point number `index` in grid order (`index` below the total),
    /// whether or not it satisfies the constraints.
    pub fn point(&self, index: u128) -> ParamSet {
        self.space.assemble(self.values(index))
    }

    /// One value per leaf (null for those the point lacks).
    fn values(&self, index: u128) -> Vec<Value> {
        let at = self.branches.partition_point(|b| b.start <= index) - 1;
        let branch = &self.branches[at];
        let mut chosen = vec![0u128; branch.columns.len()];
        let mut rest = index - branch.start;
        for &column in branch.axes.iter().rev() {
            let len = axis(&branch.columns, column).len();
            chosen[column] = rest % len;
            rest /= len;
        }
        branch
            .columns
            .iter()
            .zip(chosen)
            .map(|(column, i)| match column {
                Column::Constant(value) => value.clone(),
                Column::Axis(axis) => axis.value(i),
                Column::Absent => Value::Null,
            })
            .collect()
    }

    /// Whether point `index` satisfies every constraint.
    fn is_feasible(&self, index: u128) -> bool {
        if !self.space.is_constrained() {
            return true;
        }
        let values = self.values(index);
        let active = self.space.active(&values);
        self.space.satisfies(&values, &active)
    }

    /// Every point that may run, in grid order, computed as it is asked for.
    pub fn points(&self) -> impl Iterator<Item = ParamSet> + '_ {
        (0..self.end)
            .filter(|&i| self.is_feasible(i))
            .map(|i| self.point(i))
    }

    /// The grid index of a run's parameters, if they are a point of this grid
    /// (numbered below 2^128).
    pub fn index_of(&self, params: &ParamSet) -> Option<u128> {
        self.branches
            .iter()
            .find_map(|branch| branch.index_of(&self.space, params))
    }
}

impl Branch {
    fn count(&self) -> PointCount {
        count_points(self.axes.iter().map(|&i| axis(&self.columns, i).len()))
    }

    fn index_of(&self, space: &Space, params: &ParamSet) -> Option<u128> {
        for (leaf, key) in &self.fixed {
            let value = Space::lookup(params, &space.leaves[*leaf].path)?;
            if identity(value) != *key {
                return None;
            }
        }
        for (leaf, column) in self.columns.iter().enumerate() {
            if matches!(column, Column::Absent)
                && Space::lookup(params, &space.leaves[leaf].path).is_some()
            {
                return None;
            }
        }
        let mut index = 0u128;
        for &column in &self.axes {
            let axis = axis(&self.columns, column);
            let value = Space::lookup(params, &space.leaves[column].path)?;
            index = index
                .checked_mul(axis.len())?
                .checked_add(axis.position(value)?)?;
        }
        self.start.checked_add(index)
    }
}

/// The branches of a grid: one per combination of the deciding leaves'
/// values that gives runs of its own, in grid order.
fn branches(space: &Space, columns: Vec<Column>) -> Result<Vec<Branch>, SearchError> {
    let deciders: Vec<usize> = space
        .deciders()
        .into_iter()
        .filter(|&i| matches!(columns[i], Column::Axis(_)))
        .collect();
    let lens: Vec<u128> = deciders.iter().map(|&i| axis(&columns, i).len()).collect();
    let combos = lens
        .iter()
        .try_fold(1u128, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_BRANCHES)
        .ok_or_else(|| {
            SearchError::TooManyBranches(deciders.iter().map(|&i| space.leaves[i].name()).collect())
        })?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for combo in 0..combos {
        // Mixed radix, the last decider fastest.
        let mut rest = combo;
        let mut picked = vec![0u128; deciders.len()];
        for (k, len) in lens.iter().enumerate().rev() {
            picked[k] = rest % len;
            rest /= len;
        }
        let mut values: Vec<Value> = columns
            .iter()
            .map(|c| match c {
                Column::Constant(v) => v.clone(),
                _ => Value::Null,
            })
            .collect();
        for (&leaf, &i) in deciders.iter().zip(&picked) {
            values[leaf] = axis(&columns, leaf).value(i);
        }
        let active = space.active(&values);
        let fixed: Vec<(usize, String)> = deciders
            .iter()
            .filter(|&&leaf| active[leaf])
            .map(|&leaf| (leaf, identity(&values[leaf])))
            .collect();
        if !seen.insert((active.clone(), fixed.clone())) {
            continue;
        }
        let branch_columns: Vec<Column> = columns
            .iter()
            .enumerate()
            .map(|(leaf, column)| {
                if !active[leaf] {
                    Column::Absent
                } else if deciders.contains(&leaf) {
                    Column::Constant(values[leaf].clone())
                } else {
                    column.clone()
                }
            })
            .collect();
        let axes = (0..branch_columns.len())
            .filter(|&i| matches!(branch_columns[i], Column::Axis(_)))
            .collect();
        out.push(Branch {
            start: 0,
            columns: branch_columns,
            axes,
            fixed,
        });
    }
    Ok(out)
}

fn add(a: PointCount, b: PointCount) -> PointCount {
    match (a, b) {
        (PointCount::Exact(x), PointCount::Exact(y)) => match x.checked_add(y) {
            Some(n) => PointCount::Exact(n),
            None => PointCount::Beyond { log10: 38 },
        },
        (PointCount::Beyond { log10: x }, PointCount::Beyond { log10: y }) => {
            PointCount::Beyond { log10: x.max(y) }
        }
        (PointCount::Beyond { log10 }, _) | (_, PointCount::Beyond { log10 }) => {
            PointCount::Beyond { log10 }
        }
    }
}

/// The product of the axes' lengths, exact while it fits a u128.
fn count_points(lens: impl Iterator<Item = u128>) -> PointCount {
    let mut exact = Some(1u128);
    let mut log10 = 0.0f64;
    for len in lens {
        if len == 0 {
            return PointCount::Exact(0);
        }
        exact = exact.and_then(|n| n.checked_mul(len));
        log10 += (len as f64).log10();
    }
    match exact {
        Some(n) => PointCount::Exact(n),
        None => PointCount::Beyond {
            log10: log10.round() as u32,
        },
    }
}

fn axis(columns: &[Column], column: usize) -> &Axis {
    match &columns[column] {
        Column::Axis(axis) => axis,
        _ => unreachable!("axes index only axis columns"),
    }
}

impl Search for Grid {
    fn size(&self) -> SearchSize {
        SearchSize::Finite(self.count())
    }

    fn propose(&mut self, history: &History) -> Result<Option<ParamSet>, SearchError> {
        let done: HashSet<u128> = history
            .trials
            .iter()
            .filter_map(|trial| self.index_of(&trial.params))
            .collect();
        // The first point not run yet that satisfies the constraints.
        if let Some(&i) = self.open.iter().find(|i| !done.contains(i)) {
            return Ok(Some(self.point(i)));
        }
        while self.scanned < self.end {
            let i = self.scanned;
            self.scanned += 1;
            if self.is_feasible(i) {
                self.open.push(i);
                if !done.contains(&i) {
                    return Ok(Some(self.point(i)));
                }
            }
        }
        Ok(None)
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
            Axis::Floats(steps) => u128::from(steps.len()),
        }
    }

    fn value(&self, i: u128) -> Value {
        match self {
            Axis::List { values, .. } => values[i as usize].clone(),
            Axis::Ints { start, step, .. } => {
                // Below `len`, so between min and max: it fits an i64.
                Value::from((i128::from(*start) + i128::from(*step) * i as i128) as i64)
            }
            Axis::Floats(steps) => Value::from(steps.value(i as u64)),
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
            Axis::Floats(steps) => steps.position(float_identity(value)?).map(u128::from),
        }
    }
}

/// The float a value is equal to in W&B's sense (see [`identity`]): a float
/// itself, or an integer that a float holds exactly below 2^63 (`3` is
/// `3.0`); `None` for anything no float equals.
fn float_identity(value: &Value) -> Option<f64> {
    if value.is_f64() {
        return value.as_f64();
    }
    let n = value.as_i64()?;
    let x = n as f64;
    (whole_f64(x) == Some(n)).then_some(x)
}

/// How often [`FloatSteps`] marks its distinct values when rounding repeats some.
const MARK_EVERY: u64 = 1024;

/// numpy's `arange` on floats: step `i` is `start + i * delta`, for `i` below
/// `steps`, computed when asked rather than listed. `delta >= 0`, so the steps
/// never decrease and equal ones (rounding at large magnitudes) are
/// neighbours: the axis's values are the distinct steps, in order.
#[derive(Debug, Clone)]
struct FloatSteps {
    start: f64,
    delta: f64,
    steps: u64,
    /// `None` when every step is a new value, the usual case.
    repeats: Option<Repeats>,
}

/// Where rounding makes neighbouring steps equal: the number of distinct
/// values, and before every `MARK_EVERY`th step how many distinct values
/// came first (`steps / 1024` numbers, at most about a thousand).
#[derive(Debug, Clone)]
struct Repeats {
    distinct: u64,
    marks: Vec<u64>,
}

impl FloatSteps {
    fn new(start: f64, delta: f64, steps: u64) -> Self {
        let mut axis = FloatSteps {
            start,
            delta,
            steps,
            repeats: None,
        };
        // Every |step| and |i * delta| is at most `reach`, so each of the two
        // roundings in a step is off by at most half an ulp of `reach`, and
        // neighbours differ by at least delta - 2 ulp: with delta beyond four
        // ulps no two are equal, and nothing needs counting.
        let reach = start.abs() + steps as f64 * delta;
        let ulp = (reach * f64::EPSILON).max(f64::from_bits(1));
        if delta > 4.0 * ulp {
            return axis;
        }
        // Otherwise count them, once, without holding them.
        let mut marks = Vec::with_capacity(steps.div_ceil(MARK_EVERY) as usize);
        let mut distinct = 0;
        for i in 0..steps {
            if i % MARK_EVERY == 0 {
                marks.push(distinct);
            }
            if axis.is_new(i) {
                distinct += 1;
            }
        }
        if distinct < steps {
            axis.repeats = Some(Repeats { distinct, marks });
        }
        axis
    }

    /// Step `i`, as numpy computes it.
    fn step(&self, i: u64) -> f64 {
        self.start + i as f64 * self.delta
    }

    /// Whether step `i` differs from the one before it.
    fn is_new(&self, i: u64) -> bool {
        i == 0 || self.step(i) != self.step(i - 1)
    }

    /// The number of distinct values.
    fn len(&self) -> u64 {
        self.repeats.as_ref().map_or(self.steps, |r| r.distinct)
    }

    /// Distinct value number `k` (below `len`).
    fn value(&self, k: u64) -> f64 {
        let Some(repeats) = &self.repeats else {
            return self.step(k);
        };
        // The last mark at or before value k; its first step is within MARK_EVERY.
        let block = repeats.marks.partition_point(|&m| m <= k) - 1;
        let mut rank = repeats.marks[block];
        for i in block as u64 * MARK_EVERY..self.steps {
            if self.is_new(i) {
                if rank == k {
                    return self.step(i);
                }
                rank += 1;
            }
        }
        unreachable!("value {k} of an axis of {} values", repeats.distinct)
    }

    /// The number of the distinct value equal to `x`, if it is one.
    fn position(&self, x: f64) -> Option<u64> {
        // The first step at or above x (the steps never decrease).
        let (mut low, mut high) = (0, self.steps);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.step(mid) < x {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        if low == self.steps || self.step(low) != x {
            return None;
        }
        let Some(repeats) = &self.repeats else {
            return Some(low);
        };
        let block = low / MARK_EVERY;
        let before = (block * MARK_EVERY..low)
            .filter(|&i| self.is_new(i))
            .count() as u64;
        Some(repeats.marks[block as usize] + before)
    }
}

#[cfg(test)]
mod tests;
