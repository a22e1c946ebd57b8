//! A run's monitor as a program of its own (docs/daemon.md, "Runs outlive
//! sweepd"): sweepd starts it as `sweepd-monitor __monitor RUN_DIR --
//! COMMAND...` for each local run. It links only the monitor's code, so it
//! stays small in memory while it waits for its run. Where it is not
//! installed beside sweepd, sweepd runs the same code as `sweepd __monitor`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(first) if first == sweepd::monitor::ARG => sweepd::monitor::main(args.collect()),
        _ => {
            eprintln!(
                "sweepd-monitor: sweepd starts this for each run (sweepd-monitor {} RUN_DIR -- COMMAND...)",
                sweepd::monitor::ARG
            );
            ExitCode::from(2)
        }
    }
}
