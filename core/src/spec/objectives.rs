//! `sweepd.objectives` (several metrics optimised at once) and
//! `sweepd.outcome_constraints` (bounds on logged metrics that a good run
//! must keep).

use super::checker::Checker;
use super::diagnostic::KeyPath;
use super::document::{Node, Value};
use super::expr::{self, Expr, Op};
use super::metric::{Goal, read_goal};

/// One of several metrics the sweep optimises together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub name: String,
    pub goal: Goal,
}

/// `memory_gb <= 40`: a run whose last logged `memory_gb` is above 40 is
/// feasible for nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeConstraint {
    pub metric: String,
    pub op: Op,
    pub bound: f64,
    /// As written.
    pub text: String,
}

impl OutcomeConstraint {
    /// Whether a value keeps the constraint.
    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Op::Lt => value < self.bound,
            Op::Le => value <= self.bound,
            Op::Gt => value > self.bound,
            _ => value >= self.bound,
        }
    }

    /// How far past the bound a value is (positive: broken), in the
    /// metric's units: what a model of the constraint learns.
    pub fn excess(&self, value: f64) -> f64 {
        match self.op {
            Op::Lt | Op::Le => value - self.bound,
            _ => self.bound - value,
        }
    }
}

/// `objectives: [{name: accuracy, goal: maximize}, {name: latency_ms}]`.
pub(crate) fn read_objectives(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Vec<Objective>> {
    let help = "write `objectives: [{name: accuracy, goal: maximize}, {name: latency_ms, goal: minimize}]`";
    let Value::Seq(items) = &node.value else {
        c.error_help(
            node.position,
            path,
            format!("expected a list of objectives, found {}", node.describe()),
            help,
        );
        return None;
    };
    let mut out: Vec<Objective> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        let Some(fields) = c.mapping(item, &at, "an objective") else {
            ok = false;
            continue;
        };
        c.only_keys(&fields, &["name", "goal"], "an objective");
        let name = c
            .require(&fields, "name", "an objective")
            .and_then(|n| c.string(n, &fields.child("name")));
        let goal = read_goal(c, &fields);
        match (name, goal) {
            (Some(name), Some(goal)) => {
                if out.iter().any(|o| o.name == name) {
                    c.error(
                        item.position,
                        &at,
                        format!("`{name}` is already an objective"),
                    );
                    ok = false;
                }
                out.push(Objective { name, goal });
            }
            _ => ok = false,
        }
    }
    if ok && out.len() < 2 {
        c.error_help(
            node.position,
            path,
            format!(
                "`objectives` lists {} metric{}: it is for two or more",
                out.len(),
                if out.len() == 1 { "" } else { "s" }
            ),
            "optimise one metric with W&B's `metric: {name: ..., goal: ...}`",
        );
        return None;
    }
    ok.then_some(out)
}

/// `outcome_constraints: ["memory_gb <= 40"]`: each one metric compared
/// with a number.
pub(crate) fn read_outcome_constraints(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Vec<OutcomeConstraint>> {
    let help = "write `outcome_constraints: [\"memory_gb <= 40\"]`: a metric your program logs, \
                <, <=, > or >=, and a number";
    let Value::Seq(items) = &node.value else {
        c.error_help(
            node.position,
            path,
            format!("expected a list of bounds, found {}", node.describe()),
            help,
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        let Value::Str(text) = &item.value else {
            c.error_help(
                item.position,
                &at,
                format!("expected a bound as text, found {}", item.describe()),
                help,
            );
            ok = false;
            continue;
        };
        match outcome(text) {
            Ok(constraint) => out.push(constraint),
            Err((column, message)) => {
                c.error_help(
                    item.position,
                    &at,
                    format!("{message} (column {column} of `{text}`)"),
                    help,
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `metric op number` or `number op metric`.
fn outcome(text: &str) -> Result<OutcomeConstraint, (usize, String)> {
    let parsed = expr::parse(text).map_err(|e| (e.at + 1, e.message))?;
    let shape = "an outcome constraint compares one logged metric with a number".to_owned();
    let Expr::Binary {
        op,
        left,
        right,
        at,
    } = parsed
    else {
        return Err((1, shape));
    };
    let flipped = |op: Op| match op {
        Op::Lt => Op::Gt,
        Op::Le => Op::Ge,
        Op::Gt => Op::Lt,
        _ => Op::Le,
    };
    if !matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
        return Err((at + 1, format!("{shape} by <, <=, > or >=")));
    }
    let number = |e: &Expr| match e {
        Expr::Num(n) => Some(*n),
        Expr::Neg(inner) => match **inner {
            Expr::Num(n) => Some(-n),
            _ => None,
        },
        _ => None,
    };
    let (metric, op, bound) = match (&*left, &*right) {
        (Expr::Name { name, .. }, r) if number(r).is_some() => {
            (name.clone(), op, number(r).expect("a number"))
        }
        (l, Expr::Name { name, .. }) if number(l).is_some() => {
            (name.clone(), flipped(op), number(l).expect("a number"))
        }
        _ => return Err((1, shape)),
    };
    Ok(OutcomeConstraint {
        metric,
        op,
        bound,
        text: text.to_owned(),
    })
}
