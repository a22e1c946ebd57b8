//! A sweep file as a tree of values that know where they were written.
//!
//! Values come from serde_yaml (YAML 1.2: `1e-5` is a float) or serde_json;
//! positions come from [`Locations`]. Reading the text also yields the
//! problems that belong to the text rather than to the sweep: syntax errors,
//! keys written twice, and scalars that W&B's YAML 1.1 reader would read
//! differently.

use std::fmt;
use std::path::Path;

use super::depth::{self, MAX_DEPTH};
use super::diagnostic::{Diagnostic, Diagnostics, KeyPath, Position, Severity};
use super::locations::Locations;
use super::yaml11::{self, Yaml11};

/// The two syntaxes a sweep file may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// `.json` files are JSON; everything else is YAML (which JSON also is, nearly).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub position: Option<Position>,
}

/// A map entry: the key is a node too, so errors about keys point at the key.
pub type Entry = (Node, Node);

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry whose key is the string `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short description of what this is, for messages: `the string "1e-4"`, `a list`.
    pub fn describe(&self) -> impl fmt::Display + '_ {
        Describe(self)
    }
}

struct Describe<'a>(&'a Node);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.value {
            Value::Null => f.write_str("nothing (null)"),
            Value::Bool(b) => write!(f, "the boolean {b}"),
            Value::Int(i) => write!(f, "the integer {i}"),
            Value::Float(x) => write!(f, "the number {x:?}"),
            Value::Str(s) if s.chars().count() <= 40 => write!(f, "the string {s:?}"),
            Value::Str(_) => f.write_str("a string"),
            Value::Seq(_) => f.write_str("a list"),
            Value::Map(_) => f.write_str("a mapping"),
        }
    }
}

/// Read `text` as YAML or JSON. On success, also returns the problems of the
/// text itself (duplicate keys are errors; YAML 1.1 differences are warnings).
/// On failure, the reasons: a syntax error, or the keys written twice (which
/// serde_yaml refuses with less to say about them), or nesting deeper than
/// [`MAX_DEPTH`] (refused before any parser reads the text: the parsers take
/// time quadratic in the depth).
pub fn parse(text: &str, format: Format) -> Result<(Node, Diagnostics), Diagnostics> {
    if let Some(position) = depth::too_deep(text, MAX_DEPTH) {
        let mut reasons = Diagnostics::default();
        reasons.push(Diagnostic {
            severity: Severity::Error,
            path: KeyPath::root(),
            position: Some(position),
            message: format!(
                "the file nests deeper than {MAX_DEPTH} levels here (a sweep file may nest {MAX_DEPTH} at most)"
            ),
            help: Some(
                "a sweep file needs a few levels (parameters, a parameter, its values): \
                 look for a `[` or `{` that is never closed"
                    .into(),
            ),
        });
        return Err(reasons);
    }
    let locations = Locations::index(text);
    let mut diagnostics = Diagnostics::default();
    duplicate_keys(&locations, &mut diagnostics);
    let fail = |error: Diagnostic| {
        let mut reasons = Diagnostics::default();
        duplicate_keys(&locations, &mut reasons);
        // serde_yaml refuses duplicate keys with a message of its own: ours say more.
        if reasons.is_empty() || !error.message.contains("duplicate entry") {
            reasons.push(error);
        }
        reasons
    };
    let root = match format {
        Format::Yaml => {
            let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
                fail(syntax_error(
                    &e.to_string(),
                    e.location().map(yaml_position),
                ))
            })?;
            value
                .apply_merge()
                .map_err(|e| fail(syntax_error(&e.to_string(), None)))?;
            let mut builder = Builder {
                locations: &locations,
                diagnostics: &mut diagnostics,
                warn_yaml11: true,
            };
            builder
                .node_from_yaml(&value, &KeyPath::root(), None)
                .map_err(fail)?
        }
        Format::Json => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                let position = (e.line() > 0).then(|| Position {
                    line: e.line(),
                    column: char_column(text, e.line(), e.column()),
                });
                fail(syntax_error(&e.to_string(), position))
            })?;
            let builder = Builder {
                locations: &locations,
                diagnostics: &mut diagnostics,
                warn_yaml11: false,
            };
            builder.node_from_json(&value, &KeyPath::root(), None)
        }
    };
    Ok((root, diagnostics))
}

/// serde_json counts columns in bytes; positions here count characters.
fn char_column(text: &str, line: usize, byte_column: usize) -> usize {
    let Some(line_text) = text.lines().nth(line.saturating_sub(1)) else {
        return byte_column;
    };
    let end = byte_column.saturating_sub(1).min(line_text.len());
    let prefix = line_text.get(..end).unwrap_or(line_text);
    prefix.chars().count() + 1
}

fn duplicate_keys(locations: &Locations, diagnostics: &mut Diagnostics) {
    for (path, position) in &locations.duplicates {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            path: path.clone(),
            position: Some(*position),
            message: "this key is written twice in the same mapping".into(),
            help: Some("keep one: W&B silently keeps the last, which hides mistakes".into()),
        });
    }
}

fn tag_error(tag: &str, path: &KeyPath, position: Option<Position>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        path: path.clone(),
        position,
        message: format!("YAML tags such as `{tag}` are not supported"),
        help: Some("remove the tag: W&B's reader (PyYAML's safe loader) refuses it too".into()),
    }
}

fn yaml_position(location: serde_yaml::Location) -> Position {
    Position {
        line: location.line(),
        column: location.column(),
    }
}

/// The start of every syntax error's message.
const SYNTAX_ERROR: &str = "cannot read the file: ";

/// Whether `d` says the text is not YAML (or JSON) at all, as a file cut off
/// in the middle of writing it is not.
pub fn is_syntax_error(d: &Diagnostic) -> bool {
    d.is_error() && d.message.starts_with(SYNTAX_ERROR)
}

fn syntax_error(message: &str, position: Option<Position>) -> Diagnostic {
    // Both parsers append " at line L column C"; we print the position ourselves.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .trim_end()
        .to_owned();
    Diagnostic {
        severity: Severity::Error,
        path: KeyPath::root(),
        position,
        message: format!("{SYNTAX_ERROR}{message}"),
        help: None,
    }
}

struct Builder<'a> {
    locations: &'a Locations,
    diagnostics: &'a mut Diagnostics,
    warn_yaml11: bool,
}

impl Builder<'_> {
    /// Position of the value at `path`, or the nearest enclosing known one.
    fn position(&self, path: &KeyPath, fallback: Option<Position>) -> Option<Position> {
        self.locations.get(path).and_then(|l| l.value).or(fallback)
    }

    fn key_position(&self, path: &KeyPath, fallback: Option<Position>) -> Option<Position> {
        self.locations.get(path).and_then(|l| l.key).or(fallback)
    }

    fn node_from_yaml(
        &mut self,
        value: &serde_yaml::Value,
        path: &KeyPath,
        fallback: Option<Position>,
    ) -> Result<Node, Diagnostic> {
        use serde_yaml::Value as Y;
        let position = self.position(path, fallback);
        if let Some(tag) = self
            .locations
            .get(path)
            .and_then(|l| l.foreign_tag.as_ref())
        {
            return Err(tag_error(tag, path, position));
        }
        let value = match value {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => number(n.as_i64(), n.as_u64(), n.as_f64()),
            Y::String(s) => Value::Str(s.clone()),
            Y::Sequence(items) => Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node_from_yaml(item, &path.index(i), position))
                    .collect::<Result<_, _>>()?,
            ),
            Y::Mapping(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (key, item) in map {
                    let key_text = yaml_key_text(key);
                    let child = path.key(&key_text);
                    let key_node = Node {
                        value: match key {
                            Y::String(s) => Value::Str(s.clone()),
                            other => self.node_from_yaml(other, &child, position)?.value,
                        },
                        position: self.key_position(&child, position),
                    };
                    entries.push((key_node, self.node_from_yaml(item, &child, position)?));
                }
                Value::Map(entries)
            }
            Y::Tagged(tagged) => return Err(tag_error(&tagged.tag.to_string(), path, position)),
        };
        let node = Node { value, position };
        if self.warn_yaml11 {
            self.check_yaml11(&node, path);
        }
        Ok(node)
    }

    fn node_from_json(
        &self,
        value: &serde_json::Value,
        path: &KeyPath,
        fallback: Option<Position>,
    ) -> Node {
        use serde_json::Value as J;
        let position = self.position(path, fallback);
        let value = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => number(n.as_i64(), n.as_u64(), n.as_f64()),
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node_from_json(item, &path.index(i), position))
                    .collect(),
            ),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(key, item)| {
                        let child = path.key(key);
                        let key_node = Node {
                            value: Value::Str(key.clone()),
                            position: self.key_position(&child, position),
                        };
                        (key_node, self.node_from_json(item, &child, position))
                    })
                    .collect(),
            ),
        };
        Node { value, position }
    }

    /// Warn where PyYAML (W&B) reads this plain scalar as something else.
    fn check_yaml11(&mut self, node: &Node, path: &KeyPath) {
        let Some(text) = self
            .locations
            .get(path)
            .and_then(|l| l.plain_scalar.as_deref())
        else {
            return;
        };
        let theirs = yaml11::resolve(text);
        let (same, ours) = match (&node.value, &theirs) {
            (Value::Null, Yaml11::Null) => (true, "null"),
            (Value::Bool(a), Yaml11::Bool(b)) => (a == b, "a boolean"),
            (Value::Int(a), Yaml11::Int(b)) => (i128::from(*a) == *b, "an integer"),
            (Value::Float(_), Yaml11::Float) => (true, "a number"),
            (Value::Str(_), Yaml11::Str) => (true, "a string"),
            (Value::Null, _) => (false, "null"),
            (Value::Bool(_), _) => (false, "a boolean"),
            (Value::Int(_), _) => (false, "an integer"),
            (Value::Float(_), _) => (false, "a number"),
            (Value::Str(_), _) => (false, "a string"),
            (Value::Seq(_) | Value::Map(_), _) => (true, ""),
        };
        if same {
            return;
        }
        let ours = match &node.value {
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(x) => format!("the number {x}"),
            _ => ours.to_owned(),
        };
        let (theirs_text, help) = match theirs {
            Yaml11::Str => (
                format!("the string {text:?}"),
                if matches!(node.value, Value::Float(_)) {
                    "write it with a dot and a signed exponent (`1.0e-5`) so both read a number"
                } else {
                    "quote it if you mean a string"
                },
            ),
            Yaml11::Bool(b) => (
                format!("the boolean {}", if b { "True" } else { "False" }),
                "write true/false for a boolean, or quote it for a string",
            ),
            Yaml11::Int(i) => (
                format!("the integer {i}"),
                if text.trim_start_matches(['-', '+']).starts_with('0') && text.len() > 1 {
                    "PyYAML reads a leading 0 as octal: drop the 0, or quote it"
                } else {
                    "quote it if you mean a string"
                },
            ),
            Yaml11::Float => ("a number".to_owned(), "quote it if you mean a string"),
            Yaml11::Null => ("null".to_owned(), "quote it if you mean a string"),
            Yaml11::Timestamp => ("a date".to_owned(), "quote it if you mean a string"),
        };
        self.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            path: path.clone(),
            position: node.position,
            message: format!(
                "`{text}` is {ours} here (YAML 1.2), but W&B's reader (PyYAML, YAML 1.1) reads {theirs_text}"
            ),
            help: Some(help.to_owned()),
        });
    }
}

fn number(int: Option<i64>, uint: Option<u64>, float: Option<f64>) -> Value {
    match (int, uint, float) {
        (Some(i), _, _) => Value::Int(i),
        // Integers beyond i64 are kept as the nearest float.
        (None, Some(u), _) => Value::Float(u as f64),
        (None, None, Some(x)) => Value::Float(x),
        (None, None, None) => Value::Null,
    }
}

/// How a key reads as a path segment: strings as they are, other scalars as
/// their YAML text (`1`, `true`), so that they can still be located.
fn yaml_key_text(key: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    match key {
        Y::String(s) => s.clone(),
        Y::Null => "null".to_owned(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Sequence(_) | Y::Mapping(_) | Y::Tagged(_) => "<complex key>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
