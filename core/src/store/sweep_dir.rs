//! One sweep's folder: its file, its state, its events, its runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Seed;
use super::atomic;
use super::ids::RunId;
use super::records::{Event, EventKind, RECORD_VERSION, Source, SweepRecord, now};
use super::run_dir::RunDir;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepDir {
    root: PathBuf,
}

impl SweepDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sweep file, byte for byte as submitted (`sweep.yaml` or `sweep.json`).
    pub fn sweep_file(&self) -> PathBuf {
        let json = self.root.join("sweep.json");
        if json.exists() {
            json
        } else {
            self.root.join("sweep.yaml")
        }
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn source_file(&self) -> PathBuf {
        self.root.join("source.json")
    }

    pub fn events_file(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run(&self, run: u32) -> RunDir {
        RunDir::new(self.runs().join(RunId::folder(run)))
    }

    /// Create the folder with everything an accepted sweep starts with, all at
    /// once: built under a temporary name, then renamed into place, so a
    /// crash leaves either no sweep or a whole one.
    pub fn create(
        &self,
        file_bytes: &[u8],
        json: bool,
        source: &Source,
        record: &SweepRecord,
        seeds: &[Seed],
    ) -> io::Result<()> {
        let parent = self
            .root
            .parent()
            .ok_or_else(|| io::Error::other("a sweep folder has a parent"))?;
        let name = self
            .root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("sweep");
        let staging = SweepDir::new(parent.join(format!(".tmp-{name}")));
        if staging.root.exists() {
            fs::remove_dir_all(&staging.root)?;
        }
        fs::create_dir_all(staging.runs())?;
        atomic::write(
            &staging
                .root
                .join(if json { "sweep.json" } else { "sweep.yaml" }),
            file_bytes,
        )?;
        atomic::write_json(&staging.source_file(), source)?;
        atomic::write_json(&staging.state_file(), record)?;
        let accepted = Event {
            time: record.created_at.clone(),
            what: EventKind::Accepted {
                original_name: source.original_name.clone(),
                via: source.via,
            },
        };
        staging.append_event_at(&accepted)?;
        if !seeds.is_empty() {
            staging.write_seeds(seeds)?;
        }
        fs::rename(&staging.root, &self.root)?;
        atomic::sync_dir(parent)
    }

    pub fn read_state(&self) -> io::Result<SweepRecord> {
        read_json(&self.state_file())
    }

    pub fn write_state(&self, record: &SweepRecord) -> io::Result<()> {
        atomic::write_json(&self.state_file(), record)
    }

    pub fn read_source(&self) -> io::Result<Source> {
        read_json(&self.source_file())
    }

    /// Append an event, stamped now, durably.
    pub fn append_event(&self, what: EventKind) -> io::Result<()> {
        self.append_event_at(&Event { time: now(), what })
    }

    fn append_event_at(&self, event: &Event) -> io::Result<()> {
        let line = serde_json::to_string(event).map_err(io::Error::other)?;
        atomic::append_line(&self.events_file(), &line, true)
    }

    pub fn events(&self) -> io::Result<Vec<Event>> {
        atomic::read_json_lines(&self.events_file())
    }

    /// The run numbers present, ascending. Folders that are not run numbers
    /// (a half-made `.tmp-...`) are left out.
    pub fn run_numbers(&self) -> io::Result<Vec<u32>> {
        let mut runs = Vec::new();
        for entry in fs::read_dir(self.runs())? {
            let name = entry?.file_name();
            if let Some(n) = name.to_str().and_then(|n| n.parse::<u32>().ok()) {
                runs.push(n);
            }
        }
        runs.sort_unstable();
        Ok(runs)
    }
}

/// Read a JSON record, refusing versions this build does not know.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<T> {
    let bytes = fs::read(path)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(u64::from(RECORD_VERSION)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: record version {version:?}, this sweepd reads {RECORD_VERSION}",
                path.display()
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::Via;

    fn record() -> SweepRecord {
        SweepRecord::new("20261128-153012-x-aaaa".into(), 7)
    }

    fn source() -> Source {
        Source {
            version: RECORD_VERSION,
            original_name: "x.yaml".into(),
            via: Via::Inbox,
            submitted_from: None,
            received_at: now(),
            bytes: 5,
            claimed_as: None,
        }
    }

    #[test]
    fn a_created_sweep_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = SweepDir::new(dir.path().join("20261128-153012-x-aaaa"));
        sweep
            .create(b"a: 1\n", false, &source(), &record(), &[])
            .unwrap();
        assert_eq!(fs::read(sweep.sweep_file()).unwrap(), b"a: 1\n");
        assert_eq!(sweep.read_state().unwrap(), record_with_times(&sweep));
        assert_eq!(sweep.read_source().unwrap().original_name, "x.yaml");
        let events = sweep.events().unwrap();
        assert!(matches!(events[0].what, EventKind::Accepted { .. }));
        assert_eq!(sweep.run_numbers().unwrap(), Vec::<u32>::new());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no staging folder left: {leftovers:?}");
    }

    fn record_with_times(sweep: &SweepDir) -> SweepRecord {
        let on_disk = sweep.read_state().unwrap();
        SweepRecord {
            created_at: on_disk.created_at.clone(),
            updated_at: on_disk.updated_at.clone(),
            ..record()
        }
    }

    #[test]
    fn records_of_another_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = SweepDir::new(dir.path().join("s"));
        sweep
            .create(b"{}", true, &source(), &record(), &[])
            .unwrap();
        assert!(sweep.sweep_file().ends_with("sweep.json"));
        let text = fs::read_to_string(sweep.state_file())
            .unwrap()
            .replace("\"version\": 1", "\"version\": 9");
        fs::write(sweep.state_file(), text).unwrap();
        let error = sweep.read_state().unwrap_err().to_string();
        assert!(error.contains("record version Some(9)"), "{error}");
    }
}
