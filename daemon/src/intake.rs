//! Taking in a sweep file: checked as `sweepctl validate` checks it (plus
//! what the daemon needs to run it), then either filed as a new sweep folder
//! or moved to `rejected/` with its reasons written beside it first, so that
//! no file is ever lost and no rejection is ever without a reason.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::spec::{self, Format, SweepSpec};
use crate::store::{
    Home, RECORD_VERSION, Source, SweepId, SweepRecord, SweepState, Via, atomic, now,
};

/// Sweep files larger than this are refused unread.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Where a file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The name it was given by the user.
    pub name: String,
    pub via: Via,
    /// The directory `sweepctl submit` ran in.
    pub submitted_from: Option<PathBuf>,
}

/// What became of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted {
        id: SweepId,
        warnings: String,
    },
    /// The reasons, as `sweepctl validate` prints them.
    Rejected {
        reasons: String,
    },
}

/// Check the claimed file at `claimed` and file it. The claimed file is gone
/// afterwards (moved to `rejected/`, or copied into its sweep folder).
pub fn file(home: &Home, claimed: &Path, submission: &Submission) -> io::Result<Verdict> {
    match check(claimed, &submission.name) {
        Ok((bytes, spec, warnings)) => {
            let claimed_as = claimed.file_name().and_then(|n| n.to_str());
            let id = accept(home, &bytes, &spec, submission, claimed_as)?;
            fs::remove_file(claimed)?;
            Ok(Verdict::Accepted { id, warnings })
        }
        Err(reasons) => {
            reject(home, claimed, &submission.name, &reasons)?;
            Ok(Verdict::Rejected { reasons })
        }
    }
}

/// The file's bytes and checked spec, with its warnings rendered; or why not.
fn check(path: &Path, name: &str) -> Result<(Vec<u8>, SweepSpec, String), String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{name}: cannot read it: {e}\n"))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{name}: is a symbolic link: put the file itself in the inbox\n"
        ));
    }
    if !meta.is_file() {
        return Err(format!("{name}: is not a regular file\n"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{name}: is {} bytes; a sweep file is at most {MAX_FILE_BYTES} bytes\n",
            meta.len()
        ));
    }
    if meta.len() == 0 {
        return Err(format!("{name}: is empty\n"));
    }
    let Some(format) = format_of(name) else {
        return Err(format!(
            "{name}: is not a sweep file: sweep files end in .yaml, .yml or .json\n"
        ));
    };
    let bytes = fs::read(path).map_err(|e| format!("{name}: cannot read it: {e}\n"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let validation = spec::check_bytes(&bytes, format);
    let rendered: Vec<String> = validation
        .diagnostics
        .iter()
        .map(|d| spec::render(name, &text, d))
        .collect();
    let Some(spec) = validation.spec else {
        return Err(rendered.join("\n") + "\n");
    };
    let warnings = if rendered.is_empty() {
        String::new()
    } else {
        rendered.join("\n") + "\n"
    };
    if spec.program.is_none() && spec.command.is_none() {
        return Err(format!(
            "{name}: error: the sweep has neither `program` nor `command`, so there is nothing to run\n  \
             help: add `program: train.py`, or a `command` list\n"
        ));
    }
    Ok((bytes, spec, warnings))
}

/// `.json` is JSON, `.yaml`/`.yml` YAML, anything else no sweep file.
pub fn format_of(name: &str) -> Option<Format> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "yaml" | "yml" => Some(Format::Yaml),
        "json" => Some(Format::Json),
        _ => None,
    }
}

fn accept(
    home: &Home,
    bytes: &[u8],
    spec: &SweepSpec,
    submission: &Submission,
    claimed_as: Option<&str>,
) -> io::Result<SweepId> {
    let stem = Path::new(&submission.name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("sweep");
    let name = spec.name.as_deref().unwrap_or(stem);
    let seed = spec.sweepd.seed.unwrap_or_else(|| random_u64() >> 1);
    let mut random = random_u64() as u32;
    let id = loop {
        let id = SweepId::new(name, SystemTime::now(), random);
        if !home.sweep(&id).root().exists() {
            break id;
        }
        random = random.wrapping_add(0x9e37_79b9);
    };
    let created = now();
    let record = SweepRecord {
        version: RECORD_VERSION,
        id: id.to_string(),
        state: SweepState::Running,
        reason: None,
        seed,
        created_at: created.clone(),
        updated_at: created.clone(),
        waiting: None,
        executor_problem: None,
    };
    let source = Source {
        version: RECORD_VERSION,
        original_name: submission.name.clone(),
        via: submission.via,
        submitted_from: submission.submitted_from.clone(),
        received_at: created,
        bytes: bytes.len() as u64,
        claimed_as: claimed_as.map(str::to_owned),
    };
    let json = format_of(&submission.name) == Some(Format::Json);
    home.sweep(&id).create(bytes, json, &source, &record)?;
    Ok(id)
}

/// Move a refused file to `rejected/`, its reasons written first.
pub fn reject(home: &Home, claimed: &Path, name: &str, reasons: &str) -> io::Result<()> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    // Only the last component of a user's name, and never a dotfile.
    let safe: String = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .trim_start_matches('.')
        .to_owned();
    let rejected = home.rejected();
    let mut base = format!("{stamp}-{safe}");
    let mut n = 1;
    while rejected.join(&base).exists() || rejected.join(format!("{base}.error.txt")).exists() {
        n += 1;
        base = format!("{stamp}-{n}-{safe}");
    }
    atomic::write(
        &rejected.join(format!("{base}.error.txt")),
        reasons.as_bytes(),
    )?;
    fs::rename(claimed, rejected.join(&base))?;
    atomic::sync_dir(&rejected)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        (dir, home)
    }

    fn submit(home: &Home, name: &str, bytes: &[u8]) -> Verdict {
        let claimed = home.spool().join(format!("x-{name}"));
        fs::write(&claimed, bytes).unwrap();
        let verdict = file(
            home,
            &claimed,
            &Submission {
                name: name.into(),
                via: Via::Inbox,
                submitted_from: None,
            },
        )
        .unwrap();
        assert!(
            !claimed.exists(),
            "the claimed file is filed, not left in the spool"
        );
        verdict
    }

    #[test]
    fn a_valid_file_becomes_a_sweep_folder_byte_for_byte() {
        let (_d, home) = home();
        let text = b"# my sweep\nmethod: grid\nprogram: train.py\nparameters: {a: {values: [1, 2]}}\nsweepd: {seed: 5}\n";
        let Verdict::Accepted { id, warnings } = submit(&home, "mnist.yaml", text) else {
            panic!("rejected")
        };
        assert!(id.as_str().ends_with(&id.as_str()[id.as_str().len() - 4..]));
        assert!(id.as_str().contains("-mnist-"), "{id}");
        assert_eq!(warnings, "");
        let sweep = home.sweep(&id);
        assert_eq!(fs::read(sweep.sweep_file()).unwrap(), text);
        assert_eq!(sweep.read_state().unwrap().seed, 5);
        assert_eq!(sweep.read_source().unwrap().original_name, "mnist.yaml");
    }

    #[test]
    fn an_invalid_file_is_rejected_with_the_validate_messages_beside_it() {
        let (_d, home) = home();
        let verdict = submit(
            &home,
            "bad.yaml",
            b"method: grd\nprogram: p\nparameters: {a: {value: 1}}\n",
        );
        let Verdict::Rejected { reasons } = verdict else {
            panic!("accepted")
        };
        assert!(
            reasons.starts_with(
                "bad.yaml:1:9: error: method: `grd` is not one of grid, random, bayes"
            ),
            "{reasons}"
        );
        let mut names: Vec<String> = fs::read_dir(home.rejected())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2);
        assert!(
            names[0].ends_with("-bad.yaml") && names[1].ends_with("-bad.yaml.error.txt"),
            "{names:?}"
        );
        assert_eq!(
            fs::read_to_string(home.rejected().join(&names[1])).unwrap(),
            reasons
        );
    }

    #[test]
    fn what_the_daemon_cannot_run_is_rejected_too() {
        let (_d, home) = home();
        for (name, text, why) in [
            (
                "none.yaml",
                "method: grid\nparameters: {a: {value: 1}}\n",
                "nothing to run",
            ),
            ("notes.txt", "method: grid\n", "not a sweep file"),
            ("empty.yaml", "", "is empty"),
        ] {
            let Verdict::Rejected { reasons } = submit(&home, name, text.as_bytes()) else {
                panic!("{name} accepted")
            };
            assert!(reasons.contains(why), "{name}: {reasons}");
        }
        let big = vec![b'#'; MAX_FILE_BYTES as usize + 1];
        let Verdict::Rejected { reasons } = submit(&home, "big.yaml", &big) else {
            panic!("accepted")
        };
        assert!(reasons.contains("at most 1048576 bytes"), "{reasons}");
    }
}
