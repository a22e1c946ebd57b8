//! Taking in a sweep file: checked as `sweepctl validate` checks it (plus
//! what the daemon needs to run it), then either filed as a new sweep folder
//! or moved to `rejected/` with its reasons written beside it first, so that
//! no file is ever lost and no rejection is ever without a reason.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::spec::{self, Format, SweepSpec};
use crate::store::{EventKind, Home, RECORD_VERSION, Source, SweepId, SweepRecord, Via, atomic};
use crate::sweep::warm_start;

/// Sweep files larger than this are refused unread.
pub const MAX_FILE_BYTES: u64 = spec::MAX_FILE_BYTES as u64;

/// How much of a user's file name is kept in `rejected/`: the rest of a
/// longer name is cut (its extension kept), so that every name fits.
const KEPT_NAME_BYTES: usize = 100;

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

/// A file that passed its check.
#[derive(Debug)]
pub struct Checked {
    bytes: Vec<u8>,
    spec: SweepSpec,
    /// Rendered as `sweepctl validate` renders them.
    warnings: String,
}

/// Check the claimed file at `claimed` and file it. The claimed file is gone
/// afterwards (moved to `rejected/`, or copied into its sweep folder). (The
/// watcher checks off its loop and calls `file_checked`.)
#[cfg(test)]
pub fn file(home: &Home, claimed: &Path, submission: &Submission) -> io::Result<Verdict> {
    let checked = check(claimed, &submission.name);
    file_checked(home, claimed, submission, checked)
}

/// File a claimed file as [`check`] found it: a new sweep, or rejected with
/// the reasons. The slow part, the check, is apart, so that the daemon can
/// bound the time it takes.
pub fn file_checked(
    home: &Home,
    claimed: &Path,
    submission: &Submission,
    checked: Result<Checked, String>,
) -> io::Result<Verdict> {
    match checked {
        Ok(Checked {
            bytes,
            spec,
            warnings,
        }) => {
            // The earlier sweeps a warm start names are read now, once:
            // their runs are copied in as seeds.
            let base = submission.submitted_from.as_deref();
            let gathered = match warm_start::gather(home, &spec, base) {
                Ok(gathered) => gathered,
                Err(why) => {
                    let reasons = format!("{}: error: {why}\n", submission.name);
                    reject(home, claimed, &submission.name, &reasons)?;
                    return Ok(Verdict::Rejected { reasons });
                }
            };
            let claimed_as = claimed.file_name().and_then(|n| n.to_str());
            let id = accept(home, &bytes, &spec, submission, claimed_as, &gathered)?;
            fs::remove_file(claimed)?;
            Ok(Verdict::Accepted { id, warnings })
        }
        Err(reasons) => {
            reject(home, claimed, &submission.name, &reasons)?;
            Ok(Verdict::Rejected { reasons })
        }
    }
}

/// Read and check the file at `path` (named `name` by its user); or why not.
/// Pure but for reading the file: it may run on any thread.
pub fn check(path: &Path, name: &str) -> Result<Checked, String> {
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
    let bytes = spec::read_file(path).map_err(|e| format!("{name}: cannot read it: {e}\n"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let validation = spec::check_bytes(&bytes, format);
    let rendered: Vec<String> = validation
        .diagnostics
        .iter()
        .map(|d| spec::render(name, &text, d))
        .collect();
    let Some(spec) = validation.spec else {
        let mut reasons = rendered.join("\n") + "\n";
        if validation.diagnostics.iter().any(spec::is_syntax_error) {
            reasons.push_str(&taken_too_early(name));
        }
        return Err(reasons);
    };
    let warnings = if rendered.is_empty() {
        String::new()
    } else {
        rendered.join("\n") + "\n"
    };
    Ok(Checked {
        bytes,
        spec,
        warnings,
    })
}

/// What a file that does not read as YAML or JSON may be: one taken while
/// its writer was still writing it (a pause longer than the settle time, with
/// the file still open, looks like a finished file).
fn taken_too_early(name: &str) -> String {
    format!(
        "{name}: note: if this file was still being written when sweepd took it, it was cut off \
         (the copy here may hold more than sweepd read)\n  \
         help: write a sweep file elsewhere on the same filesystem and `mv` it into the inbox, \
         or use `sweepctl submit FILE`: either way sweepd only ever sees the whole file\n"
    )
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
    gathered: &warm_start::Gathered,
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
    let record = SweepRecord::new(id.to_string(), seed);
    let source = Source {
        version: RECORD_VERSION,
        original_name: submission.name.clone(),
        via: submission.via,
        submitted_from: submission.submitted_from.clone(),
        received_at: record.created_at.clone(),
        bytes: bytes.len() as u64,
        claimed_as: claimed_as.map(str::to_owned),
    };
    let json = format_of(&submission.name) == Some(Format::Json);
    let dir = home.sweep(&id);
    dir.create(bytes, json, &source, &record, &gathered.seeds)?;
    if !spec.sweepd.warm_start.is_empty() {
        tracing::info!(sweep = %id, "{}", warm_start::describe(gathered));
        dir.append_event(EventKind::Seeded {
            added: gathered.seeds.len(),
            from: gathered.from.clone(),
            left_out: gathered.left_out.clone(),
        })?;
    }
    Ok(id)
}

/// Move a refused file to `rejected/`, its reasons written first.
pub fn reject(home: &Home, claimed: &Path, name: &str, reasons: &str) -> io::Result<()> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    // Only the last component of a user's name, never a dotfile, and not so
    // long that the name would not fit.
    let safe = shortened(
        Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .trim_start_matches('.'),
        KEPT_NAME_BYTES,
    );
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

/// `name` cut to at most `max` bytes (at a character boundary), keeping a
/// short extension so that the kind of file still shows.
fn shortened(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 16)
        .map_or(String::new(), |e| format!(".{e}"));
    let mut end = max - ext.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &name[..end])
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

    #[test]
    fn a_file_that_does_not_parse_may_have_been_cut_off_and_says_so() {
        let (_d, home) = home();
        let Verdict::Rejected { reasons } = submit(
            &home,
            "half.yaml",
            b"method: grid\nprogram: p\nparameters: {a: {values: [1, 2",
        ) else {
            panic!("accepted")
        };
        assert!(reasons.contains("still being written"), "{reasons}");
        assert!(reasons.contains("`mv` it into the inbox"), "{reasons}");
        // Other errors say nothing of the kind.
        let Verdict::Rejected { reasons } =
            submit(&home, "typo.yaml", b"method: grd\nprogram: p\n")
        else {
            panic!("accepted")
        };
        assert!(!reasons.contains("still being written"), "{reasons}");
    }

    #[test]
    fn long_names_are_cut_to_fit_keeping_the_extension() {
        assert_eq!(shortened("a.yaml", 100), "a.yaml");
        let long = format!("{}.yaml", "é".repeat(150));
        let cut = shortened(&long, 100);
        assert!(cut.len() <= 100 && cut.ends_with("é.yaml"), "{cut}");
        let (_d, home) = home();
        let claimed = home.spool().join("x");
        fs::write(&claimed, "x").unwrap();
        reject(
            &home,
            &claimed,
            &format!("{}.yaml", "n".repeat(250)),
            "why\n",
        )
        .unwrap();
        let names: Vec<String> = fs::read_dir(home.rejected())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.len() < 140), "{names:?}");
    }
}
