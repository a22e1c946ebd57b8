//! Agents end to end (docs/agents.md): sweeps with neither `program` nor
//! `command`, run by `sweepctl agent` and by the Python package's
//! `sweepd.agent`, against a real sweepd in a temp home.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use common::World;
use common::daemon::{Daemon, counted, home, hyperband_stops, state, summaries, wait_until};

/// Submit `text` as `name` and return the sweep's folder and id.
fn submit(w: &World, name: &str, text: &str) -> (PathBuf, String) {
    w.file(name, text);
    let out = w.sweepctl(["submit", name]).expect_code(0);
    let id = out.stdout().trim().to_owned();
    let folder = home(w).join("sweeps").join(&id);
    assert!(folder.is_dir(), "{}", out.stderr());
    (folder, id)
}

/// A random sweep over `x` in [0, 1] with neither program nor command (so
/// agents run it), with `sweepd` added (`sweepd: {...}\n` or nothing).
fn function_sweep(w: &World, run_cap: u32, sweepd: &str) -> (PathBuf, String) {
    let text = format!(
        "method: random\nrun_cap: {run_cap}\nmetric: {{name: loss, goal: minimize}}\n\
         parameters: {{x: {{min: 0.0, max: 1.0}}}}\n{sweepd}"
    );
    submit(w, "fn.yaml", &text)
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

/// Whether process `pid` is dead: no such process, or a zombie (an orphan
/// whose reaper, pid 1 in a container, may never reap it).
fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
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
    let (sweep, id) = function_sweep(&w, 8, "");
    // Taken up by the scheduler just after the verdict: then it says why it waits.
    wait_until("the sweep to wait for agents", || {
        fs::read_to_string(sweep.join("state.json"))
            .is_ok_and(|s| s.contains("waiting for an agent"))
    });
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
    let (sweep, id) = function_sweep(&w, 2, "sweepd: {retry: 1}\n");
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
    wait_until("the orphaned run to be killed", || gone(run_pid));
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
    // `${envvar:NAME}` is the agent's own variable: unset, said before joining.
    let e = refused(&id, &["python3", "${envvar:SWEEPD_TEST_UNSET}"]);
    assert!(
        e.contains("uses ${envvar:SWEEPD_TEST_UNSET} but SWEEPD_TEST_UNSET is not set here"),
        "{e}"
    );
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

/// `python3 -c SCRIPT` in the world, importing the package from the
/// source tree (as `pip install ./python` would), with sweepctl found.
fn python(w: &World, script: &str) -> std::process::Command {
    let mut command = w.command_of("python3");
    command
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", common::repo_root().join("python"))
        .env("SWEEPCTL", common::bin("sweepctl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A Python agent whose function logs `loss = x` once, until the sweep
/// hands out no more runs.
fn serve_to_the_end(w: &World, id: &str) {
    let script = format!(
        "import sweepd as wandb\n\
         def train():\n    with wandb.init():\n        wandb.log({{'loss': wandb.config.x}})\n\
         wandb.agent({id:?}, train)\n"
    );
    let out = python(w, &script).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// W&B's program shape: `wandb.sweep(config)` then `wandb.agent(id,
/// train)`. Each run is a child of its own; one that raises fails with
/// its traceback in stderr.log and the agent goes on; the function's
/// prints are in the run's stdout.log and still on the caller's stdout.
#[test]
fn wandb_agent_runs_a_function_per_run_in_a_child_and_goes_on_after_a_failure() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let script = r#"
import os
import sweepd as wandb
parent = os.getpid()
config = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
          "parameters": {"x": {"values": [1, 2, 3]}, "epochs": {"value": 2}}}
sweep_id = wandb.sweep(config, project="fn-demo")
print("sweep", sweep_id, flush=True)
def train(config=None):
    with wandb.init(config={"x": 100, "width": 7}):
        c = wandb.config
        print("in child:", os.getpid() != parent, "x", c.x, "width", c["width"], flush=True)
        if c.x == 2:
            raise ValueError("x is 2")
        for epoch in range(c.epochs):
            wandb.log({"loss": c.x / (epoch + 1), "epoch": epoch})
wandb.agent(sweep_id, train)
print("agent returned", flush=True)
"#;
    let out = python(&w, script).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("agent returned"), "{stdout}");
    // The function's output showed in the caller too, from each child.
    assert_eq!(stdout.matches("in child: True").count(), 3, "{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sweep "))
        .unwrap();
    let sweep = home(&w).join("sweeps").join(id);
    let runs = summaries(&sweep);
    let states: Vec<&str> = runs.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["finished", "failed", "finished"], "{runs:#?}");
    let dirs = common::daemon::run_dirs(&sweep);
    // The sweep's value wins over init(config=...)'s default; the rest stays.
    let log = fs::read_to_string(dirs[0].join("stdout.log")).unwrap();
    assert!(log.contains("in child: True x 1 width 7"), "{log}");
    let metrics = fs::read_to_string(dirs[2].join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{metrics}");
    assert_eq!(records[1]["loss"], 1.5);
    assert_eq!(runs[2]["metric"]["best"], 1.5, "{:#}", runs[2]);
    let failed = fs::read_to_string(dirs[1].join("stderr.log")).unwrap();
    assert!(
        failed.contains("Traceback") && failed.contains("ValueError: x is 2"),
        "{failed}"
    );
    // `sweepctl` sees these runs as it sees any.
    let status = w.sweepctl(["status", id]).expect_code(0).stdout();
    assert!(status.contains("finished"), "{status}");
    w.sweepctl(["report", id, "-o", "r.html"]).expect_code(0);
}

/// Bad input from Python: an invalid config raises with the checker's own
/// messages (key paths included); an unknown sweep is named.
#[test]
fn wandb_sweep_and_agent_refuse_bad_input_with_the_checkers_words() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let script = r#"
import sweepd as wandb
try:
    wandb.sweep({"method": "grd", "parameters": {"lr": {"distribution": "unifrom", "min": 0, "max": 1}}})
except wandb.errors.SweepConfigError as e:
    print("SWEEP:", e)
try:
    wandb.agent("no-such-sweep", lambda: None)
except wandb.Error as e:
    print("AGENT:", e)
"#;
    let out = python(&w, script).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("error: method:"), "{stdout}");
    assert!(stdout.contains("parameters.lr.distribution"), "{stdout}");
    assert!(stdout.contains("did you mean `uniform`?"), "{stdout}");
    assert!(
        stdout.contains("AGENT: no sweep `no-such-sweep`"),
        "{stdout}"
    );
    assert!(
        !home(&w).join("sweeps").exists()
            || fs::read_dir(home(&w).join("sweeps")).unwrap().count() == 0,
        "nothing was submitted"
    );
}

/// kill -9 of the notebook's kernel while its function runs: the run is
/// recorded (crashed, its child gone too) and run again by the next agent;
/// the sweep ends with exactly run_cap runs.
#[test]
fn a_python_agent_killed_mid_run_loses_no_run() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let (sweep, id) = function_sweep(&w, 2, "sweepd: {retry: 1}\n");
    let hang = format!(
        "import os, time\nimport sweepd as wandb\n\
         def train():\n    wandb.init()\n    open('child.pid', 'w').write('%d\\n' % os.getpid())\n    time.sleep(600)\n\
         wandb.agent({id:?}, train)\n"
    );
    let mut kernel = python(&w, &hang).spawn().unwrap();
    let pid_file = w.path("child.pid");
    wait_until("the function to run", || {
        fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let child: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kernel.kill().unwrap();
    kernel.wait().unwrap();
    wait_until("the run to be recorded", || {
        summaries(&sweep)[0]["state"] == "crashed"
    });
    wait_until("the function's child to be gone", || gone(child));
    serve_to_the_end(&w, &id);
    let runs = summaries(&sweep);
    assert_eq!(state(&sweep), "finished");
    assert_eq!(counted(&runs), 2, "{runs:#?}");
    assert_eq!(runs.len(), 3, "the crashed run, its re-run, one more");
    assert!(
        runs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("agent went away")
    );
}

/// The 27 scripted curves of tests/wandb-oracle/hyperband, logged by a
/// function through `wandb.agent`: the runs stopped, and where, are those
/// W&B's engine stops; a stopped function ends at its next `log`.
#[test]
fn hyperband_stops_function_runs_where_wandb_stops_them() {
    let w = World::new();
    let wandb = common::daemon::hyperband_27(&w);
    let _daemon = Daemon::start(&w);
    let (sweep, id) = submit(
        &w,
        "hb27.yaml",
        &format!(
            "method: grid\nmetric: {{name: loss, goal: minimize}}\nearly_terminate: {}\n\
             parameters: {{k: {{values: [{}]}}}}\n",
            wandb.early_terminate, wandb.ks
        ),
    );
    let script = format!(
        "import json, time\nimport sweepd as wandb\n\
         curves = json.load(open({:?}))\n\
         def train():\n    with wandb.init():\n        for v in curves[wandb.config.k]:\n            \
         wandb.log({{'loss': v}})\n            time.sleep(0.02)\n        \
         time.sleep(0.5)  # a checkpoint saved: the run is alive when its last value is judged\n\
         wandb.agent({id:?}, train)\n",
        wandb.curves.display()
    );
    let out = python(&w, &script).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        hyperband_stops(&sweep, 27),
        wandb.stops,
        "(run, iteration) of every stop"
    );
}

/// A script written for W&B, run by sweepd as a command run with no
/// `wandb` installed: `import wandb` is sweepd's (first on PYTHONPATH).
#[test]
fn a_wandb_script_runs_unchanged_as_a_command_run() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    w.file(
        "train.py",
        "import wandb\n\
         run = wandb.init(config={'lr': 0.5, 'epochs': 3})\n\
         assert ':' not in run.id and '/' not in run.id, run.id\n\
         for epoch in range(wandb.config.epochs):\n    \
         wandb.log({'loss': wandb.config.lr / (epoch + 1), 'epoch': epoch})\n\
         run.summary['best_epoch'] = 2\n\
         wandb.finish()\n",
    );
    let (sweep, _) = submit(
        &w,
        "cmd.yaml",
        "method: grid\nprogram: train.py\ncommand: [python3, '${program}']\n\
         metric: {name: loss, goal: minimize}\nparameters: {lr: {values: [0.1]}}\n",
    );
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs[0]["state"], "finished", "{runs:#?}");
    let dir = &common::daemon::run_dirs(&sweep)[0];
    let metrics = fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        losses,
        [0.1, 0.05, 0.1 / 3.0],
        "the sweep's lr, not the default"
    );
    let summary = fs::read_to_string(dir.join("wandb-summary.json")).unwrap();
    assert!(summary.contains("best_epoch"), "{summary}");
}

/// sweepd shutting down while an agent's function runs: the stop reaches
/// the function (at its next `log`) through the agent, the run is recorded
/// interrupted, not crashed, and runs again after the restart.
#[test]
fn a_shutdown_interrupts_an_agents_run_which_runs_again_after_the_restart() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    let (sweep, id) = function_sweep(&w, 1, "");
    let forever = format!(
        "import time\nimport sweepd as wandb\n\
         def train():\n    with wandb.init():\n        while True:\n            \
         wandb.log({{'loss': wandb.config.x}})\n            time.sleep(0.05)\n\
         try:\n    wandb.agent({id:?}, train)\nexcept wandb.Error as e:\n    print('agent:', e)\n"
    );
    let agent = python(&w, &forever).spawn().unwrap();
    let metrics = sweep.join("runs/0001/metrics.jsonl");
    wait_until("the run to log", || {
        fs::read_to_string(&metrics).is_ok_and(|m| m.lines().count() > 1)
    });
    assert!(daemon.terminate().success());
    let out = agent.wait_with_output().unwrap();
    assert!(
        text(&out.stdout).contains("agent: "),
        "{}",
        text(&out.stderr)
    );
    let first = &summaries(&sweep)[0];
    assert_eq!(first["state"], "interrupted", "{first:#}");
    let _daemon = Daemon::start(&w);
    serve_to_the_end(&w, &id);
    let runs = summaries(&sweep);
    assert_eq!(state(&sweep), "finished");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[1]["state"], "finished");
    let dirs = common::daemon::run_dirs(&sweep);
    assert_eq!(
        params_of(&dirs[0]),
        params_of(&dirs[1]),
        "run again as it was"
    );
}
