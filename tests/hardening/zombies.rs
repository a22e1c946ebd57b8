//! Item 6, the other side of being the runs' subreaper: orphans of a run
//! that end on their own (a trainer's helpers started in the background)
//! become sweepd's zombies, and must be reaped as they end, not only when
//! their run ends (a run of days would fill the process table).

use std::fs;

use crate::common::World;
use crate::common::daemon::{Daemon, run_dirs, state, sweeps, wait_until};

/// Starts five helpers from subshells that exit at once (so the helpers are
/// orphans), each writing its pid and ending; then logs a value and stays.
const TRAINER: &str = r#"read start
for i in 1 2 3 4 5; do ( sh -c 'echo $$ >> "$SWEEP_RUN_DIR/helpers"' & ); done
while [ "$(wc -l < "$SWEEP_RUN_DIR/helpers" 2>/dev/null || echo 0)" -lt 5 ]; do sleep 0.01; done
echo '{"loss": 1}'
exec sleep 1000
"#;

#[test]
fn orphans_that_end_while_their_run_goes_on_are_reaped() {
    let w = World::new();
    let trainer = w.file("trainer.sh", TRAINER);
    let file = w.file(
        "s.yaml",
        &format!(
            "method: grid\ncommand: [sh, '{}']\nparameters: {{a: {{value: 1}}}}\n",
            trainer.display()
        ),
    );
    let _daemon = Daemon::start(&w);
    w.sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0);
    let sweep = sweeps(&w)[0].clone();
    let helpers = || {
        run_dirs(&sweep)
            .first()
            .and_then(|r| fs::read_to_string(r.join("helpers")).ok())
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    wait_until("the helpers to have run", || helpers().len() == 5);
    // Gone, not left as zombies (of sweepd: their parents exited at once).
    wait_until("the helpers to be reaped", || {
        helpers()
            .iter()
            .all(|pid| !fs::exists(format!("/proc/{pid}")).unwrap_or(true))
    });
    assert_eq!(state(&sweep), "running", "the run goes on meanwhile");
}
