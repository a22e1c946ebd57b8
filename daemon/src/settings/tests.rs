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

/// A value other than `default` (as `shown` writes it) of the same type:
/// `bump` more, as `config.toml` writes it and as `shown` will.
fn other(default: &str, bump: u64) -> (toml::Value, String) {
    if let Ok(n) = default.parse::<u64>() {
        let n = n + bump;
        (toml::Value::Integer(n as i64), n.to_string())
    } else if let Ok(b) = default.parse::<bool>() {
        (toml::Value::Boolean(!b), (!b).to_string())
    } else if let Ok(d) = humantime::parse_duration(default) {
        let text = humantime::format_duration(d + Duration::from_secs(bump)).to_string();
        (toml::Value::String(text.clone()), text)
    } else {
        let path = format!("/elsewhere/{bump}");
        (toml::Value::String(path.clone()), path)
    }
}

/// Every declared setting goes by one name: `shown` lists it, the file key
/// (`table.key`) sets it, its flag (the name with dashes) is in the help and
/// sets it, and each says where the value came from.
#[test]
fn every_setting_has_one_name_in_the_file_the_flags_and_shown() {
    let defaults = Settings::default().shown();
    let names: Vec<&str> = defaults.iter().map(|s| s.name.as_str()).collect();
    let declared: Vec<&str> = DECLARED.iter().map(|d| d.name).collect();
    assert_eq!(names, declared);

    // The flags: named after the setting, each in the help, no others.
    let mut command = <Flags as clap::Args>::augment_args(clap::Command::new("sweepd"));
    command.build();
    let help = command.render_help().to_string();
    for d in DECLARED {
        if let Some(flag) = d.flag {
            assert_eq!(flag, d.name.replace(['.', '_'], "-"), "{}", d.name);
            assert!(help.contains(&format!("--{flag} ")), "--{flag} in\n{help}");
        }
    }
    let flags: Vec<&str> = DECLARED.iter().filter_map(|d| d.flag).collect();
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|&long| long != "help")
        .collect();
    assert_eq!(longs, flags);

    // A file setting every key to another value.
    let mut file = toml::Table::new();
    for shown in &defaults {
        let mut table = &mut file;
        let mut path: Vec<&str> = shown.name.split('.').collect();
        let key = path.pop().unwrap();
        for name in path {
            table = table
                .entry(name)
                .or_insert_with(|| toml::Table::new().into())
                .as_table_mut()
                .unwrap();
        }
        table.insert(key.to_owned(), other(&shown.value, 7).0);
    }
    let mut settings = load(&toml::to_string(&file).unwrap()).unwrap();
    for (shown, default) in settings.shown().iter().zip(&defaults) {
        let want = other(&default.value, 7).1;
        assert_eq!(
            (&shown.value, shown.from),
            (&want, Origin::File),
            "{}",
            shown.name
        );
    }

    // Then every flag, to yet another value.
    let mut argv = vec!["sweepd".to_owned()];
    for (d, default) in DECLARED.iter().zip(&defaults) {
        if let Some(flag) = d.flag {
            argv.extend([format!("--{flag}"), other(&default.value, 11).1]);
        }
    }
    let flags = <Flags as clap::FromArgMatches>::from_arg_matches(
        &command.try_get_matches_from(&argv).unwrap(),
    )
    .unwrap();
    settings.apply(flags.overrides(), Origin::Flag);
    for ((shown, default), d) in settings.shown().iter().zip(&defaults).zip(DECLARED) {
        let (bump, from) = match d.flag {
            Some(_) => (11, Origin::Flag),
            None => (7, Origin::File),
        };
        let want = other(&default.value, bump).1;
        assert_eq!((&shown.value, shown.from), (&want, from), "{}", shown.name);
    }
}

/// The example file and docs/daemon.md name every setting: its key under its
/// table, and its flag.
#[test]
fn the_example_and_the_docs_name_every_setting() {
    let example = include_str!("../../../systemd/config.toml.example");
    let mut table = String::new();
    let mut keys = Vec::new();
    for line in example.lines() {
        if let Some(name) = line.strip_prefix('[') {
            table = format!("{}.", name.trim_end_matches(']'));
        } else if let Some((key, _)) = line.strip_prefix("# ").and_then(|l| l.split_once(" = ")) {
            keys.push(format!("{table}{key}"));
        }
    }
    let declared: Vec<String> = DECLARED.iter().map(|d| d.name.to_owned()).collect();
    assert_eq!(keys, declared, "systemd/config.toml.example");

    let docs = include_str!("../../../docs/daemon.md");
    for d in DECLARED {
        let key = d.name.rsplit('.').next().unwrap();
        assert!(
            docs.contains(&format!("`{key}`")),
            "`{key}` in docs/daemon.md"
        );
        if let Some(flag) = d.flag {
            assert!(
                docs.contains(&format!("--{flag}")),
                "--{flag} in docs/daemon.md"
            );
        }
    }
}
