//! `sweepctl pause|resume|stop|cancel SWEEP`: W&B's meanings, through the daemon.

use anyhow::{Result, bail};
use sweepd_core::protocol::control::{Request, Response};
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::Client;
use crate::view::resolve_sweep;

pub fn run(home: &Home, verb: &str, sweep: &str) -> Result<Outcome> {
    let id = resolve_sweep(home, sweep)?.to_string();
    let request = match verb {
        "pause" => Request::Pause { sweep: id },
        "resume" => Request::Resume { sweep: id },
        "stop" => Request::Stop { sweep: id },
        "cancel" => Request::Cancel { sweep: id },
        other => bail!("unknown verb {other}"),
    };
    let Some(mut client) = Client::connect(home)? else {
        bail!(
            "sweepd is not running on {}: start it to {verb} a sweep",
            home.root().display()
        );
    };
    match client.request(&request)? {
        Response::Done { message } => {
            println!("{message}");
            Ok(Outcome::Ok)
        }
        Response::Refused { message } => bail!("{message}"),
        other => bail!("unexpected answer from sweepd: {other:?}"),
    }
}
