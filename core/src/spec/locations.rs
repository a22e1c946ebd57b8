//! Where each value of a sweep file sits in its text.
//!
//! serde_yaml (the parser whose values we use) reports positions only for
//! syntax errors, so a second, read-only pass over the same text with
//! yaml-rust2's event parser records, for every key path, the line and column
//! of its key and value, and the source text and style of scalars. It also
//! sees what a value tree cannot: a key written twice in one mapping.
//! JSON is a subset of YAML 1.2, so the same pass serves JSON files.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::diagnostic::{KeyPath, Position, Segment};

/// The most nodes of one document whose positions are kept, and the most
/// bytes of key paths hashed to keep them: a sweep file has dozens of nodes;
/// a file built to take time or memory (a quarter million values under
/// sixty long keys) gets positions for its first nodes only, and errors
/// past them say where by key path alone.
pub const MAX_LOCATED: usize = 50_000;
const MAX_LOCATED_BYTES: usize = 16 << 20;

/// What the text says about one node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Location {
    /// Where its key starts (mapping entries only).
    pub key: Option<Position>,
    /// Where its value starts.
    pub value: Option<Position>,
    /// The text of a plain (unquoted) scalar, as written.
    pub plain_scalar: Option<String>,
    /// A YAML tag on the node other than the core schema's (`!!python/...`, `!foo`).
    pub foreign_tag: Option<String>,
}

/// Locations by key path, and keys written twice.
#[derive(Debug, Default)]
pub(crate) struct Locations {
    by_path: HashMap<KeyPath, Location>,
    /// Second and later occurrences of a key in one mapping.
    pub duplicates: Vec<(KeyPath, Position)>,
}

impl Locations {
    /// Index `text`. A text this pass cannot read yields an empty index: the
    /// positions are an aid to the reader, the values come from serde.
    pub fn index(text: &str) -> Self {
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut recorder, false).is_err() {
            return Self::default();
        }
        recorder.locations
    }

    pub fn get(&self, path: &KeyPath) -> Option<&Location> {
        self.by_path.get(path)
    }
}

fn position(mark: Marker) -> Position {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

enum Frame {
    Map {
        path: KeyPath,
        /// The key just read, waiting for its value.
        pending_key: Option<(String, Position)>,
        seen: HashSet<String>,
        /// How many complex (non-scalar) keys were met, to give each a name.
        complex_keys: usize,
    },
    Seq {
        path: KeyPath,
        next: usize,
    },
    /// A mapping or sequence used as a key: its contents are not indexed.
    ComplexKey {
        depth: usize,
    },
}

/// A tag outside YAML's core schema, written as in the file (`!!python/name:x`).
fn foreign(tag: &Tag) -> Option<String> {
    const CORE: &[&str] = &["str", "int", "float", "bool", "null", "map", "seq"];
    let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
    if core && CORE.contains(&tag.suffix.as_str()) {
        return None;
    }
    let handle = if tag.handle == "tag:yaml.org,2002:" {
        "!!"
    } else {
        tag.handle.as_str()
    };
    Some(format!("{handle}{}", tag.suffix))
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    locations: Locations,
    /// Bytes of key paths hashed into `locations` so far.
    located_bytes: usize,
    /// Aliases used as keys so far.
    aliases: usize,
}

/// What makes two keys the same key: a quoted `"1"` and a plain `1` differ
/// (a string and a number), a plain `a` and a quoted `"a"` do not.
fn key_identity(text: &str, style: TScalarStyle) -> String {
    if style != TScalarStyle::Plain {
        return format!("string {text}");
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => "null".to_owned(),
        "true" | "True" | "TRUE" => "bool true".to_owned(),
        "false" | "False" | "FALSE" => "bool false".to_owned(),
        _ => match text.parse::<f64>() {
            Ok(x) => format!("number {x:?}"),
            Err(_) => format!("string {text}"),
        },
    }
}

/// What a node event means to its parent.
enum Slot {
    Key,
    Value(KeyPath, Option<Position>),
    Ignored,
}

impl Recorder {
    /// Decide what the next node is: a key of the enclosing mapping, or a value
    /// at some path (with the position of its key, if it has one).
    fn slot(&mut self) -> Slot {
        match self.stack.last_mut() {
            None => Slot::Value(KeyPath::root(), None),
            Some(Frame::ComplexKey { .. }) => Slot::Ignored,
            Some(Frame::Map {
                path, pending_key, ..
            }) => match pending_key.take() {
                None => Slot::Key,
                Some((key, key_pos)) => Slot::Value(path.key(&key), Some(key_pos)),
            },
            Some(Frame::Seq { path, next }) => {
                let slot = Slot::Value(path.index(*next), None);
                *next += 1;
                slot
            }
        }
    }

    fn record(
        &mut self,
        path: &KeyPath,
        key: Option<Position>,
        value: Position,
        plain: Option<String>,
        tag: Option<&Tag>,
    ) {
        if !self.may_locate(path) {
            return;
        }
        self.locations.by_path.insert(
            path.clone(),
            Location {
                key,
                value: Some(value),
                plain_scalar: plain,
                foreign_tag: tag.and_then(foreign),
            },
        );
    }

    /// A key of the enclosing mapping: `key` is its text (the path segment),
    /// `identity` what tells it apart from the other keys.
    /// Whether `path` may still be located (see [`MAX_LOCATED`]); counted.
    fn may_locate(&mut self, path: &KeyPath) -> bool {
        let bytes: usize = path
            .segments()
            .iter()
            .map(|s| match s {
                Segment::Key(key) => key.len(),
                Segment::Index(_) => 8,
            })
            .sum();
        if self.locations.by_path.len() >= MAX_LOCATED
            || self.located_bytes.saturating_add(bytes) > MAX_LOCATED_BYTES
        {
            self.located_bytes = MAX_LOCATED_BYTES;
            return false;
        }
        self.located_bytes += bytes;
        true
    }

    fn take_key(&mut self, key: String, identity: String, pos: Position) {
        if let Some(Frame::Map {
            path,
            pending_key,
            seen,
            ..
        }) = self.stack.last_mut()
        {
            if seen.is_empty() && self.located_bytes < MAX_LOCATED_BYTES {
                // A block mapping's start event is marked at its first `:`;
                // the mapping starts where its first key does.
                if let Some(location) = self.locations.by_path.get_mut(path) {
                    location.value = location.value.min(Some(pos)).or(Some(pos));
                }
            }
            if !seen.insert(identity) {
                self.locations.duplicates.push((path.key(&key), pos));
            }
            *pending_key = Some((key, pos));
        }
    }

    fn open(&mut self, mapping: bool, mark: Marker, tag: Option<&Tag>) {
        let pos = position(mark);
        if let Some(Frame::ComplexKey { depth }) = self.stack.last_mut() {
            *depth += 1;
            return;
        }
        match self.slot() {
            Slot::Ignored => {}
            Slot::Key => self.stack.push(Frame::ComplexKey { depth: 1 }),
            Slot::Value(path, key) => {
                self.record(&path, key, pos, None, tag);
                self.stack.push(if mapping {
                    Frame::Map {
                        path,
                        pending_key: None,
                        seen: HashSet::new(),
                        complex_keys: 0,
                    }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
        }
    }

    fn close(&mut self, mark: Marker) {
        match self.stack.last_mut() {
            Some(Frame::ComplexKey { depth }) if *depth > 1 => *depth -= 1,
            Some(Frame::ComplexKey { .. }) => {
                self.stack.pop();
                // The complex key now waits for its value under a made-up name.
                if let Some(Frame::Map { complex_keys, .. }) = self.stack.last_mut() {
                    *complex_keys += 1;
                    let name = format!("<complex key {complex_keys}>");
                    self.take_key(name.clone(), name, position(mark));
                }
            }
            _ => {
                self.stack.pop();
            }
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, style, _, tag) => {
                let pos = position(mark);
                match self.slot() {
                    Slot::Ignored => {}
                    Slot::Key => {
                        let identity = key_identity(&text, style);
                        self.take_key(text, identity, pos);
                    }
                    Slot::Value(path, key) => {
                        let plain = (style == TScalarStyle::Plain).then_some(text);
                        self.record(&path, key, pos, plain, tag.as_ref());
                    }
                }
            }
            Event::Alias(_) => {
                let pos = position(mark);
                match self.slot() {
                    Slot::Ignored => {}
                    Slot::Key => {
                        // Two aliases may name different anchors: never "the same key".
                        self.aliases += 1;
                        let name = format!("<alias {}>", self.aliases);
                        self.take_key(name.clone(), name, pos);
                    }
                    Slot::Value(path, key) => self.record(&path, key, pos, None, None),
                }
            }
            Event::MappingStart(_, tag) => self.open(true, mark, tag.as_ref()),
            Event::SequenceStart(_, tag) => self.open(false, mark, tag.as_ref()),
            Event::MappingEnd | Event::SequenceEnd => self.close(mark),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(locations: &Locations, path: &KeyPath) -> (Option<Position>, Option<Position>) {
        let l = locations.get(path).expect("indexed");
        (l.key, l.value)
    }

    #[test]
    fn block_mapping_positions_are_one_based() {
        let text = "method: grid\nparameters:\n  lr:\n    min: 1e-5\n    max: 0.1\n";
        let locations = Locations::index(text);
        let lr_min = KeyPath::root().key("parameters").key("lr").key("min");
        assert_eq!(
            at(&locations, &lr_min),
            (
                Some(Position { line: 4, column: 5 }),
                Some(Position {
                    line: 4,
                    column: 10
                })
            )
        );
        assert_eq!(
            locations.get(&lr_min).unwrap().plain_scalar.as_deref(),
            Some("1e-5")
        );
        let method = KeyPath::root().key("method");
        assert_eq!(
            at(&locations, &method).1,
            Some(Position { line: 1, column: 9 })
        );
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let text = "program: x\nparameters:\n  lr:\n    min: 1\n";
        let locations = Locations::index(text);
        assert_eq!(
            at(&locations, &KeyPath::root()).1,
            Some(Position { line: 1, column: 1 })
        );
        let lr = KeyPath::root().key("parameters").key("lr");
        assert_eq!(at(&locations, &lr).1, Some(Position { line: 4, column: 5 }));
        let flow = Locations::index("a: {b: 1}\n");
        assert_eq!(
            at(&flow, &KeyPath::root().key("a")).1,
            Some(Position { line: 1, column: 4 })
        );
    }

    #[test]
    fn sequences_and_quoted_scalars() {
        let text = "parameters:\n  a:\n    values: [1, \"1e-5\", x]\n";
        let locations = Locations::index(text);
        let values = KeyPath::root().key("parameters").key("a").key("values");
        let second = locations.get(&values.index(1)).unwrap();
        assert_eq!(
            second.value,
            Some(Position {
                line: 3,
                column: 17
            })
        );
        assert_eq!(second.plain_scalar, None, "quoted scalars are not plain");
        let third = locations.get(&values.index(2)).unwrap();
        assert_eq!(third.plain_scalar.as_deref(), Some("x"));
    }

    #[test]
    fn json_is_indexed_too() {
        let text = "{\n  \"method\": \"grid\",\n  \"parameters\": {\"a\": {\"values\": [1,2]}}\n}";
        let locations = Locations::index(text);
        let a = KeyPath::root().key("parameters").key("a");
        assert_eq!(
            at(&locations, &a).0,
            Some(Position {
                line: 3,
                column: 18
            })
        );
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second_one() {
        let text = "method: grid\nparameters:\n  a: {value: 1}\n  a: {value: 2}\n";
        let locations = Locations::index(text);
        assert_eq!(
            locations.duplicates,
            vec![(
                KeyPath::root().key("parameters").key("a"),
                Position { line: 4, column: 3 }
            )]
        );
    }

    #[test]
    fn keys_that_only_look_alike_are_not_duplicates() {
        let text = "1: a\n\"1\": b\nx: &k c\n*k : d\n? *k\n: e\nq: 1\n'q': 2\n";
        let dup: Vec<String> = Locations::index(text)
            .duplicates
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            dup,
            ["q"],
            "a number and a string differ; so may two aliases"
        );
    }

    #[test]
    fn complex_keys_do_not_confuse_the_index() {
        let text = "? [a, b]\n: 1\nc: 2\n";
        let locations = Locations::index(text);
        assert_eq!(
            at(&locations, &KeyPath::root().key("c")).1,
            Some(Position { line: 3, column: 4 })
        );
    }
}
