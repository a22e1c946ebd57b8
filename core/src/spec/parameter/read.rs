//! Reading one parameter's keys into its distribution, with W&B's defaults
//! and W&B's checks on the values (types, min < max, q > 0, sigma >= 0,
//! probabilities that match the values and sum to 1).

use super::{Distribution, Kind};
use crate::spec::checker::{Checker, Fields};
use crate::spec::document::Value;
use crate::spec::number::Num;

/// Read the distribution's fields, with W&B's defaults, and check their values.
pub(super) fn distribution(
    c: &mut Checker,
    fields: &Fields<'_>,
    kind: Kind,
    name: &str,
) -> Option<Distribution> {
    let mut ok = true;
    for key in kind.required() {
        if !fields.has(key) {
            c.error(
                fields.node.position,
                &fields.path,
                format!("parameter `{name}` ({kind}) needs `{key}`"),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    use Distribution as D;
    let distribution = match kind {
        Kind::Constant => D::Constant {
            value: c.json_value(fields.get("value")?, &fields.child("value"))?,
        },
        Kind::Categorical => D::Categorical {
            values: values(c, fields)?,
        },
        Kind::CategoricalWithProbabilities => {
            let values = values(c, fields);
            let probabilities = probabilities(c, fields);
            let (values, probabilities) = (values?, probabilities?);
            check_probabilities(c, fields, values.len(), &probabilities)?;
            D::CategoricalWithProbabilities {
                values,
                probabilities,
            }
        }
        Kind::IntUniform => {
            let min = integer_bound(c, fields, "min");
            let max = integer_bound(c, fields, "max");
            let (min, max) = (min?, max?);
            below(c, fields, Num::Int(min), Num::Int(max))?;
            D::IntUniform { min, max }
        }
        Kind::Uniform | Kind::LogUniform | Kind::InvLogUniform => {
            let (min, max) = bounds(c, fields)?;
            let (min, max) = (min.as_f64(), max.as_f64());
            match kind {
                Kind::Uniform => D::Uniform { min, max },
                Kind::LogUniform => D::LogUniform { min, max },
                _ => D::InvLogUniform { min, max },
            }
        }
        Kind::QUniform | Kind::QLogUniform => {
            let bounds = bounds(c, fields);
            let q = quantum(c, fields);
            let ((min, max), q) = (bounds?, q?);
            if kind == Kind::QUniform {
                D::QUniform { min, max, q }
            } else {
                D::QLogUniform {
                    min: min.as_f64(),
                    max: max.as_f64(),
                    q,
                }
            }
        }
        Kind::LogUniformValues | Kind::InvLogUniformValues | Kind::QLogUniformValues => {
            // The `_values` forms take logarithms of their bounds: min > 0.
            let min =
                number(c, fields, "min", Num::Int(0)).and_then(|m| positive(c, fields, "min", m));
            let bounds = bounds(c, fields);
            let q = quantum(c, fields);
            let (_, (min, max), q) = (min?, bounds?, q?);
            let (min, max) = (min.as_f64(), max.as_f64());
            match kind {
                Kind::LogUniformValues => D::LogUniformValues { min, max },
                Kind::InvLogUniformValues => D::InvLogUniformValues { min, max },
                _ => D::QLogUniformValues { min, max, q },
            }
        }
        Kind::Normal | Kind::QNormal | Kind::LogNormal | Kind::QLogNormal => {
            let mu = number(c, fields, "mu", Num::Float(0.0)).map(Num::as_f64);
            let sigma =
                number(c, fields, "sigma", Num::Float(1.0)).and_then(|s| spread(c, fields, s));
            let q = quantum(c, fields);
            let (mu, sigma, q) = (mu?, sigma?, q?);
            match kind {
                Kind::Normal => D::Normal { mu, sigma },
                Kind::QNormal => D::QNormal { mu, sigma, q },
                Kind::LogNormal => D::LogNormal { mu, sigma },
                _ => D::QLogNormal { mu, sigma, q },
            }
        }
        Kind::Beta | Kind::QBeta => {
            let a = number(c, fields, "a", Num::Float(1.0)).and_then(|a| shape(c, fields, "a", a));
            let b = number(c, fields, "b", Num::Float(1.0)).and_then(|b| shape(c, fields, "b", b));
            let q = quantum(c, fields);
            let (a, b, q) = (a?, b?, q?);
            if kind == Kind::Beta {
                D::Beta { a, b }
            } else {
                D::QBeta { a, b, q }
            }
        }
    };
    check_exponent_range(c, fields, &distribution)?;
    Some(distribution)
}

/// The number at `key`, or `default` when the key is absent.
fn number(c: &mut Checker, fields: &Fields<'_>, key: &str, default: Num) -> Option<Num> {
    match fields.get(key) {
        None => Some(default),
        Some(node) => c.number(node, &fields.child(key)),
    }
}

/// `min` and `max` (both present: the required keys were checked), min below max.
fn bounds(c: &mut Checker, fields: &Fields<'_>) -> Option<(Num, Num)> {
    let min = number(c, fields, "min", Num::Int(0));
    let max = number(c, fields, "max", Num::Int(0));
    let (min, max) = (min?, max?);
    below(c, fields, min, max)?;
    Some((min, max))
}

/// `q`, default 1.0 (a float, as in W&B), greater than 0.
fn quantum(c: &mut Checker, fields: &Fields<'_>) -> Option<Num> {
    number(c, fields, "q", Num::Float(1.0)).and_then(|q| positive(c, fields, "q", q))
}

fn values(c: &mut Checker, fields: &Fields<'_>) -> Option<Vec<serde_json::Value>> {
    let path = fields.child("values");
    let node = fields.get("values")?;
    let Some(items) = (match &node.value {
        Value::Seq(items) => Some(items),
        _ => None,
    }) else {
        c.error_help(
            node.position,
            &path,
            format!("`values` must be a list, found {}", node.describe()),
            "write `values: [a, b]`, or `value: x` for a single constant",
        );
        return None;
    };
    if items.is_empty() {
        c.error(
            node.position,
            &path,
            "`values` is empty: give at least one value",
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match c.json_value(item, &path.index(i)) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn probabilities(c: &mut Checker, fields: &Fields<'_>) -> Option<Vec<f64>> {
    let path = fields.child("probabilities");
    let node = fields.get("probabilities")?;
    let Value::Seq(items) = &node.value else {
        c.error(
            node.position,
            &path,
            format!(
                "`probabilities` must be a list of numbers, found {}",
                node.describe()
            ),
        );
        return None;
    };
    if items.is_empty() {
        c.error(node.position, &path, "`probabilities` is empty");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        match c.number(item, &item_path) {
            Some(p) if p.as_f64() >= 0.0 => out.push(p.as_f64()),
            Some(p) => {
                c.error(
                    item.position,
                    &item_path,
                    format!("a probability cannot be negative ({p})"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn check_probabilities(
    c: &mut Checker,
    fields: &Fields<'_>,
    n_values: usize,
    probabilities: &[f64],
) -> Option<()> {
    let path = fields.child("probabilities");
    let position = fields.get("probabilities").and_then(|n| n.position);
    if probabilities.len() != n_values {
        c.error(
            position,
            &path,
            format!(
                "{} probabilities for {} values: give one probability per value",
                probabilities.len(),
                n_values
            ),
        );
        return None;
    }
    let sum: f64 = probabilities.iter().sum();
    // numpy.isclose(sum, 1.0), W&B's test: |sum - 1| <= 1e-8 + 1e-5.
    if (sum - 1.0).abs() > 1e-8 + 1e-5 {
        c.error(
            position,
            &path,
            format!("probabilities add up to {sum}, not 1"),
        );
        return None;
    }
    Some(())
}

fn integer_bound(c: &mut Checker, fields: &Fields<'_>, key: &str) -> Option<i64> {
    let node = fields.get(key)?;
    let path = fields.child(key);
    match c.number(node, &path)? {
        Num::Int(i) => Some(i),
        Num::Float(x) => {
            c.error_help(
                node.position,
                &path,
                format!("int_uniform bounds must be integers, found {x:?}"),
                "write it without a decimal point, or use `distribution: uniform` for real numbers",
            );
            None
        }
    }
}

fn positive(c: &mut Checker, fields: &Fields<'_>, key: &str, value: Num) -> Option<Num> {
    if value.as_f64() > 0.0 {
        return Some(value);
    }
    let node = fields.get(key);
    c.error(
        node.and_then(|n| n.position),
        &fields.child(key),
        format!("`{key}` must be greater than 0, found {value}"),
    );
    None
}

/// sigma must be positive. W&B's schema allows 0, but its sampler (scipy)
/// then draws NaN: a deliberate deviation.
fn spread(c: &mut Checker, fields: &Fields<'_>, value: Num) -> Option<f64> {
    if value.as_f64() > 0.0 {
        return Some(value.as_f64());
    }
    let (message, help) = if value.as_f64() == 0.0 {
        (
            "`sigma` must be greater than 0, found 0".to_owned(),
            "for a fixed value write `value: x`; W&B accepts sigma 0 here but then samples NaN",
        )
    } else {
        (
            format!("`sigma` cannot be negative, found {value}"),
            "sigma is a standard deviation",
        )
    };
    c.error_help(
        fields.get("sigma").and_then(|n| n.position),
        &fields.child("sigma"),
        message,
        help,
    );
    None
}

/// Beta shapes must be positive. W&B's schema allows 0, but a Beta with a zero
/// shape has no density and its sampler returns NaN: a deliberate deviation.
fn shape(c: &mut Checker, fields: &Fields<'_>, key: &str, value: Num) -> Option<f64> {
    if value.as_f64() > 0.0 {
        return Some(value.as_f64());
    }
    c.error_help(
        fields.get(key).and_then(|n| n.position),
        &fields.child(key),
        format!("beta shape `{key}` must be greater than 0, found {value}"),
        "W&B accepts 0 here but then samples NaN",
    );
    None
}

/// W&B refuses `min >= max` for every distribution that has both, comparing
/// integers exactly (as Python does) and anything else as floats.
fn below(c: &mut Checker, fields: &Fields<'_>, min: Num, max: Num) -> Option<()> {
    let less = match (min, max) {
        (Num::Int(a), Num::Int(b)) => a < b,
        _ => min.as_f64() < max.as_f64(),
    };
    if less {
        return Some(());
    }
    let shown = |key: &str| {
        fields
            .get(key)
            .map(|n| n.describe().to_string())
            .unwrap_or_default()
    };
    c.error_help(
        fields.get("min").and_then(|n| n.position),
        &fields.child("min"),
        format!(
            "`min` must be less than `max` (min is {}, max is {})",
            shown("min"),
            shown("max")
        ),
        "a single value is written `value: x`",
    );
    None
}

/// The exponent forms take `exp` of their bounds: past ±709 that is beyond
/// any float. Log-normal draws reach `exp(mu + 8.5 sigma)` about once in 10^17.
fn check_exponent_range(
    c: &mut Checker,
    fields: &Fields<'_>,
    distribution: &Distribution,
) -> Option<()> {
    use Distribution as D;
    const LIMIT: f64 = 709.0;
    // (where to point, the largest exponent, what it is made of)
    let (key, exponent, what) = match *distribution {
        D::LogUniform { max, .. } | D::QLogUniform { max, .. } => (Some("max"), max, "max"),
        D::InvLogUniform { min, .. } => (Some("min"), -min, "-min"),
        D::LogNormal { mu, sigma } | D::QLogNormal { mu, sigma, .. } => {
            (None, mu + 8.5 * sigma, "mu + 8.5 sigma")
        }
        _ => return Some(()),
    };
    if exponent <= LIMIT {
        return Some(());
    }
    let (position, path) = match key {
        Some(key) => (fields.get(key).and_then(|n| n.position), fields.child(key)),
        None => (fields.node.position, fields.path.clone()),
    };
    c.error_help(
        position,
        &path,
        format!("values would reach e^({what}) = e^{exponent}, beyond the largest number there is"),
        "exponents above 709 overflow (e^709 is about 8e307)",
    );
    None
}
