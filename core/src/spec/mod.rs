//! Sweep files: W&B's sweep configuration as W&B's engine 0.3.0 reads it, plus
//! our `sweepd:` block, checked into a [`SweepSpec`] with every problem
//! reported at once, each with its line, column and key path.
//!
//! Pure: no I/O beyond reading the file in [`check_file`], no async.

mod checker;
mod command;
mod depth;
mod diagnostic;
mod document;
mod early_terminate;
mod expr;
mod gpus;
mod locations;
mod metric;
mod number;
mod objectives;
mod options;
mod parameter;
mod render;
mod slurm;
mod structure;
mod suggest;
mod sweep;
mod yaml11;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use command::{Command, DEFAULT_COMMAND, MACROS};
pub use depth::MAX_DEPTH;
pub use diagnostic::{Diagnostic, Diagnostics, KeyPath, Position, Segment, Severity};
pub use document::{Format, is_syntax_error};
pub use early_terminate::{BandSpec, Hyperband};
pub use expr::{Expr, Op, Val, eval as expr_eval, holds};
pub use gpus::{GpuShare, MAX_PER_GPU};
pub use metric::{Goal, Impute, Metric};
pub use number::Num;
pub use objectives::{Objective, OutcomeConstraint};
pub use options::{SweepdOptions, WandbMode, WarmStart};
pub use parameter::{
    Distribution, GridAxis, Kind, MAX_FLOAT_STEPS, NotListable, Parameter, Parameters,
};
pub use render::render;
pub use slurm::{Executor, SlurmOptions};
pub use structure::{Condition, Constraint, Named, named, resolve};
pub use sweep::{Method, SweepSpec, TOP_LEVEL_KEYS};

/// The outcome of checking one sweep file: the spec when there is no error,
/// and every problem found (warnings included), in file order.
#[derive(Debug, Clone)]
pub struct Validation {
    pub spec: Option<SweepSpec>,
    pub diagnostics: Diagnostics,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.spec.is_some()
    }
}

/// The most problems listed for one file.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Check the text of a sweep file.
pub fn check(text: &str, format: Format) -> Validation {
    let (root, mut diagnostics) = match document::parse(text, format) {
        Ok(parsed) => parsed,
        Err(diagnostics) => {
            return Validation {
                spec: None,
                diagnostics,
            };
        }
    };
    let mut checker = checker::Checker::default();
    let spec = sweep::check_sweep(&mut checker, &root);
    for d in checker.diagnostics {
        diagnostics.push(d);
    }
    diagnostics.sort();
    diagnostics.cap(MAX_DIAGNOSTICS);
    let spec = if diagnostics.has_errors() { None } else { spec };
    Validation { spec, diagnostics }
}

/// The largest a sweep file may be: 1 MiB, a few hundred times what one needs.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Check raw bytes: sweep files must be UTF-8, and at most [`MAX_FILE_BYTES`].
pub fn check_bytes(bytes: &[u8], format: Format) -> Validation {
    if bytes.len() > MAX_FILE_BYTES {
        let mut diagnostics = Diagnostics::default();
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            path: KeyPath::root(),
            position: None,
            message: format!(
                "the file is larger than a sweep file may be: at most {MAX_FILE_BYTES} bytes (1 MiB)"
            ),
            help: Some("a sweep file is a few kilobytes: is this the right file?".into()),
        });
        return Validation {
            spec: None,
            diagnostics,
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => check(text, format),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            // The valid prefix is UTF-8: count the characters of its last line.
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column =
                std::str::from_utf8(&valid[line_start..]).map_or(1, |t| t.chars().count() + 1);
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                path: KeyPath::root(),
                position: Some(Position { line, column }),
                message: "the file is not UTF-8 text".into(),
                help: Some("save it as UTF-8".into()),
            });
            Validation {
                spec: None,
                diagnostics,
            }
        }
    }
}

/// Read a sweep file, but no more than a sweep file may hold (and a byte
/// more, to tell that it is too large): a huge file, or `/dev/zero`, is
/// refused without being read whole.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Read and check a sweep file; `.json` files are JSON, others YAML.
pub fn check_file(path: &Path) -> Result<Validation, SpecError> {
    let bytes = read_file(path).map_err(|source| SpecError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(check_bytes(&bytes, Format::from_path(path)))
}

/// Read a sweep file into a spec, or fail with every problem found.
/// On success the warnings come along.
pub fn load(path: &Path) -> Result<(SweepSpec, Diagnostics), SpecError> {
    let validation = check_file(path)?;
    match validation.spec {
        Some(spec) => Ok((spec, validation.diagnostics)),
        None => Err(SpecError::Invalid {
            path: path.to_owned(),
            diagnostics: validation.diagnostics,
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", InvalidDisplay { path, diagnostics })]
    Invalid {
        path: PathBuf,
        diagnostics: Diagnostics,
    },
}

struct InvalidDisplay<'a> {
    path: &'a Path,
    diagnostics: &'a Diagnostics,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.path.display().to_string();
        let errors = self.diagnostics.errors().count();
        write!(
            f,
            "{file} is not a valid sweep ({errors} error{}):",
            if errors == 1 { "" } else { "s" }
        )?;
        for d in self.diagnostics.iter() {
            write!(f, "\n{}", d.display_in(&file))?;
        }
        Ok(())
    }
}
