//! `sweepctl service install`: the systemd user unit (systemd/sweepd.service,
//! compiled in) written to the user's unit folder with ExecStart pointing at
//! this installation's sweepd, and what to do next.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::Outcome;

/// The user unit as shipped; its ExecStart line is replaced.
const USER_UNIT: &str = include_str!("../../systemd/sweepd.service");

pub struct Install {
    pub unit_dir: Option<PathBuf>,
    pub sweepd: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub force: bool,
}

pub fn install(options: Install) -> anyhow::Result<Outcome> {
    let sweepd = match options.sweepd {
        Some(path) => path,
        None => find_sweepd()?,
    };
    let sweepd = std::path::absolute(&sweepd)?;
    if !sweepd.is_file() {
        bail!(
            "{}: no such file (--sweepd names the sweepd to run)",
            sweepd.display()
        );
    }
    let dir = match options.unit_dir {
        Some(dir) => dir,
        None => directories::BaseDirs::new()
            .context("no home folder: pass --unit-dir")?
            .config_dir()
            .join("systemd/user"),
    };
    let mut exec = quote(&sweepd);
    if let Some(home) = &options.home {
        exec = format!("{exec} --home {}", quote(&std::path::absolute(home)?));
    }
    let unit = unit_text(&exec);
    let path = dir.join("sweepd.service");
    let mut out = std::io::stdout().lock();
    match std::fs::read_to_string(&path) {
        Ok(old) if old == unit => {
            writeln!(
                out,
                "{} is already this unit; nothing to do",
                path.display()
            )?;
            next_steps(&mut out)?;
            return Ok(Outcome::Ok);
        }
        Ok(_) if !options.force => bail!(
            "{} exists and differs (written by hand or by another sweepd?); --force replaces it",
            path.display()
        ),
        _ => {}
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, &unit).with_context(|| format!("writing {}", path.display()))?;
    writeln!(out, "wrote {} (ExecStart={exec})", path.display())?;
    next_steps(&mut out)?;
    Ok(Outcome::Ok)
}

/// The shipped unit with `ExecStart=` set to `exec`.
fn unit_text(exec: &str) -> String {
    USER_UNIT
        .lines()
        .map(|line| {
            if line.starts_with("ExecStart=") {
                format!("ExecStart={exec}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

fn next_steps(out: &mut impl Write) -> std::io::Result<()> {
    let user = std::env::var("USER")
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "$USER".to_owned());
    if nix::unistd::geteuid().is_root() {
        writeln!(
            out,
            "note: you are root, and sweepd refuses to run as root (its runs would be root's).\n\
             On a shared host an administrator installs systemd/sweepd@.service and enables\n\
             sweepd@USER for each user instead (docs/service.md)."
        )?;
    }
    writeln!(out, "next:")?;
    writeln!(out, "  systemctl --user daemon-reload")?;
    writeln!(out, "  systemctl --user enable --now sweepd")?;
    writeln!(out, "  journalctl --user -u sweepd -f      # its log")?;
    if Path::new("/var/lib/systemd/linger").join(&user).exists() {
        writeln!(
            out,
            "lingering is on for {user}: sweepd keeps running when you log out"
        )
    } else {
        writeln!(
            out,
            "lingering is off for {user}: systemd stops your services when you log out. To keep\n\
             sweepd running (and start it at boot):\n  loginctl enable-linger {user}"
        )
    }
}

/// The sweepd beside this sweepctl, else the one on PATH.
fn find_sweepd() -> anyhow::Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("sweepd")))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("sweepd"))
                .find(|p| p.is_file())
        })
    };
    beside
        .or_else(on_path)
        .context("no sweepd beside sweepctl or on PATH: pass --sweepd PATH")
}

/// A path as one word of a systemd command line: double-quoted, with `\`
/// and `"` escaped, and systemd's specifiers (`%`) and variables (`$`)
/// doubled so that they are taken literally.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_systemd() {
        assert_eq!(quote(Path::new("/usr/bin/sweepd")), "\"/usr/bin/sweepd\"");
        assert_eq!(
            quote(Path::new("/home/a b/100%/$x/\"q\"")),
            "\"/home/a b/100%%/$$x/\\\"q\\\"\""
        );
    }

    #[test]
    fn only_exec_start_changes() {
        let unit = unit_text("\"/opt/sweepd\"");
        assert!(unit.contains("\nExecStart=\"/opt/sweepd\"\n"));
        assert_eq!(unit.lines().count(), USER_UNIT.lines().count());
        assert!(unit.contains("Type=notify") && unit.contains("KillMode=process"));
    }
}
