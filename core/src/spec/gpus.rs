//! `sweepd.gpus_per_run` and `sweepd.gpu_memory`: how much of the GPUs a
//! run gets. Whole GPUs (0, 1, 2, ...), or a fraction of one, 1/k as Ray
//! Tune writes it (0.5, 0.25, 0.2, ...): k runs share one GPU.

use super::checker::Checker;
use super::diagnostic::KeyPath;
use super::document::{Node, Value};

/// How much GPU each run of a sweep gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuShare {
    /// This many whole GPUs (0: CPU only).
    Whole(u32),
    /// 1/k of one GPU: up to k such runs share it.
    Fraction { per_gpu: u32 },
}

/// The most runs one GPU is shared by (`gpus_per_run: 0.015625`).
pub const MAX_PER_GPU: u32 = 64;

impl GpuShare {
    /// Whole GPUs, or `None` for a fraction.
    pub fn whole(self) -> Option<u32> {
        match self {
            GpuShare::Whole(n) => Some(n),
            GpuShare::Fraction { .. } => None,
        }
    }

    /// The share as a number: 2, 0.25.
    pub fn as_f64(self) -> f64 {
        match self {
            GpuShare::Whole(n) => f64::from(n),
            GpuShare::Fraction { per_gpu } => 1.0 / f64::from(per_gpu),
        }
    }

    /// Read a number as a share: a whole number, or 1/k within rounding
    /// (0.33 and 0.333 are a third).
    pub fn from_number(x: f64) -> Result<GpuShare, String> {
        if !x.is_finite() || x < 0.0 {
            return Err(format!("expected 0 or more GPUs, found {x}"));
        }
        if x.fract() == 0.0 {
            return u32::try_from(x as u64)
                .map(GpuShare::Whole)
                .map_err(|_| format!("{x} GPUs is more than any machine has"));
        }
        if x > 1.0 {
            return Err(format!(
                "{x} GPUs: more than one GPU per run is a whole number (a run gets whole GPUs or a share of one)"
            ));
        }
        let k = (1.0 / x).round();
        if k > f64::from(MAX_PER_GPU) {
            return Err(format!(
                "{x} of a GPU: at most {MAX_PER_GPU} runs share a GPU (1/{MAX_PER_GPU} = {})",
                1.0 / f64::from(MAX_PER_GPU)
            ));
        }
        // A third written 0.33 or 0.333 is meant as a third.
        if (x - 1.0 / k).abs() > 0.005 {
            let (lo, hi) = (1.0 / (k + 1.0), 1.0 / k);
            return Err(format!(
                "{x} is not 1/k of a GPU (k runs share one): use {hi:.3} (1/{k}) or {lo:.3} (1/{})",
                k + 1.0
            ));
        }
        // 0.999 is a whole GPU: a "share" of one run per GPU is no share.
        if k == 1.0 {
            return Ok(GpuShare::Whole(1));
        }
        Ok(GpuShare::Fraction { per_gpu: k as u32 })
    }
}

pub(super) fn check_share(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<GpuShare> {
    let num = c.number(node, path)?;
    match GpuShare::from_number(num.as_f64()) {
        Ok(share) => Some(share),
        Err(why) => {
            c.error(node.position, path, why);
            None
        }
    }
}

/// `gpu_memory`: MiB as a number, or text with a unit: `6GiB`, `500MiB`,
/// `8GB` (read as GiB, as nvidia-smi's users mean it).
pub(super) fn check_memory(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<u64> {
    let parsed = match &node.value {
        Value::Int(n) if *n > 0 => Ok(*n as u64),
        Value::Str(text) => memory_mib(text),
        _ => Err(format!(
            "expected MiB (a positive whole number) or a size like `6GiB`, found {}",
            node.describe()
        )),
    };
    match parsed {
        Ok(mib) => Some(mib),
        Err(why) => {
            c.error(node.position, path, why);
            None
        }
    }
}

fn memory_mib(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let per_mib = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" | "mb" | "mib" => 1.0,
        "g" | "gb" | "gib" => 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "cannot read {text:?} as GPU memory: unknown unit {other:?} (use MiB or GiB)"
            ));
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && (n * per_mib) < 1e12 => Ok((n * per_mib).ceil() as u64),
        _ => Err(format!(
            "cannot read {text:?} as GPU memory: write it like `6GiB` or `500MiB`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_whole_gpus_or_one_over_k() {
        assert_eq!(GpuShare::from_number(2.0), Ok(GpuShare::Whole(2)));
        assert_eq!(GpuShare::from_number(0.0), Ok(GpuShare::Whole(0)));
        for (x, k) in [
            (0.5, 2),
            (0.25, 4),
            (0.2, 5),
            (0.33, 3),
            (0.333, 3),
            (0.125, 8),
        ] {
            assert_eq!(
                GpuShare::from_number(x),
                Ok(GpuShare::Fraction { per_gpu: k }),
                "{x}"
            );
        }
        let err = GpuShare::from_number(0.3).unwrap_err();
        assert!(err.contains("use 0.333 (1/3) or 0.250 (1/4)"), "{err}");
        assert!(
            GpuShare::from_number(1.5)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            GpuShare::from_number(0.001)
                .unwrap_err()
                .contains("at most 64")
        );
        assert!(GpuShare::from_number(-1.0).is_err());
    }

    #[test]
    fn memory_reads_mib_or_units() {
        assert_eq!(memory_mib("6GiB"), Ok(6144));
        assert_eq!(memory_mib("1.5 GB"), Ok(1536));
        assert_eq!(memory_mib("500MiB"), Ok(500));
        assert_eq!(memory_mib("700"), Ok(700));
        assert!(memory_mib("6 apples").unwrap_err().contains("unknown unit"));
        assert!(memory_mib("GiB").unwrap_err().contains("write it like"));
    }
}
