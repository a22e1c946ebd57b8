//! One run's folder: its parameters, summary, metrics and output.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::atomic;
use super::records::RunSummary;
use super::sweep_dir::read_json;
use crate::search::ParamSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `{name: value}`, nested groups as objects: what the run was given.
    pub fn params_file(&self) -> PathBuf {
        self.root.join("params.json")
    }

    /// W&B's form of the same, `{name: {value: v}}` in YAML, for
    /// `SWEEP_PARAM_PATH` / `WANDB_SWEEP_PARAM_PATH`.
    pub fn wandb_params_file(&self) -> PathBuf {
        self.root.join("params.wandb.yaml")
    }

    pub fn summary_file(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// The metric records, one JSON object per line, read from stdout.
    pub fn metrics_file(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// Everything the run printed on stdout, as printed (the run writes it itself).
    pub fn stdout_file(&self) -> PathBuf {
        self.root.join("stdout.log")
    }

    pub fn stderr_file(&self) -> PathBuf {
        self.root.join("stderr.log")
    }

    /// The run's monitor and its trainer (see [`super::monitor`]).
    pub fn monitor_file(&self) -> PathBuf {
        self.root.join("monitor.json")
    }

    /// How the trainer ended, written by its monitor.
    pub fn exit_file(&self) -> PathBuf {
        self.root.join("exit.json")
    }

    /// The trainer's stdin: a named pipe its monitor holds open, so that
    /// whichever sweepd runs can write the protocol's messages to it.
    pub fn stdin_pipe(&self) -> PathBuf {
        self.root.join("stdin")
    }

    /// Create the folder with the run's parameters and first summary.
    pub fn create(&self, params: &ParamSet, summary: &RunSummary) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        atomic::write_json(&self.params_file(), params)?;
        let wandb: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({ "value": v })))
            .collect();
        let yaml = serde_yaml::to_string(&wandb).map_err(io::Error::other)?;
        atomic::write(&self.wandb_params_file(), yaml.as_bytes())?;
        self.write_summary(summary)?;
        if let Some(parent) = self.root.parent() {
            atomic::sync_dir(parent)?;
        }
        Ok(())
    }

    pub fn read_params(&self) -> io::Result<ParamSet> {
        let bytes = fs::read(self.params_file())?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    pub fn read_summary(&self) -> io::Result<RunSummary> {
        read_json(&self.summary_file())
    }

    pub fn write_summary(&self, summary: &RunSummary) -> io::Result<()> {
        atomic::write_json(&self.summary_file(), summary)
    }

    /// Every record of `metrics.jsonl`, in order.
    pub fn read_metrics(&self) -> io::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        atomic::read_json_lines(&self.metrics_file())
    }

    /// The finite values of metric `name` in `metrics.jsonl`, in order.
    pub fn metric_values(&self, name: &str) -> io::Result<Vec<f64>> {
        Ok(metric_values(&self.read_metrics()?, name))
    }
}

/// The finite values of metric `name` in metric records, in order.
pub fn metric_values(
    records: &[serde_json::Map<String, serde_json::Value>],
    name: &str,
) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| r.get(name).and_then(serde_json::Value::as_f64))
        .filter(|v| v.is_finite())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_kept_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("0001"));
        let params = json!({"lr": 1e-5, "opt": {"name": "adam"}})
            .as_object()
            .unwrap()
            .clone();
        let summary = RunSummary::queued(1, 1, 1);
        run.create(&params, &summary).unwrap();
        assert_eq!(run.read_params().unwrap(), params);
        assert_eq!(run.read_summary().unwrap(), summary);
        let wandb: serde_yaml::Value =
            serde_yaml::from_str(&fs::read_to_string(run.wandb_params_file()).unwrap()).unwrap();
        assert_eq!(wandb["lr"]["value"].as_f64(), Some(1e-5));
        assert_eq!(wandb["opt"]["value"]["name"].as_str(), Some("adam"));
    }
}
