//! What an expression can be over a whole space, for `validate`: every name
//! known, every operator given the types it takes, and whether the whole
//! can be true at all (and false at all), by interval arithmetic. Sound:
//! "cannot be true" is only said when no point of the space makes it true.

use std::collections::BTreeSet;

use super::{Expr, ExprError, Func, Op};

/// The values something can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Abstract {
    /// A number in `[lo, hi]` (infinite bounds for unbounded ranges).
    Num { lo: f64, hi: f64 },
    /// Text, one of these (`None`: any text).
    Str(Option<BTreeSet<String>>),
    /// Whether it can be true, and whether it can be false.
    Bool { t: bool, f: bool },
    /// Values of several types (a categorical of numbers and text): only
    /// `==` and `!=` take it.
    Mixed,
}

const ANY_NUM: Abstract = Abstract::Num {
    lo: f64::NEG_INFINITY,
    hi: f64::INFINITY,
};

impl Abstract {
    fn num(lo: f64, hi: f64) -> Abstract {
        if lo.is_nan() || hi.is_nan() {
            ANY_NUM
        } else {
            Abstract::Num { lo, hi }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Abstract::Num { .. } => "a number",
            Abstract::Str(_) => "text",
            Abstract::Bool { .. } => "true or false",
            Abstract::Mixed => "values of several types",
        }
    }
}

/// Whether a condition can be true, and whether it can be false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Analysis {
    pub can_be_true: bool,
    pub can_be_false: bool,
}

/// Check `expr` as a condition: `names` gives what a name can be, or `Err`
/// with a help text when there is no such name.
pub fn analyse(
    expr: &Expr,
    names: &dyn Fn(&str) -> Result<Abstract, String>,
) -> Result<Analysis, ExprError> {
    match value(expr, names)? {
        Abstract::Bool { t, f } => Ok(Analysis {
            can_be_true: t,
            can_be_false: f,
        }),
        other => Err(ExprError::new(
            0,
            format!(
                "the expression is {}, not a condition that is true or false",
                other.describe()
            ),
        )
        .help("compare it: `batch_size * grad_accum <= 512`")),
    }
}

fn at_of(expr: &Expr) -> usize {
    match expr {
        Expr::Name { at, .. } | Expr::Binary { at, .. } | Expr::Call { at, .. } => *at,
        _ => 0,
    }
}

fn value(
    expr: &Expr,
    names: &dyn Fn(&str) -> Result<Abstract, String>,
) -> Result<Abstract, ExprError> {
    Ok(match expr {
        Expr::Num(n) => Abstract::num(*n, *n),
        Expr::Str(s) => Abstract::Str(Some(BTreeSet::from([s.clone()]))),
        Expr::Bool(b) => Abstract::Bool { t: *b, f: !*b },
        Expr::Name { name, at } => names(name).map_err(|help| {
            ExprError::new(*at, format!("there is no parameter `{name}`")).help(help)
        })?,
        Expr::Not(e) => match value(e, names)? {
            Abstract::Bool { t, f } => Abstract::Bool { t: f, f: t },
            other => return Err(wrong(at_of(e), "`not`", "true or false", &other)),
        },
        Expr::Neg(e) => match value(e, names)? {
            Abstract::Num { lo, hi } => Abstract::num(-hi, -lo),
            other => return Err(wrong(at_of(e), "`-`", "a number", &other)),
        },
        Expr::Binary {
            op,
            left,
            right,
            at,
        } => {
            let a = value(left, names)?;
            let b = value(right, names)?;
            binary(*op, a, b, *at)?
        }
        Expr::Call { func, args, at } => {
            let mut xs = Vec::new();
            for arg in args {
                match value(arg, names)? {
                    Abstract::Num { lo, hi } => xs.push((lo, hi)),
                    other => {
                        return Err(wrong(*at, &format!("`{}`", func.name()), "numbers", &other));
                    }
                }
            }
            let (lo, hi) = match func {
                Func::Min => xs.iter().fold((f64::INFINITY, f64::INFINITY), |a, x| {
                    (a.0.min(x.0), a.1.min(x.1))
                }),
                Func::Max => xs
                    .iter()
                    .fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |a, x| {
                        (a.0.max(x.0), a.1.max(x.1))
                    }),
                Func::Abs => {
                    let (lo, hi) = xs[0];
                    if lo >= 0.0 {
                        (lo, hi)
                    } else if hi <= 0.0 {
                        (-hi, -lo)
                    } else {
                        (0.0, hi.max(-lo))
                    }
                }
                // The log of a negative number is NaN, which no range holds
                // and every comparison calls false: anything at all.
                Func::Log if xs[0].0 < 0.0 && xs[0].1 > 0.0 => (f64::NEG_INFINITY, f64::INFINITY),
                Func::Log => {
                    let (lo, hi) = xs[0];
                    if hi <= 0.0 {
                        return Err(ExprError::new(
                            *at,
                            "`log` of a value that is never above 0",
                        ));
                    }
                    (if lo > 0.0 { lo.ln() } else { f64::NEG_INFINITY }, hi.ln())
                }
                Func::Exp => (xs[0].0.exp(), xs[0].1.exp()),
            };
            Abstract::num(lo, hi)
        }
    })
}

fn wrong(at: usize, what: &str, wants: &str, found: &Abstract) -> ExprError {
    ExprError::new(
        at,
        format!("{what} takes {wants}, but is given {}", found.describe()),
    )
}

fn binary(op: Op, a: Abstract, b: Abstract, at: usize) -> Result<Abstract, ExprError> {
    use Abstract::{Bool, Mixed, Num, Str};
    let mismatch = |a: &Abstract, b: &Abstract| {
        ExprError::new(
            at,
            format!(
                "`{}` compares {} with {}",
                op.symbol(),
                a.describe(),
                b.describe()
            ),
        )
        .help("compare a parameter with a value of its own type: text in quotes, `'sgd'`")
    };
    Ok(match (op, a, b) {
        (Op::And | Op::Or, Bool { t: at_, f: af }, Bool { t: bt, f: bf }) => {
            if op == Op::And {
                Bool {
                    t: at_ && bt,
                    f: af || bf,
                }
            } else {
                Bool {
                    t: at_ || bt,
                    f: af && bf,
                }
            }
        }
        (Op::And | Op::Or, a, b) => {
            let other = if matches!(a, Bool { .. }) { b } else { a };
            return Err(wrong(
                at,
                &format!("`{}`", op.symbol()),
                "conditions",
                &other,
            ));
        }
        (Op::Eq | Op::Ne, a, b) => {
            let (can_eq, can_ne) = match (&a, &b) {
                (Num { lo, hi }, Num { lo: l2, hi: h2 }) => {
                    (lo <= h2 && l2 <= hi, !(lo == hi && l2 == h2 && lo == l2))
                }
                (Str(x), Str(y)) => match (x, y) {
                    (Some(x), Some(y)) => (
                        x.intersection(y).next().is_some(),
                        !(x.len() == 1 && x == y),
                    ),
                    _ => (true, true),
                },
                (Bool { t, f }, Bool { t: t2, f: f2 }) => {
                    ((*t && *t2) || (*f && *f2), (*t && *f2) || (*f && *t2))
                }
                (Mixed, _) | (_, Mixed) => (true, true),
                (a, b) => return Err(mismatch(a, b)),
            };
            let (t, f) = if op == Op::Eq {
                (can_eq, can_ne)
            } else {
                (can_ne, can_eq)
            };
            Bool { t, f }
        }
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, a, b) => match (&a, &b) {
            (Num { lo, hi }, Num { lo: l2, hi: h2 }) => {
                // Turn > and >= around into < and <=.
                let ((alo, ahi), (blo, bhi), strict) = match op {
                    Op::Lt => ((*lo, *hi), (*l2, *h2), true),
                    Op::Le => ((*lo, *hi), (*l2, *h2), false),
                    Op::Gt => ((*l2, *h2), (*lo, *hi), true),
                    _ => ((*l2, *h2), (*lo, *hi), false),
                };
                if strict {
                    Bool {
                        t: alo < bhi,
                        f: ahi >= blo,
                    }
                } else {
                    Bool {
                        t: alo <= bhi,
                        f: ahi > blo,
                    }
                }
            }
            (Str(_), Str(_)) => Bool { t: true, f: true },
            (a, b) => return Err(mismatch(a, b)),
        },
        (_, Num { lo, hi }, Num { lo: l2, hi: h2 }) => {
            let (lo, hi) = arithmetic(op, (lo, hi), (l2, h2));
            Abstract::num(lo, hi)
        }
        (_, a, b) => {
            let other = if matches!(a, Num { .. }) { b } else { a };
            return Err(wrong(at, &format!("`{}`", op.symbol()), "numbers", &other));
        }
    })
}

/// The range of `a op b` for arithmetic operators.
fn arithmetic(op: Op, (alo, ahi): (f64, f64), (blo, bhi): (f64, f64)) -> (f64, f64) {
    let hull = |xs: [f64; 4]| {
        if xs.iter().any(|x| x.is_nan()) {
            return (f64::NEG_INFINITY, f64::INFINITY);
        }
        (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    match op {
        Op::Add => (alo + blo, ahi + bhi),
        Op::Sub => (alo - bhi, ahi - blo),
        Op::Mul => hull([alo * blo, alo * bhi, ahi * blo, ahi * bhi]),
        Op::Div if blo > 0.0 || bhi < 0.0 => hull([alo / blo, alo / bhi, ahi / blo, ahi / bhi]),
        // A % b lies between 0 and b (Python's sign rule); % 0 is NaN.
        Op::Rem if blo <= 0.0 && bhi >= 0.0 => (f64::NEG_INFINITY, f64::INFINITY),
        Op::Rem => {
            let m = blo.abs().max(bhi.abs());
            (
                if blo >= 0.0 { 0.0 } else { -m },
                if bhi <= 0.0 { 0.0 } else { m },
            )
        }
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}
