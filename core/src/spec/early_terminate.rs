//! `early_terminate:`: W&B's hyperband-style stopping rule (its settings only;
//! the rule itself lives with the search).

use super::checker::{Checker, choice};
use super::diagnostic::KeyPath;
use super::document::Node;

#[derive(Debug, Clone, PartialEq)]
pub struct Hyperband {
    pub bands: BandSpec,
    /// Keep the top 1/eta at each band. Greater than 1.
    pub eta: f64,
    /// Compare the value at the band (true, W&B 0.3.0's default) or the best so far.
    pub strict: bool,
}

/// How the band iterations are given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BandSpec {
    /// `max_iter` and `s`: bands max_iter/eta, max_iter/eta², ... (s of them at most).
    FromMax { max_iter: i64, s: i64 },
    /// `min_iter`: bands min_iter, min_iter·eta, min_iter·eta², ...
    FromMin { min_iter: i64 },
}

/// W&B computes at most this many bands from `min_iter`.
const MIN_ITER_BANDS: usize = 100;
/// From `max_iter` and `s`, W&B computes up to `s` bands; sweepd stops at
/// this many, so that an `eta` just above 1 with a huge `s` cannot hold up
/// validation (no real sweep has more bands than runs have iterations).
const MAX_ITER_BANDS: i64 = 10_000;

impl Hyperband {
    /// The iterations at which runs are judged, ascending, as W&B 0.3.0 computes them.
    pub fn bands(&self) -> Vec<i64> {
        match self.bands {
            BandSpec::FromMax { max_iter, s } => {
                let mut band = max_iter as f64;
                let mut bands = Vec::new();
                for _ in 0..s.clamp(0, MAX_ITER_BANDS) {
                    band /= self.eta;
                    if band < 1.0 {
                        break;
                    }
                    bands.push(band as i64);
                }
                bands.sort_unstable();
                bands
            }
            BandSpec::FromMin { min_iter } => {
                let mut band = min_iter as f64;
                let mut bands = Vec::new();
                for _ in 0..MIN_ITER_BANDS {
                    if !band.is_finite() || band >= i64::MAX as f64 {
                        break;
                    }
                    bands.push(band as i64);
                    band *= self.eta;
                }
                bands
            }
        }
    }
}

const KEYS: &[&str] = &["type", "max_iter", "min_iter", "s", "eta", "strict"];

pub(crate) fn check_early_terminate(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
) -> Option<Hyperband> {
    let fields = c.mapping(node, path, "`early_terminate`")?;
    c.only_keys(&fields, KEYS, "`early_terminate`");
    let kind = c
        .require(&fields, "type", "`early_terminate`")
        .and_then(|n| choice(c, n, &fields.child("type"), &[("hyperband", ())]));
    let integer = |c: &mut Checker, key: &str| -> Option<Option<i64>> {
        match fields.get(key) {
            None => Some(None),
            Some(n) => c.integer(n, &fields.child(key)).map(Some),
        }
    };
    let max_iter = integer(c, "max_iter");
    // W&B's schema: min_iter >= 1, whether or not it is used.
    let min_iter = integer(c, "min_iter").and_then(|m| match m {
        Some(m) if m < 1 => {
            c.error(
                fields.get("min_iter").and_then(|n| n.position),
                &fields.child("min_iter"),
                format!("`min_iter` must be at least 1, found {m}"),
            );
            None
        }
        m => Some(m),
    });
    // W&B's schema says "number" for s, but its engine loops `range(s)`, which
    // fails on 2.5: an integer it is.
    let s = integer(c, "s");
    let eta = match fields.get("eta") {
        None => Some(3.0),
        Some(n) => c.number(n, &fields.child("eta")).and_then(|eta| {
            if eta.as_f64() > 1.0 {
                Some(eta.as_f64())
            } else {
                c.error(
                    n.position,
                    &fields.child("eta"),
                    format!("`eta` must be greater than 1, found {eta}"),
                );
                None
            }
        }),
    };
    let strict = match fields.get("strict") {
        None => Some(true),
        Some(n) => c.boolean(n, &fields.child("strict")),
    };
    kind?;
    let (max_iter, min_iter, s, eta, strict) = (max_iter?, min_iter?, s?, eta?, strict?);
    let bands = match (max_iter, s, min_iter) {
        (Some(max_iter), Some(s), min) => {
            if min.is_some() {
                c.warn(
                    fields.get("min_iter").and_then(|n| n.position),
                    &fields.child("min_iter"),
                    "`min_iter` is ignored when `max_iter` and `s` are given (as in W&B)",
                    None,
                );
            }
            BandSpec::FromMax { max_iter, s }
        }
        (Some(_), None, _) => {
            c.error_help(
                node.position,
                path,
                "`max_iter` needs `s`, the number of bands",
                "give `s`, or use `min_iter` instead of `max_iter`",
            );
            return None;
        }
        (None, _, Some(min_iter)) => BandSpec::FromMin { min_iter },
        (None, _, None) => {
            c.error_help(
                node.position,
                path,
                "hyperband needs `max_iter` and `s`, or `min_iter`",
                "e.g. `min_iter: 3` judges runs at iterations 3, 9, 27, ... (with eta 3)",
            );
            return None;
        }
    };
    let hyperband = Hyperband { bands, eta, strict };
    if hyperband.bands().is_empty() {
        c.error_help(
            node.position,
            path,
            "these settings give no band, so no run would ever be judged",
            "raise max_iter or s, or lower eta (bands are max_iter/eta, max_iter/eta², ... while at least 1)",
        );
        return None;
    }
    Some(hyperband)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bands(spec: BandSpec, eta: f64) -> Vec<i64> {
        Hyperband {
            bands: spec,
            eta,
            strict: true,
        }
        .bands()
    }

    #[test]
    fn bands_from_max_iter_exclude_max_iter_itself() {
        assert_eq!(bands(BandSpec::FromMax { max_iter: 27, s: 2 }, 3.0), [3, 9]);
        assert_eq!(
            bands(BandSpec::FromMax { max_iter: 27, s: 3 }, 3.0),
            [1, 3, 9]
        );
        assert_eq!(
            bands(BandSpec::FromMax { max_iter: 27, s: 9 }, 3.0),
            [1, 3, 9]
        );
        assert_eq!(
            bands(BandSpec::FromMax { max_iter: 2, s: 1 }, 3.0),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn bands_from_min_iter_grow_by_eta() {
        let b = bands(BandSpec::FromMin { min_iter: 2 }, 3.0);
        assert_eq!(&b[..4], [2, 6, 18, 54]);
        assert_eq!(
            b.len(),
            40,
            "stops before a band overflows an i64: 2·3^39 fits, 2·3^40 does not"
        );
    }
}
