use super::*;

fn yaml(text: &str) -> (Node, Diagnostics) {
    parse(text, Format::Yaml).expect("parses")
}

#[test]
fn yaml_is_read_as_yaml_1_2() {
    let (root, _) = yaml("a: 1e-5\nb: yes\nc: 010\nd: 0.5\n");
    assert_eq!(root.get("a").unwrap().value, Value::Float(1e-5));
    assert_eq!(root.get("b").unwrap().value, Value::Str("yes".into()));
    assert_eq!(root.get("d").unwrap().value, Value::Float(0.5));
}

#[test]
fn warns_where_pyyaml_reads_otherwise() {
    let (_, diagnostics) = yaml("a: 1e-5\nb: yes\nc: \"1e-5\"\nd: 0.5\ne: adam\n");
    let paths: Vec<String> = diagnostics.iter().map(|d| d.path.to_string()).collect();
    assert_eq!(paths, ["a", "b"]);
    let first = diagnostics.iter().next().unwrap();
    assert_eq!(first.severity, Severity::Warning);
    assert!(
        first.message.contains("the string \"1e-5\""),
        "{}",
        first.message
    );
    assert_eq!(first.position, Some(Position { line: 1, column: 4 }));
}

#[test]
fn json_numbers_do_not_warn() {
    let (root, diagnostics) = parse("{\"a\": 1e-5}", Format::Json).unwrap();
    assert!(diagnostics.is_empty());
    assert_eq!(root.get("a").unwrap().value, Value::Float(1e-5));
}

#[test]
fn syntax_errors_carry_a_position() {
    let error = first(parse("a: [1, 2\nb: 3\n", Format::Yaml).unwrap_err());
    assert!(error.position.is_some());
    assert!(is_syntax_error(&error));
    assert!(
        error.message.starts_with("cannot read the file"),
        "{}",
        error.message
    );
    let error = first(parse("{\"a\": }", Format::Json).unwrap_err());
    assert_eq!(error.position, Some(Position { line: 1, column: 7 }));
}

#[test]
fn merge_keys_are_applied() {
    let (root, _) = yaml("base: &b {min: 1, max: 2}\nx:\n  <<: *b\n  distribution: uniform\n");
    let x = root.get("x").unwrap();
    assert_eq!(x.get("min").unwrap().value, Value::Int(1));
    assert_eq!(x.get("distribution").unwrap().as_str(), Some("uniform"));
}

#[test]
fn deep_nesting_is_refused_before_any_parser_reads_it() {
    // Before the pre-scan, this took the parsers minutes.
    let deep = "[".repeat(200_000);
    for format in [Format::Yaml, Format::Json] {
        let error = first(parse(&deep, format).unwrap_err());
        assert_eq!(
            error.position,
            Some(Position {
                line: 1,
                column: 65
            })
        );
        assert!(
            error.message.contains("deeper than 64 levels"),
            "{}",
            error.message
        );
        assert!(!is_syntax_error(&error));
    }
    // The limit itself is read, as YAML and as JSON.
    let (root, _) = yaml(&format!("a: {}1{}\n", "[".repeat(63), "]".repeat(63)));
    assert!(root.get("a").is_some());
    let json = format!("{{\"a\": {}1{}}}", "[".repeat(63), "]".repeat(63));
    assert!(parse(&json, Format::Json).is_ok());
}

fn first(diagnostics: Diagnostics) -> Diagnostic {
    diagnostics.into_iter().next().expect("a diagnostic")
}

#[test]
fn duplicate_keys_are_errors_at_the_second_key() {
    let (_, diagnostics) = parse("{\"a\": 1, \"a\": 2}", Format::Json).unwrap();
    assert!(diagnostics.has_errors());
    // serde_yaml refuses duplicates outright; every one is still reported, each where it is.
    let errors = parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", Format::Yaml).unwrap_err();
    let found: Vec<(String, usize)> = errors
        .iter()
        .map(|d| (d.path.to_string(), d.position.unwrap().line))
        .collect();
    assert_eq!(found, [("b.c".to_owned(), 4), ("a".to_owned(), 5)]);
    assert!(
        errors
            .iter()
            .all(|d| d.message == "this key is written twice in the same mapping")
    );
}
