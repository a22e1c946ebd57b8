//! `seeds.jsonl`: finished runs from elsewhere that inform a sweep's search
//! without being its runs (docs/continuing.md): an earlier sweep's runs
//! (`sweepd.warm_start`) and imported history (`sweepctl import`). One JSON
//! object per line; the file is only ever replaced whole, so a seed is in
//! it or not, never half.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{SweepDir, atomic};
use crate::search::ParamSet;

/// One finished run that seeds the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    pub params: ParamSet,
    /// The sweep metric's value the run reached (its best by the goal).
    pub value: f64,
    /// Where it came from: `SWEEP/N` for an earlier sweep's run, or
    /// `FILE:LINE` for an imported one.
    pub from: String,
    /// Imported with `sweepctl import` (shown as such), rather than taken
    /// from an earlier sweep at acceptance.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

impl SweepDir {
    pub fn seeds_file(&self) -> PathBuf {
        self.root().join("seeds.jsonl")
    }

    /// The sweep's seeds (none when it has no file).
    pub fn read_seeds(&self) -> io::Result<Vec<Seed>> {
        atomic::read_json_lines(&self.seeds_file())
    }

    /// Replace the seeds with `seeds`, whole.
    pub fn write_seeds(&self, seeds: &[Seed]) -> io::Result<()> {
        let mut text = String::new();
        for seed in seeds {
            text.push_str(&serde_json::to_string(seed).map_err(io::Error::other)?);
            text.push('\n');
        }
        atomic::write(&self.seeds_file(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seeds_are_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = SweepDir::new(dir.path().to_path_buf());
        assert!(sweep.read_seeds().unwrap().is_empty());
        let seeds = vec![
            Seed {
                params: json!({"lr": 0.1, "model": {"depth": 3}})
                    .as_object()
                    .unwrap()
                    .clone(),
                value: 0.25,
                from: "20261205-101010-a-abcd/3".into(),
                imported: false,
            },
            Seed {
                params: json!({"lr": 0.01}).as_object().unwrap().clone(),
                value: -1.5,
                from: "runs.csv:4".into(),
                imported: true,
            },
        ];
        sweep.write_seeds(&seeds).unwrap();
        assert_eq!(sweep.read_seeds().unwrap(), seeds);
        let text = std::fs::read_to_string(sweep.seeds_file()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.lines().next().unwrap().contains("imported"));
    }
}
