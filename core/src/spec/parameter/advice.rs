//! Warnings for parameters that are legal but probably not what was meant.

use std::collections::HashSet;

use super::{Distribution, Kind};
use crate::spec::checker::{Checker, Fields};
use crate::spec::document::Value;
use crate::value::identity;

/// Legal but probably not what was meant.
pub(super) fn warn_about(
    c: &mut Checker,
    fields: &Fields<'_>,
    distribution: &Distribution,
    name: &str,
) {
    use Distribution as D;
    let position = fields
        .get("distribution")
        .and_then(|n| n.position)
        .or(fields.node.position);
    let path = &fields.path;
    match *distribution {
        D::LogUniform { min, max }
        | D::QLogUniform { min, max, .. }
        | D::InvLogUniform { min, max } => {
            let kind = distribution.kind();
            let replacement = kind
                .replacement()
                .expect("deprecated kinds have a replacement");
            let (lo, hi) = if kind == Kind::InvLogUniform {
                ((-max).exp(), (-min).exp())
            } else {
                (min.exp(), max.exp())
            };
            c.warn(
                position,
                path,
                format!(
                    "`{kind}` is deprecated: its min and max are natural-log exponents, so \
                     `{name}` takes values from {} to {}",
                    short(lo),
                    short(hi)
                ),
                Some(format!(
                    "to give the values themselves, use `distribution: {replacement}` with \
                     min: {} and max: {} for about the same range",
                    short(lo),
                    short(hi)
                )),
            );
        }
        _ => {}
    }
    if let D::QLogUniformValues { min, q, .. } = *distribution
        && (min / q.as_f64()).round_ties_even() == 0.0
    {
        c.warn(
            position,
            path,
            format!("values of `{name}` below {} round to 0", q.as_f64() / 2.0),
            Some("W&B rounds to the nearest multiple of q, so 0 can come out; raise min".into()),
        );
    }
    if let D::Categorical { values } | D::CategoricalWithProbabilities { values, .. } = distribution
    {
        let nodes = match fields.get("values").map(|n| &n.value) {
            Some(Value::Seq(items)) => items.as_slice(),
            _ => &[],
        };
        let mut seen = HashSet::new();
        for (i, value) in values.iter().enumerate() {
            if !seen.insert(identity(value)) {
                c.warn(
                    nodes.get(i).and_then(|n| n.position),
                    &fields.child("values").index(i),
                    format!(
                        "the value {value} is listed twice (W&B counts 3.0 and 3 as one value)"
                    ),
                    Some("random search picks it twice as often; a grid runs it once".into()),
                );
            }
        }
    }
}

/// Four significant digits, for messages.
fn short(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e5).contains(&x.abs()) {
        format!("{x:.3e}")
    } else {
        let text = format!("{x:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}
