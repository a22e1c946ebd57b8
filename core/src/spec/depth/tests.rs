use super::*;

fn depth_error(text: &str) -> Option<(usize, usize)> {
    too_deep(text, 4).map(|p| (p.line, p.column))
}

fn nested(open: &str, close: &str, n: usize) -> String {
    format!("{}1{}", open.repeat(n), close.repeat(n))
}

#[test]
fn flow_nesting_is_counted_up_to_the_limit() {
    assert_eq!(depth_error(&nested("[", "]", 4)), None);
    assert_eq!(depth_error(&nested("[", "]", 5)), Some((1, 5)));
    assert_eq!(depth_error(&nested("{a: ", "}", 5)), Some((1, 17)));
    // Siblings are not nesting.
    assert_eq!(depth_error(&"[[[1]]]\n".repeat(1000)), None);
    assert_eq!(depth_error("a: [[1], [2], {b: [3]}]\n"), None);
    // Closing brackets never take the count below zero.
    assert_eq!(
        depth_error(&format!("{}\n{}", "]".repeat(9), "[".repeat(4))),
        None
    );
}

#[test]
fn the_full_limit_passes_and_one_more_does_not() {
    let limit = MAX_DEPTH;
    assert_eq!(too_deep(&nested("[", "]", limit), limit), None);
    assert!(too_deep(&nested("[", "]", limit + 1), limit).is_some());
    // A deep file of 200 000 brackets is refused at the 65th, at once.
    let deep = "[".repeat(200_000);
    assert_eq!(
        too_deep(&deep, limit),
        Some(Position {
            line: 1,
            column: limit + 1
        })
    );
}

#[test]
fn brackets_in_quotes_and_comments_are_text() {
    assert_eq!(depth_error("a: \"[[[[[[[[\"\nb: '{{{{{{{'\n"), None);
    assert_eq!(depth_error("a: 1 # [[[[[[[[[\n# {{{{{{{{{\n"), None);
    assert_eq!(depth_error("a: \"x\\\"[[[[[[\"\nb: 'it''s [[[[[['\n"), None);
    // A quote continues over lines.
    assert_eq!(depth_error("a: \"[[[\n  [[[[\"\n"), None);
    // In flow context the first reading skips brackets in strings...
    let quoted = |text: &str| scan(text, 4, true).map(|p| (p.line, p.column));
    assert_eq!(
        quoted("{\"a\": \"\\\\\", \"b\": \"[[[[[[\", \"c\": [1]}"),
        None
    );
    assert_eq!(quoted("a: ['[[[[[[[', [[[[1]]]]]\n"), Some((1, 18)));
    // ... and the second counts them: only a string of some 60 brackets
    // never closed is refused for them.
    assert!(too_deep("[\"[[[[[[\"]", 4).is_some());
    let many = format!("[\"{}\"]", "[".repeat(MAX_DEPTH - 2));
    assert_eq!(too_deep(&many, MAX_DEPTH), None);
}

#[test]
fn brackets_hidden_where_the_parsers_disagree_are_still_found() {
    // libyaml reads `:'` as a value and a quoted string, yaml-rust2 as
    // a plain scalar that the brackets end.
    let text = "[:'[[[[[[[[', x]";
    assert_eq!(scan(text, 4, true), None);
    assert!(too_deep(text, 4).is_some());
}

#[test]
fn brackets_inside_plain_and_block_scalars_are_text() {
    assert_eq!(depth_error("program: a[[[[[[[b\nx: c#[[[[[[\n"), None);
    assert_eq!(depth_error("a: foo\n  [[[[[[ bar\nb: 1\n"), None);
    assert_eq!(depth_error("a: |\n  [[[[[[[\n  {{{{{{\nb: 1\n"), None);
    assert_eq!(depth_error("a: >-\n\n  [[[[[[[\n\n  ]\nb: [[[1]]]\n"), None);
    // A quote inside a plain scalar opens nothing.
    assert_eq!(depth_error("a: it's\nb: [[[[[[1]]]]]]\n"), Some((2, 7)));
    // Once a plain scalar ends, brackets count.
    assert_eq!(depth_error("a: foo\n 'x\nb: [[[[[[\n"), Some((3, 7)));
    // In flow context a plain scalar ends at a bracket.
    assert_eq!(depth_error("[a\n'x[[[[[[[[[[\n"), Some((2, 6)));
}

#[test]
fn block_indentation_is_counted() {
    let mut deep = String::new();
    for level in 0..4 {
        deep.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
    }
    deep.push_str(&format!("{}leaf: 1\n", "  ".repeat(4)));
    assert_eq!(depth_error(&deep), Some((5, 9)));
    // Four levels, then back out and in again: never more than four.
    let ok = "a:\n  b:\n    c:\n      d: 1\n  e:\n    f: [1]\n";
    assert_eq!(depth_error(ok), None);
    // Nested block sequences on one line.
    assert_eq!(depth_error("- - - - x\n"), None);
    assert_eq!(depth_error("- - - - - x\n"), Some((1, 9)));
    // A sequence at its mapping's column is no deeper.
    assert_eq!(depth_error("a:\n- b:\n  - c:\n    - 1\n"), None);
    // Block and flow together.
    assert_eq!(depth_error("a:\n  b:\n    c: [[1]]\n"), Some((3, 9)));
}

#[test]
fn a_real_sweep_file_is_shallow() {
    let text = "# a sweep\nprogram: train.py\nmethod: bayes\nmetric: {name: loss, goal: minimize}\n\
                parameters:\n  lr:\n    distribution: log_uniform_values\n    min: 1e-5\n    max: 0.1\n  \
                opt:\n    values: [\"adam\", 'sgd']\n  model:\n    parameters:\n      width:\n        \
                values:\n        - 64\n        - 128\ncommand:\n  - ${env}\n  - python\n  - ${program}\n  - ${args}\n";
    assert_eq!(too_deep(text, 5), None);
    assert!(too_deep(text, 4).is_some());
}
