//! Item 10: another user's `sweepctl` is told why it is refused, every
//! time: not "Broken pipe" when sweepd hangs up before the hello is read.

use crate::common::World;
use crate::common::daemon::{Daemon, home};
use crate::common::users::{as_other, open_up, sweepctl_for_other};

#[test]
fn another_users_sweepctl_is_told_both_user_ids_every_time() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file(
        "s.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; read stop']\nparameters: {a: {value: 1}}\n",
    );
    let id = w.sweepctl(["submit", "s.yaml"]).expect_code(0).stdout();
    open_up(&w);
    let (_copy, sweepctl) = sweepctl_for_other();
    let home_arg = home(&w).display().to_string();
    let me = nix::unistd::getuid().as_raw();
    for attempt in 0..20 {
        let out = as_other(&[
            sweepctl.to_str().unwrap(),
            "--home",
            &home_arg,
            "pause",
            id.trim(),
        ]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "attempt {attempt}: {said}");
        assert!(
            said.contains(&format!(
                "this sweepd (uid {me}) answers only its own user; you are uid "
            )),
            "attempt {attempt}: {said}"
        );
    }
}
