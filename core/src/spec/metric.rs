//! `metric:`: what the sweep optimizes.

use super::checker::{Checker, choice};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub goal: Goal,
    /// The sweep finishes once a run reaches this value.
    pub target: Option<f64>,
    /// What a failed, crashed or killed run counts as in Bayesian search.
    pub impute: Impute,
    /// Whether running runs count with an imputed value, and which.
    pub impute_while_running: Option<Impute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Minimize,
    Maximize,
}

impl Goal {
    /// As a sweep file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Goal::Minimize => "minimize",
            Goal::Maximize => "maximize",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impute {
    Latest,
    Best,
    Worst,
}

const KEYS: &[&str] = &["name", "goal", "target", "impute", "impute_while_running"];

/// `goal:` of a metric or an objective: minimize when absent.
pub(crate) fn read_goal(c: &mut Checker, fields: &super::checker::Fields<'_>) -> Option<Goal> {
    match fields.get("goal") {
        None => Some(Goal::Minimize),
        Some(n) => choice(
            c,
            n,
            &fields.child("goal"),
            &[("minimize", Goal::Minimize), ("maximize", Goal::Maximize)],
        ),
    }
}

pub(crate) fn check_metric(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<Metric> {
    let fields = c.mapping(node, path, "`metric`")?;
    c.only_keys(&fields, KEYS, "`metric`");
    let name = c
        .require(&fields, "name", "`metric`")
        .and_then(|n| c.string(n, &fields.child("name")));
    let goal = read_goal(c, &fields);
    let target = match fields.get("target") {
        None => Some(None),
        Some(n) => c
            .number(n, &fields.child("target"))
            .map(|t| Some(t.as_f64())),
    };
    let impute_choices = [
        ("latest", Impute::Latest),
        ("best", Impute::Best),
        ("worst", Impute::Worst),
    ];
    let impute = match fields.get("impute") {
        None => Some(Impute::Worst),
        Some(n) => choice(c, n, &fields.child("impute"), &impute_choices),
    };
    let impute_while_running = match fields.get("impute_while_running") {
        None => Some(None),
        Some(n) => {
            let path = fields.child("impute_while_running");
            match &n.value {
                Value::Str(s) if s == "false" => Some(None),
                Value::Bool(false) => {
                    c.warn(
                        n.position,
                        &path,
                        "W&B wants the string \"false\" here and refuses the boolean; sweepd takes both",
                        Some("write \"false\" (quoted) if the file must also work with W&B".into()),
                    );
                    Some(None)
                }
                _ => {
                    let with_false = [
                        ("latest", Some(Impute::Latest)),
                        ("best", Some(Impute::Best)),
                        ("worst", Some(Impute::Worst)),
                        ("false", None),
                    ];
                    choice(c, n, &path, &with_false)
                }
            }
        }
    };
    Some(Metric {
        name: name?,
        goal: goal?,
        target: target?,
        impute: impute?,
        impute_while_running: impute_while_running?,
    })
}
