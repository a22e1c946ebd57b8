//! Expressions in sweep files (`sweepd.constraints`, `sweepd.conditions`,
//! `sweepd.outcome_constraints`): a small language of its own, parsed here
//! and evaluated here, never by a shell or an interpreter.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/" | "%") unary)*
//! unary   := "-" unary | power
//! power   := atom ("**" unary)?
//! atom    := number | 'text' | "text" | true | false | name
//!          | min(expr, ...) | max(expr, ...) | abs(expr) | log(expr) | exp(expr)
//!          | "(" expr ")"
//! name    := [A-Za-z_][A-Za-z0-9_.]*  |  `any name`
//! ```
//!
//! - `parse`: text to [`Expr`], errors with the column;
//! - `eval`: an expression on a run's values;
//! - `analyse`: types and ranges over the whole space, for `validate`.

mod analyse;
mod eval;
mod parse;

#[cfg(test)]
mod tests;

pub use analyse::{Abstract, analyse};
pub use eval::{Val, eval, holds};
pub use parse::parse;

/// A parsed expression. `at` is the character offset (from 0) in its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Bool(bool),
    Name {
        name: String,
        at: usize,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary {
        op: Op,
        left: Box<Expr>,
        right: Box<Expr>,
        at: usize,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
        at: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Or => "or",
            Op::And => "and",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Rem => "%",
            Op::Pow => "**",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Min,
    Max,
    Abs,
    Log,
    Exp,
}

impl Func {
    pub const ALL: [(&'static str, Func); 5] = [
        ("min", Func::Min),
        ("max", Func::Max),
        ("abs", Func::Abs),
        ("log", Func::Log),
        ("exp", Func::Exp),
    ];

    pub fn name(self) -> &'static str {
        Func::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every function is listed")
    }
}

/// A problem in an expression, at a character offset of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub at: usize,
    pub message: String,
    pub help: Option<String>,
}

impl ExprError {
    pub(crate) fn new(at: usize, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl Expr {
    /// Every name the expression reads, with where, in order of appearance.
    pub fn names(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Name { name, at } = e {
                out.push((name.as_str(), *at));
            }
        });
        out
    }

    /// Every node, depth first, the node before its parts.
    pub(crate) fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Not(e) | Expr::Neg(e) => e.walk(f),
            Expr::Binary { left, right, .. } => {
                left.walk(f);
                right.walk(f);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) | Expr::Name { .. } => {}
        }
    }
}
