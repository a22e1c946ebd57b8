//! Parameter values (JSON values) and when two of them are the same.

use serde_json::Value;

/// A float with no fractional part, as an i64; `None` for other floats and
/// for whole numbers beyond i64 (|x| >= 2^63).
pub fn whole_f64(x: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    (x.fract() == 0.0 && x.abs() < LIMIT).then_some(x as i64)
}

/// An integer, or a float with no fractional part, as an i64.
pub fn whole_number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().and_then(whole_f64))
}

/// The identity of a parameter value as W&B compares them: canonical JSON
/// (object keys sorted), and a whole-number float written as the integer, so
/// `3.0` and `3` are one value while `true` and `1`, or `"3"` and `3`, are not
/// (W&B hashes values this way, because its server turns `3.0` into `3`).
/// Only the top level is normalised, as in W&B: `[3.0]` and `[3]` differ.
pub fn identity(value: &Value) -> String {
    if value.is_f64()
        && let Some(i) = whole_number(value)
    {
        return i.to_string();
    }
    canonical(value)
}

fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_follows_wandb() {
        assert_eq!(identity(&json!(3.0)), identity(&json!(3)));
        assert_ne!(identity(&json!(true)), identity(&json!(1)));
        assert_ne!(identity(&json!("3")), identity(&json!(3)));
        assert_ne!(identity(&json!([3.0])), identity(&json!([3])));
        assert_eq!(
            identity(&json!({"b": 1, "a": [2]})),
            identity(&json!({"a": [2], "b": 1}))
        );
        assert_eq!(identity(&json!(-0.0)), identity(&json!(0)));
    }

    #[test]
    fn whole_floats_stop_at_64_bits() {
        assert_eq!(whole_f64(1.0e16), Some(10_000_000_000_000_000));
        assert_eq!(
            whole_f64(-9.223372036854775e18),
            Some(-9_223_372_036_854_774_784)
        );
        assert_eq!(whole_f64(1.0e19), None);
        assert_eq!(whole_f64(2.5), None);
    }
}
