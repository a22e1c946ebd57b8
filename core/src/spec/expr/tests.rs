use std::collections::BTreeSet;

use super::analyse::Analysis;
use super::eval::holds;
use super::*;

fn vals(name: &str) -> Option<Val> {
    match name {
        "batch_size" => Some(Val::Num(64.0)),
        "grad_accum" => Some(Val::Num(8.0)),
        "optimizer" => Some(Val::Str("sgd".into())),
        "model.depth" => Some(Val::Num(3.0)),
        "a-b" => Some(Val::Num(-7.0)),
        "on" => Some(Val::Bool(true)),
        _ => None,
    }
}

fn run(text: &str) -> Option<Val> {
    eval(&parse(text).expect(text), &vals)
}

#[test]
fn evaluates_with_the_usual_precedence() {
    assert_eq!(run("batch_size * grad_accum <= 512"), Some(Val::Bool(true)));
    assert_eq!(run("batch_size * grad_accum < 512"), Some(Val::Bool(false)));
    assert_eq!(run("1 + 2 * 3 ** 2"), Some(Val::Num(19.0)));
    assert_eq!(run("-2 ** 2"), Some(Val::Num(-4.0)), "as Python: -(2 ** 2)");
    assert_eq!(
        run("2 ** 3 ** 2"),
        Some(Val::Num(512.0)),
        "right-associative"
    );
    assert_eq!(
        run("`a-b` % 5"),
        Some(Val::Num(3.0)),
        "Python's modulo sign"
    );
    assert_eq!(run("model.depth - 1"), Some(Val::Num(2.0)));
    assert_eq!(
        run("optimizer == 'sgd' and not (model.depth > 3 or on == false)"),
        Some(Val::Bool(true))
    );
    assert_eq!(
        run("max(1, batch_size, 3) + min(2, 1) + abs(-1)"),
        Some(Val::Num(66.0))
    );
    assert_eq!(run("log(exp(2)) == 2"), Some(Val::Bool(true)));
    assert_eq!(run("1e-3 * 1000 == 1"), Some(Val::Bool(true)));
    assert_eq!(run("1_000 == 1000"), Some(Val::Bool(true)));
}

#[test]
fn a_constraint_on_an_inactive_parameter_does_not_apply() {
    let e = parse("momentum < 0.5").unwrap();
    assert!(holds(&e, &vals), "`momentum` is not active");
    let e = parse("batch_size > 100").unwrap();
    assert!(!holds(&e, &vals));
    // A type mismatch never holds.
    let e = parse("optimizer > 1").unwrap();
    assert!(!holds(&e, &vals));
}

#[test]
fn parse_errors_say_where() {
    let cases = [
        ("a && b", 2, "unexpected `&&`", Some("write `and`")),
        ("a = 1", 2, "unexpected `=`", Some("compare with `==`")),
        ("(a < 1", 6, "expected `)`", None),
        ("a < b < c", 6, "comparisons cannot be chained", None),
        ("a b", 2, "unexpected `b`", None),
        ("sqrt(a)", 0, "there is no function `sqrt`", None),
        ("min(a)", 0, "`min` takes two or more values, given 1", None),
        ("'open", 0, "' is not closed", None),
        ("", 0, "the expression is empty", None),
        (
            "a < 1 and",
            9,
            "expected a value, found end of the expression",
            None,
        ),
        ("1.2.3 > a", 0, "`1.2.3` is not a number", None),
    ];
    for (text, at, message, help) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!((e.at, e.message.as_str()), (at, message), "{text}");
        if let Some(help) = help {
            assert_eq!(e.help.as_deref(), Some(help), "{text}");
        }
    }
    let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert!(
        parse(&deep)
            .unwrap_err()
            .message
            .contains("nests too deeply")
    );
}

fn space(name: &str) -> Result<Abstract, String> {
    match name {
        "batch_size" => Ok(Abstract::Num {
            lo: 16.0,
            hi: 256.0,
        }),
        "grad_accum" => Ok(Abstract::Num { lo: 1.0, hi: 8.0 }),
        "optimizer" => Ok(Abstract::Str(Some(BTreeSet::from([
            "adam".to_owned(),
            "sgd".to_owned(),
        ])))),
        "mixed" => Ok(Abstract::Mixed),
        "signed" => Ok(Abstract::Num { lo: -1.0, hi: 1.0 }),
        _ => Err("did you mean `batch_size`?".into()),
    }
}

fn check(text: &str) -> Result<Analysis, ExprError> {
    analyse(&parse(text).unwrap(), &space)
}

#[test]
fn analysis_finds_what_can_never_be_true() {
    let can = |t, f| Analysis {
        can_be_true: t,
        can_be_false: f,
    };
    assert_eq!(
        check("batch_size * grad_accum <= 512").unwrap(),
        can(true, true)
    );
    assert_eq!(
        check("batch_size * grad_accum > 2048").unwrap(),
        can(false, true)
    );
    assert_eq!(
        check("batch_size * grad_accum >= 16").unwrap(),
        can(true, false)
    );
    assert_eq!(check("batch_size < 16").unwrap(), can(false, true));
    assert_eq!(check("batch_size <= 16").unwrap(), can(true, true));
    assert_eq!(check("optimizer == 'sgdd'").unwrap(), can(false, true));
    assert_eq!(check("optimizer != 'sgdd'").unwrap(), can(true, false));
    assert_eq!(
        check("optimizer == 'sgd' and optimizer == 'adam'").unwrap(),
        can(true, true),
        "each side alone can be true: the analysis takes each use of a name on its own"
    );
    assert_eq!(
        check("batch_size / (grad_accum - 1) > 1e9").unwrap(),
        can(true, true)
    );
    assert_eq!(check("mixed == 3").unwrap(), can(true, true));
    // NaN (the log of a negative, % 0) makes every comparison false: the
    // analysis must not call these never true (or always true).
    assert!(check("not (log(signed) < 1)").unwrap().can_be_true);
    assert!(check("min(log(signed), 3) > 1").unwrap().can_be_true);
    assert!(
        check("batch_size % (signed + 1) < 1000")
            .unwrap()
            .can_be_false
    );
}

#[test]
fn analysis_errors_name_the_problem_and_the_place() {
    let e = check("batch_sise * 2 < 100").unwrap_err();
    assert_eq!(
        (e.at, e.message.as_str()),
        (0, "there is no parameter `batch_sise`")
    );
    assert_eq!(e.help.as_deref(), Some("did you mean `batch_size`?"));
    let e = check("optimizer < 3").unwrap_err();
    assert_eq!(e.at, 10);
    assert_eq!(e.message, "`<` compares text with a number");
    let e = check("optimizer * 2 > 1").unwrap_err();
    assert_eq!(e.message, "`*` takes numbers, but is given text");
    let e = check("batch_size + 1").unwrap_err();
    assert!(e.message.contains("not a condition"), "{}", e.message);
    let e = check("mixed + 1 > 0").unwrap_err();
    assert!(e.message.contains("several types"), "{}", e.message);
    let e = check("batch_size > 1 and 3").unwrap_err();
    assert_eq!(e.message, "`and` takes conditions, but is given a number");
}

#[test]
fn names_lists_every_name_read() {
    let e = parse("a * `b-c` > min(d, 2)").unwrap();
    assert_eq!(e.names(), [("a", 0), ("b-c", 4), ("d", 16)]);
}
