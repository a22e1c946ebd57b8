//! Parameters and their 18 distributions, as W&B's engine 0.3.0 reads them.
//!
//! - `kind`: the names after `distribution:` and the keys each takes;
//! - `distribution`: a parameter's checked distribution;
//! - `read`: reading one parameter's keys into its distribution, W&B's checks;
//! - `advice`: warnings for what is legal but probably not meant.

mod advice;
mod distribution;
mod kind;
mod read;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

pub use distribution::{Distribution, GridAxis, MAX_FLOAT_STEPS, NotListable};
pub use kind::Kind;

use super::checker::{Checker, Fields};
use super::diagnostic::KeyPath;
use super::document::Node;
use super::suggest;

/// The parameters of a sweep (or of one nesting level), sorted by name as W&B
/// sorts them: that order is the grid order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parameters(pub BTreeMap<String, Parameter>);

#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    /// A parameter with a value or a distribution.
    Leaf(Distribution),
    /// `parameters: {...}`: a group whose values are handed to runs as a nested object.
    Nested(Parameters),
}

impl Parameters {
    /// Every leaf with its path of names, depth first in sorted order: the
    /// order W&B flattens nested parameters in.
    pub fn leaves(&self) -> Vec<(Vec<String>, &Distribution)> {
        fn walk<'a>(
            params: &'a Parameters,
            prefix: &[String],
            out: &mut Vec<(Vec<String>, &'a Distribution)>,
        ) {
            for (name, parameter) in &params.0 {
                let mut path = prefix.to_vec();
                path.push(name.clone());
                match parameter {
                    Parameter::Leaf(distribution) => out.push((path, distribution)),
                    Parameter::Nested(inner) => walk(inner, &path, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &[], &mut out);
        out
    }
}

/// Every key some parameter takes.
static PARAMETER_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys: Vec<&str> = Kind::ALL
        .iter()
        .flat_map(|k| k.keys().iter().copied())
        .collect();
    keys.extend(["distribution", "parameters"]);
    keys.sort_unstable();
    keys.dedup();
    keys
});

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_.-]*$").expect("valid pattern"));

/// Check a `parameters:` mapping (top level or nested).
pub(crate) fn check_parameters(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<Parameters> {
    let fields = c.mapping(node, path, "`parameters`")?;
    if fields.entries.is_empty() {
        c.error(
            node.position,
            path,
            "`parameters` is empty: a sweep needs at least one parameter",
        );
        return None;
    }
    let (entries, mut ok) = c.string_keyed(&fields, "parameter names");
    let mut out = BTreeMap::new();
    for (name, key, value) in entries {
        let child = path.key(name);
        if !NAME.is_match(name) {
            c.error(
                key.position,
                &child,
                format!(
                    "`{name}` is not a valid parameter name: names start with a letter or `_` \
                     and hold only letters, digits, `_`, `.` and `-`"
                ),
            );
            ok = false;
        }
        match check_parameter(c, value, &child, name) {
            Some(parameter) => {
                out.insert(name.to_owned(), parameter);
            }
            None => ok = false,
        }
    }
    ok.then_some(Parameters(out))
}

fn check_parameter(c: &mut Checker, node: &Node, path: &KeyPath, name: &str) -> Option<Parameter> {
    let fields = c.mapping(node, path, &format!("parameter `{name}`"))?;
    if fields.has("parameters") {
        let extra: Vec<&str> = fields.keys().filter(|k| *k != "parameters").collect();
        if !extra.is_empty() {
            c.error_help(
                node.position,
                path,
                format!(
                    "parameter `{name}` has nested `parameters`, so it cannot also have {}",
                    extra
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "a nested group holds only `parameters:`; check the indentation",
            );
            return None;
        }
        let inner = check_parameters(c, fields.get("parameters")?, &fields.child("parameters"))?;
        return Some(Parameter::Nested(inner));
    }
    let kind = kind_of(c, &fields, name)?;
    check_keys(c, &fields, kind, name);
    let distribution = read::distribution(c, &fields, kind, name)?;
    advice::warn_about(c, &fields, &distribution, name);
    Some(Parameter::Leaf(distribution))
}

/// The distribution named by `distribution:`, or the one W&B infers.
fn kind_of(c: &mut Checker, fields: &Fields<'_>, name: &str) -> Option<Kind> {
    if let Some(node) = fields.get("distribution") {
        let path = fields.child("distribution");
        let text = c.string(node, &path)?;
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        return match Kind::from_name(&text) {
            Some(kind) => Some(kind),
            None => {
                c.error_help(
                    node.position,
                    &path,
                    format!("unknown distribution `{text}`"),
                    suggest::help(&text, &names),
                );
                None
            }
        };
    }
    if fields.has("values") {
        return Some(if fields.has("probabilities") {
            Kind::CategoricalWithProbabilities
        } else {
            Kind::Categorical
        });
    }
    if fields.has("value") {
        return Some(Kind::Constant);
    }
    // `{min, max, q}` would otherwise read as int_uniform with a stray `q`.
    if let Some((message, help)) = needs_explicit_distribution(fields, name) {
        c.error_help(fields.node.position, &fields.path, message, help);
        return None;
    }
    if let (Some(min), Some(max)) = (fields.get("min"), fields.get("max")) {
        let min = c.number(min, &fields.child("min"));
        let max = c.number(max, &fields.child("max"));
        let (min, max) = (min?, max?);
        return Some(if min.is_int() && max.is_int() {
            Kind::IntUniform
        } else {
            Kind::Uniform
        });
    }
    let (message, help) = if fields.entries.is_empty() {
        (
            format!("parameter `{name}` is empty"),
            "give it `value`, `values`, `min` and `max`, or a `distribution`",
        )
    } else if fields.has("min") != fields.has("max") {
        (
            format!("parameter `{name}` needs both `min` and `max`"),
            "or give `values` for a list of choices",
        )
    } else {
        (
            format!("cannot tell what distribution parameter `{name}` has"),
            "give `value`, `values`, `min` and `max`, or a `distribution`",
        )
    };
    c.error_help(fields.node.position, &fields.path, message, help);
    None
}

/// Keys that only explicitly named distributions take: W&B infers nothing from them.
fn needs_explicit_distribution(fields: &Fields<'_>, name: &str) -> Option<(String, String)> {
    let scalar = |key: &str| fields.get(key).is_some_and(|n| n.as_map().is_none());
    if scalar("q") {
        Some((
            format!("parameter `{name}` has `q` but no `distribution`"),
            "quantized distributions are named explicitly: q_uniform, q_log_uniform_values, \
             q_normal, q_log_normal or q_beta"
                .to_owned(),
        ))
    } else if scalar("mu") || scalar("sigma") {
        Some((
            format!("parameter `{name}` has `mu`/`sigma` but no `distribution`"),
            "add `distribution: normal` or `distribution: log_normal`".to_owned(),
        ))
    } else if scalar("a") || scalar("b") {
        Some((
            format!("parameter `{name}` has `a`/`b` but no `distribution`"),
            "add `distribution: beta`".to_owned(),
        ))
    } else {
        None
    }
}

/// Every key must belong to the distribution (W&B: `additionalProperties: false`).
fn check_keys(c: &mut Checker, fields: &Fields<'_>, kind: Kind, name: &str) {
    for (key, _) in fields.entries {
        let Some(key_name) = key.as_str() else {
            c.error(
                key.position,
                &fields.path,
                format!(
                    "keys of parameter `{name}` must be strings, found {}",
                    key.describe()
                ),
            );
            continue;
        };
        if key_name == "distribution" || kind.keys().contains(&key_name) {
            continue;
        }
        let path = fields.child(key_name);
        let looks_like_a_parameter = fields.get(key_name).is_some_and(|value| {
            [
                "value",
                "values",
                "min",
                "max",
                "distribution",
                "parameters",
            ]
            .iter()
            .any(|k| value.get(k).is_some())
        });
        if looks_like_a_parameter {
            c.error_help(
                key.position,
                &path,
                format!("unknown key `{key_name}` in parameter `{name}`"),
                format!("`{key_name}` looks like a parameter of its own: is it indented too far?"),
            );
        } else if PARAMETER_KEYS.contains(&key_name) {
            let with_key: Vec<&str> = Kind::ALL
                .iter()
                .filter(|k| k.keys().contains(&key_name))
                .map(|k| k.name())
                .collect();
            let takes: Vec<String> = kind.keys().iter().map(|k| format!("`{k}`")).collect();
            c.error_help(
                key.position,
                &path,
                format!("`{key_name}` does not belong to a {kind} parameter"),
                format!(
                    "{kind} takes {}; `{key_name}` belongs to {}",
                    takes.join(", "),
                    with_key.join(", ")
                ),
            );
        } else {
            let mut allowed = kind.keys().to_vec();
            allowed.push("distribution");
            c.error_help(
                key.position,
                &path,
                format!("unknown key `{key_name}` in parameter `{name}`"),
                suggest::help(key_name, &allowed),
            );
        }
    }
}
