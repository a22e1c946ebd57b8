//! sweepd's trainer protocol (docs/protocol.md), the trainer's side: the start
//! message with the run's parameters on the first stdin line, stop messages
//! on later lines (heard by a thread, checked between batches), and metric
//! records printed as JSON lines on stdout.

use std::io::{BufRead, Write};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// The protocol version this trainer speaks.
pub const VERSION: u64 = 1;

/// What sweepd told this run, and what it may still tell it.
#[derive(Debug, Default)]
pub struct Session {
    /// The run's parameters from the start message (empty outside sweepd).
    pub params: Map<String, Value>,
    pub run_id: Option<String>,
    stop: Arc<OnceLock<String>>,
}

impl Session {
    /// A run started by sweepd (it sets `SWEEP_RUN_ID`) reads its start
    /// message from stdin; a trainer run by hand has no session and leaves
    /// stdin alone.
    pub fn connect() -> anyhow::Result<Session> {
        if std::env::var_os("SWEEP_RUN_ID").is_none() {
            return Ok(Session::default());
        }
        Session::from_reader(std::io::BufReader::new(std::io::stdin()))
            .context("reading sweepd's start message from stdin")
    }

    /// Read the start message from `input`, then hear stop messages from it
    /// on a thread of their own.
    pub fn from_reader(mut input: impl BufRead + Send + 'static) -> anyhow::Result<Session> {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            bail!("stdin ended before the start message");
        }
        let start: Value = serde_json::from_str(&line)
            .with_context(|| format!("the first line is not JSON: {:?}", line.trim_end()))?;
        if start["type"] != "start" {
            bail!("the first line is not a start message: {}", line.trim_end());
        }
        if start["protocol"].as_u64() != Some(VERSION) {
            bail!(
                "protocol {} is not spoken here (this trainer speaks protocol {VERSION})",
                start["protocol"]
            );
        }
        let params = match &start["params"] {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            other => bail!("`params` is not an object: {other}"),
        };
        let stop = Arc::new(OnceLock::new());
        let heard = Arc::clone(&stop);
        std::thread::spawn(move || listen(input, &heard));
        Ok(Session {
            params,
            run_id: start["run_id"].as_str().map(str::to_owned),
            stop,
        })
    }

    /// Why sweepd asked this run to stop, once it has.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop.get().map(String::as_str)
    }
}

fn listen(input: impl BufRead, stop: &OnceLock<String>) {
    for line in input.split(b'\n') {
        // A line that is not UTF-8 or not JSON is not for us; only the end
        // of stdin (or an error reading it) ends listening.
        let Ok(line) = line else { return };
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if message["type"] == "stop" {
            let reason = message["reason"].as_str().unwrap_or("unspecified");
            let _ = stop.set(reason.to_owned());
        }
    }
}

/// Print one metric record as a JSON line (NaN and infinities become `null`,
/// which the protocol reads as "no value").
pub fn log(out: &mut impl Write, record: &Value) -> std::io::Result<()> {
    writeln!(out, "{record}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};
    use std::sync::mpsc;

    /// A stdin the test writes to line by line, as sweepd does.
    struct Pipe(mpsc::Receiver<Vec<u8>>, Vec<u8>);

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(bytes) => self.1 = bytes,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn the_start_message_gives_the_parameters_and_a_stop_is_heard_later() {
        let (tx, rx) = mpsc::channel();
        tx.send(br#"{"type":"start","protocol":1,"sweep_id":"s","run_id":"s/1","params":{"batch_size":32}}"#.to_vec()).unwrap();
        tx.send(b"\n".to_vec()).unwrap();
        let session = Session::from_reader(BufReader::new(Pipe(rx, Vec::new()))).unwrap();
        assert_eq!(session.params["batch_size"], 32);
        assert_eq!(session.run_id.as_deref(), Some("s/1"));
        assert_eq!(session.stop_reason(), None);
        tx.send(b"not json\n{\"type\":\"stop\",\"reason\":\"early_terminate\"}\n".to_vec())
            .unwrap();
        tx.send(b"{\"type\":\"stop\",\"reason\":\"user\"}\n".to_vec())
            .unwrap();
        drop(tx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while session.stop_reason().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the stop was not heard"
            );
            std::thread::yield_now();
        }
        assert_eq!(
            session.stop_reason(),
            Some("early_terminate"),
            "the first stop counts"
        );
    }

    #[test]
    fn a_missing_or_foreign_start_message_is_an_error_that_says_what_came() {
        let read = |text: &'static str| {
            Session::from_reader(BufReader::new(text.as_bytes()))
                .unwrap_err()
                .to_string()
        };
        assert!(read("").contains("ended before the start message"));
        assert!(read("--lr=1\n").contains("not JSON: \"--lr=1\""));
        assert!(read("{\"type\":\"stop\"}\n").contains("not a start message"));
        assert!(read("{\"type\":\"start\",\"protocol\":2}\n").contains("protocol 2 is not spoken"));
    }

    /// sweepd's own golden protocol lines (core/src/protocol/golden), so a
    /// change on the daemon's side breaks this test.
    #[test]
    fn sweepds_golden_start_and_stop_lines_are_understood() {
        let start = include_str!("../../../core/src/protocol/golden/start.jsonl");
        let stops = include_str!("../../../core/src/protocol/golden/stop.jsonl");
        let mut input = start.lines().next().unwrap().as_bytes().to_vec();
        input.extend(b"\n\xff\xfe not UTF-8\n");
        input.extend(stops.as_bytes());
        let session = Session::from_reader(BufReader::new(std::io::Cursor::new(input))).unwrap();
        assert_eq!(session.params["batch_size"], 64);
        assert_eq!(session.run_id.as_deref(), Some("20261128-mnist-a1b2/3"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while session.stop_reason().is_none() {
            assert!(std::time::Instant::now() < deadline, "no stop heard");
            std::thread::yield_now();
        }
        let first: Value = serde_json::from_str(stops.lines().next().unwrap()).unwrap();
        assert_eq!(session.stop_reason(), first["reason"].as_str());
    }

    #[test]
    fn records_are_single_json_lines_and_nan_is_null() {
        let mut out = Vec::new();
        log(&mut out, &serde_json::json!({"batch loss": 0.5})).unwrap();
        log(&mut out, &serde_json::json!({"loss": f64::NAN, "epoch": 0})).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"batch loss\":0.5}\n{\"epoch\":0,\"loss\":null}\n"
        );
    }
}
