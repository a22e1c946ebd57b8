//! The settings: defaults, the file, flags, and what `sweepctl config` shows.

use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    Settings::load(Some(&path), true)
}

#[test]
fn the_file_overrides_defaults_and_says_so() {
    let s = load("max_running = 3\nkill_after = \"1m 30s\"\n[gpu]\nmax_utilization = 25\nlock_dir = \"/srv/locks\"\n").unwrap();
    assert_eq!(
        s.max_running,
        Setting {
            value: 3,
            from: Origin::File
        }
    );
    assert_eq!(s.kill_after.value, Duration::from_secs(90));
    assert_eq!(s.gpu_max_utilization.value, 25);
    assert_eq!(s.gpu_lock_dir.value, PathBuf::from("/srv/locks"));
    assert_eq!(s.settle.from, Origin::Default);
    let shown = s.shown();
    let kill = shown.iter().find(|r| r.name == "kill_after").unwrap();
    assert_eq!((kill.value.as_str(), kill.from), ("1m 30s", Origin::File));
}

/// The shipped example, uncommented, parses, and says the defaults.
#[test]
fn the_example_file_states_the_defaults() {
    let example = include_str!("../../../systemd/config.toml.example");
    let uncommented: String = example
        .lines()
        .filter(|l| !l.starts_with("# max_running"))
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.contains(" = "))
                .unwrap_or(l)
        })
        .map(|l| {
            format!(
                "{}\n",
                l.split("   #").next().unwrap().split("  #").next().unwrap()
            )
        })
        .collect();
    let s = load(&uncommented).unwrap();
    let d = Settings::default();
    assert_eq!(s.settle.value, d.settle.value);
    assert_eq!(s.kill_after.value, d.kill_after.value);
    assert_eq!(s.rescan_every.value, d.rescan_every.value);
    assert_eq!(s.gpu_cooldown.value, d.gpu_cooldown.value);
    assert_eq!(s.gpu_max_memory_mib.value, d.gpu_max_memory_mib.value);
    assert_eq!(s.gpu_max_utilization.value, d.gpu_max_utilization.value);
    assert_eq!(s.gpu_sample_every.value, d.gpu_sample_every.value);
    assert_eq!(s.log_max_mib.value, d.log_max_mib.value);
    assert_eq!(s.log_max_mib.from, Origin::File, "the example names it");
}

#[test]
fn flags_override_the_file() {
    let mut s = load("term_after = \"20s\"\n").unwrap();
    s.apply(
        FileSettings {
            term_after: Some(Duration::from_secs(5)),
            ..Default::default()
        },
        Origin::Flag,
    );
    assert_eq!(
        s.term_after,
        Setting {
            value: Duration::from_secs(5),
            from: Origin::Flag
        }
    );
}

#[test]
fn mistakes_in_the_file_name_the_file_the_line_and_the_key() {
    let e = load("max_runing = 3\n").unwrap_err().to_string();
    assert!(
        e.contains("config.toml") && e.contains("line 1") && e.contains("max_runing"),
        "{e}"
    );
    let e = load("[gpu]\ncooldown = \"soon\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("\"soon\" is not a duration"),
        "{e}"
    );
    let e = load("max_running = \"many\"\n").unwrap_err().to_string();
    assert!(e.contains("max_running"), "{e}");
    let missing = Settings::load(Some(Path::new("/nonexistent/config.toml")), true);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .starts_with("cannot read /nonexistent/config.toml")
    );
    let optional = Settings::load(Some(Path::new("/nonexistent/config.toml")), false).unwrap();
    assert_eq!(optional, Settings::default());
}
