//! Wake-ups when a run's output file grows. One inotify watcher (through
//! `notify`) serves every running run: its events are only hints that a file
//! has new bytes; the reader then reads to the end, so coalesced or lost
//! events cost nothing but a little latency, and a final read at exit catches
//! the rest. The hub also carries what every local run's logs are held to
//! (`log_max`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc, oneshot};

/// Without inotify, how often a running run's output is read.
const POLL: Duration = Duration::from_secs(1);

/// The handle runs use to be woken; cheap to clone.
#[derive(Clone)]
pub struct Tails {
    requests: mpsc::UnboundedSender<Request>,
    /// Each of a run's logs is kept under this many bytes (None: no cap).
    log_max: Option<u64>,
    /// The program that is each run's monitor (see [`crate::monitor::Exe`]).
    monitor: crate::monitor::Exe,
}

enum Request {
    Watch(PathBuf, Arc<Notify>, oneshot::Sender<bool>),
    Unwatch(PathBuf),
    Changed(PathBuf),
}

impl Tails {
    /// Start the hub. Without inotify (an error from the watcher) files are
    /// still read at exit and whenever a run is asked about; runs then only
    /// report metrics late, which is logged once.
    pub fn start() -> Self {
        let (requests, mut rx) = mpsc::unbounded_channel::<Request>();
        let events = requests.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                for path in event.paths {
                    let _ = events.send(Request::Changed(path));
                }
            }
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "no file watcher: run metrics will arrive when runs end");
                None
            }
        };
        tokio::spawn(async move {
            let mut waiting: HashMap<PathBuf, Arc<Notify>> = HashMap::new();
            while let Some(request) = rx.recv().await {
                match request {
                    Request::Watch(path, notify, watching) => {
                        let ok = match watcher
                            .as_mut()
                            .map(|w| w.watch(&path, RecursiveMode::NonRecursive))
                        {
                            Some(Ok(())) => true,
                            Some(Err(e)) => {
                                tracing::warn!(path = %path.display(), error = %e, "cannot watch run output");
                                false
                            }
                            None => false,
                        };
                        waiting.insert(path, notify);
                        let _ = watching.send(ok);
                    }
                    Request::Unwatch(path) => {
                        if let Some(w) = watcher.as_mut() {
                            let _ = w.unwatch(&path);
                        }
                        waiting.remove(&path);
                    }
                    Request::Changed(path) => {
                        if let Some(notify) = waiting.get(&path) {
                            notify.notify_one();
                        }
                    }
                }
            }
        });
        Self {
            requests,
            log_max: None,
            monitor: crate::monitor::Exe::at(PathBuf::from("/proc/self/exe")),
        }
    }

    /// Runs' monitors are `exe` (see [`crate::monitor`]).
    pub fn with_monitor(mut self, exe: crate::monitor::Exe) -> Self {
        self.monitor = exe;
        self
    }

    pub fn monitor(&self) -> &Path {
        self.monitor.path()
    }

    /// Runs' logs kept under `bytes` each (None or 0: no cap).
    pub fn with_log_max(mut self, bytes: Option<u64>) -> Self {
        self.log_max = bytes.filter(|&b| b > 0);
        self
    }

    pub fn log_max(&self) -> Option<u64> {
        self.log_max
    }

    /// Be woken when `path` (which must exist) changes, until unwatched. On
    /// return the watch is in place: read the file once then, and every
    /// later write wakes the returned [`Wake`].
    pub async fn watch(&self, path: &Path) -> Wake {
        let notify = Arc::new(Notify::new());
        let (watching, answer) = oneshot::channel();
        let _ = self
            .requests
            .send(Request::Watch(path.to_owned(), notify.clone(), watching));
        match answer.await {
            Ok(true) => Wake::Notified(notify),
            _ => Wake::Poll(POLL),
        }
    }

    pub fn unwatch(&self, path: &Path) {
        let _ = self.requests.send(Request::Unwatch(path.to_owned()));
    }
}

/// How a run's reader learns there is more to read.
pub enum Wake {
    /// Woken by the file watcher.
    Notified(Arc<Notify>),
    /// No watcher for this file: look again after a while.
    Poll(Duration),
}

impl Wake {
    pub async fn wait(&self) {
        match self {
            Wake::Notified(notify) => notify.notified().await,
            Wake::Poll(every) => tokio::time::sleep(*every).await,
        }
    }
}
