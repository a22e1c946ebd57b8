//! Text that others wrote (a sweep's name, its parameters, reasons, file
//! names) made safe to print on a terminal: control characters and
//! bidirectional overrides are shown as escapes (`\x1b`, `\r`, `\u{202e}`),
//! never sent raw, so a name cannot colour the screen, set its title or
//! break a table; and long text is cut to a number of display columns, with
//! `…`. JSON output never goes through here: it stays exact. Nor does what
//! `sweepctl logs` prints: that is the trainer's own output, as it wrote it.

use unicode_width::UnicodeWidthChar;

/// The most display columns a name or a value takes in a table or a line.
pub const NAME_COLUMNS: usize = 60;

/// The most a reason or a message (free text) takes.
pub const TEXT_COLUMNS: usize = 160;

/// Characters that reorder what follows them on screen (Trojan Source), or
/// take no room at all (zero-width and format characters, tags): a name of
/// them would never be cut, and two names could look the same.
fn reorders(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{e0000}'..='\u{e007f}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || reorders(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// `text` with every control character (newlines included) escaped: one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// `text` with control characters escaped, newlines kept (a message of
/// several lines).
pub fn escape_lines(text: &str) -> String {
    text.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// A report of several lines (`validate`'s diagnostics, with the file's own
/// lines): control characters escaped, newlines and tabs (which line up the
/// caret under the file's line) kept.
pub fn escape_report(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c => push_escaped(&mut out, c),
        }
    }
    out
}

/// Display columns of text already escaped.
pub fn width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Escaped, as many whole characters (an escape is one) as fit in
/// `columns`, and whether that is all of it.
fn fitting(text: &str, columns: usize) -> (String, bool) {
    let mut out = String::new();
    let mut used = 0;
    let mut unit = String::new();
    for c in text.chars() {
        unit.clear();
        push_escaped(&mut unit, c);
        let w = width(&unit);
        if used + w > columns {
            return (out, false);
        }
        used += w;
        out.push_str(&unit);
    }
    (out, true)
}

/// Escaped and cut to `columns` display columns, `…` in the last one when
/// something was cut.
pub fn cut(text: &str, columns: usize) -> String {
    match fitting(text, columns) {
        (all, true) => all,
        _ => {
            let (mut part, _) = fitting(text, columns.saturating_sub(1));
            part.push('…');
            part
        }
    }
}

/// A name or a value in a table or a line.
pub fn name(text: &str) -> String {
    cut(text, NAME_COLUMNS)
}

/// A reason or a message, on one line.
pub fn text(text: &str) -> String {
    cut(text, TEXT_COLUMNS)
}

/// A line as one terminal row: escaped, cut to `columns` display columns.
pub fn fit(line: &str, columns: usize) -> String {
    fitting(line, columns).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(escape("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(escape("a\r\nb\tc\x7f"), "a\\r\\nb\\tc\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m", "the C1 escape too");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("日本語 ok"), "日本語 ok");
        assert_eq!(escape_lines("one\x1b\ntwo"), "one\\x1b\ntwo");
        assert_eq!(
            escape(&escape("\x1b")),
            "\\x1b",
            "escaping twice changes nothing"
        );
    }

    #[test]
    fn long_text_is_cut_by_display_columns() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("exactly 10", 10), "exactly 10");
        assert_eq!(cut("a bit too long", 10), "a bit too…");
        assert_eq!(
            cut("日本語日本語", 7),
            "日本語…",
            "wide characters take two"
        );
        let long = name(&"x".repeat(10_000));
        assert_eq!((width(&long), long.ends_with('…')), (NAME_COLUMNS, true));
        assert_eq!(
            cut("\x1b\x1b", 6),
            "\\x1b…",
            "an escape is never cut in two"
        );
    }

    #[test]
    fn every_line_drawn_is_one_row() {
        assert_eq!(fit("ab日本語", 5), "ab日");
        assert_eq!(fit("a\tb\nc", 10), "a\\tb\\nc");
    }
}
