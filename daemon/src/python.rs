//! sweepd's Python, for runs: the `sweepd` package and the `wandb` shim
//! (`python/` in the source tree, built into sweepd) written into the home
//! at start, so that a run's `import wandb` reaches sweepd
//! ([docs/from-wandb.md](../../docs/from-wandb.md)) whether or not
//! anything was pip-installed, and always the version of the sweepd that
//! runs it.

use std::io;
use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

use crate::spec::WandbMode;
use crate::store::{Home, atomic};

static PYTHON: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../python");

/// The folders of `python/` that runs import from: the package, and the
/// shim that is `wandb`.
const PACKAGES: &[&str] = &["sweepd", "shim"];

/// Where the files go in the home.
pub fn root(home: &Home) -> PathBuf {
    home.root().join("python")
}

/// Write the package and the shim into the home (again: a new sweepd's
/// replace an old one's); the folder they are in.
pub fn install(home: &Home) -> io::Result<PathBuf> {
    let root = root(home);
    for package in PACKAGES {
        let dir = PYTHON.get_dir(package).ok_or_else(|| {
            io::Error::other(format!("sweepd was built without python/{package}"))
        })?;
        write_dir(dir, &root)?;
    }
    Ok(root)
}

fn write_dir(dir: &Dir<'_>, root: &Path) -> io::Result<()> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) if sub.path().ends_with("__pycache__") => {}
            DirEntry::Dir(sub) => write_dir(sub, root)?,
            DirEntry::File(file) if file.path().extension().is_some_and(|e| e == "py") => {
                let path = root.join(file.path());
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                atomic::write(&path, file.contents())?;
            }
            DirEntry::File(_) => {}
        }
    }
    Ok(())
}

/// The variables that make a run's `import wandb` what `mode` says, on top
/// of `pythonpath` (the run's own, if any).
pub fn env(root: &Path, mode: WandbMode, pythonpath: Option<&str>) -> Vec<(String, String)> {
    if mode == WandbMode::Off {
        return Vec::new();
    }
    let ours = format!("{}:{}", root.join("shim").display(), root.display());
    let path = match pythonpath.filter(|p| !p.is_empty()) {
        Some(theirs) => format!("{ours}:{theirs}"),
        None => ours,
    };
    vec![
        ("PYTHONPATH".to_owned(), path),
        ("SWEEPD_WANDB".to_owned(), mode.name().to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_and_the_shim_are_written_into_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let root = install(&home).unwrap();
        assert!(root.join("sweepd/__init__.py").is_file());
        assert!(root.join("shim/wandb/__init__.py").is_file());
        assert!(!root.join("tests").exists(), "tests stay out");
        // Written again over an earlier sweepd's.
        std::fs::write(root.join("sweepd/__init__.py"), "old").unwrap();
        install(&home).unwrap();
        assert_ne!(
            std::fs::read_to_string(root.join("sweepd/__init__.py")).unwrap(),
            "old"
        );
    }

    #[test]
    fn the_shim_comes_first_on_the_runs_path_unless_turned_off() {
        let root = Path::new("/h/python");
        let sweepd = env(root, WandbMode::Sweepd, Some("/mine"));
        assert_eq!(
            sweepd[0],
            ("PYTHONPATH".into(), "/h/python/shim:/h/python:/mine".into())
        );
        assert_eq!(sweepd[1], ("SWEEPD_WANDB".into(), "sweepd".into()));
        assert_eq!(
            env(root, WandbMode::Offline, None)[0].1,
            "/h/python/shim:/h/python"
        );
        assert!(env(root, WandbMode::Off, Some("/mine")).is_empty());
    }
}
