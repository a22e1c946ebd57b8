//! `sweepd.conditions` and `sweepd.constraints`: which parameters a run has
//! (a `momentum` only for `sgd`), and which combinations may run at all.
//!
//! Read in two steps: the `sweepd:` block parses each expression (syntax
//! errors with their column), then [`check_structure`], once the parameters
//! are known, checks names, types, cycles and what can never be true.

use std::collections::{BTreeMap, BTreeSet};

use super::checker::{Checker, Fields};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};
use super::expr::{self, Abstract, Expr, ExprError, Op};
use super::parameter::{Distribution, Parameter, Parameters};
use super::suggest;

/// `target: when`: a parameter, or a group of them, that a run has only
/// when `when` holds (on the values of the run's other parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The parameter or group, as written (a dotted name for nested ones).
    pub target: String,
    pub when: Expr,
    /// The condition as a person reads it: `optimizer == 'sgd'`.
    pub text: String,
}

/// A condition every run must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub expr: Expr,
    pub text: String,
}

/// One parameter or group by its dotted name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub path: Vec<String>,
    pub is_group: bool,
}

/// Every parameter and group by dotted name (`model.lr` for a nested `lr`).
/// Two with the same dotted name (a top-level `model.lr` beside a group
/// `model` holding `lr`) are both listed; [`resolve`] refuses the name.
pub fn named(parameters: &Parameters) -> Vec<(String, Named)> {
    fn walk(params: &Parameters, prefix: &[String], out: &mut Vec<(String, Named)>) {
        for (name, parameter) in &params.0 {
            let mut path = prefix.to_vec();
            path.push(name.clone());
            let is_group = matches!(parameter, Parameter::Nested(_));
            out.push((
                path.join("."),
                Named {
                    path: path.clone(),
                    is_group,
                },
            ));
            if let Parameter::Nested(inner) = parameter {
                walk(inner, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(parameters, &[], &mut out);
    out
}

/// The parameter or group `name` stands for, or a help text for the error.
pub fn resolve(all: &[(String, Named)], name: &str) -> Result<Named, String> {
    let found: Vec<&Named> = all
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, p)| p)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            Err(suggest::help(name, &names))
        }
        _ => Err(format!(
            "`{name}` is both a parameter and a nested one; rename one of them"
        )),
    }
}

/// What a parameter can be, for checking expressions.
pub fn abstract_of(distribution: &Distribution) -> Abstract {
    use Distribution as D;
    let num = |lo: f64, hi: f64| Abstract::Num { lo, hi };
    let widen = |lo: f64, hi: f64, q: f64| num(lo.min(0.0) - q, hi + q);
    match distribution {
        D::Constant { value } => of_values(std::slice::from_ref(value)),
        D::Categorical { values } | D::CategoricalWithProbabilities { values, .. } => {
            of_values(values)
        }
        D::IntUniform { min, max } => num(*min as f64, *max as f64),
        D::Uniform { min, max } => num(*min, *max),
        D::QUniform { min, max, q } => {
            let q = q.as_f64();
            num(min.as_f64() - q, max.as_f64() + q)
        }
        D::LogUniform { min, max } => num(min.exp(), max.exp()),
        D::LogUniformValues { min, max } => num(*min, *max),
        D::QLogUniform { min, max, q } => widen(min.exp(), max.exp(), q.as_f64()),
        D::QLogUniformValues { min, max, q } => widen(*min, *max, q.as_f64()),
        D::InvLogUniform { min, max } => num((-max).exp(), (-min).exp()),
        D::InvLogUniformValues { min, max } => num(*min, *max),
        D::Normal { .. } | D::QNormal { .. } => num(f64::NEG_INFINITY, f64::INFINITY),
        D::LogNormal { .. } | D::QLogNormal { .. } => num(0.0, f64::INFINITY),
        D::Beta { .. } => num(0.0, 1.0),
        D::QBeta { q, .. } => widen(0.0, 1.0, q.as_f64()),
    }
}

fn of_values(values: &[serde_json::Value]) -> Abstract {
    let mut nums = Vec::new();
    let mut texts = BTreeSet::new();
    let (mut t, mut f, mut other) = (false, false, false);
    for value in values {
        match value {
            serde_json::Value::Number(n) => nums.extend(n.as_f64()),
            serde_json::Value::String(s) => {
                texts.insert(s.clone());
            }
            serde_json::Value::Bool(b) => {
                t |= *b;
                f |= !*b;
            }
            _ => other = true,
        }
    }
    let kinds = [!nums.is_empty(), !texts.is_empty(), t || f, other];
    if kinds.iter().filter(|k| **k).count() != 1 || other {
        return Abstract::Mixed;
    }
    if !nums.is_empty() {
        Abstract::Num {
            lo: nums.iter().copied().fold(f64::INFINITY, f64::min),
            hi: nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    } else if !texts.is_empty() {
        Abstract::Str(Some(texts))
    } else {
        Abstract::Bool { t, f }
    }
}

/// `conditions: {momentum: {optimizer: sgd}, head: "layers > 2"}`, parsed.
pub(crate) fn read_conditions(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Vec<Condition>> {
    let fields = c.mapping(node, path, "`conditions`")?;
    let (entries, mut ok) = c.string_keyed(&fields, "names in `conditions`");
    let mut out = Vec::new();
    for (target, _, value) in entries {
        let at = path.key(target);
        let read = match &value.value {
            Value::Str(text) => parsed(c, value, &at, text),
            Value::Map(_) => when_values(c, value, &at),
            _ => {
                c.error_help(
                    value.position,
                    &at,
                    format!(
                        "expected when `{target}` is active, found {}",
                        value.describe()
                    ),
                    "write `momentum: {optimizer: sgd}` or `momentum: \"optimizer == 'sgd'\"`",
                );
                None
            }
        };
        match read {
            Some((when, text)) => out.push(Condition {
                target: target.to_owned(),
                when,
                text,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `{optimizer: sgd, layers: [2, 3]}`: each named parameter one of the
/// values given, as an expression.
fn when_values(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<(Expr, String)> {
    let fields = c.mapping(node, path, "a condition")?;
    let (entries, mut ok) = c.string_keyed(&fields, "parameter names");
    if entries.is_empty() {
        c.error(node.position, path, "the condition names no parameter");
        return None;
    }
    let mut all: Option<Expr> = None;
    let mut texts = Vec::new();
    for (name, _, value) in entries {
        let items: Vec<&Node> = match &value.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut any: Option<Expr> = None;
        let mut alternatives = Vec::new();
        for item in items {
            let literal = match &item.value {
                Value::Str(s) => Expr::Str(s.clone()),
                Value::Int(i) => Expr::Num(*i as f64),
                Value::Float(x) => Expr::Num(*x),
                Value::Bool(b) => Expr::Bool(*b),
                _ => {
                    c.error(
                        item.position,
                        &path.key(name),
                        format!(
                            "a condition compares with text, numbers or true/false, found {}",
                            item.describe()
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            alternatives.push(match &literal {
                Expr::Str(s) => format!("{name} == '{s}'"),
                Expr::Num(n) => format!("{name} == {n}"),
                _ => format!("{name} == {}", matches!(literal, Expr::Bool(true))),
            });
            let test = Expr::Binary {
                op: Op::Eq,
                left: Box::new(Expr::Name {
                    name: name.to_owned(),
                    at: 0,
                }),
                right: Box::new(literal),
                at: 0,
            };
            any = Some(join(any, test, Op::Or));
        }
        if let Some(any) = any {
            all = Some(join(all, any, Op::And));
            texts.push(if alternatives.len() == 1 {
                alternatives.remove(0)
            } else {
                format!("({})", alternatives.join(" or "))
            });
        } else if ok {
            c.error(
                value.position,
                &path.key(name),
                "the list of values is empty",
            );
            ok = false;
        }
    }
    ok.then(|| (all.expect("at least one name"), texts.join(" and ")))
}

fn join(left: Option<Expr>, right: Expr, op: Op) -> Expr {
    match left {
        None => right,
        Some(left) => Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
            at: 0,
        },
    }
}

/// `constraints: ["batch_size * grad_accum <= 512", ...]`, parsed.
pub(crate) fn read_constraints(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Vec<Constraint>> {
    let Value::Seq(items) = &node.value else {
        c.error_help(
            node.position,
            path,
            format!("expected a list of conditions, found {}", node.describe()),
            "write `constraints: [\"batch_size * grad_accum <= 512\"]`",
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let text = match &item.value {
            Value::Str(text) => text,
            _ => {
                c.error_help(
                    item.position,
                    &path.index(i),
                    format!("expected a condition as text, found {}", item.describe()),
                    "quote it: `- \"batch_size * grad_accum <= 512\"`",
                );
                ok = false;
                continue;
            }
        };
        match parsed(c, item, &path.index(i), text) {
            Some((expr, text)) => out.push(Constraint { expr, text }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn parsed(c: &mut Checker, node: &Node, path: &KeyPath, text: &str) -> Option<(Expr, String)> {
    match expr::parse(text) {
        Ok(e) => Some((e, text.to_owned())),
        Err(e) => {
            report(c, node, path, text, e);
            None
        }
    }
}

fn report(c: &mut Checker, node: &Node, path: &KeyPath, text: &str, e: ExprError) {
    let message = format!("{} (column {} of `{text}`)", e.message, e.at + 1);
    match e.help {
        Some(help) => c.error_help(node.position, path, message, help),
        None => c.error(node.position, path, message),
    }
}

/// The checks that need the parameters: every name known, every expression
/// well typed and able to be true, no parameter depending on itself.
pub(crate) fn check_structure(
    c: &mut Checker,
    sweepd: &Fields<'_>,
    conditions: &[Condition],
    constraints: &[Constraint],
    parameters: &Parameters,
) {
    let all = named(parameters);
    let leaves: BTreeMap<String, &Distribution> = parameters
        .leaves()
        .into_iter()
        .map(|(path, d)| (path.join("."), d))
        .collect();
    let names = |name: &str| -> Result<Abstract, String> {
        let found = resolve(&all, name)?;
        if found.is_group {
            return Err(format!(
                "`{name}` is a group of parameters: name one of its parameters"
            ));
        }
        Ok(abstract_of(leaves[name]))
    };
    let nodes = |key: &str| sweepd.get(key);
    for condition in conditions {
        let node = nodes("conditions")
            .and_then(|n| n.get(&condition.target))
            .expect("a condition read from the file");
        let at = sweepd.child("conditions").key(&condition.target);
        if let Err(help) = resolve(&all, &condition.target) {
            let key_position = nodes("conditions").and_then(|n| key_position(n, &condition.target));
            c.error_help(
                key_position,
                &at,
                format!("there is no parameter or group `{}`", condition.target),
                help,
            );
            continue;
        }
        match expr::analyse(&condition.when, &names) {
            Err(e) => report(c, node, &at, &condition.text, e),
            Ok(a) if !a.can_be_true => c.error_help(
                node.position,
                &at,
                format!(
                    "`{}` would never be active: `{}` is never true",
                    condition.target, condition.text
                ),
                unknown_value(&condition.when, &names)
                    .unwrap_or_else(|| "check the values against the parameter's values".into()),
            ),
            Ok(a) if !a.can_be_false => c.warn(
                node.position,
                &at,
                format!(
                    "`{}` is always active: `{}` always holds",
                    condition.target, condition.text
                ),
                Some("remove the condition, or check the values".into()),
            ),
            Ok(_) => {}
        }
    }
    if let Some(cycle) = find_cycle(conditions, &all) {
        let first = &cycle[0];
        let node = nodes("conditions").and_then(|n| key_position(n, first));
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("`{}` depends on `{}`", w[0], w[1]))
            .collect();
        c.error_help(
            node,
            &sweepd.child("conditions").key(first),
            format!("the conditions go round in a circle: {}", steps.join(", ")),
            "a parameter's condition may read only parameters that do not depend on it",
        );
    }
    // A constraint that reads a parameter some runs lack holds for them.
    let conditional = |name: &str| {
        let Ok(leaf) = resolve(&all, name) else {
            return false;
        };
        conditions
            .iter()
            .any(|c| resolve(&all, &c.target).is_ok_and(|t| leaf.path.starts_with(&t.path)))
    };
    for (i, constraint) in constraints.iter().enumerate() {
        let at = sweepd.child("constraints").index(i);
        let partial = constraint
            .expr
            .names()
            .iter()
            .any(|(name, _)| conditional(name));
        let node = match nodes("constraints").map(|n| &n.value) {
            Some(Value::Seq(items)) => &items[i],
            _ => unreachable!("constraints read from a list"),
        };
        match expr::analyse(&constraint.expr, &names) {
            Err(e) => report(c, node, &at, &constraint.text, e),
            Ok(a) if !a.can_be_true && partial => c.warn(
                node.position,
                &at,
                format!(
                    "`{}` is never true over the parameters' ranges: it rules out every run \
                     that has its parameters",
                    constraint.text
                ),
                Some("check the bounds against the parameters' min and max".into()),
            ),
            Ok(a) if !a.can_be_true => c.error_help(
                node.position,
                &at,
                format!(
                    "`{}` is never true over the parameters' ranges: no run could satisfy it",
                    constraint.text
                ),
                "check the bounds against the parameters' min and max",
            ),
            Ok(a) if !a.can_be_false => c.warn(
                node.position,
                &at,
                format!("`{}` always holds: it rules nothing out", constraint.text),
                Some("remove it, or check the bounds".into()),
            ),
            Ok(_) => {}
        }
    }
}

/// For `name == 'text'` where the parameter never takes that text: which
/// of its values was probably meant.
fn unknown_value(expr: &Expr, names: &dyn Fn(&str) -> Result<Abstract, String>) -> Option<String> {
    let mut found = None;
    expr.walk(&mut |e| {
        if found.is_some() {
            return;
        }
        if let Expr::Binary {
            op: Op::Eq,
            left,
            right,
            ..
        } = e
            && let (Expr::Name { name, .. }, Expr::Str(text)) = (&**left, &**right)
            && let Ok(Abstract::Str(Some(values))) = names(name)
            && !values.contains(text)
        {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            found = Some(format!(
                "`{name}` takes {}; {}",
                values.join(", "),
                suggest::help(text, &values)
            ));
        }
    });
    found
}

fn key_position(map: &Node, key: &str) -> Option<super::diagnostic::Position> {
    match &map.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(k, _)| k.position),
        _ => None,
    }
}

/// Names (dotted) of targets in a cycle, the first repeated at the end:
/// `[a, b, a]` for `a` active when `b` is and `b` when `a` is.
fn find_cycle(conditions: &[Condition], all: &[(String, Named)]) -> Option<Vec<String>> {
    // An edge from a condition's target to every condition whose target
    // holds (or is) a parameter that the first one's condition reads.
    let covers = |target: &str, leaf: &str| {
        let Ok(t) = resolve(all, target) else {
            return false;
        };
        let Ok(l) = resolve(all, leaf) else {
            return false;
        };
        l.path.starts_with(&t.path)
    };
    let edges: Vec<Vec<usize>> = conditions
        .iter()
        .map(|from| {
            let reads: Vec<&str> = from.when.names().into_iter().map(|(n, _)| n).collect();
            (0..conditions.len())
                .filter(|&j| reads.iter().any(|r| covers(&conditions[j].target, r)))
                .collect()
        })
        .collect();
    // Depth first, colouring: 0 new, 1 on the path, 2 done.
    let mut colour = vec![0u8; conditions.len()];
    let mut path = Vec::new();
    fn visit(
        i: usize,
        edges: &[Vec<usize>],
        colour: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        colour[i] = 1;
        path.push(i);
        for &j in &edges[i] {
            if colour[j] == 1 {
                let start = path.iter().position(|&p| p == j).expect("on the path");
                let mut cycle = path[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if colour[j] == 0
                && let Some(cycle) = visit(j, edges, colour, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        colour[i] = 2;
        None
    }
    (0..conditions.len()).find_map(|i| {
        (colour[i] == 0)
            .then(|| visit(i, &edges, &mut colour, &mut path))
            .flatten()
            .map(|cycle| {
                cycle
                    .into_iter()
                    .map(|k| conditions[k].target.clone())
                    .collect()
            })
    })
}
