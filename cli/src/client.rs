//! Talking to a running sweepd over its control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sweepd_core::protocol::control::{CONTROL_VERSION, Request, Response};
use sweepd_core::store::Home;

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The daemon's process id, as it said in its greeting.
    pub pid: u32,
}

/// How long a busy sweepd (too many connections open) is tried again.
const BUSY_FOR: Duration = Duration::from_secs(15);

impl Client {
    /// Connect and greet; `None` when no daemon listens on this home. A busy
    /// sweepd is tried again for a while.
    pub fn connect(home: &Home) -> Result<Option<Client>> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        loop {
            match Self::connect_once(home)? {
                Err(_) if start.elapsed() < BUSY_FOR => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(busy) => bail!("{busy}"),
                Ok(client) => return Ok(client),
            }
        }
    }

    /// Whether a sweepd answers on this home, asked once: a busy or refusing
    /// sweepd runs all the same (`status` must not call it stopped).
    pub fn answers(home: &Home) -> bool {
        !matches!(Self::connect_once(home), Ok(Ok(None)))
    }

    /// One try: the client, or sweepd's word that it is busy.
    fn connect_once(home: &Home) -> Result<std::result::Result<Option<Client>, String>> {
        let stream = match UnixStream::connect(home.socket()) {
            Ok(stream) => stream,
            Err(_) => return Ok(Ok(None)),
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            pid: 0,
        };
        match client.request(&Request::Hello {
            version: CONTROL_VERSION,
        })? {
            Response::Hello { version, pid } if version == CONTROL_VERSION => {
                client.pid = pid;
                Ok(Ok(Some(client)))
            }
            Response::Busy { message } => Ok(Err(message)),
            Response::Refused { message } => bail!("sweepd refused: {message}"),
            Response::Hello { version, .. } => {
                bail!(
                    "sweepd speaks control protocol {version}, this sweepctl {CONTROL_VERSION}: restart sweepd"
                )
            }
            other => bail!("unexpected answer from sweepd: {other:?}"),
        }
    }

    pub fn request(&mut self, request: &Request) -> Result<Response> {
        // The socket's errors are not stdout's: a broken pipe here is sweepd
        // hanging up, not a reader that has read enough (see main). It may
        // have said why before it hung up (a refusal): read that first.
        if let Err(e) = self.writer.write_all(request.to_line().as_bytes()) {
            return self
                .read_within(Some(Duration::from_secs(2)))
                .map_err(|_| anyhow::anyhow!("cannot talk to sweepd: {e}"));
        }
        self.read()
    }

    /// The connection's two halves, to read on one thread and write on
    /// another (an agent's).
    pub fn into_parts(self) -> (BufReader<UnixStream>, UnixStream) {
        (self.reader, self.writer)
    }

    /// The next response, waiting at most `timeout` (None: as long as it takes).
    pub fn read_within(&mut self, timeout: Option<Duration>) -> Result<Response> {
        self.reader.get_ref().set_read_timeout(timeout)?;
        self.read()
    }

    fn read(&mut self) -> Result<Response> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| anyhow::anyhow!("no answer from sweepd: {e}"))?;
        if n == 0 {
            bail!("sweepd closed the connection");
        }
        serde_json::from_str(&line).with_context(|| format!("cannot read sweepd's answer {line:?}"))
    }
}

/// A JSON file the running sweepd keeps in its home (`settings.json`,
/// `gpus.json`); `None` when no sweepd runs there or it has not written it.
pub fn daemon_file<T: serde::de::DeserializeOwned>(
    home: &Home,
    path: &std::path::Path,
) -> Option<T> {
    if !Client::answers(home) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}
