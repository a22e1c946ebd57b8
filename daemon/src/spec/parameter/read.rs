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
    let number = |c: &mut Checker, key: &str, default: Num| -> Option<Num> {
        match fields.get(key) {
            None => Some(default),
            Some(node) => c.number(node, &fields.child(key)),
        }
    };
    let q = || Num::Float(1.0);
    let distribution = match kind {
        Kind::Constant => Distribution::Constant {
            value: c.json_value(fields.get("value")?, &fields.child("value"))?,
        },
        Kind::Categorical => Distribution::Categorical {
            values: values(c, fields)?,
        },
        Kind::CategoricalWithProbabilities => {
            let values = values(c, fields);
            let probabilities = probabilities(c, fields);
            let (values, probabilities) = (values?, probabilities?);
            check_probabilities(c, fields, values.len(), &probabilities)?;
            Distribution::CategoricalWithProbabilities {
                values,
                probabilities,
            }
        }
        Kind::IntUniform => {
            let min = integer_bound(c, fields, "min");
            let max = integer_bound(c, fields, "max");
            Distribution::IntUniform {
                min: min?,
                max: max?,
            }
        }
        _ if kind.required().contains(&"min") => {
            let min = number(c, "min", Num::Int(0));
            let max = number(c, "max", Num::Int(0));
            let q = if kind.keys().contains(&"q") {
                number(c, "q", q()).and_then(|q| positive(c, fields, "q", q))
            } else {
                Some(q())
            };
            let (min, max, q) = (min?, max?, q?);
            let (lo, hi) = (min.as_f64(), max.as_f64());
            match kind {
                Kind::Uniform => Distribution::Uniform { min: lo, max: hi },
                Kind::QUniform => Distribution::QUniform { min, max, q },
                Kind::LogUniform => Distribution::LogUniform { min: lo, max: hi },
                Kind::QLogUniform => Distribution::QLogUniform {
                    min: lo,
                    max: hi,
                    q,
                },
                Kind::InvLogUniform => Distribution::InvLogUniform { min: lo, max: hi },
                Kind::LogUniformValues => Distribution::LogUniformValues {
                    min: positive(c, fields, "min", min)?.as_f64(),
                    max: hi,
                },
                Kind::QLogUniformValues => Distribution::QLogUniformValues {
                    min: positive(c, fields, "min", min)?.as_f64(),
                    max: hi,
                    q,
                },
                Kind::InvLogUniformValues => Distribution::InvLogUniformValues {
                    min: positive(c, fields, "min", min)?.as_f64(),
                    max: hi,
                },
                _ => unreachable!("every distribution with min and max is listed"),
            }
        }
        Kind::Normal | Kind::QNormal | Kind::LogNormal | Kind::QLogNormal => {
            let mu = number(c, "mu", Num::Float(0.0)).map(Num::as_f64);
            let sigma = number(c, "sigma", Num::Float(1.0))
                .and_then(|s| not_negative(c, fields, "sigma", s));
            let q = number(c, "q", q()).and_then(|q| positive(c, fields, "q", q));
            let (mu, sigma, q) = (mu?, sigma?, q?);
            match kind {
                Kind::Normal => Distribution::Normal { mu, sigma },
                Kind::QNormal => Distribution::QNormal { mu, sigma, q },
                Kind::LogNormal => Distribution::LogNormal { mu, sigma },
                _ => Distribution::QLogNormal { mu, sigma, q },
            }
        }
        Kind::Beta | Kind::QBeta => {
            let a = number(c, "a", Num::Float(1.0)).and_then(|a| shape(c, fields, "a", a));
            let b = number(c, "b", Num::Float(1.0)).and_then(|b| shape(c, fields, "b", b));
            let q = number(c, "q", q()).and_then(|q| positive(c, fields, "q", q));
            let (a, b, q) = (a?, b?, q?);
            if kind == Kind::Beta {
                Distribution::Beta { a, b }
            } else {
                Distribution::QBeta { a, b, q }
            }
        }
        _ => unreachable!("every distribution is listed"),
    };
    check_min_below_max(c, fields, &distribution)?;
    check_exponent_range(c, fields, &distribution)?;
    Some(distribution)
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

fn not_negative(c: &mut Checker, fields: &Fields<'_>, key: &str, value: Num) -> Option<f64> {
    if value.as_f64() >= 0.0 {
        return Some(value.as_f64());
    }
    c.error(
        fields.get(key).and_then(|n| n.position),
        &fields.child(key),
        format!("`{key}` cannot be negative, found {value}"),
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

/// W&B refuses `min >= max` for every distribution that has both.
fn check_min_below_max(
    c: &mut Checker,
    fields: &Fields<'_>,
    distribution: &Distribution,
) -> Option<()> {
    use Distribution as D;
    let (min, max) = match *distribution {
        D::IntUniform { min, max } => (min as f64, max as f64),
        D::QUniform { min, max, .. } => (min.as_f64(), max.as_f64()),
        D::Uniform { min, max }
        | D::LogUniform { min, max }
        | D::LogUniformValues { min, max }
        | D::QLogUniform { min, max, .. }
        | D::QLogUniformValues { min, max, .. }
        | D::InvLogUniform { min, max }
        | D::InvLogUniformValues { min, max } => (min, max),
        _ => return Some(()),
    };
    if min < max {
        return Some(());
    }
    let node = fields.get("min");
    let shown = |key: &str| {
        fields
            .get(key)
            .map(|n| n.describe().to_string())
            .unwrap_or_default()
    };
    c.error_help(
        node.and_then(|n| n.position),
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
    let (key, exponent) = match *distribution {
        D::LogUniform { max, .. } | D::QLogUniform { max, .. } => ("max", max),
        D::InvLogUniform { min, .. } => ("min", -min),
        D::LogNormal { mu, sigma } | D::QLogNormal { mu, sigma, .. } => ("mu", mu + 8.5 * sigma),
        _ => return Some(()),
    };
    if exponent <= LIMIT {
        return Some(());
    }
    c.error_help(
        fields
            .get(key)
            .and_then(|n| n.position)
            .or(fields.node.position),
        &fields.child(key),
        format!("values would reach e^{exponent}, beyond the largest number there is"),
        "the bounds of the log forms are natural-log exponents: e^709 is about 8e307",
    );
    None
}
