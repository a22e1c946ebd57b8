//! How the scheduler is set up and reached: its settings, the messages
//! others send it, and the handle they send them through.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Control, ControlError, Controlled, interpreter};
use crate::executor::StopTimes;
use crate::executor::slurm::SlurmConfig;
use crate::gpu;
use crate::settings;
use crate::store::SweepId;

/// The daemon's own settings for scheduling.
#[derive(Debug, Clone)]
pub struct Config {
    /// Runs at once over all sweeps (default: the number of CPU cores).
    pub max_running: usize,
    /// Runs at once per sweep when the sweep does not say (`sweepd.max_parallel`).
    pub default_max_parallel: u32,
    pub stop: StopTimes,
    /// `${interpreter}`.
    pub interpreter: String,
    /// The user's home, the working directory of runs by default.
    pub user_home: PathBuf,
    pub gpu: GpuConfig,
    /// How Slurm is talked to (sweeps with `executor: slurm`).
    pub slurm: SlurmConfig,
    /// Each log of a local run is kept under this many bytes (None: no cap).
    pub log_max: Option<u64>,
    /// Whether shutting down stops the runs (else they run on, for the
    /// next sweepd to take up). Shared: `sweepctl shutdown --stop-runs`
    /// sets it, and a second signal reads it.
    pub stop_runs_on_exit: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The program that is each local run's monitor (see
    /// `crate::monitor::Exe`); None: `sweepd-monitor` beside sweepd, else
    /// sweepd itself.
    pub monitor_exe: Option<PathBuf>,
}

/// How GPUs are found and shared.
#[derive(Debug, Clone)]
pub struct GpuConfig {
    pub probe: gpu::ProbeConfig,
    pub thresholds: gpu::placement::Thresholds,
    /// Where the cross-user locks are (every user's sweepd must agree).
    pub lock_dir: PathBuf,
    /// How often the GPUs are looked at.
    pub sample_every: Duration,
}

impl Default for GpuConfig {
    fn default() -> Self {
        GpuConfig {
            probe: gpu::ProbeConfig::from_env(),
            thresholds: Default::default(),
            lock_dir: settings::defaults::gpu_lock_dir(),
            sample_every: settings::defaults::gpu_sample_every(),
        }
    }
}

impl Config {
    pub fn new(user_home: PathBuf) -> Self {
        Self {
            max_running: settings::defaults::max_running(),
            default_max_parallel: 1,
            stop: StopTimes::default(),
            interpreter: interpreter(),
            user_home,
            gpu: GpuConfig::default(),
            slurm: SlurmConfig::default(),
            log_max: Some(settings::defaults::log_max_mib() << 20),
            stop_runs_on_exit: Default::default(),
            monitor_exe: None,
        }
    }
}

/// What others ask of the scheduler.
#[derive(Debug)]
pub enum Msg {
    /// A newly accepted sweep's folder is complete on disk.
    Added(SweepId),
    /// A person's command for a sweep; the reply says what happened.
    Control(
        Control,
        SweepId,
        oneshot::Sender<Result<Controlled, ControlError>>,
    ),
    /// An agent's connection (docs/agents.md).
    Agent(super::AgentMsg),
}

/// How the scheduler is reached.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Msg>,
    status: watch::Receiver<String>,
    heartbeat: Arc<AtomicU64>,
}

/// What the scheduler reads: messages, and where it says how things stand.
#[derive(Debug)]
pub struct Mailbox {
    pub(super) msgs: mpsc::UnboundedReceiver<Msg>,
    pub(super) status: watch::Sender<String>,
    pub(super) heartbeat: Arc<AtomicU64>,
}

impl SchedulerHandle {
    /// A one-line summary of the scheduler's state (for systemd's STATUS=),
    /// updated whenever it changes; empty until the sweeps are loaded.
    pub fn status(&self) -> watch::Receiver<String> {
        self.status.clone()
    }

    /// Counts the scheduler's turns (at least one per look at the GPUs), so
    /// that systemd's watchdog is fed only while the scheduler turns.
    pub fn heartbeat(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.heartbeat)
    }

    pub fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).is_ok()
    }

    pub async fn control(
        &self,
        control: Control,
        sweep: SweepId,
    ) -> Result<Controlled, ControlError> {
        let (reply, answer) = oneshot::channel();
        if !self.send(Msg::Control(control, sweep, reply)) {
            return Err(ControlError::ShuttingDown);
        }
        answer.await.unwrap_or(Err(ControlError::ShuttingDown))
    }
}

pub fn channel() -> (SchedulerHandle, Mailbox) {
    let (tx, msgs) = mpsc::unbounded_channel();
    let (status, status_rx) = watch::channel(String::new());
    let heartbeat = Arc::new(AtomicU64::new(0));
    (
        SchedulerHandle {
            tx,
            status: status_rx,
            heartbeat: Arc::clone(&heartbeat),
        },
        Mailbox {
            msgs,
            status,
            heartbeat,
        },
    )
}
