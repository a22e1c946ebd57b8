//! The host's side: sweepd running for this home, the systemd user service
//! and lingering, the home's permissions, how the inbox is watched, and
//! Slurm where a sweep of this home uses it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use sweepd_core::spec::{Executor, Format, check};
use sweepd_core::store::{Home, SweepState};

use super::Check;
use super::run::{on_path, output};
use crate::client::Client;

pub fn sweepd(home: &Home) -> Vec<Check> {
    let name = "sweepd";
    if Client::answers(home) {
        let pid = std::fs::read_to_string(home.lock_file()).unwrap_or_default();
        return vec![Check::ok(
            name,
            format!("running for {} (pid {})", home.root().display(), pid.trim()),
        )];
    }
    vec![Check::warning(
        name,
        format!(
            "not running for {}: sweeps wait in its inbox",
            home.root().display()
        ),
        Some("systemctl --user start sweepd (see `sweepctl service install`), or run `sweepd` yourself".into()),
    )]
}

pub fn service() -> Vec<Check> {
    let name = "service";
    if !Path::new("/run/systemd/system").exists() {
        return vec![Check::warning(
            name,
            "this machine does not run systemd: nothing restarts sweepd when it stops or at boot",
            Some("run sweepd under your own supervisor (docs/service.md)".into()),
        )];
    }
    let unit =
        directories::BaseDirs::new().map(|d| d.config_dir().join("systemd/user/sweepd.service"));
    let mut checks = Vec::new();
    match unit {
        Some(unit) if unit.is_file() => checks.push(Check::ok(
            name,
            format!("user unit {} installed", unit.display()),
        )),
        _ => checks.push(Check::warning(
            name,
            "no systemd user unit for sweepd",
            Some("sweepctl service install".into()),
        )),
    }
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name);
    if Path::new("/var/lib/systemd/linger").join(&user).exists() {
        checks.push(Check::ok("lingering", format!("on for {user}")));
    } else {
        checks.push(Check::warning(
            "lingering",
            format!("off for {user}: systemd stops sweepd and its runs when you log out"),
            Some(format!("loginctl enable-linger {user}")),
        ));
    }
    checks
}

pub fn home(home: &Home) -> Vec<Check> {
    let name = "home";
    let root = home.root();
    let meta = match std::fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Check::ok(
                name,
                format!(
                    "{} does not exist yet: sweepd makes it (mode 700)",
                    root.display()
                ),
            )];
        }
        Err(e) => {
            return vec![Check::problem(
                name,
                format!("cannot look at {}: {e}", root.display()),
                "fix the path or its permissions, or choose another with --home",
            )];
        }
    };
    let me = nix::unistd::getuid().as_raw();
    let mode = meta.mode() & 0o7777;
    if meta.uid() != me {
        return vec![Check::problem(
            name,
            format!(
                "{} belongs to uid {}, not you ({me})",
                root.display(),
                meta.uid()
            ),
            "use a home of your own (--home, SWEEPS_HOME)",
        )];
    }
    if mode & 0o022 != 0 {
        return vec![Check::problem(
            name,
            format!(
                "{} is writable by others (mode {mode:o}): they could drop sweeps that run as you",
                root.display()
            ),
            format!("chmod 700 {}", root.display()),
        )];
    }
    if mode & 0o044 != 0 {
        return vec![Check::warning(
            name,
            format!(
                "{} is readable by others (mode {mode:o}): they can read your sweeps and runs",
                root.display()
            ),
            Some(format!("chmod 700 {}", root.display())),
        )];
    }
    vec![Check::ok(
        name,
        format!("{} is yours, mode {mode:o}", root.display()),
    )]
}

pub fn inbox(home: &Home) -> Vec<Check> {
    let name = "inbox";
    let inbox = home.inbox();
    if !inbox.is_dir() {
        return vec![Check::ok(
            name,
            format!("{} does not exist yet: sweepd makes it", inbox.display()),
        )];
    }
    match sweepd::how_watched(&inbox) {
        Ok(()) => vec![Check::ok(
            name,
            format!(
                "{} is watched by inotify: a dropped file is taken at once",
                inbox.display()
            ),
        )],
        Err(why) => vec![Check::warning(
            name,
            format!("{}: {why} (every 2 s)", inbox.display()),
            Some("use `sweepctl submit`, which hands a sweep to sweepd directly, or a home on a local disk (--home)".into()),
        )],
    }
}

/// Slurm, checked only where a sweep of this home that is not over uses it.
pub fn slurm(home: &Home, limit: Duration) -> Vec<Check> {
    let name = "slurm";
    let mut partitions = Vec::new();
    let mut users = 0;
    for id in home.sweep_ids().unwrap_or_default() {
        let dir = home.sweep(&id);
        let live = dir
            .read_state()
            .is_ok_and(|s| matches!(s.state, SweepState::Running | SweepState::Paused));
        let text = std::fs::read_to_string(dir.sweep_file()).unwrap_or_default();
        let format = if dir.sweep_file().extension().is_some_and(|e| e == "json") {
            Format::Json
        } else {
            Format::Yaml
        };
        if let (true, Some(spec)) = (live, check(&text, format).spec)
            && let Executor::Slurm(options) = spec.sweepd.executor
        {
            users += 1;
            partitions.extend(options.partition);
        }
    }
    if users == 0 {
        return vec![Check::ok(name, "no running sweep of this home uses Slurm")];
    }
    let Some(sinfo) = on_path("sinfo") else {
        return vec![Check::problem(
            name,
            format!("{users} sweep(s) run on Slurm, but there is no sinfo on PATH"),
            "put Slurm's commands on sweepd's PATH (in the unit: Environment=PATH=...)",
        )];
    };
    let said = output(
        std::process::Command::new(&sinfo).args(["--noheader", "--format=%R %a"]),
        limit,
    );
    let said = match said {
        Ok(said) if said.success => said,
        Ok(said) => {
            return vec![Check::problem(
                name,
                format!("sinfo failed ({}): {}", said.status, said.stderr.trim()),
                "is slurmctld running and reachable? (`scontrol ping`)",
            )];
        }
        Err(why) => {
            return vec![Check::problem(
                name,
                why,
                "is slurmctld running and reachable? (`scontrol ping`)",
            )];
        }
    };
    let known: Vec<(&str, &str)> = said
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .collect();
    let mut checks = Vec::new();
    for partition in partitions {
        match known.iter().find(|(p, _)| *p == partition) {
            Some((_, "up")) => {}
            Some((_, state)) => checks.push(Check::problem(
                name,
                format!("partition {partition} is {state}"),
                "ask the cluster's administrator, or choose another partition",
            )),
            None => checks.push(Check::problem(
                name,
                format!(
                    "partition {partition} is not one of sinfo's: {}",
                    known.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
                ),
                "correct sweepd.slurm.partition",
            )),
        }
    }
    if checks.is_empty() {
        checks.push(Check::ok(
            name,
            format!(
                "{users} sweep(s) on Slurm; sinfo answers ({} partition(s))",
                known.len()
            ),
        ));
    }
    checks
}
