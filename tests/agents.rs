//! Agents end to end (docs/agents.md): sweeps with neither `program` nor
//! `command`, run by `sweepctl agent` and by the Python package's
//! `sweepd.agent`, against a real sweepd in a temp home.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::World;
use common::daemon::{Daemon, counted, home, state, summaries, wait_until};

/// Submit `text` as `name` and return the sweep's folder and id.
fn submit(w: &World, name: &str, text: &str) -> (PathBuf, String) {
    w.file(name, text);
    let out = w.sweepctl(["submit", name]).expect_code(0);
    let id = out.stdout().trim().to_owned();
    let folder = home(w).join("sweeps").join(&id);
    assert!(folder.is_dir(), "{}", out.stderr());
    (folder, id)
}

/// `sweepctl agent ID [ARGS] -- COMMAND`, started.
fn agent(w: &World, id: &str, args: &[&str], command: &[&str]) -> Child {
    w.command("sweepctl")
        .args(["agent", id])
        .args(args)
        .arg("--")
        .args(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sweepctl agent starts")
}

fn params_of(run: &Path) -> String {
    fs::read_to_string(run.join("params.json")).unwrap()
}

/// A trainer that logs `loss = x` three times, from its `--x=` argument.
const TRAINER: &str = "import json, sys\n\
    x = float([a for a in sys.argv[1:] if a.startswith('--x=')][0][4:])\n\
    print('training with', x)\n\
    for i in range(3):\n    print(json.dumps({'loss': x + i}), flush=True)\n";

#[test]
fn a_sweep_with_nothing_to_run_waits_for_agents_and_two_share_it_without_duplicates() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file("train.py", TRAINER);
    let (sweep, id) = submit(
        &w,
        "fn.yaml",
        "method: random\nrun_cap: 8\nmetric: {name: loss, goal: minimize}\n\
         parameters: {x: {min: 0.0, max: 1.0}}\n",
    );
    let status = w.sweepctl(["status", &id]).expect_code(0).stdout();
    assert!(status.contains("waiting for an agent"), "{status}");
    assert!(status.contains(&format!("sweepctl agent {id}")), "{status}");
    let agents: Vec<Child> = (0..2)
        .map(|_| agent(&w, &id[..12], &[], &["python3", "train.py"]))
        .collect();
    for agent in agents {
        let out = agent.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("is finished: run_cap reached"), "{stderr}");
    }
    assert_eq!(state(&sweep), "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs.len(), 8, "exactly run_cap runs, none handed out twice");
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:#?}");
    let dirs = common::daemon::run_dirs(&sweep);
    let proposals: BTreeSet<String> = dirs.iter().map(|d| params_of(d)).collect();
    assert_eq!(proposals.len(), 8, "no proposal twice");
    // The same files as a command run: the output, and the metric read from it.
    let log = fs::read_to_string(dirs[0].join("stdout.log")).unwrap();
    assert!(log.starts_with("training with"), "{log}");
    let metrics = fs::read_to_string(dirs[0].join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert_eq!(runs[0]["metric"]["count"], 3, "{:#}", runs[0]);
}

#[test]
fn an_agent_killed_mid_run_has_its_run_recorded_and_run_again_by_another() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file("train.py", TRAINER);
    let (sweep, id) = submit(
        &w,
        "fn.yaml",
        "method: random\nrun_cap: 2\nmetric: {name: loss, goal: minimize}\n\
         parameters: {x: {min: 0.0, max: 1.0}}\nsweepd: {retry: 1}\n",
    );
    // This agent's run never ends by itself.
    let mut doomed = agent(
        &w,
        &id,
        &[],
        &["sh", "-c", "echo $$ > run.pid; exec sleep 600"],
    );
    let pid_file = w.path("run.pid");
    wait_until("the first run to start", || {
        fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
            && summaries(&sweep)
                .first()
                .is_some_and(|r| r["state"] == "running")
    });
    let run_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    doomed.kill().unwrap(); // SIGKILL: the agent has no say
    doomed.wait().unwrap();
    wait_until("the run to be recorded", || {
        summaries(&sweep)[0]["state"] == "crashed"
    });
    let first = &summaries(&sweep)[0];
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("agent went away"),
        "{first:#}"
    );
    // What the agent left running went with it.
    wait_until("the orphaned run to be killed", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(run_pid), None).is_err()
    });
    let out = agent(&w, &id, &[], &["python3", "train.py"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = summaries(&sweep);
    assert_eq!(state(&sweep), "finished");
    assert_eq!(counted(&runs), 2, "exactly run_cap runs count: {runs:#?}");
    let dirs = common::daemon::run_dirs(&sweep);
    assert_eq!(dirs.len(), 3, "the crashed run, its re-run, one more");
    assert_eq!(
        params_of(&dirs[0]),
        params_of(&dirs[1]),
        "run again as it was"
    );
    assert_eq!(runs[1]["state"], "finished");
}

#[test]
fn an_agent_is_refused_with_a_reason_it_can_act_on() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let (_, program_sweep) = submit(
        &w,
        "prog.yaml",
        "method: random\nrun_cap: 1\nprogram: train.py\nparameters: {x: {min: 0.0, max: 1.0}}\n",
    );
    let (_, id) = submit(
        &w,
        "fn.yaml",
        "method: random\nrun_cap: 1\nparameters: {lr: {min: 0.0, max: 1.0}}\n",
    );
    let refused = |sweep: &str, command: &[&str]| {
        let out = agent(&w, sweep, &[], command).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused("no-such-sweep", &["true"]);
    assert!(e.contains("no sweep `no-such-sweep`"), "{e}");
    let e = refused(&program_sweep, &["true"]);
    assert!(e.contains("has a `program` or `command` of its own"), "{e}");
    let e = refused(&id, &["python3", "--lr=${learning_rate}"]);
    assert!(e.contains("unknown macro `${learning_rate}`"), "{e}");
    // A parameter's own name is a macro: accepted.
    let out = agent(
        &w,
        &id,
        &[],
        &["sh", "-c", "test \"$1\" = ok", "--lr=${lr}"],
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
