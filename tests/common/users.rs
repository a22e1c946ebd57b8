//! Other users of the host, for tests of what one user may do to another.

use std::process::{Command, Output};

/// Run `argv` as root: directly when the test is root, else through
/// passwordless sudo (creating a user and acting as one need it).
pub fn as_root(argv: &[&str]) -> Output {
    let mut command = if nix::unistd::geteuid().is_root() {
        Command::new(argv[0])
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg(argv[0]);
        sudo
    };
    command.args(&argv[1..]).output().unwrap()
}

/// `sweepd-other`, a second user of the host, created by the test if the
/// host does not have it yet.
pub const OTHER: &str = "sweepd-other";

pub fn as_other(argv: &[&str]) -> Output {
    let exists = Command::new("id")
        .arg(OTHER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let made = as_root(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            OTHER,
        ]);
        let again = Command::new("id")
            .arg(OTHER)
            .output()
            .unwrap()
            .status
            .success();
        assert!(
            again,
            "cannot create the user {OTHER} (the test needs root or passwordless sudo): {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let mut full = vec!["runuser", "-u", OTHER, "--"];
    full.extend_from_slice(argv);
    as_root(&full)
}

/// A copy of `sweepctl` that `OTHER` can run wherever the checkout is (a
/// checkout under a private folder is out of their reach), in a folder of
/// its own that is removed when the first value is dropped.
pub fn sweepctl_for_other() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("sweepctl");
    std::fs::copy(super::bin("sweepctl"), &copy).expect("copy sweepctl");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, copy)
}

/// Open the world's home up to other users as a careless owner might
/// (`chmod`): the world's folder and the home passable, the control socket
/// writable by all, the sweeps readable, and the inbox writable by all.
/// The modes are the first guard; tests then check the ones behind them.
pub fn open_up(w: &super::World) {
    use std::os::unix::fs::PermissionsExt;
    let home = w.path("home");
    for (path, mode) in [
        (w.dir.path().to_owned(), 0o711),
        (home.clone(), 0o711),
        (home.join("sweepd.sock"), 0o666),
        (home.join("inbox"), 0o777),
        (home.join("sweeps"), 0o755),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
