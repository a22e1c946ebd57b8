//! Diagnostics for people: the headline, the line of the file with a caret
//! under the spot, and the help.

use std::fmt::Write as _;

use super::Diagnostic;

/// Render one diagnostic against the text it is about: what `sweepctl validate`
/// prints, and what a rejected file's `.error.txt` holds.
pub fn render(file: &str, text: &str, d: &Diagnostic) -> String {
    let mut out = d.headline_in(file).to_string();
    if let Some(position) = d.position
        && let Some(line) = text.lines().nth(position.line.saturating_sub(1))
    {
        let number = position.line.to_string();
        let gutter = " ".repeat(number.len());
        let (line, column) = around(line, position.column);
        // Keep tabs as tabs so the caret lines up however the terminal shows them.
        let lead: String = line
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(out, "\n {number} | {line}\n {gutter} | {lead}^");
    }
    if let Some(help) = &d.help {
        let _ = write!(out, "\n  help: {help}");
    }
    out
}

/// Lines longer than this are shown in part, around the column.
const SHOWN: usize = 120;

/// The line as shown (a long one cut to the stretch around `column`, with
/// `…` where it was cut), and the column in what is shown.
fn around(line: &str, column: usize) -> (std::borrow::Cow<'_, str>, usize) {
    let length = line.chars().count();
    if length <= SHOWN {
        return (line.into(), column);
    }
    let start = column.saturating_sub(1 + SHOWN / 2).min(length - SHOWN);
    let mut shown: String = if start > 0 {
        "…".into()
    } else {
        String::new()
    };
    shown.extend(line.chars().skip(start).take(SHOWN));
    if start + SHOWN < length {
        shown.push('…');
    }
    (shown.into(), column - start + usize::from(start > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{KeyPath, Position, Severity};

    #[test]
    fn caret_points_at_the_column() {
        let d = Diagnostic {
            severity: Severity::Error,
            path: KeyPath::root().key("method"),
            position: Some(Position { line: 2, column: 9 }),
            message: "`grd` is not one of grid, random, bayes".into(),
            help: Some("did you mean `grid`?".into()),
        };
        let text = "program: x\nmethod: grd\n";
        assert_eq!(
            render("s.yaml", text, &d),
            "s.yaml:2:9: error: method: `grd` is not one of grid, random, bayes\n \
             2 | method: grd\n   |         ^\n  help: did you mean `grid`?"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_column() {
        let d = Diagnostic {
            severity: Severity::Error,
            path: KeyPath::root(),
            position: Some(Position {
                line: 1,
                column: 500,
            }),
            message: "here".into(),
            help: None,
        };
        let text = format!("{}x{}", "[".repeat(499), "]".repeat(10_000));
        let shown = render("s.yaml", &text, &d);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines[1].len() < 200 * 3, "{shown}");
        assert!(
            lines[1].starts_with(" 1 | …[") && lines[1].ends_with("]…"),
            "{shown}"
        );
        // The caret is under the `x`.
        let x = lines[1].chars().position(|c| c == 'x').unwrap();
        assert_eq!(lines[2].chars().position(|c| c == '^').unwrap(), x);
    }
}
