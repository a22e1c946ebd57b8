use super::*;
use std::os::unix::fs::PermissionsExt;

fn gpu(index: u32, used: u64, util: u32) -> Gpu {
    Gpu {
        index,
        uuid: format!("GPU-test-{index}"),
        name: "Test GPU".into(),
        memory_total_mib: Some(81559),
        memory_used_mib: Some(used),
        utilization_pct: Some(util),
    }
}

fn snapshot(gpus: Vec<Gpu>) -> Snapshot {
    Snapshot {
        gpus,
        source: "test".into(),
        note: None,
        failed: false,
        apps: Vec::new(),
        began: Some(Instant::now()),
    }
}

fn run(n: u32) -> RunId {
    RunId {
        sweep: "20261128-000000-t-abcd".parse().unwrap(),
        run: n,
    }
}

struct World {
    dir: tempfile::TempDir,
    placement: Placement,
    now: Instant,
}

fn world(gpus: Vec<Gpu>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut placement = Placement::new(Thresholds::default(), dir.path().join("locks"));
    placement.observe(snapshot(gpus));
    World {
        dir,
        placement,
        now: Instant::now(),
    }
}

fn indices(lease: &Lease) -> Vec<u32> {
    lease.gpus.iter().map(|g| g.index).collect()
}

#[test]
fn free_gpus_go_one_run_each_and_come_back_after_the_cooldown() {
    let mut w = world(vec![gpu(0, 3, 0), gpu(1, 3, 0)]);
    let a = w.placement.lease(1, w.now).unwrap();
    assert_eq!(indices(&a), [0]);
    w.placement.hold(&run(1), a);
    let b = w.placement.lease(1, w.now).unwrap();
    assert_eq!(indices(&b), [1]);
    w.placement.hold(&run(2), b);
    let why = w.placement.lease(1, w.now).unwrap_err();
    assert!(
        why.contains("GPU 0: held by run") && why.contains("/1"),
        "{why}"
    );
    assert!(why.contains("GPU 1: held by run"), "{why}");

    w.placement.release(&run(1), w.now);
    let why = w.placement.lease(1, w.now).unwrap_err();
    assert!(why.contains("GPU 0: released moments ago"), "{why}");
    let later = w.now + Duration::from_secs(6);
    let why = w.placement.lease(1, later).unwrap_err();
    assert!(
        why.contains("not sampled since"),
        "needs a fresh look: {why}"
    );
    w.placement
        .observe(snapshot(vec![gpu(0, 3, 0), gpu(1, 30_000, 90)]));
    assert_eq!(indices(&w.placement.lease(1, later).unwrap()), [0]);
}

#[test]
fn a_gpu_used_by_others_in_any_recent_sample_is_busy() {
    let mut w = world(vec![gpu(0, 40_000, 97), gpu(1, 3, 0)]);
    let lease = w.placement.lease(1, w.now).unwrap();
    assert_eq!(indices(&lease), [1], "GPU 0 is busy");
    drop(lease);
    // GPU 0 idles now, but the last 3 samples still include the busy one.
    w.placement
        .observe(snapshot(vec![gpu(0, 3, 0), gpu(1, 3, 0)]));
    w.placement
        .observe(snapshot(vec![gpu(0, 3, 0), gpu(1, 3, 0)]));
    let why = w.placement.lease(2, w.now).unwrap_err();
    assert!(why.contains("GPU 0: in use by others"), "{why}");
    w.placement
        .observe(snapshot(vec![gpu(0, 3, 0), gpu(1, 3, 0)]));
    assert_eq!(indices(&w.placement.lease(2, w.now).unwrap()), [0, 1]);
    // Memory under max(1024 MiB, 5 % of 81559 MiB = 4077 MiB) is idle.
    w.placement.observe(snapshot(vec![gpu(0, 4000, 5)]));
    assert!(w.placement.lease(1, w.now).is_ok());
}

#[test]
fn another_sweepds_lock_keeps_a_gpu_and_a_failed_lease_keeps_nothing() {
    let mut w = world(vec![gpu(0, 3, 0), gpu(1, 3, 0)]);
    // Another user's sweepd holds GPU 0's lock.
    let other = w.placement.lease(1, w.now).unwrap();
    assert_eq!(indices(&other), [0]);
    let mut second = Placement::new(Thresholds::default(), w.dir.path().join("locks"));
    second.observe(snapshot(vec![gpu(0, 3, 0), gpu(1, 3, 0)]));
    let why = second.lease(2, w.now).unwrap_err();
    assert!(why.contains("GPU 0: locked by another sweepd"), "{why}");
    // The failed lease of 2 did not keep GPU 1's lock.
    let mine = second.lease(1, w.now).unwrap();
    assert_eq!(indices(&mine), [1]);
    drop(other);
    drop(mine);
    assert_eq!(indices(&second.lease(2, w.now).unwrap()), [0, 1]);
    let mode = std::fs::metadata(w.dir.path().join("locks"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1777, "every user can make locks there");
}

#[test]
fn asking_for_more_gpus_than_there_are_says_how_many_there_are() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    let why = w.placement.lease(2, w.now).unwrap_err();
    assert!(why.contains("needs 2 GPU(s) and sweepd sees 1"), "{why}");
    let mut none = Placement::new(Thresholds::default(), w.dir.path().join("l"));
    assert!(!none.ready());
    none.observe(Snapshot::failure(
        "nvidia-smi".into(),
        "nvidia-smi failed (exit status: 9)".into(),
    ));
    let why = none.lease(1, w.now).unwrap_err();
    assert!(
        why.contains("sees 0 (nvidia-smi failed (exit status: 9))"),
        "{why}"
    );
}

#[test]
fn a_failed_look_keeps_the_gpus_known_and_places_nothing_until_a_look_works() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    w.placement
        .observe(Snapshot::failure("nvidia-smi".into(), "timed out".into()));
    assert_eq!(
        w.placement.gpus().len(),
        1,
        "still known: runs keep needing a GPU"
    );
    let why = w.placement.lease(1, w.now).unwrap_err();
    assert!(
        why.contains("the last look at the GPUs failed: timed out"),
        "{why}"
    );
    w.placement.observe(snapshot(vec![gpu(0, 3, 0)]));
    assert!(w.placement.lease(1, w.now).is_ok());
}

#[test]
fn a_look_begun_before_our_run_let_go_does_not_count_against_the_gpu() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    let lease = w.placement.lease(1, w.now).unwrap();
    w.placement.hold(&run(1), lease);
    // This look saw our own run's memory; it arrives after the release.
    let busy_look = snapshot(vec![gpu(0, 30_000, 99)]);
    let released = Instant::now();
    w.placement.release(&run(1), released);
    w.placement.observe(busy_look);
    let later = released + Duration::from_secs(6);
    let why = w.placement.lease(1, later).unwrap_err();
    assert!(
        why.contains("not sampled since"),
        "the stale look was dropped: {why}"
    );
    w.placement.observe(snapshot(vec![gpu(0, 3, 0)]));
    assert!(w.placement.lease(1, later).is_ok());
}

/// Four leases of 1/4 on one GPU, held by runs `first..first + 4`.
fn fill(w: &mut World, first: u32) -> Vec<u32> {
    (first..first + 4)
        .map(|n| {
            let lease = w.placement.lease_share(4, None, w.now).unwrap();
            let at = lease.gpus[0].index;
            w.placement.hold(&run(n), lease);
            at
        })
        .collect()
}

#[test]
fn quarter_runs_fill_one_gpu_then_the_next_and_never_share_with_whole_runs() {
    let mut w = world(vec![gpu(0, 3, 0), gpu(1, 3, 0)]);
    assert_eq!(fill(&mut w, 1), [0, 0, 0, 0]);
    // A whole-GPU run goes where no share is.
    let whole = w.placement.lease(1, w.now).unwrap();
    assert_eq!(indices(&whole), [1]);
    w.placement.hold(&run(9), whole);
    let why = w.placement.lease_share(4, None, w.now).unwrap_err();
    assert!(
        why.contains("GPU 0: shared by as many runs as fit"),
        "{why}"
    );
    assert!(why.contains("GPU 1: held by run"), "{why}");
    let why = w.placement.lease(1, w.now).unwrap_err();
    assert!(why.contains("GPU 0: shared by run(s)"), "{why}");
    // Half runs fit beside quarter runs where two quarters are free.
    w.placement.release(&run(1), w.now);
    w.placement.release(&run(2), w.now);
    let half = w.placement.lease_share(2, None, w.now).unwrap();
    assert_eq!(indices(&half), [0], "no cooldown while it is still shared");
    w.placement.hold(&run(10), half);
    let report = w.placement.report().unwrap();
    assert_eq!(report.gpus[0].shared, Some(1.0));
    assert!(report.gpus[0].held_by.as_deref().unwrap().contains("/10"));
    assert_eq!(report.gpus[1].shared, None);
}

#[test]
fn a_shared_gpu_keeps_its_lock_until_its_last_run_ends() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    fill(&mut w, 1);
    let mut other = Placement::new(Thresholds::default(), w.dir.path().join("locks"));
    other.observe(snapshot(vec![gpu(0, 3, 0)]));
    for n in 1..=3 {
        w.placement.release(&run(n), w.now);
        let why = other.lease_share(4, None, w.now).unwrap_err();
        assert!(why.contains("locked by another sweepd"), "{why}");
    }
    w.placement.release(&run(4), w.now);
    assert!(
        other.lease_share(4, None, w.now).is_ok(),
        "the lock is free"
    );
    let why = w.placement.lease_share(4, None, w.now).unwrap_err();
    assert!(why.contains("released moments ago"), "{why}");
}

#[test]
fn a_shared_run_goes_only_where_its_memory_fits() {
    let total = 81559;
    let mut w = world(vec![gpu(0, 3, 0), gpu(1, 3, 0)]);
    // Runs counted at 30000 MiB: two fit on a GPU, not three.
    for n in 1..=2 {
        let lease = w.placement.lease_share(4, Some(30_000), w.now).unwrap();
        assert_eq!(indices(&lease), [0]);
        w.placement.hold(&run(n), lease);
    }
    let third = w.placement.lease_share(4, Some(30_000), w.now).unwrap();
    assert_eq!(indices(&third), [1], "GPU 0 has 21559 MiB left");
    drop(third);
    // The GPU's own look counts when it shows more in use than ours.
    w.placement
        .observe(snapshot(vec![gpu(0, 75_000, 100), gpu(1, 3, 0)]));
    let beside = w.placement.lease_share(4, Some(8_000), w.now).unwrap();
    assert_eq!(indices(&beside), [1], "GPU 0 shows 6559 MiB free");
    // A run needing more than an idle GPU has goes alone on an idle one,
    // counted at what it has (all but the busy threshold, 4077 MiB)...
    let mut big = world(vec![gpu(0, 900, 0)]);
    let alone = big
        .placement
        .lease_share(2, Some(2 * total), big.now)
        .unwrap();
    assert_eq!(alone.share.unwrap().memory_mib, total - 4077);
    big.placement.hold(&run(1), alone);
    // ...and a GPU with too little free gets no other, with the figures.
    let why = big
        .placement
        .lease_share(2, Some(5_000), big.now)
        .unwrap_err();
    assert!(
        why.contains("GPU 0: 4077 MiB of its memory free, a run needs 5000 MiB"),
        "{why}"
    );
}

#[test]
fn others_memory_is_what_the_look_saw_less_what_it_saw_our_runs_use() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    for n in 1..=2 {
        let lease = w.placement.lease_share(4, Some(20_000), w.now).unwrap();
        w.placement.hold(&run(n), lease);
    }
    // 50000 MiB in use: our runs (counted at 40000) use 10000 of it so far.
    w.placement.observe(snapshot(vec![gpu(0, 50_000, 90)]));
    let mut ours = HashMap::new();
    ours.insert("GPU-test-0".to_owned(), 10_000);
    w.placement.ours_seen(ours);
    let why = w.placement.lease_share(4, Some(20_000), w.now).unwrap_err();
    assert!(
        why.contains("1559 MiB of its memory free"),
        "others use 40000: {why}"
    );
    // Where the look could not list the GPU's processes, what it saw may
    // all be ours: others are counted at what it saw beyond our counts.
    w.placement.ours_seen(HashMap::new());
    assert!(w.placement.lease_share(4, Some(20_000), w.now).is_ok());
}

#[test]
fn runs_taken_up_on_a_shared_gpu_keep_it_from_new_runs_until_they_end() {
    let mut w = world(vec![gpu(0, 3, 0)]);
    let share = Some(Share {
        per_gpu: 4,
        memory_mib: 1000,
    });
    w.placement
        .hold_adopted(&run(1), &["GPU-test-0".to_owned()], share);
    let why = w.placement.lease_share(4, None, w.now).unwrap_err();
    assert!(why.contains("taken up after a restart"), "{why}");
    let why = w.placement.lease(1, w.now).unwrap_err();
    assert!(why.contains("shared by run(s)"), "{why}");
    w.placement.release(&run(1), w.now);
    assert!(w.placement.report().unwrap().gpus[0].held_by.is_none());
}
