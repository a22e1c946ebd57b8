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

pub struct Options {
    pub follow: bool,
    pub stderr: bool,
    pub json: bool,
}

pub fn run(home: &Home, wanted: &str, options: Options) -> Result<Outcome> {
    let Options {
        follow,
        stderr,
        json,
    } = options;
    let (id, n) = resolve_run(home, wanted)?;
    crate::status::note_when_offline(home);
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
    // With --json, lines are written whole: a partial last line waits for its end.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        if file.is_none() {
            file = File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            // Shorter than what was read: sweepd cut its head (log_max).
            if f.metadata().is_ok_and(|m| m.len() < offset) {
                offset = 0;
            }
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            offset += buf.len() as u64;
            if json {
                partial.extend_from_slice(&buf);
                write_json_lines(&mut out, &mut partial, !follow)?;
            } else {
                out.write_all(&buf)?;
            }
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

/// Each complete line as `{"line": text, "record": {...} | null}` (the record
/// when the line is a metric record); with `all`, an unfinished last line too.
fn write_json_lines(out: &mut impl Write, pending: &mut Vec<u8>, all: bool) -> Result<()> {
    use sweepd::protocol::trainer::{StdoutLine, classify};
    let mut start = 0;
    let mut lines: Vec<&[u8]> = Vec::new();
    while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
        lines.push(&pending[start..start + end]);
        start += end + 1;
    }
    if all && start < pending.len() {
        lines.push(&pending[start..]);
        start = pending.len();
    }
    for line in lines {
        let record = match classify(line) {
            StdoutLine::Record(map) => serde_json::Value::Object(map),
            StdoutLine::Log => serde_json::Value::Null,
        };
        let text = String::from_utf8_lossy(line);
        writeln!(
            out,
            "{}",
            serde_json::json!({"line": text, "record": record})
        )?;
    }
    pending.drain(..start);
    Ok(())
}
