//! The collector of problems, and typed reads of document nodes that report
//! what they expected and what they found. Checking goes on after a problem,
//! so that every problem of a file is reported at once.

use super::diagnostic::{Diagnostic, Diagnostics, KeyPath, Position, Severity};
use super::document::{Entry, Node, Value};
use super::number::Num;
use super::suggest;
use crate::value::whole_f64;

#[derive(Default)]
pub(crate) struct Checker {
    pub diagnostics: Diagnostics,
}

/// A mapping under check: its entries and where it is.
pub(crate) struct Fields<'n> {
    pub node: &'n Node,
    pub path: KeyPath,
    pub entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The string keys present, in the order written.
    pub fn keys(&self) -> impl Iterator<Item = &'n str> {
        self.entries.iter().filter_map(|(k, _)| k.as_str())
    }

    pub fn child(&self, key: &str) -> KeyPath {
        self.path.key(key)
    }
}

impl Checker {
    pub fn error(
        &mut self,
        position: Option<Position>,
        path: &KeyPath,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, position, path, message.into(), None);
    }

    pub fn error_help(
        &mut self,
        position: Option<Position>,
        path: &KeyPath,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(
            Severity::Error,
            position,
            path,
            message.into(),
            Some(help.into()),
        );
    }

    pub fn warn(
        &mut self,
        position: Option<Position>,
        path: &KeyPath,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(Severity::Warning, position, path, message.into(), help);
    }

    fn push(
        &mut self,
        severity: Severity,
        position: Option<Position>,
        path: &KeyPath,
        message: String,
        help: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            severity,
            path: path.clone(),
            position,
            message,
            help,
        });
    }

    /// Expect a mapping; `what` names it in the message ("the sweep", "parameter `lr`").
    pub fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &KeyPath,
        what: &str,
    ) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                node,
                path: path.clone(),
                entries,
            }),
            _ => {
                self.error(
                    node.position,
                    path,
                    format!(
                        "{what} must be a mapping of keys to values, found {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    /// The entries with string keys, as (name, key, value); any other key is
    /// reported as "`what` must be strings". The flag says whether all were strings.
    pub fn string_keyed<'n>(
        &mut self,
        fields: &Fields<'n>,
        what: &str,
    ) -> (Vec<(&'n str, &'n Node, &'n Node)>, bool) {
        let mut out = Vec::with_capacity(fields.entries.len());
        let mut all = true;
        for (key, value) in fields.entries {
            match key.as_str() {
                Some(name) => out.push((name, key, value)),
                None => {
                    self.error(
                        key.position,
                        &fields.path,
                        format!("{what} must be strings, found {}", key.describe()),
                    );
                    all = false;
                }
            }
        }
        (out, all)
    }

    /// Report every key not in `allowed`, with the closest allowed one.
    pub fn only_keys(&mut self, fields: &Fields<'_>, allowed: &[&str], context: &str) {
        for (key, _) in fields.entries {
            match key.as_str() {
                Some(name) if allowed.contains(&name) => {}
                Some(name) => {
                    let path = fields.child(name);
                    self.error_help(
                        key.position,
                        &path,
                        format!("unknown key `{name}` in {context}"),
                        suggest::help(name, allowed),
                    );
                }
                None => self.error(
                    key.position,
                    &fields.path,
                    format!(
                        "keys in {context} must be strings, found {}",
                        key.describe()
                    ),
                ),
            }
        }
    }

    /// Report a required key that is missing, at the mapping that lacks it.
    pub fn require<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        context: &str,
    ) -> Option<&'n Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.error(
                fields.node.position,
                &fields.path,
                format!("{context} needs the key `{key}`"),
            );
        }
        node
    }

    pub fn string(&mut self, node: &Node, path: &KeyPath) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.error(
                    node.position,
                    path,
                    format!("expected a string, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, path: &KeyPath) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.position,
                    path,
                    format!("expected true or false, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// A number (integer or float; never a boolean). Non-finite numbers are refused:
    /// no distribution has a use for them.
    pub fn number(&mut self, node: &Node, path: &KeyPath) -> Option<Num> {
        match node.value {
            Value::Int(i) => Some(Num::Int(i)),
            Value::Float(x) if x.is_finite() => Some(Num::Float(x)),
            Value::Float(_) => {
                self.error(
                    node.position,
                    path,
                    format!("expected a finite number, found {}", node.describe()),
                );
                None
            }
            Value::Str(ref s) if s.trim().parse::<f64>().is_ok() => {
                self.error_help(
                    node.position,
                    path,
                    format!("expected a number, found {}", node.describe()),
                    "remove the quotes",
                );
                None
            }
            _ => {
                self.error(
                    node.position,
                    path,
                    format!("expected a number, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// An integer as JSON Schema counts them: `3` and `3.0`, not `3.5` or `true`.
    pub fn integer(&mut self, node: &Node, path: &KeyPath) -> Option<i64> {
        match node.value {
            Value::Int(i) => Some(i),
            Value::Float(x) if whole_f64(x).is_some() => whole_f64(x),
            Value::Float(x) if x.fract() == 0.0 => {
                self.error(
                    node.position,
                    path,
                    format!("{x:e} is too large: integers here go up to {}", i64::MAX),
                );
                None
            }
            _ => {
                self.error(
                    node.position,
                    path,
                    format!("expected an integer, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// A parameter value as handed to runs: any JSON value.
    pub fn json_value(&mut self, node: &Node, path: &KeyPath) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match &node.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => J::Number(n),
                None => {
                    self.error(
                        node.position,
                        path,
                        format!(
                            "{} cannot be handed to a run: only finite numbers can",
                            node.describe()
                        ),
                    );
                    return None;
                }
            },
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.json_value(item, &path.index(i)) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                J::Array(out)
            }
            Value::Map(entries) => {
                let mut out = serde_json::Map::new();
                let mut ok = true;
                for (key, item) in entries {
                    // Runs receive JSON, whose keys are strings: `1: a` becomes "1", `1.0: a` "1.0",
                    // as Python's json writes them.
                    let name = match &key.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(x) => format!("{x:?}"),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_owned(),
                        Value::Seq(_) | Value::Map(_) => {
                            self.error(key.position, path, "a key inside a value must be a scalar");
                            ok = false;
                            continue;
                        }
                    };
                    match self.json_value(item, &path.key(&name)) {
                        Some(v) => {
                            out.insert(name, v);
                        }
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                J::Object(out)
            }
        })
    }
}

/// A name a shell would accept for an environment variable.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|ch: char| ch.is_ascii_digit())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// One of a fixed set of words; otherwise an error naming the closest.
pub(crate) fn choice<T: Copy>(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
    choices: &[(&str, T)],
) -> Option<T> {
    let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
    match &node.value {
        Value::Str(s) => match choices.iter().find(|(w, _)| w == s) {
            Some((_, value)) => Some(*value),
            None => {
                c.error_help(
                    node.position,
                    path,
                    format!("`{s}` is not one of {}", words.join(", ")),
                    suggest::help(s, &words),
                );
                None
            }
        },
        _ => {
            c.error(
                node.position,
                path,
                format!(
                    "expected one of {}, found {}",
                    words.join(", "),
                    node.describe()
                ),
            );
            None
        }
    }
}
