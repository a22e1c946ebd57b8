//! What a run's monitor leaves in the run's folder, for whichever sweepd
//! comes next: `monitor.json` once the trainer has started (held locked by
//! the monitor for as long as it lives, so a reader knows whether it does)
//! and `exit.json` once the trainer has ended and everything of the run is
//! gone. Both are versioned; a sweepd reads the versions it knows
//! ([`MONITOR_VERSION`] and older) and treats a run whose files are newer
//! than it knows as a run whose monitor was lost (see docs/daemon.md).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic;
use crate::protocol::trainer::StopReason;
use crate::sweep::{Ending, Exit};

/// The version of `monitor.json` and `exit.json` this sweepd writes; it
/// reads this one and older ones.
pub const MONITOR_VERSION: u32 = 1;

/// `monitor.json`: a run's monitor and the trainer it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRecord {
    pub version: u32,
    /// The monitor's process id.
    pub monitor_pid: u32,
    /// The trainer's process id, also its process group's.
    pub pid: u32,
    /// When the trainer started (RFC 3339, UTC): `sweepd.timeout` counts
    /// from here, across restarts of sweepd.
    pub started_at: String,
    /// The GPUs (by UUID) whose locks the monitor holds for the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
    /// The version of the sweepd binary that is the monitor.
    pub sweepd: String,
}

/// `exit.json`: how the trainer ended, written by its monitor once every
/// process of the run is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub version: u32,
    pub pid: u32,
    /// Its exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal it died of, when it was killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it could not be started, when it was not (then no pid: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
    pub ended_at: String,
}

/// A monitor file as read: one this sweepd knows, or a version it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read<T> {
    Known(T),
    /// Written by a newer sweepd (this version): not to be trusted.
    Newer(u32),
}

impl ExitRecord {
    pub fn write(&self, path: &Path) -> io::Result<()> {
        atomic::write_json(path, self)
    }

    /// How the run ended, as its monitor saw it; sweepd's stop (`stopped`)
    /// wins, as for any run.
    pub fn ending(&self, stopped: Option<StopReason>) -> Ending {
        if let Some(why) = &self.not_started {
            return Ending::not_started(why.clone());
        }
        let exit = self.code.map(Exit::Code).or(self.signal.map(Exit::Signal));
        let lost = "its monitor could not read its exit status".to_owned();
        Ending::from_parts(stopped, exit, Some(lost), None)
    }
}

/// Read `monitor.json` or `exit.json` (None: there is none).
pub fn read<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<Read<T>>> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(path, &e))?;
    let version = Version::deserialize(&value)
        .map_err(|e| bad(path, &e))?
        .version;
    if version > MONITOR_VERSION {
        return Ok(Some(Read::Newer(version)));
    }
    T::deserialize(value)
        .map(|record| Some(Read::Known(record)))
        .map_err(|e| bad(path, &e))
}

fn bad(path: &Path, e: &serde_json::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit() -> ExitRecord {
        ExitRecord {
            version: MONITOR_VERSION,
            pid: 42,
            code: Some(3),
            signal: None,
            not_started: None,
            ended_at: "2026-12-05T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn reads_what_it_wrote_and_none_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        assert_eq!(read::<ExitRecord>(&path).unwrap(), None);
        exit().write(&path).unwrap();
        assert_eq!(
            read::<ExitRecord>(&path).unwrap(),
            Some(Read::Known(exit()))
        );
    }

    /// An older file (fewer fields, as version 1 is) reads; a newer one is
    /// told apart, whatever its fields, and a file without a version is an
    /// error that names it.
    #[test]
    fn versions_it_does_not_know_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.json");
        std::fs::write(
            &path,
            r#"{"version": 1, "monitor_pid": 7, "pid": 8, "started_at": "2026-12-05T10:00:00.000Z", "sweepd": "0.1.0"}"#,
        )
        .unwrap();
        let Some(Read::Known(record)) = read::<MonitorRecord>(&path).unwrap() else {
            panic!("version 1 is known");
        };
        assert!(record.gpus.is_empty());
        std::fs::write(&path, r#"{"version": 2, "something": "else"}"#).unwrap();
        assert_eq!(read::<MonitorRecord>(&path).unwrap(), Some(Read::Newer(2)));
        std::fs::write(&path, r#"{"pid": 8}"#).unwrap();
        let e = read::<MonitorRecord>(&path).unwrap_err();
        assert!(e.to_string().contains("monitor.json"), "{e}");
    }
}
