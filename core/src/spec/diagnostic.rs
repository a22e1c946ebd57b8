//! Problems found in a sweep file, each with where it is and what would be right.

use std::fmt;

use serde::Serialize;

/// How bad a problem is: errors make a file invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A place in the source text: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One step of a key path: a mapping key or a list index. Keys are shared
/// between the paths of a document's nodes: a path is copied per node, and
/// copying long keys per node would let a small file take gigabytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(std::sync::Arc<str>),
    Index(usize),
}

/// Where a value sits in the document, written like `parameters.lr.values[2]`.
/// Its hash is computed once, as the path is built, and kept: a document's
/// nodes are looked up by path, and hashing every key of a deep path at
/// every node would let a small file take minutes.
#[derive(Debug, Clone)]
pub struct KeyPath {
    segments: Vec<Segment>,
    hash: u64,
}

impl KeyPath {
    pub fn root() -> Self {
        Self {
            segments: Vec::new(),
            hash: 0,
        }
    }

    pub fn key(&self, key: &str) -> Self {
        self.then(Segment::Key(key.into()))
    }

    pub fn index(&self, index: usize) -> Self {
        self.then(Segment::Index(index))
    }

    fn then(&self, segment: Segment) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        self.hash.hash(&mut hasher);
        segment.hash(&mut hasher);
        let mut segments = self.segments.clone();
        segments.push(segment);
        Self {
            segments,
            hash: hasher.finish(),
        }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }
}

impl Default for KeyPath {
    fn default() -> Self {
        Self::root()
    }
}

impl PartialEq for KeyPath {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.segments == other.segments
    }
}

impl Eq for KeyPath {}

impl std::hash::Hash for KeyPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for KeyPath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyPath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.segments.cmp(&other.segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    // A dotted parameter name such as `model.lr` is one key, not two.
                    let plain = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if plain {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for KeyPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One problem: what is wrong, where, and (when we know) what would be right.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The key path of the offending value; empty for the file as a whole.
    pub path: KeyPath,
    /// Where in the file; absent when the text gives no position (rare).
    #[serde(flatten)]
    pub position: Option<Position>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The first line: `file:line:col: error: path: message`, the form
    /// compilers use, so editors and grep can jump to it.
    pub fn headline_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        Headline {
            diagnostic: self,
            file,
        }
    }

    /// The headline, and the help on a second line when there is one.
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        WithHelp {
            diagnostic: self,
            file,
        }
    }
}

struct Headline<'a> {
    diagnostic: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostic;
        f.write_str(self.file)?;
        if let Some(p) = d.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": {}: ", d.severity)?;
        if !d.path.is_root() {
            write!(f, "{}: ", d.path)?;
        }
        f.write_str(&d.message)
    }
}

struct WithHelp<'a> {
    diagnostic: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for WithHelp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diagnostic.headline_in(self.file))?;
        if let Some(help) = &self.diagnostic.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The problems of one file, in the order of the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keep at most `max` problems, errors first, and say how many more there
    /// were: a file built to have a problem at every one of its 250,000
    /// values must not take minutes and megabytes to report.
    pub(crate) fn cap(&mut self, max: usize) {
        if self.0.len() <= max {
            return;
        }
        let (errors, warnings): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(Diagnostic::is_error);
        let dropped_errors = errors.len().saturating_sub(max);
        let dropped_warnings = warnings
            .len()
            .saturating_sub(max.saturating_sub(errors.len()));
        self.0 = errors.into_iter().take(max).collect();
        let room = max - self.0.len();
        self.0.extend(warnings.into_iter().take(room));
        self.sort();
        self.0.push(Diagnostic {
            severity: Severity::Warning,
            path: KeyPath::root(),
            position: None,
            message: format!(
                "{dropped_errors} more error(s) and {dropped_warnings} more warning(s) not listed"
            ),
            help: Some(format!(
                "only the first {max} problems of a file are listed"
            )),
        });
    }

    /// Sort by position (problems without one last), keeping the order of
    /// discovery among equals, so a reader walks the file top to bottom.
    pub(crate) fn sort(&mut self) {
        self.0.sort_by_key(|d| {
            d.position
                .map_or((usize::MAX, usize::MAX), |p| (p.line, p.column))
        });
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_read_like_the_document() {
        let path = KeyPath::root()
            .key("parameters")
            .key("lr")
            .key("values")
            .index(2);
        assert_eq!(path.to_string(), "parameters.lr.values[2]");
        let dotted = KeyPath::root().key("parameters").key("model.lr").key("max");
        assert_eq!(dotted.to_string(), "parameters.\"model.lr\".max");
    }

    #[test]
    fn one_line_rendering_names_file_position_path_and_help() {
        let d = Diagnostic {
            severity: Severity::Error,
            path: KeyPath::root()
                .key("parameters")
                .key("lr")
                .key("distribution"),
            position: Some(Position {
                line: 7,
                column: 19,
            }),
            message: "unknown distribution \"log_uniform_value\"".into(),
            help: Some("did you mean `log_uniform_values`?".into()),
        };
        assert_eq!(
            d.display_in("sweep.yaml").to_string(),
            "sweep.yaml:7:19: error: parameters.lr.distribution: unknown distribution \
             \"log_uniform_value\"\n  help: did you mean `log_uniform_values`?"
        );
    }
}
