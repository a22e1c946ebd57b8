//! `sweepctl submit FILE`: check it here, put it in the inbox atomically,
//! and wait for the daemon's verdict.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use sweepd_core::protocol::control::{Request, Response};
use sweepd_core::spec::{self, Format, Method};
use sweepd_core::store::inbox::{Sidecar, sidecar_name};
use sweepd_core::store::{Home, atomic};

use crate::Outcome;
use crate::client::Client;
use crate::terminal;

/// How long to wait for the verdict before saying so and leaving it to the daemon.
const VERDICT_WAIT: Duration = Duration::from_secs(60);

pub fn run(home: &Home, path: &Path) -> Result<Outcome> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file needs a name")?
        .to_owned();
    let bytes = spec::read_file(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let validation = spec::check_bytes(&bytes, Format::from_path(path));
    for d in validation.diagnostics.iter() {
        let report = spec::render(&path.display().to_string(), &text, d);
        eprintln!("{}", terminal::escape_report(&report));
    }
    let Some(spec) = validation.spec else {
        eprintln!("{}: invalid, not submitted", path.display());
        return Ok(Outcome::Invalid);
    };
    if spec.run_cap.is_none() && spec.method != Method::Grid {
        eprintln!(
            "{}: warning: a {} sweep without `run_cap` runs until it is stopped (as in W&B)",
            path.display(),
            spec.method.name()
        );
    }
    home.create()
        .with_context(|| format!("cannot create the sweeps home {}", home.root().display()))?;
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // A name the daemon takes as it is (a user's `x.yaml~` would be left
    // alone as an editor's file); the user's name travels in the sidecar.
    let ext = if matches!(Format::from_path(path), Format::Json) {
        "json"
    } else {
        "yaml"
    };
    // Short enough for the inbox (the user's whole name is in the sidecar).
    let stem: String = Path::new(&name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("sweep")
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let inbox_name = format!("submit-{stamp}-{stem}.{ext}");
    let mut client = Client::connect(home)?;
    if let Some(c) = client.as_mut() {
        // Ask first, so the verdict cannot come before we listen.
        match c.request(&Request::AwaitVerdict {
            name: inbox_name.clone(),
        })? {
            Response::Waiting => {}
            other => anyhow::bail!("unexpected answer from sweepd: {other:?}"),
        }
    }
    let sidecar = Sidecar {
        original_name: name.to_owned(),
        submitted_from: std::env::current_dir().ok(),
    };
    let inbox = home.inbox();
    atomic::write(
        &inbox.join(sidecar_name(&inbox_name)),
        &serde_json::to_vec(&sidecar)?,
    )?;
    // Written under a dot name (ignored by the daemon), then renamed: the
    // daemon only ever sees the whole file.
    let staging = inbox.join(format!(".{inbox_name}.part"));
    {
        let mut file = fs::File::create(&staging)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&staging, inbox.join(&inbox_name))?;
    atomic::sync_dir(&inbox)?;
    let Some(mut client) = client else {
        println!(
            "sweepd is not running on {}: the sweep waits in its inbox and starts when sweepd does",
            home.root().display()
        );
        return Ok(Outcome::Ok);
    };
    match client.read_within(Some(VERDICT_WAIT)) {
        Ok(Response::Accepted { sweep, warnings }) => {
            // The same checker already spoke here, of the same bytes.
            if validation.diagnostics.is_empty() {
                eprint!("{}", terminal::escape_report(&warnings));
            }
            println!("{sweep}");
            Ok(Outcome::Ok)
        }
        Ok(Response::Rejected { reasons }) => {
            eprint!("{}", terminal::escape_report(&reasons));
            eprintln!("{}: rejected by sweepd", path.display());
            Ok(Outcome::Invalid)
        }
        Ok(other) => anyhow::bail!("unexpected answer from sweepd: {other:?}"),
        // Submitted, but not known to be accepted: not a success.
        Err(e) => anyhow::bail!(
            "no verdict from sweepd within {}s ({e:#}); the file is in its inbox and will still be \
             checked: run `sweepctl status` later to see whether it became a sweep (a rejected \
             file goes to {} with its reasons)",
            VERDICT_WAIT.as_secs(),
            home.rejected().display()
        ),
    }
}
