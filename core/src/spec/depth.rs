//! How deeply a sweep file nests, found by one linear pass before any parser
//! reads it. The YAML scanners we use (libyaml's, under serde_yaml, and
//! yaml-rust2's) take time quadratic in the nesting depth: a 1 MiB file of
//! `[` held a CPU for 14 minutes. No sweep file needs more than a few levels.
//!
//! The pass follows the scanners' token rules as far as telling structure
//! from text needs: flow collections (`[`, `{`) outside quoted, plain and
//! block scalars and comments, and block collections by the columns their
//! entries start at (the scanners' indentation stack). JSON, YAML's flow
//! style, is read the same way.
//!
//! Where its reading could differ from a parser's (the two parsers differ
//! slightly themselves), a file could hide brackets from it inside what it
//! takes for a quoted string. So it reads the text twice, the second time
//! taking quotes for ordinary characters, and the deeper reading counts. A
//! file crafted past both still cannot hold up the daemon: its intake gives
//! each file's check a time bound.

use super::diagnostic::Position;

/// The deepest a sweep file may nest, flow and block collections together.
pub const MAX_DEPTH: usize = 64;

/// Where `text` first nests deeper than `limit` levels, if it does.
pub(crate) fn too_deep(text: &str, limit: usize) -> Option<Position> {
    scan(text, limit, true).or_else(|| scan(text, limit, false))
}

/// One reading; `quotes`: whether quoted scalars are read as such.
fn scan(text: &str, limit: usize, quotes: bool) -> Option<Position> {
    let mut scanner = Scanner {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        column: 0,
        flow: 0,
        indents: Vec::new(),
        key: None,
        key_allowed: true,
        limit,
        quotes,
    };
    if text.starts_with('\u{feff}') {
        scanner.at = 3; // a byte order mark is no column
    }
    scanner.run().err()
}

/// Where a block mapping key may have started (the scanners' "simple key").
#[derive(Clone, Copy)]
struct Key {
    at: usize,
    line: usize,
    column: usize,
}

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    /// From 0, in characters.
    column: usize,
    flow: usize,
    /// Columns of the open block collections.
    indents: Vec<usize>,
    key: Option<Key>,
    key_allowed: bool,
    limit: usize,
    quotes: bool,
}

/// The scanners give up on a simple key longer than this.
const KEY_MAX: usize = 1024;

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    fn is_break(&self, ahead: usize) -> bool {
        matches!(self.peek(ahead), Some(b'\n' | b'\r'))
    }

    fn is_blank(&self, ahead: usize) -> bool {
        matches!(self.peek(ahead), Some(b' ' | b'\t'))
    }

    /// A blank, a line break or the end.
    fn is_blankz(&self, ahead: usize) -> bool {
        self.peek(ahead).is_none() || self.is_blank(ahead) || self.is_break(ahead)
    }

    fn is_flow_indicator(&self, ahead: usize) -> bool {
        matches!(self.peek(ahead), Some(b',' | b'[' | b']' | b'{' | b'}'))
    }

    fn bump(&mut self) {
        let Some(c) = self.peek(0) else { return };
        self.at += 1;
        match c {
            b'\n' => self.newline(),
            b'\r' if self.peek(0) != Some(b'\n') => self.newline(),
            b'\r' => {}
            // Continuation bytes of UTF-8 are no new character.
            c if c & 0xC0 != 0x80 => self.column += 1,
            _ => {}
        }
    }

    fn newline(&mut self) {
        self.line += 1;
        self.column = 0;
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column + 1,
        }
    }

    /// The column of the innermost block collection; -1 at the top.
    fn indent(&self) -> isize {
        self.indents.last().map_or(-1, |&c| c as isize)
    }

    /// A block collection opens at `column` (if deeper than the current one).
    fn open_block(&mut self, column: usize, position: Position) -> Result<(), Position> {
        if column as isize > self.indent() {
            self.indents.push(column);
            if self.indents.len() + self.flow > self.limit {
                return Err(position);
            }
        }
        Ok(())
    }

    /// `---` or `...` at the start of a line.
    fn at_document_marker(&self) -> bool {
        self.column == 0
            && (self.text[self.at..].starts_with(b"---")
                || self.text[self.at..].starts_with(b"..."))
            && self.is_blankz(3)
    }

    /// A node starts here: in block context it may be a mapping's key.
    fn maybe_key(&mut self) {
        if self.flow == 0 && self.key_allowed {
            self.key = Some(Key {
                at: self.at,
                line: self.line,
                column: self.column,
            });
        }
    }

    fn run(&mut self) -> Result<(), Position> {
        loop {
            self.skip_to_token();
            let Some(c) = self.peek(0) else {
                return Ok(());
            };
            let here = self.position();
            let column = self.column;
            if self.flow == 0 {
                while self.indents.last().is_some_and(|&i| i > column) {
                    self.indents.pop();
                }
            }
            if self.at_document_marker() {
                self.indents.clear();
                self.key = None;
                self.at += 3;
                self.column += 3;
                continue;
            }
            if column == 0 && c == b'%' {
                self.skip_line();
                continue;
            }
            match c {
                b'[' | b'{' => {
                    self.maybe_key();
                    self.flow += 1;
                    if self.indents.len() + self.flow > self.limit {
                        return Err(here);
                    }
                    self.bump();
                    self.key_allowed = true;
                }
                b']' | b'}' => {
                    self.flow = self.flow.saturating_sub(1);
                    self.bump();
                    self.key_allowed = false;
                }
                b',' => {
                    self.bump();
                    self.key_allowed = true;
                }
                b'-' | b'?' if self.is_blankz(1) || (c == b'?' && self.flow > 0) => {
                    if self.flow == 0 {
                        self.open_block(column, here)?;
                    }
                    self.key = None;
                    self.bump();
                    self.key_allowed = true;
                }
                b':' if self.is_blankz(1) || self.flow > 0 => {
                    if self.flow == 0 {
                        let key = self
                            .key
                            .take()
                            .filter(|k| k.line == self.line && self.at - k.at <= KEY_MAX);
                        match key {
                            Some(k) => self.open_block(
                                k.column,
                                Position {
                                    line: k.line,
                                    column: k.column + 1,
                                },
                            )?,
                            None => self.open_block(column, here)?,
                        }
                    }
                    self.bump();
                    self.key_allowed = self.flow == 0;
                }
                b'*' | b'&' => {
                    self.maybe_key();
                    self.bump();
                    while !self.is_blankz(0) && !self.is_flow_indicator(0) {
                        self.bump();
                    }
                    self.key_allowed = false;
                }
                b'!' => {
                    self.maybe_key();
                    self.tag();
                    self.key_allowed = false;
                }
                b'|' | b'>' if self.flow == 0 => {
                    self.block_scalar();
                    self.key = None;
                    self.key_allowed = true;
                }
                b'\'' | b'"' if self.quotes => {
                    self.maybe_key();
                    self.quoted(c);
                    self.key_allowed = false;
                }
                _ => {
                    self.maybe_key();
                    self.key_allowed = self.plain();
                }
            }
        }
    }

    /// Past blanks, comments and line breaks, to where the next token starts.
    fn skip_to_token(&mut self) {
        loop {
            while self.is_blank(0) {
                self.bump();
            }
            if self.peek(0) == Some(b'#') {
                self.skip_line();
            }
            if !self.is_break(0) {
                return;
            }
            self.bump();
            if self.flow == 0 {
                self.key_allowed = true;
            }
        }
    }

    /// To the end of the line, its break not taken.
    fn skip_line(&mut self) {
        while self.peek(0).is_some() && !self.is_break(0) {
            self.bump();
        }
    }

    /// `!tag`, `!!tag`, `!handle!suffix` or `!<verbatim>`.
    fn tag(&mut self) {
        self.bump();
        if self.peek(0) == Some(b'<') {
            while !self.is_blankz(0) && self.peek(0) != Some(b'>') {
                self.bump();
            }
            self.bump();
        } else {
            while !self.is_blankz(0) && !self.is_flow_indicator(0) {
                self.bump();
            }
        }
    }

    /// A single- or double-quoted scalar, over as many lines as it takes.
    fn quoted(&mut self, quote: u8) {
        self.bump();
        while let Some(c) = self.peek(0) {
            if self.at_document_marker() {
                return; // the scanners stop here with an error
            }
            match (quote, c) {
                (b'\'', b'\'') if self.peek(1) == Some(b'\'') => {
                    self.bump();
                    self.bump();
                }
                (b'"', b'\\') => {
                    self.bump();
                    self.bump();
                }
                _ if c == quote => {
                    self.bump();
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    /// A plain scalar, continued on more lines as the scanners continue it.
    /// Whether a key may follow (it ended after a line break).
    fn plain(&mut self) -> bool {
        // In block context a continuation line is indented past the collection.
        let indent = self.indent() + 1;
        let mut after_break = false;
        loop {
            if self.at_document_marker() || self.peek(0) == Some(b'#') {
                break;
            }
            while !self.is_blankz(0) {
                let c = self.peek(0);
                if (c == Some(b':')
                    && (self.is_blankz(1) || (self.flow > 0 && self.is_flow_indicator(1))))
                    || (self.flow > 0 && self.is_flow_indicator(0))
                {
                    return after_break;
                }
                self.bump();
                after_break = false;
            }
            if self.peek(0).is_none() {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                after_break |= self.is_break(0);
                self.bump();
            }
            if self.flow == 0 && (self.column as isize) < indent {
                break;
            }
        }
        after_break
    }

    /// `|` or `>`: its header, then every line indented at least as far as
    /// its first (or as its indentation indicator says).
    fn block_scalar(&mut self) {
        self.bump();
        let mut increment = 0;
        while let Some(c) = self.peek(0) {
            match c {
                b'+' | b'-' => {}
                b'1'..=b'9' => increment = usize::from(c - b'0'),
                _ => break,
            }
            self.bump();
        }
        self.skip_line();
        if self.peek(0).is_none() {
            return;
        }
        self.bump();
        let parent = self.indent();
        let mut indent = match (increment, parent) {
            (0, _) => 0,
            (n, p) if p >= 0 => p as usize + n,
            (n, _) => n,
        };
        let mut deepest = 0;
        loop {
            while (indent == 0 || self.column < indent) && self.peek(0) == Some(b' ') {
                self.bump();
            }
            deepest = deepest.max(self.column);
            if !self.is_break(0) {
                break;
            }
            self.bump();
        }
        if indent == 0 {
            indent = deepest.max((parent + 1) as usize).max(1);
        }
        while self.column == indent && self.peek(0).is_some() {
            self.skip_line();
            if self.peek(0).is_none() {
                return;
            }
            self.bump();
            loop {
                while self.column < indent && self.peek(0) == Some(b' ') {
                    self.bump();
                }
                if !self.is_break(0) {
                    break;
                }
                self.bump();
            }
        }
    }
}

#[cfg(test)]
mod tests;
