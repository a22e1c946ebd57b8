//! `sweepctl validate FILE...`

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sweepd_core::spec::{self, Format, Validation};

use crate::Outcome;

pub fn run(files: &[PathBuf], json: bool) -> Result<Outcome> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut invalid = 0;
    let mut unreadable = Vec::new();
    for path in files {
        let name = path.display().to_string();
        // At most a sweep file's limit (and a byte more): a huge file is
        // refused without being read whole.
        let bytes = match spec::read_file(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                if json {
                    let line = json!({"file": name, "valid": false, "io_error": error.to_string()});
                    writeln!(out, "{line}")?;
                } else {
                    eprintln!(
                        "sweepctl: cannot read {}: {error}",
                        crate::terminal::escape(&name)
                    );
                }
                unreadable.push(name);
                continue;
            }
        };
        let validation = spec::check_bytes(&bytes, Format::from_path(path));
        if !validation.is_valid() {
            invalid += 1;
        }
        if json {
            writeln!(out, "{}", json_report(&name, &validation))?;
        } else {
            let text = String::from_utf8_lossy(&bytes);
            let report = human_report(&name, &text, &validation);
            write!(out, "{}", crate::terminal::escape_report(&report))?;
        }
    }
    out.flush().context("cannot write to standard output")?;
    if !unreadable.is_empty() {
        bail!(
            "{} file(s) could not be read: {}",
            unreadable.len(),
            unreadable.join(", ")
        );
    }
    Ok(if invalid > 0 {
        Outcome::Invalid
    } else {
        Outcome::Ok
    })
}

fn json_report(name: &str, validation: &Validation) -> serde_json::Value {
    let diagnostics: Vec<_> = validation.diagnostics.iter().collect();
    json!({
        "file": name,
        "valid": validation.is_valid(),
        "method": validation.spec.as_ref().map(|s| s.method.name()),
        "errors": validation.diagnostics.errors().count(),
        "warnings": validation.diagnostics.warnings().count(),
        "diagnostics": diagnostics,
    })
}

fn human_report(name: &str, text: &str, validation: &Validation) -> String {
    let mut out = String::new();
    for d in validation.diagnostics.iter() {
        out.push_str(&sweepd_core::spec::render(name, text, d));
        out.push('\n');
    }
    let errors = validation.diagnostics.errors().count();
    let warnings = validation.diagnostics.warnings().count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match &validation.spec {
        Some(spec) => {
            let parameters = spec.parameters.leaves().len();
            out.push_str(&format!(
                "{name}: valid {} sweep, {}",
                spec.method.name(),
                plural(parameters, "parameter")
            ));
            if warnings > 0 {
                out.push_str(&format!(", {}", plural(warnings, "warning")));
            }
        }
        None => out.push_str(&format!(
            "{name}: invalid: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        )),
    }
    out.push('\n');
    out
}
