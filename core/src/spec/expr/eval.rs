//! An expression on one run's values.

use serde_json::Value;

use super::{Expr, Func, Op};

/// A value while evaluating.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Str(String),
    Bool(bool),
}

impl Val {
    /// A run's value: numbers, text and booleans; anything else (a list, a
    /// mapping, null) has no value here.
    pub fn from_json(value: &Value) -> Option<Val> {
        match value {
            Value::Bool(b) => Some(Val::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Val::Num),
            Value::String(s) => Some(Val::Str(s.clone())),
            _ => None,
        }
    }
}

/// The expression's value, names read through `lookup`; `None` when a name
/// has no value (the parameter is not active) or a value has the wrong type
/// (which `validate` rules out for a checked sweep).
pub fn eval(expr: &Expr, lookup: &dyn Fn(&str) -> Option<Val>) -> Option<Val> {
    use Val::{Bool, Num};
    Some(match expr {
        Expr::Num(n) => Num(*n),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Bool(b) => Bool(*b),
        Expr::Name { name, .. } => lookup(name)?,
        Expr::Not(e) => Bool(!truth(eval(e, lookup)?)?),
        Expr::Neg(e) => Num(-number(eval(e, lookup)?)?),
        Expr::Binary {
            op: Op::And,
            left,
            right,
            ..
        } => Bool(truth(eval(left, lookup)?)? && truth(eval(right, lookup)?)?),
        Expr::Binary {
            op: Op::Or,
            left,
            right,
            ..
        } => Bool(truth(eval(left, lookup)?)? || truth(eval(right, lookup)?)?),
        Expr::Binary {
            op, left, right, ..
        } => binary(*op, eval(left, lookup)?, eval(right, lookup)?)?,
        Expr::Call { func, args, .. } => {
            let xs = args
                .iter()
                .map(|a| number(eval(a, lookup)?))
                .collect::<Option<Vec<f64>>>()?;
            Num(match func {
                Func::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
                Func::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Func::Abs => xs[0].abs(),
                Func::Log => xs[0].ln(),
                Func::Exp => xs[0].exp(),
            })
        }
    })
}

fn truth(v: Val) -> Option<bool> {
    match v {
        Val::Bool(b) => Some(b),
        _ => None,
    }
}

fn number(v: Val) -> Option<f64> {
    match v {
        Val::Num(n) => Some(n),
        _ => None,
    }
}

fn binary(op: Op, a: Val, b: Val) -> Option<Val> {
    use Val::{Bool, Num};
    Some(match (op, a, b) {
        (Op::Eq, a, b) => Bool(a == b),
        (Op::Ne, a, b) => Bool(a != b),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Num(x), Num(y)) => Bool(match op {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            _ => x >= y,
        }),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Val::Str(x), Val::Str(y)) => Bool(match op {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            _ => x >= y,
        }),
        (Op::Add, Num(x), Num(y)) => Num(x + y),
        (Op::Sub, Num(x), Num(y)) => Num(x - y),
        (Op::Mul, Num(x), Num(y)) => Num(x * y),
        (Op::Div, Num(x), Num(y)) => Num(x / y),
        // Python's %: the result has the divisor's sign.
        (Op::Rem, Num(x), Num(y)) => Num(x - y * (x / y).floor()),
        (Op::Pow, Num(x), Num(y)) => Num(x.powf(y)),
        _ => return None,
    })
}

/// Whether a constraint holds: true, or not applicable because a parameter
/// it names is not active. Anything else (false, a wrong type, NaN) fails.
pub fn holds(expr: &Expr, lookup: &dyn Fn(&str) -> Option<Val>) -> bool {
    let inactive = expr.names().iter().any(|(n, _)| lookup(n).is_none());
    inactive || eval(expr, lookup) == Some(Val::Bool(true))
}
