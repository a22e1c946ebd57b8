use super::*;

#[test]
fn temporary_names_are_left_alone() {
    for name in [
        ".x.yaml",
        "x.yaml~",
        "x.yaml.tmp",
        "x.part",
        ".x.swp",
        "4913",
        "#x.yaml#",
        "x.crdownload",
    ] {
        assert!(is_temporary(name), "{name}");
    }
    for name in ["x.yaml", "x.json", "notes.txt", "x"] {
        assert!(!is_temporary(name), "{name}");
    }
}

#[tokio::test]
async fn a_job_past_its_time_is_no_longer_waited_for() {
    assert_eq!(bounded(Duration::from_secs(10), || 7).await.unwrap(), 7);
    // A job that never ends by itself (until `release` is dropped).
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let slow = bounded(Duration::from_millis(50), move || blocked.recv().is_ok()).await;
    assert!(matches!(slow, Err(Overrun::TooLong)), "{slow:?}");
    drop(release);
    let failed = bounded(Duration::from_secs(10), || -> u8 { panic!("a bug") }).await;
    assert!(matches!(failed, Err(Overrun::Failed)), "{failed:?}");
    let reasons = Overrun::TooLong.reasons("deep.yaml", Duration::from_secs(10));
    assert!(reasons.starts_with("deep.yaml: error: checking it took longer than 10s"));
}

#[test]
fn a_name_too_long_to_claim_is_refused_with_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create().unwrap();
    let long = format!("{}.yaml", "n".repeat(245));
    let path = home.inbox().join(&long);
    fs::write(&path, "x").unwrap();
    let Claim::Refused(reasons) = claim(&home, &path, &long) else {
        panic!("claimed")
    };
    assert!(reasons.contains("250 bytes long"), "{reasons}");
    assert!(
        reasons.contains(&format!("original name: {long}")),
        "{reasons}"
    );
    assert!(path.exists(), "left for the caller to reject");
    // The longest name taken is claimed, its sidecar too.
    let longest = format!("{}.yaml", "n".repeat(MAX_NAME_BYTES - 5));
    let path = home.inbox().join(&longest);
    fs::write(&path, "x").unwrap();
    fs::write(home.inbox().join(sidecar_name(&longest)), "{}").unwrap();
    let Claim::Claimed(claimed) = claim(&home, &path, &longest) else {
        panic!("not claimed")
    };
    assert!(claimed.exists() && sidecar_of(&claimed).exists());
}

#[test]
fn a_file_its_writer_still_holds_waits_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path();
    let path = inbox.join("x.yaml");
    fs::write(&path, "a").unwrap();
    let mut pending = HashMap::new();
    let config = InboxConfig::default();
    note(inbox, &path, Hint::Written, &mut pending);
    assert!(pending[&path].writing);
    assert_eq!(wait(&config, &pending[&path]), config.settle_writing);
    // More written: still being written, whatever the event said.
    fs::write(&path, "ab").unwrap();
    note(inbox, &path, Hint::Changed, &mut pending);
    assert!(pending[&path].writing);
    note(inbox, &path, Hint::Closed, &mut pending);
    assert!(!pending[&path].writing && pending[&path].closed);
    assert_eq!(wait(&config, &pending[&path]), config.settle_closed);
    // Never seen written (no inotify, or there before the daemon): the settle time.
    let other = inbox.join("y.yaml");
    fs::write(&other, "a").unwrap();
    note(inbox, &other, Hint::Changed, &mut pending);
    assert_eq!(wait(&config, &pending[&other]), config.settle);
}
