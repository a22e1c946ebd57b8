//! `sweepd.executor` and `sweepd.slurm`: where a sweep's runs run. `local`
//! (the default) runs them as process groups here; `slurm` submits each as a
//! Slurm batch job with the `slurm:` block's resources.

use super::checker::{Checker, choice};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Executor {
    #[default]
    Local,
    Slurm(SlurmOptions),
}

/// What each run's job asks Slurm for; absent keys are left to the cluster's
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// As `sbatch --time` takes it: `90`, `1:30:00`, `2-00:00:00`.
    pub time: Option<String>,
    /// `--gres=gpu:N`; unset: `sweepd.gpus_per_run`, else none.
    pub gpus_per_run: Option<u32>,
    /// `--cpus-per-task`.
    pub cpus_per_run: Option<u32>,
    /// `--mem`: `16G`, `4000M`, `4000` (megabytes).
    pub mem: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// More `sbatch` options, each one word: `--constraint=a100`.
    pub extra_args: Vec<String>,
}

pub const SLURM_KEYS: &[&str] = &[
    "partition",
    "time",
    "gpus_per_run",
    "cpus_per_run",
    "mem",
    "account",
    "qos",
    "extra_args",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Slurm,
}

/// The executor from `sweepd.executor` and `sweepd.slurm` (either may be absent).
pub(crate) fn check_executor(
    c: &mut Checker,
    executor: Option<&Node>,
    slurm: Option<&Node>,
    path: &KeyPath,
) -> Option<Executor> {
    let kind = match executor {
        None => Kind::Local,
        Some(node) => choice(
            c,
            node,
            &path.key("executor"),
            &[("local", Kind::Local), ("slurm", Kind::Slurm)],
        )?,
    };
    let options = match slurm {
        None => SlurmOptions::default(),
        Some(node) => check_slurm(c, node, &path.key("slurm"))?,
    };
    match kind {
        Kind::Slurm => Some(Executor::Slurm(options)),
        Kind::Local => {
            if let Some(node) = slurm {
                c.warn(
                    node.position,
                    &path.key("slurm"),
                    "`slurm` is ignored: runs are local unless `executor: slurm`",
                    Some("add `executor: slurm` beside it".into()),
                );
            }
            Some(Executor::Local)
        }
    }
}

fn check_slurm(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<SlurmOptions> {
    let fields = c.mapping(node, path, "`slurm`")?;
    c.only_keys(&fields, SLURM_KEYS, "`slurm`");
    let mut ok = true;
    let mut o = SlurmOptions::default();
    let word = |c: &mut Checker, key: &str, valid: fn(&str) -> bool, what: &str| {
        let node = fields.get(key)?;
        let child = fields.child(key);
        let text = match &node.value {
            Value::Int(i) => i.to_string(),
            _ => c.string(node, &child)?,
        };
        if text.is_empty() || !valid(&text) {
            c.error(node.position, &child, format!("{text:?} is not {what}"));
            return None;
        }
        Some(text)
    };
    type Check = fn(&str) -> bool;
    let words: [(&str, &mut Option<String>, Check, &str); 5] = [
        (
            "partition",
            &mut o.partition,
            is_slurm_name,
            "a Slurm name (letters, digits, _ - .)",
        ),
        (
            "account",
            &mut o.account,
            is_slurm_name,
            "a Slurm name (letters, digits, _ - .)",
        ),
        (
            "qos",
            &mut o.qos,
            is_slurm_name,
            "a Slurm name (letters, digits, _ - .)",
        ),
        (
            "time",
            &mut o.time,
            is_slurm_time,
            "a Slurm time limit (`90`, `1:30:00`, `2-00:00:00`)",
        ),
        (
            "mem",
            &mut o.mem,
            is_slurm_memory,
            "a Slurm memory size (`16G`, `4000M`, `4000`)",
        ),
    ];
    for (key, slot, valid, what) in words {
        if fields.has(key) {
            *slot = word(c, key, valid, what);
            ok &= slot.is_some();
        }
    }
    for (key, slot, min) in [
        ("gpus_per_run", &mut o.gpus_per_run, 0),
        ("cpus_per_run", &mut o.cpus_per_run, 1),
    ] {
        let Some(n) = fields.get(key) else { continue };
        let child = fields.child(key);
        match c.integer(n, &child) {
            Some(v) if v >= min && v <= i64::from(u32::MAX) => *slot = Some(v as u32),
            Some(v) => {
                c.error(
                    n.position,
                    &child,
                    format!("expected a whole number of at least {min}, found {v}"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(n) = fields.get("extra_args") {
        let child = fields.child("extra_args");
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = child.index(i);
                    match c.string(item, &at) {
                        Some(arg) if owned(&arg) => {
                            c.error_help(
                                item.position,
                                &at,
                                format!("{arg:?} is sweepd's to set"),
                                "sweepd names each job, sends its output to the run's folder, \
                                 runs it in `sweepd.workdir`, and runs it again per \
                                 `sweepd.retry` (not Slurm's requeue)",
                            );
                            ok = false;
                        }
                        Some(arg) if arg.starts_with("--") && !arg.contains(['\n', '\0']) => {
                            o.extra_args.push(arg)
                        }
                        Some(arg) => {
                            c.error_help(
                                item.position,
                                &at,
                                format!("{arg:?} is not an sbatch option"),
                                "write each as one word, like `--constraint=a100`",
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            }
            _ => {
                c.error(
                    n.position,
                    &child,
                    format!("expected a list of sbatch options, found {}", n.describe()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(o)
}

fn is_slurm_name(text: &str) -> bool {
    text.chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
}

/// sbatch options sweepd sets itself: given again they would hide its job
/// from it, or its output, or run it in ways it does not follow.
fn owned(arg: &str) -> bool {
    let name = arg.split('=').next().unwrap_or(arg);
    [
        "--job-name",
        "--output",
        "--error",
        "--input",
        "--open-mode",
        "--chdir",
        "--parsable",
        "--wait",
        "--array",
        "--requeue",
        "--no-requeue",
        "--wrap",
        "--export",
    ]
    .contains(&name)
}

/// `minutes`, `minutes:seconds`, `hours:minutes:seconds`, `days-hours`,
/// `days-hours:minutes`, `days-hours:minutes:seconds`, or `UNLIMITED`.
fn is_slurm_time(text: &str) -> bool {
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let numbers = |s: &str, most: usize| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= most
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()))
    };
    match text.split_once('-') {
        Some((days, rest)) => numbers(days, 1) && numbers(rest, 3),
        None => numbers(text, 3),
    }
}

fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty()
        && digits.len() + 1 >= text.len()
        && digits.chars().all(|ch| ch.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times_and_sizes() {
        for ok in [
            "90",
            "1:30",
            "1:30:00",
            "2-00",
            "2-00:00",
            "2-00:00:00",
            "UNLIMITED",
        ] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "2-", "a:00"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        for ok in ["4000", "16G", "512m"] {
            assert!(is_slurm_memory(ok), "{ok}");
        }
        for bad in ["", "G", "16GB", "1.5G", "-4"] {
            assert!(!is_slurm_memory(bad), "{bad}");
        }
    }
}
