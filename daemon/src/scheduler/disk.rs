//! The scheduler's view of the disk that holds the home: full from the first
//! write that fails for want of space or quota (or when little is left before
//! a run starts), back once there is a margin of room and a probe write works.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::recorded;
use crate::store::space;
use crate::sweep::Event;

pub(super) struct Disk {
    home: PathBuf,
    /// Why no run starts, while the disk is full.
    full: Option<String>,
    /// Space came back and the scheduler has not yet acted on it.
    came_back: bool,
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
            came_back: false,
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
            self.become_full();
        }
    }

    /// A run failed: if a probe write fails too, for want of space or quota
    /// (which statvfs may not show), the disk is full.
    pub fn probe(&mut self) {
        if self.full.is_none()
            && let Err(e) = space::write_probe(&self.home)
        {
            self.write_failed(&e);
        }
    }

    /// Look at the free space: full below `space::LOW`; back at
    /// `space::BACK` once a probe write works.
    pub fn look(&mut self) {
        let Ok(free) = space::free_bytes(&self.home) else {
            return;
        };
        match &self.full {
            None if free < space::LOW => self.become_full(),
            Some(_) if free >= space::BACK && space::write_probe(&self.home).is_ok() => {
                tracing::info!(
                    free_kib = free / 1024,
                    "there is space on the disk again: runs start again"
                );
                self.full = None;
                self.came_back = true;
            }
            _ => {}
        }
    }

    /// Whether space came back since this was last asked.
    pub fn take_came_back(&mut self) -> bool {
        std::mem::take(&mut self.came_back)
    }

    /// Whether to write unsaved records again now: as soon as space is
    /// back, else now and then (not at every turn of the scheduler).
    pub fn resave_due(&mut self, back: bool) -> bool {
        let due = back
            || self
                .resaved_at
                .is_none_or(|at| at.elapsed() >= RESAVE_EVERY);
        if due {
            self.resaved_at = Some(Instant::now());
        }
        due
    }

    fn become_full(&mut self) {
        let free = space::free_bytes(&self.home).unwrap_or(0);
        let why = space::no_space_message(&self.home, free);
        tracing::warn!(free_kib = free / 1024, "{why}");
        self.full = Some(why);
    }
}

impl super::Scheduler {
    /// Whether runs may start: not while the disk is full. While it is, every
    /// sweep says so; once space is back, what could not be written is
    /// written again and the sweeps stop saying it.
    pub(super) fn disk_has_room(&mut self) -> bool {
        self.disk.look();
        let back = self.disk.take_came_back();
        if let Some(why) = self.disk.full().map(str::to_owned) {
            for sweep in self.sweeps.values_mut().filter(|s| s.is_running()) {
                // Best effort: a full disk may refuse this too (sweepctl
                // status also looks at the disk itself).
                let _ = sweep.on(Event::Waiting(Some(why.clone())));
            }
            return false;
        }
        let resave = self.sweeps.values().any(|s| s.is_unsaved()) && self.disk.resave_due(back);
        for sweep in self.sweeps.values_mut() {
            let result = match (resave && sweep.is_unsaved(), back) {
                (true, _) => sweep.resave().and_then(|()| sweep.on(Event::Waiting(None))),
                (false, true) => sweep.on(Event::Waiting(None)),
                (false, false) => continue,
            };
            recorded(
                &mut self.disk,
                sweep,
                result,
                "cannot write the sweep's records again",
            );
        }
        self.disk.full().is_none()
    }
}
