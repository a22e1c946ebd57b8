//! Programs the checks start: found beside sweepctl or on PATH, and run with
//! a time limit, their output read whole.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// What a program said and how it ended.
pub struct Said {
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// Run `command` for at most `limit` (then killed); why not, if it could not
/// be started or did not end in time.
pub fn output(command: &mut Command, limit: Duration) -> Result<Said, String> {
    let name = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("piped")));
    let err = reader(Box::new(child.stderr.take().expect("piped")));
    let status = match child.wait_timeout(limit) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{name} did not answer within {} s",
                limit.as_secs()
            ));
        }
    };
    Ok(Said {
        success: status.success(),
        status: status.to_string(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// `name` beside this sweepctl, else on PATH.
pub fn beside_or_on_path(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|p| p.is_file());
    beside.or_else(|| on_path(name))
}

/// `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
