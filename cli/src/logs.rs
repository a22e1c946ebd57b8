//! `sweepctl logs RUN [-f] [--stderr]`: what a run printed, from its folder.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use sweepd::store::Home;

use crate::Outcome;
use crate::view::resolve_run;

/// How often `-f` looks for more output.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

pub fn run(home: &Home, wanted: &str, follow: bool, stderr: bool) -> Result<Outcome> {
    let (id, n) = resolve_run(home, wanted)?;
    let run = home.sweep(&id).run(n);
    let path = if stderr {
        run.stderr_file()
    } else {
        run.stdout_file()
    };
    let mut out = std::io::stdout().lock();
    let mut file = match File::open(&path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && follow => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut offset = 0u64;
    loop {
        if file.is_none() {
            file = File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            offset += buf.len() as u64;
            out.write_all(&buf)?;
            out.flush()?;
        }
        if !follow {
            return Ok(Outcome::Ok);
        }
        let ended = run.read_summary().is_ok_and(|s| s.state.is_terminal());
        if ended
            && file
                .as_ref()
                .is_some_and(|f| f.metadata().is_ok_and(|m| m.len() == offset))
        {
            return Ok(Outcome::Ok);
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}
