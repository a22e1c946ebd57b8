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
        // Keep tabs as tabs so the caret lines up however the terminal shows them.
        let lead: String = line
            .chars()
            .take(position.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(out, "\n {number} | {line}\n {gutter} | {lead}^");
    }
    if let Some(help) = &d.help {
        let _ = write!(out, "\n  help: {help}");
    }
    out
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
}
