//! The scheduler's view of the disk that holds the home: full from the first
//! write that fails for want of space (or when little is left before a run
//! starts), back once there is a margin of room and a probe write works.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::store::space;

pub(super) struct Disk {
    home: PathBuf,
    /// Why no run starts, while the disk is full.
    full: Option<String>,
    /// When records that failed to be written were last written again.
    resaved_at: Option<Instant>,
}

/// How often records that failed to be written for another reason than
/// space are tried again.
const RESAVE_EVERY: Duration = Duration::from_secs(10);

impl Disk {
    pub fn new(home: PathBuf) -> Self {
        Disk {
            home,
            full: None,
            resaved_at: None,
        }
    }

    /// Why nothing starts, while the disk is full.
    pub fn full(&self) -> Option<&str> {
        self.full.as_deref()
    }

    /// A write failed: for want of space, the disk is full from now on.
    pub fn write_failed(&mut self, e: &io::Error) {
        if space::is_no_space(e) && self.full.is_none() {
            let free = space::free_bytes(&self.home).unwrap_or(0);
            self.become_full(free);
        }
    }

    /// Look at the free space; true when it has just come back.
    pub fn look(&mut self) -> bool {
        let Ok(free) = space::free_bytes(&self.home) else {
            return false;
        };
        match &self.full {
            None if free < space::LOW => {
                self.become_full(free);
                false
            }
            None => false,
            Some(_) if free >= space::BACK && space::can_write(&self.home) => {
                tracing::info!(
                    free_kib = free / 1024,
                    "there is space on the disk again: runs start again"
                );
                self.full = None;
                true
            }
            Some(_) => {
                self.full = Some(space::no_space_message(&self.home, free));
                false
            }
        }
    }

    /// Whether to write unsaved records again now: as soon as space is
    /// back, else now and then (not at every turn of the scheduler).
    pub fn resave_due(&mut self, back: bool) -> bool {
        let due = back || self.resaved_at.is_none_or(|at| at.elapsed() >= RESAVE_EVERY);
        if due {
            self.resaved_at = Some(Instant::now());
        }
        due
    }

    fn become_full(&mut self, free: u64) {
        let why = space::no_space_message(&self.home, free);
        tracing::warn!("{why}");
        self.full = Some(why);
    }
}
