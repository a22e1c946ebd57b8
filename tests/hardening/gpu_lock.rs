//! Issue 15: see main.rs. A GPU lock file planted as a link to someone's
//! file made sweepd open it and chmod the target 0666. Now links are not
//! followed, nothing sweepd did not create is chmodded, and the GPU is not
//! used, saying why where a sweep says why it waits.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::common::World;
use crate::common::daemon::{Daemon, home, wait_until};

const GPU0: &str = "GPU-0a0a0a0a-0000-4000-8000-000000000000";
const GPU1: &str = "GPU-1b1b1b1b-0000-4000-8000-000000000001";

fn waiting(sweep: &std::path::Path) -> String {
    let record: Value =
        serde_json::from_str(&fs::read_to_string(sweep.join("state.json")).unwrap_or_default())
            .unwrap_or_default();
    record["waiting"].as_str().unwrap_or("").to_owned()
}

#[test]
fn a_lock_file_linked_to_a_victims_file_leaves_it_alone_and_the_gpu_unused() {
    let w = World::new();
    w.file(
        "gpus.csv",
        &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n1, {GPU1}, Fake H100, 81559, 3, 0\n"),
    );
    let locks = w.path("locks");
    fs::create_dir(&locks).unwrap();
    let victim = w.file("victim-bashrc", "export PS1='$ '\n");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, locks.join(format!("gpu-{GPU0}.lock"))).unwrap();

    let _daemon = Daemon::start_fake_gpus(&w, &[]);
    // Each run needs both GPUs: it can never have them.
    w.file(
        "two.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; echo \"{\\\"loss\\\": 1}\"']\nmetric: {name: loss}\nparameters: {a: {value: 1}}\nsweepd: {gpus_per_run: 2}\n",
    );
    let id = w.sweepctl(["submit", "two.yaml"]).expect_code(0).stdout();
    let id = id.trim();
    let sweep = home(&w).join("sweeps").join(id);
    wait_until("the sweep to say why it waits", || {
        waiting(&sweep).contains("GPU 0:")
    });
    let why = waiting(&sweep);
    let log = fs::read_to_string(w.path("sweepd.log")).unwrap_or_default();
    assert!(
        why.contains(&format!(
            "GPU 0: unsafe to lock, not used: {}/gpu-{GPU0}.lock is a symbolic link",
            locks.display()
        )),
        "{why}\n{log}"
    );
    assert!(
        !why.contains("GPU 1:"),
        "GPU 1 was taken, then let go: {why}"
    );
    assert!(log.contains("its lock is unsafe to take"), "{log}");
    let status = w.sweepctl(["status", id]).expect_code(0).stdout();
    assert!(status.contains("unsafe to lock, not used"), "{status}");

    let meta = fs::metadata(&victim).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644, "mode unchanged");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "export PS1='$ '\n");
    assert!(
        fs::symlink_metadata(locks.join(format!("gpu-{GPU0}.lock")))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the planted link is left for a person to look at"
    );
    assert!(
        !sweep.join("runs/0001").exists(),
        "no run was started or queued"
    );
}
