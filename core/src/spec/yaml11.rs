//! What W&B would read from a plain YAML scalar.
//!
//! W&B parses sweep files with PyYAML, which implements YAML 1.1: `1e-5` (no
//! dot) is a string there, `yes`/`on` are booleans, `010` is octal 8 and
//! `2024-01-31` is a date. We read YAML 1.2 (serde_yaml), where those are a
//! number, strings, 10 and a string. Where the two readings differ we warn,
//! so a file that behaves one way here does not surprise anyone under W&B.
//! The patterns are PyYAML's implicit resolvers, written here from the YAML
//! 1.1 type specifications (yaml.org/type/{bool,int,float,null,timestamp}).

use std::sync::LazyLock;

use regex::Regex;

/// The kind of value PyYAML would make of a plain scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yaml11 {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Timestamp,
    Str,
}

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("valid pattern")
});

// A YAML 1.1 float needs a dot, and an exponent needs a sign: `1.0e-5`, not `1e-5`.
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)",
        r"|\.(?:nan|NaN|NAN))$"
    ))
    .expect("valid pattern")
});

static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?0b[0-1_]+",
        r"|[-+]?0[0-7_]+",
        r"|[-+]?(?:0|[1-9][0-9_]*)",
        r"|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
    ))
    .expect("valid pattern")
});

static NULL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").expect("valid pattern"));

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
        r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?",
        r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"
    ))
    .expect("valid pattern")
});

/// Resolve a plain scalar the way PyYAML's SafeLoader does.
pub(crate) fn resolve(text: &str) -> Yaml11 {
    if BOOL.is_match(text) {
        Yaml11::Bool(
            matches!(text.as_bytes()[0], b'y' | b'Y' | b't' | b'T')
                || text.eq_ignore_ascii_case("on"),
        )
    } else if FLOAT.is_match(text) {
        Yaml11::Float
    } else if INT.is_match(text) {
        int_value(text).map_or(Yaml11::Str, Yaml11::Int)
    } else if NULL.is_match(text) {
        Yaml11::Null
    } else if TIMESTAMP.is_match(text) {
        Yaml11::Timestamp
    } else {
        Yaml11::Str
    }
}

/// The value of a YAML 1.1 integer: underscores ignored, `0b`, `0x`, a leading
/// `0` for octal, and base-60 `1:30`.
fn int_value(text: &str) -> Option<i128> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let magnitude = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.contains(':') {
        digits.split(':').try_fold(0i128, |acc, part| {
            Some(acc.checked_mul(60)? + part.parse::<i128>().ok()?)
        })?
    } else if let Some(octal) = digits.strip_prefix('0') {
        i128::from_str_radix(octal, 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_without_a_dot_are_strings_in_yaml_1_1() {
        assert_eq!(resolve("1e-5"), Yaml11::Str);
        assert_eq!(resolve("1.5e5"), Yaml11::Str, "the exponent needs a sign");
        assert_eq!(resolve("1.0e-5"), Yaml11::Float);
        assert_eq!(resolve("0.001"), Yaml11::Float);
        assert_eq!(resolve(".5"), Yaml11::Float);
        assert_eq!(resolve(".inf"), Yaml11::Float);
    }

    #[test]
    fn yes_no_on_off_are_booleans() {
        assert_eq!(resolve("yes"), Yaml11::Bool(true));
        assert_eq!(resolve("On"), Yaml11::Bool(true));
        assert_eq!(resolve("off"), Yaml11::Bool(false));
        assert_eq!(resolve("NO"), Yaml11::Bool(false));
        assert_eq!(resolve("True"), Yaml11::Bool(true));
        assert_eq!(
            resolve("y"),
            Yaml11::Str,
            "single letters are strings in PyYAML"
        );
    }

    #[test]
    fn integers_in_every_yaml_1_1_form() {
        assert_eq!(resolve("42"), Yaml11::Int(42));
        assert_eq!(resolve("010"), Yaml11::Int(8));
        assert_eq!(resolve("0x1F"), Yaml11::Int(31));
        assert_eq!(resolve("0b101"), Yaml11::Int(5));
        assert_eq!(resolve("1_000"), Yaml11::Int(1000));
        assert_eq!(resolve("1:30"), Yaml11::Int(90));
        assert_eq!(resolve("-0"), Yaml11::Int(0));
    }

    #[test]
    fn nulls_dates_and_strings() {
        assert_eq!(resolve("~"), Yaml11::Null);
        assert_eq!(resolve(""), Yaml11::Null);
        assert_eq!(resolve("2024-01-31"), Yaml11::Timestamp);
        assert_eq!(resolve("2001-12-14t21:59:43.10-05:00"), Yaml11::Timestamp);
        assert_eq!(resolve("adam"), Yaml11::Str);
        assert_eq!(resolve("1e-5x"), Yaml11::Str);
    }
}
