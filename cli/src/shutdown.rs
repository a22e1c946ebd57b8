//! `sweepctl shutdown [--stop-runs]`: stop sweepd, and wait until it has
//! exited. Its runs run on with their monitors for the next sweepd to take
//! up; with `--stop-runs` they are stopped (and run again at the next start).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sweepd_core::protocol::control::{Request, Response};
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::Client;

/// Longer than sweepd's stop sequence (--kill-after, 30 s) and its bound.
const EXITS_WITHIN: Duration = Duration::from_secs(120);

pub fn run(home: &Home, stop_runs: bool) -> Result<Outcome> {
    let Some(mut client) = Client::connect(home)? else {
        bail!("sweepd is not running on {}", home.root().display());
    };
    let pid = client.pid;
    match client.request(&Request::Shutdown { stop_runs })? {
        Response::Done { message } => println!("{message}"),
        Response::Refused { message } => bail!("{message}"),
        other => bail!("unexpected answer from sweepd: {other:?}"),
    }
    drop(client);
    let start = Instant::now();
    let mut wait = Duration::from_millis(10);
    while alive(pid) {
        if start.elapsed() > EXITS_WITHIN {
            bail!(
                "sweepd (pid {pid}) has not exited after {} s",
                EXITS_WITHIN.as_secs()
            );
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(200));
    }
    println!("sweepd (pid {pid}) has exited");
    Ok(Outcome::Ok)
}

/// Whether process `pid` lives (a zombie has exited).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}
