//! What sweepd and a monitor it starts say to each other, once, over the
//! monitor's stdin (one end of a Unix socket pair): sweepd hands over the
//! run's GPU locks (their file descriptors, so the locks themselves move,
//! with no moment when the GPUs are unlocked), and the monitor answers
//! whether the trainer started, and as which pid.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use serde::{Deserialize, Serialize};

/// The most GPUs one run can be given.
const MAX_GPUS: usize = 64;

/// sweepd's message to the monitor.
#[derive(Debug, Serialize, Deserialize)]
struct Given {
    /// The UUIDs of the GPUs whose locks come with the message, in order.
    gpus: Vec<String>,
    /// The protocol's start message (newline included), the first thing the
    /// trainer reads on its stdin.
    start_line: String,
}

/// The monitor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trainer", rename_all = "snake_case")]
pub enum Started {
    Running { pid: u32 },
    Failed { why: String },
}

/// The monitor's side: what it was given, and where to answer.
pub struct Handoff {
    socket: UnixStream,
    gpus: Vec<String>,
    start_line: String,
    /// The GPU locks: held as long as the monitor lives, and inherited by
    /// the trainer (they are not close-on-exec).
    _locks: Vec<OwnedFd>,
}

impl Handoff {
    /// sweepd's side: give the monitor (whose stdin is the other end of
    /// `socket`) the run's GPU locks. sweepd may close its own descriptors
    /// afterwards (closing is not unlocking while the monitor holds them).
    pub fn give(socket: &UnixStream, gpus: &[(String, &File)], start_line: &str) -> io::Result<()> {
        let given = Given {
            gpus: gpus.iter().map(|(uuid, _)| uuid.clone()).collect(),
            start_line: start_line.to_owned(),
        };
        let bytes = serde_json::to_vec(&given).map_err(io::Error::other)?;
        let fds: Vec<_> = gpus.iter().map(|(_, file)| file.as_fd()).collect();
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_GPUS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(io::Error::other("too many GPUs for one run"));
        }
        // The descriptors go with the first bytes; the rest follows, and
        // the end of the message is the end of sweepd's writing.
        let sent = sendmsg(
            socket,
            &[IoSlice::new(&bytes)],
            &mut control,
            SendFlags::empty(),
        )?;
        (&*socket).write_all(&bytes[sent..])?;
        socket.shutdown(std::net::Shutdown::Write)
    }

    /// The monitor's side: what sweepd gave, on stdin.
    pub fn receive() -> io::Result<Handoff> {
        let socket = UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
        // A sweep file is at most 1 MiB: so is a start message, and more.
        let mut bytes = vec![0u8; 64 * 1024];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_GPUS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut bytes)],
            &mut control,
            RecvFlags::empty(),
        )?;
        let mut locks = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                locks.extend(fds);
            }
        }
        bytes.truncate(got.bytes);
        (&socket).read_to_end(&mut bytes)?;
        if bytes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sweepd went away before it handed the run over",
            ));
        }
        let given: Given = serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Handoff {
            socket,
            gpus: given.gpus,
            start_line: given.start_line,
            _locks: locks,
        })
    }

    pub fn gpus(&self) -> &[String] {
        &self.gpus
    }

    pub fn start_line(&self) -> &str {
        &self.start_line
    }

    /// Tell sweepd whether the trainer started. sweepd may be gone: then
    /// nobody hears it, and the next sweepd reads `monitor.json` instead.
    pub fn reply(&self, started: &Started) {
        let mut line = serde_json::to_vec(started).expect("serializes");
        line.push(b'\n');
        let _ = (&self.socket).write_all(&line);
    }
}

/// sweepd's side: the monitor's answer (None: it died or went silent
/// before answering).
pub fn read_answer(mut socket: UnixStream) -> Option<Started> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let line = bytes.split(|&b| b == b'\n').next()?;
    serde_json::from_slice(line).ok()
}
