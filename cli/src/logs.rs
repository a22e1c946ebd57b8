//! `sweepctl logs RUN [-f] [--stderr]`: what a run printed, from its folder;
//! of a log sweepd has capped, what it kept (after the hole at its head).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sweepd_core::store::Home;
use sweepd_core::store::capped_log::{CutPoint, next_data};

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
    let mut shown = Shown::default();
    // With --json, lines are written whole: a partial last line waits for its end.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        if file.is_none() {
            file = File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            let (after_hole, bytes) = shown
                .more(f, !stderr, &run.stdout_file())
                .with_context(|| format!("cannot read {}", path.display()))?;
            if json {
                if after_hole {
                    partial.clear(); // the rest of that line is gone
                }
                partial.extend_from_slice(&bytes);
                write_json_lines(&mut out, &mut partial, !follow)?;
            } else {
                out.write_all(&bytes)?;
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
                .is_some_and(|f| f.metadata().is_ok_and(|m| m.len() == shown.offset))
        {
            return Ok(Outcome::Ok);
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// How far `logs` has read a log. sweepd's `log_max` punches a hole in a
/// log's head (reading it gives zeros): what is shown skips it.
#[derive(Default)]
struct Shown {
    offset: u64,
    /// Past a hole in stdout, not yet at a line's start.
    to_line_end: bool,
}

impl Shown {
    /// What was written since, past any hole punched meanwhile (then true);
    /// with `lines` (stdout, whose cut point is beside `log`), from the first
    /// whole line after it.
    fn more(
        &mut self,
        file: &mut File,
        lines: bool,
        log: &Path,
    ) -> std::io::Result<(bool, Vec<u8>)> {
        let mut after_hole = false;
        if let Some(data) = next_data(file, self.offset)?
            && data > self.offset
        {
            self.to_line_end = lines && {
                let cut = CutPoint::read(log).ok().flatten();
                !CutPoint::starts_line(cut.as_ref(), data)
            };
            self.offset = data;
            after_hole = true;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        if self.to_line_end {
            let end = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.to_line_end = false;
                    at + 1
                }
                None => bytes.len(),
            };
            bytes.drain(..end);
        }
        Ok((after_hole, bytes))
    }
}

/// Each complete line as `{"line": text, "record": {...} | null}` (the record
/// when the line is a metric record); with `all`, an unfinished last line too.
fn write_json_lines(out: &mut impl Write, pending: &mut Vec<u8>, all: bool) -> Result<()> {
    use sweepd_core::protocol::trainer::{StdoutLine, classify};
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

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{FallocateFlags, fallocate};
    use std::fs::OpenOptions;
    use sweepd_core::store::capped_log::CutPoint;

    fn punch(file: &File, end: i64) {
        let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        fallocate(file, flags, 0, end).unwrap();
    }

    /// Lines `line 0000000\n` (13 bytes) from `from` on, `n` of them.
    fn lines(from: u32, n: u32) -> String {
        (from..from + n).map(|i| format!("line {i:07}\n")).collect()
    }

    fn check_shown(dir: &Path) {
        let log = dir.join("stdout.log");
        let mut writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        writer.write_all(lines(0, 1000).as_bytes()).unwrap(); // 13,000 bytes
        let mut reader = File::open(&log).unwrap();
        punch(&writer, 8192);
        let mut shown = Shown::default();
        let (after_hole, bytes) = shown.more(&mut reader, true, &log).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        // 8192 = line 630 and 2 bytes: shown from line 631, no zeros.
        assert!(after_hole);
        assert!(text.starts_with("line 0000631\n"), "{}", &text[..20]);
        assert!(text.ends_with("line 0000999\n"));
        // Following: more comes, and a hole punched past where it was read.
        writer.write_all(lines(1000, 1000).as_bytes()).unwrap();
        assert_eq!(
            shown.more(&mut reader, true, &log).unwrap(),
            (false, lines(1000, 1000).into_bytes())
        );
        writer.write_all(lines(2000, 1000).as_bytes()).unwrap();
        punch(&writer, 7 * 4096); // 28,672: line 2205 and 7 bytes
        let text = String::from_utf8(shown.more(&mut reader, true, &log).unwrap().1).unwrap();
        assert!(text.starts_with("line 0002206\n"), "{}", &text[..20]);
        // A hole that ends where a line begins, as the cut point says.
        writer.write_all(lines(3000, 10_000).as_bytes()).unwrap();
        punch(&writer, 13 * 8192); // 106,496: line 8192 begins there
        CutPoint {
            version: CutPoint::VERSION,
            resume_at: 110_000,
            records_before: 0,
            in_line: false,
            lines_from: Some(106_496),
        }
        .write(&log)
        .unwrap();
        let text = String::from_utf8(shown.more(&mut reader, true, &log).unwrap().1).unwrap();
        assert!(text.starts_with("line 0008192\n"), "{}", &text[..20]);
        // stderr has no lines to keep whole: shown from the hole's end.
        let mut shown = Shown::default();
        let text = String::from_utf8(shown.more(&mut reader, false, &log).unwrap().1).unwrap();
        assert!(text.starts_with("line 0008192\n"), "{}", &text[..20]);
    }

    #[test]
    fn logs_skip_the_hole_sweepd_punched_here() {
        check_shown(tempfile::tempdir().unwrap().path());
    }

    #[test]
    fn logs_skip_the_hole_sweepd_punched_on_tmpfs() {
        if let Ok(dir) = tempfile::tempdir_in("/dev/shm") {
            check_shown(dir.path());
        }
    }
}
