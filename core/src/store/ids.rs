//! Sweep and run ids: readable, sortable by time, and always safe as one path
//! component, so that an id from a user never names a path outside the home.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// `20261128-153012-mnist-tutorial-7k3q`: UTC date and time of acceptance, a
/// slug of the sweep's name, and four random characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SweepId(String);

/// A run: its sweep and its number there, written `SWEEP/3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId {
    pub sweep: SweepId,
    pub run: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a sweep id (lowercase letters, digits and dashes)")]
pub struct BadId(pub String);

const SLUG_MAX: usize = 32;
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

impl SweepId {
    /// A new id for a sweep named `name` (or its file's stem), accepted `at`.
    /// `random` picks the four last characters.
    pub fn new(name: &str, at: SystemTime, random: u32) -> Self {
        let stamp = humantime::format_rfc3339_seconds(at).to_string(); // 2026-11-28T15:30:12Z
        let date: String = stamp[..10].chars().filter(|c| *c != '-').collect();
        let time: String = stamp[11..19].chars().filter(|c| *c != ':').collect();
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= SLUG_MAX {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = if slug.is_empty() { "sweep" } else { slug };
        let tail: String = (0..4)
            .map(|i| ALPHABET[((random >> (5 * i)) & 31) as usize] as char)
            .collect();
        SweepId(format!("{date}-{time}-{slug}-{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SweepId {
    type Err = BadId;

    fn from_str(s: &str) -> Result<Self, BadId> {
        let ok = !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(SweepId(s.to_owned()))
        } else {
            Err(BadId(s.to_owned()))
        }
    }
}

impl fmt::Display for SweepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunId {
    /// The folder name of the run inside its sweep's `runs/`.
    pub fn folder(run: u32) -> String {
        format!("{run:04}")
    }

    /// The run's id as W&B accepts one (`WANDB_RUN_ID`): the sweep id and
    /// the run's folder joined by a dash (`<sweep>-0003`). W&B refuses `/`
    /// (and `\ # ? % :` and spaces) in run ids, so `SWEEP/N` will not do.
    pub fn wandb_id(&self) -> String {
        format!("{}-{}", self.sweep, Self::folder(self.run))
    }
}

impl FromStr for RunId {
    type Err = BadId;

    fn from_str(s: &str) -> Result<Self, BadId> {
        let (sweep, run) = s.rsplit_once('/').ok_or_else(|| BadId(s.to_owned()))?;
        let run = run.parse().map_err(|_| BadId(s.to_owned()))?;
        Ok(RunId {
            sweep: sweep.parse()?,
            run,
        })
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sweep, self.run)
    }
}

/// A fresh token for a run: a secret its processes carry in their
/// environment, so that what a dead sweepd left running can be found.
pub fn new_token() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(std::process::id());
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn ids_are_dated_slugged_and_safe() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_879_812); // 2026-11-28T15:30:12Z
        let id = SweepId::new("MNIST tutorial (v2)!", at, 0);
        assert_eq!(id.as_str(), "20261128-153012-mnist-tutorial-v2-aaaa");
        assert_eq!(
            SweepId::new("../../etc", at, 31).as_str(),
            "20261128-153012-etc-9aaa"
        );
        assert_eq!(
            SweepId::new("", at, 1).as_str(),
            "20261128-153012-sweep-baaa"
        );
        assert!(id.as_str().parse::<SweepId>().is_ok());
    }

    #[test]
    fn a_runs_wandb_id_has_only_what_wandb_accepts_and_is_short() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_879_812);
        let long = SweepId::new(&"a very long sweep name ".repeat(9), at, 5);
        for run in [1, 42, 99_999] {
            let id = RunId {
                sweep: long.clone(),
                run,
            }
            .wandb_id();
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{id}"
            );
            assert!(id.len() <= 64, "{id}: {} characters", id.len());
        }
        let short = SweepId::new("mnist", at, 0);
        assert_eq!(
            RunId {
                sweep: short,
                run: 3
            }
            .wandb_id(),
            "20261128-153012-mnist-aaaa-0003"
        );
    }

    #[test]
    fn ids_from_users_cannot_leave_the_home() {
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "A",
            "-x",
            "a b",
            "a\0b",
            &"a".repeat(81),
        ] {
            assert!(bad.parse::<SweepId>().is_err(), "{bad:?}");
        }
        let run: RunId = "20261128-153012-x-aaaa/3".parse().unwrap();
        assert_eq!((run.sweep.as_str(), run.run), ("20261128-153012-x-aaaa", 3));
        assert_eq!(run.to_string(), "20261128-153012-x-aaaa/3");
        assert!("../x/3".parse::<RunId>().is_err());
        assert_eq!(RunId::folder(3), "0003");
    }
}
