//! Claiming an inbox file: a rename into the spool (or a refusal, for a
//! name that cannot be claimed), and the claimed files a dead daemon left.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{MAX_NAME_BYTES, sidecar_name};
use crate::store::Home;
use crate::store::inbox::SIDECAR_SUFFIX;

/// What claiming an inbox file came to.
#[derive(Debug)]
pub(super) enum Claim {
    /// It is in the spool, at this path.
    Claimed(PathBuf),
    /// It cannot be taken, for these reasons: it is to be rejected as it is.
    Refused(String),
    /// It is gone (moved away or deleted), or cannot be moved now.
    Gone,
}

/// Move the file (and its submit sidecar) into the spool.
pub(super) fn claim(home: &Home, path: &Path, name: &str) -> Claim {
    match path.file_name().and_then(|n| n.to_str()) {
        None => {
            return Claim::Refused(format!(
                "{name}: error: the file name is not UTF-8 text\n  \
                 help: rename it (sweep files end in .yaml, .yml or .json) and drop it in again\n"
            ));
        }
        Some(utf8) if utf8.len() > MAX_NAME_BYTES => return Claim::Refused(too_long(name)),
        Some(_) => {}
    }
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let claimed = home.spool().join(format!("{stamp}-{name}"));
    match fs::rename(path, &claimed) {
        Ok(()) => {}
        // A filesystem with shorter names than most.
        Err(e) if e.kind() == io::ErrorKind::InvalidFilename => {
            return Claim::Refused(too_long(name));
        }
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::error!(file = %path.display(), error = %e, "cannot claim an inbox file");
            }
            return Claim::Gone;
        }
    }
    let sidecar = home.inbox().join(sidecar_name(name));
    if sidecar.exists() {
        let _ = fs::rename(
            &sidecar,
            claimed.with_file_name(format!("{stamp}-{name}{SIDECAR_SUFFIX}")),
        );
    }
    Claim::Claimed(claimed)
}

pub(super) fn too_long(name: &str) -> String {
    format!(
        "{name}: error: the file name is {} bytes long; sweepd takes names of at most \
         {MAX_NAME_BYTES} bytes (it adds to a name as it files the file)\n  \
         help: give it a shorter name and drop it in again\n  \
         original name: {name}\n",
        name.len()
    )
}

/// Files left in the spool by a crash, with their inbox names.
pub(super) fn spooled(home: &Home) -> Vec<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = fs::read_dir(home.spool())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file_name = e.file_name().into_string().ok()?;
            if file_name.ends_with(SIDECAR_SUFFIX) {
                return None;
            }
            let (_, name) = file_name.split_once('-')?;
            Some((e.path(), name.to_owned()))
        })
        .collect();
    found.sort();
    found
}

/// The spool names of files already filed as sweeps.
pub(super) fn claimed_names(home: &Home) -> std::collections::HashSet<String> {
    fs::read_dir(home.sweeps())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            crate::store::SweepDir::new(e.path())
                .read_source()
                .ok()?
                .claimed_as
        })
        .collect()
}

/// Where a claimed file's submit sidecar is moved to.
pub(super) fn sidecar_of(claimed: &Path) -> PathBuf {
    let name = claimed
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    claimed.with_file_name(format!("{name}{SIDECAR_SUFFIX}"))
}
