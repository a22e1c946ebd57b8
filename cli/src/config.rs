//! `sweepctl config`: the daemon's settings and where each came from (the
//! built-in default, the configuration file, or sweepd's command line): the
//! running daemon's (its `settings.json`), else what it would use.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use sweepd::settings::{self, Origin, Report, Settings};
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::daemon_file;
use crate::table::write_rows;

pub fn run(home: &Home, json: bool) -> Result<Outcome> {
    let running: Option<Report> = daemon_file(home, &home.settings_file());
    let (report, whose) = match running {
        Some(report) => {
            let whose = format!(
                "sweepd (pid {}) on {} uses",
                report.pid,
                home.root().display()
            );
            (report, whose)
        }
        None => {
            let (file, required) = match std::env::var_os("SWEEPD_CONFIG") {
                Some(path) => (Some(PathBuf::from(path)), true),
                None => (settings::default_path(), false),
            };
            let settings = Settings::load(file.as_deref(), required)?;
            let report = settings.report(0);
            let whose = "sweepd is not running; started now without flags, it would use".to_owned();
            (report, whose)
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(Outcome::Ok);
    }
    writeln!(out, "{whose}:")?;
    let header = ["setting", "value", "from"].map(String::from);
    let rows: Vec<Vec<String>> = report
        .settings
        .iter()
        .map(|s| {
            let from = match s.from {
                Origin::Default => "default".to_owned(),
                Origin::File => "config file".to_owned(),
                Origin::Flag => "command line".to_owned(),
            };
            vec![s.name.clone(), s.value.clone(), from]
        })
        .collect();
    write_rows(&mut out, &header, &rows)?;
    match &report.file {
        Some(file) => writeln!(out, "config file: {}", file.display())?,
        None => writeln!(
            out,
            "config file: none ({} does not exist)",
            settings::default_path().map_or_else(
                || "~/.config/sweepd/config.toml".into(),
                |p| p.display().to_string()
            )
        )?,
    }
    Ok(Outcome::Ok)
}
