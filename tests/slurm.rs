//! Slurm end to end: a private single-node cluster of Debian's slurm-wlm
//! (scripts/slurm-local: munged, slurmctld, slurmd, two fake GPUs as GRES,
//! all under a temp folder) and the real sweepd submitting to it.
//!
//! One test, its scenes in order, so that one cluster serves them all: a
//! 6-run GPU sweep completes; a job that exits non-zero is failed; a cancel
//! stops the jobs; a daemon restart while jobs run takes them up again; an
//! unreachable controller is waited out, shown, and loses nothing; a node
//! failing under a job makes its run crashed and run again; a job whose id
//! a dying sweepd did not record is found by its name. Needs
//! root (slurmd does); scripts/setup installs the packages.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::World;
use common::daemon::{Daemon, run_dirs, state, summaries, wait_until};
use serde_json::Value;

/// The private cluster; stopped (only what it started) when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    fn start(dir: PathBuf) -> Cluster {
        let port = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                .to_string()
        };
        let out = Command::new(common::repo_root().join("scripts/slurm-local"))
            .arg("start")
            .arg(&dir)
            .env("SWEEPD_SLURMCTLD_PORT", port())
            .env("SWEEPD_SLURMD_PORT", port())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the test cluster did not start (these tests need root and Debian's slurm-wlm and \
             munge, which scripts/setup installs):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = dir.join("etc/slurm.conf");
        Cluster { dir, conf }
    }

    fn script(&self, action: &str) {
        let status = Command::new(common::repo_root().join("scripts/slurm-local"))
            .arg(action)
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "slurm-local {action}");
    }

    /// `squeue` of the cluster: (job id, name, state) of every job it knows.
    fn jobs(&self) -> Vec<(u64, String, String)> {
        let out = Command::new("squeue")
            .args(["--json"])
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        json["jobs"]
            .as_array()
            .map(|jobs| {
                jobs.iter()
                    .map(|j| {
                        let state = match &j["job_state"] {
                            Value::Array(s) => s[0].as_str().unwrap_or("").to_owned(),
                            s => s.as_str().unwrap_or("").to_owned(),
                        };
                        (
                            j["job_id"].as_u64().unwrap_or(0),
                            j["name"].as_str().unwrap_or("").to_owned(),
                            state,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn scontrol(&self, args: &[&str]) {
        let status = Command::new("scontrol")
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .status()
            .unwrap();
        assert!(status.success(), "scontrol {args:?}");
    }

    /// The node's state as `sinfo` abbreviates it: `idle`, `alloc`, `down*`, ...
    fn node_state(&self) -> String {
        let out = Command::new("sinfo")
            .args(["-h", "-N", "-o", "%t"])
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn state_of(&self, job: u64) -> String {
        self.jobs()
            .into_iter()
            .find(|j| j.0 == job)
            .map_or_else(|| "GONE".into(), |j| j.2)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(common::repo_root().join("scripts/slurm-local"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

fn daemon(w: &World, cluster: &Cluster) -> Daemon {
    Daemon::start_env(
        w,
        &["--settle", "100ms", "--slurm-poll", "200ms"],
        &[("SLURM_CONF", cluster.conf.as_os_str())],
    )
}

fn submit(w: &World, name: &str, text: &str) -> PathBuf {
    let file = w.file(&format!("{name}.yaml"), text);
    let id = w
        .sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0)
        .stdout();
    w.path("home/sweeps").join(id.trim())
}

fn job_of(summary: &Value) -> u64 {
    summary["slurm"]["job_id"].as_u64().unwrap_or(0)
}

fn slurm_sweep(name: &str, trainer: &Path, params: &str, extra: &str) -> String {
    format!(
        "name: {name}\nmethod: grid\nmetric: {{name: loss}}\n\
         command: [python3, {}, '${{args_json}}']\nparameters: {params}\n\
         sweepd:\n  executor: slurm\n  max_parallel: 6\n  slurm: {{time: \"5\"{extra}}}\n",
        trainer.display()
    )
}

#[test]
fn sweeps_run_as_slurm_jobs() {
    let w = World::new();
    let cluster = Cluster::start(w.path("cluster"));
    let mut sweepd = Some(daemon(&w, &cluster));

    // 1. Six runs, one GPU each, on a node with two: all finish, each saw
    //    one GPU (Slurm's CUDA_VISIBLE_DEVICES), metrics recorded.
    let trainer = w.file(
        "trainer.py",
        "import json, os, sys, time\n\
         x = json.loads(sys.argv[1])['x']\n\
         print(json.dumps({'loss': (x - 3) ** 2, 'gpu': os.environ.get('CUDA_VISIBLE_DEVICES'),\n\
                           'job': os.environ.get('SLURM_JOB_ID'), 'start': input()}), flush=True)\n\
         time.sleep(0.5)\n\
         print(json.dumps({'loss': (x - 3) ** 2 + 0.5}), flush=True)\n",
    );
    let gpus = submit(
        &w,
        "gpus",
        &slurm_sweep(
            "gpus",
            &trainer,
            "{x: {values: [1, 2, 3, 4, 5, 6]}}",
            ", gpus_per_run: 1",
        ),
    );
    wait_until("the GPU sweep to finish", || state(&gpus) == "finished");
    let runs = summaries(&gpus);
    assert_eq!(runs.len(), 6, "{runs:#?}");
    let mut jobs = Vec::new();
    for (run, dir) in runs.iter().zip(run_dirs(&gpus)) {
        assert_eq!(run["state"], "finished", "{run}");
        let job = job_of(run);
        assert!(job > 0, "the job id is in the summary: {run}");
        jobs.push(job);
        let first: Value = serde_json::from_str(
            fs::read_to_string(dir.join("metrics.jsonl"))
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert!(
            ["0", "1"].contains(&first["gpu"].as_str().unwrap()),
            "{first}"
        );
        assert_eq!(first["job"], job.to_string());
        assert!(
            first["start"]
                .as_str()
                .unwrap()
                .contains("\"type\":\"start\""),
            "the start message on stdin: {first}"
        );
        assert_eq!(run["metric"]["count"], 2);
        assert!(dir.join("job.sbatch").exists());
    }
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 6, "one job per run");
    let shown = w
        .sweepctl([
            "show",
            &format!("{}/1", gpus.file_name().unwrap().to_str().unwrap()),
        ])
        .expect_code(0)
        .stdout();
    assert!(
        shown.contains(&format!("slurm     job {}, COMPLETED", job_of(&runs[0]))),
        "{shown}"
    );

    // 2. A job that exits non-zero is failed, with its status.
    let failing = w.file(
        "failing.py",
        "import sys\nprint('{\"loss\": 1}', flush=True)\nsys.exit(3)\n",
    );
    let failed = submit(
        &w,
        "failing",
        &slurm_sweep("failing", &failing, "{x: {value: 1}}", ""),
    );
    wait_until("the failing run to end", || {
        summaries(&failed)
            .first()
            .is_some_and(|r| r["state"] == "failed")
    });
    let run = &summaries(&failed)[0];
    assert_eq!(run["exit_code"], 3, "{run}");
    assert_eq!(run["reason"], "exited with status 3", "{run}");

    // 3. Cancel: the running jobs are stopped and leave the cluster.
    // The grace signal reaches the trainer, which says so and ends.
    let forever = w.file(
        "forever.py",
        "import json, os, signal, sys, time\n\
         def term(*_):\n    open(os.environ['SWEEP_RUN_DIR'] + '/got-term', 'w').write('TERM')\n    sys.exit(0)\n\
         signal.signal(signal.SIGTERM, term)\n\
         while True:\n    print(json.dumps({'loss': 1.0}), flush=True)\n    time.sleep(0.2)\n",
    );
    let canceled = submit(
        &w,
        "forever",
        &slurm_sweep("forever", &forever, "{x: {values: [1, 2]}}", ""),
    );
    wait_until("both jobs to run and log", || {
        let runs = summaries(&canceled);
        runs.len() == 2
            && runs
                .iter()
                .all(|r| r["slurm"]["state"] == "RUNNING" && r["slurm"].get("node").is_some())
            && run_dirs(&canceled)
                .iter()
                .all(|d| fs::metadata(d.join("metrics.jsonl")).is_ok_and(|m| m.len() > 0))
    });
    let ids: Vec<u64> = summaries(&canceled).iter().map(job_of).collect();
    w.sweepctl(["cancel", canceled.file_name().unwrap().to_str().unwrap()])
        .expect_code(0);
    wait_until("the canceled runs to be recorded", || {
        summaries(&canceled)
            .iter()
            .all(|r| r["state"] == "killed" && r["reason"] == "user")
    });
    for dir in run_dirs(&canceled) {
        assert_eq!(
            fs::read_to_string(dir.join("got-term")).ok().as_deref(),
            Some("TERM"),
            "the trainer heard the grace signal"
        );
    }
    wait_until("the canceled jobs to leave the node", || {
        ids.iter().all(|job| {
            !["RUNNING", "COMPLETING", "PENDING"].contains(&cluster.state_of(*job).as_str())
        })
    });

    // 4. sweepd restarts while jobs run: they are taken up again, not
    //    submitted twice, and finish: run 1's job ends while no sweepd runs,
    //    run 2's after the restart.
    let gated = w.file(
        "gated.py",
        &format!(
            "import json, os, sys, time\nx = json.loads(sys.argv[1])['x']\n\
             print(json.dumps({{'loss': 10.0 + x}}), flush=True)\n\
             while not os.path.exists({gates:?} + str(x)):\n    time.sleep(0.05)\n\
             print(json.dumps({{'loss': x}}), flush=True)\n",
            gates = w.path("gate-").display().to_string()
        ),
    );
    let restarted = submit(
        &w,
        "restarted",
        &slurm_sweep("restarted", &gated, "{x: {values: [1, 2]}}", ""),
    );
    wait_until("both gated jobs to run and log", || {
        let runs = summaries(&restarted);
        runs.len() == 2
            && runs.iter().all(|r| r["slurm"]["state"] == "RUNNING")
            && run_dirs(&restarted)
                .iter()
                .all(|d| fs::metadata(d.join("metrics.jsonl")).is_ok_and(|m| m.len() > 0))
    });
    let before: Vec<u64> = summaries(&restarted).iter().map(job_of).collect();
    let status = sweepd.take().unwrap().terminate();
    assert!(status.success(), "{status}");
    for (run, job) in summaries(&restarted).iter().zip(&before) {
        assert_eq!(
            run["state"], "running",
            "a job goes on without sweepd: {run}"
        );
        assert_eq!(cluster.state_of(*job), "RUNNING");
    }
    fs::write(w.path("gate-1"), "").unwrap();
    wait_until("run 1's job to end with no sweepd", || {
        cluster.state_of(before[0]) == "COMPLETED"
    });
    sweepd = Some(daemon(&w, &cluster));
    wait_until("run 1 to be recorded as finished", || {
        summaries(&restarted)[0]["state"] == "finished"
    });
    assert_eq!(summaries(&restarted)[1]["state"], "running");
    fs::write(w.path("gate-2"), "").unwrap();
    wait_until("the taken-up runs to finish", || {
        state(&restarted) == "finished"
    });
    let runs = summaries(&restarted);
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:#?}");
    assert_eq!(
        runs.iter().map(job_of).collect::<Vec<_>>(),
        before,
        "the same jobs"
    );
    for (run, dir) in runs.iter().zip(run_dirs(&restarted)) {
        // Both values, each once: one before the restart, one after.
        assert_eq!(run["metric"]["count"], 2, "{run}");
        let records = fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        assert_eq!(records.lines().count(), 2, "{records}");
    }
    let names: Vec<String> = cluster.jobs().into_iter().map(|j| j.1).collect();
    for n in 1..=2 {
        let name = format!(
            "sweepd-{}-{n}",
            restarted.file_name().unwrap().to_str().unwrap()
        );
        assert_eq!(names.iter().filter(|j| **j == name).count(), 1, "{names:?}");
    }

    // 5. The controller goes away: sweepd says so, waits, and loses nothing.
    cluster.script("controller-stop");
    let patient = submit(
        &w,
        "patient",
        &slurm_sweep("patient", &trainer, "{x: {values: [1, 2, 3]}}", ""),
    );
    wait_until("the sweep to say Slurm cannot be reached", || {
        let state: Value = serde_json::from_str(
            &fs::read_to_string(patient.join("state.json")).unwrap_or_default(),
        )
        .unwrap_or(Value::Null);
        state["executor_problem"]
            .as_str()
            .is_some_and(|p| p.contains("cannot reach Slurm"))
    });
    let said = w
        .sweepctl(["status", patient.file_name().unwrap().to_str().unwrap()])
        .expect_code(0)
        .stdout();
    assert!(said.contains("cannot reach Slurm"), "{said}");
    assert!(
        summaries(&patient).iter().all(|r| r["state"] == "queued"),
        "nothing is lost or failed while it waits"
    );
    cluster.script("controller-start");
    wait_until("the patient sweep to finish", || {
        state(&patient) == "finished"
    });
    let runs = summaries(&patient);
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["state"] == "finished"), "{runs:#?}");
    let record: Value =
        serde_json::from_str(&fs::read_to_string(patient.join("state.json")).unwrap()).unwrap();
    assert!(
        record.get("executor_problem").is_none(),
        "cleared: {record}"
    );

    // 6. The node fails under a job: not the run's doing, so it is crashed
    //    and run again as `retry` allows, once the node is back.
    let node = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let steady = w.file(
        "steady.py",
        &format!(
            "import json, os, time\nprint(json.dumps({{'loss': 2.0}}), flush=True)\n\
             while not os.path.exists({gate:?}):\n    time.sleep(0.05)\n\
             print(json.dumps({{'loss': 1.0}}), flush=True)\n",
            gate = w.path("node-back").display().to_string()
        ),
    );
    let text = slurm_sweep("flaky", &steady, "{x: {value: 1}}", "")
        .replace("  max_parallel: 6\n", "  max_parallel: 6\n  retry: 1\n");
    let flaky = submit(&w, "flaky", &text);
    wait_until("the job to run", || {
        summaries(&flaky)
            .first()
            .is_some_and(|r| r["slurm"]["state"] == "RUNNING")
    });
    cluster.scontrol(&[
        "update",
        &format!("nodename={node}"),
        "state=down",
        "reason=sweepd-test",
    ]);
    wait_until("the run to crash and be queued again", || {
        let runs = summaries(&flaky);
        runs.len() == 2 && runs[0]["state"] == "crashed"
    });
    let runs = summaries(&flaky);
    assert!(
        runs[0]["reason"].as_str().unwrap().contains("NODE_FAIL"),
        "{:#?}",
        runs[0]
    );
    assert_eq!(
        (runs[1]["proposal"].as_u64(), runs[1]["attempt"].as_u64()),
        (Some(1), Some(2))
    );
    fs::write(w.path("node-back"), "").unwrap();
    // Back in service (ReturnToService=2 may have done it already when slurmd
    // spoke up again).
    if cluster.node_state().starts_with("down") {
        cluster.scontrol(&["update", &format!("nodename={node}"), "state=resume"]);
    }
    wait_until("the retried run to finish", || state(&flaky) == "finished");
    let runs = summaries(&flaky);
    assert_eq!(runs[1]["state"], "finished", "{:#?}", runs[1]);
    assert_ne!(job_of(&runs[0]), job_of(&runs[1]), "a new job");

    // 7. sweepd dies between sbatch and recording the job id (made here by
    //    taking the id out of the summary while no sweepd runs): the next one
    //    finds the job by its name and does not submit the run again.
    let lost = submit(
        &w,
        "lost",
        &slurm_sweep("lost", &gated, "{x: {value: 3}}", ""),
    );
    wait_until("its job to run", || {
        summaries(&lost)
            .first()
            .is_some_and(|r| r["slurm"]["state"] == "RUNNING")
    });
    let job = job_of(&summaries(&lost)[0]);
    sweepd.take().unwrap().kill9();
    let summary_file = run_dirs(&lost)[0].join("summary.json");
    let mut summary: Value =
        serde_json::from_str(&fs::read_to_string(&summary_file).unwrap()).unwrap();
    summary.as_object_mut().unwrap().remove("slurm");
    summary["state"] = "queued".into();
    fs::write(&summary_file, summary.to_string()).unwrap();
    sweepd = Some(daemon(&w, &cluster));
    wait_until("the job to be found by its name", || {
        job_of(&summaries(&lost)[0]) == job
    });
    fs::write(w.path("gate-3"), "").unwrap();
    wait_until("the found run to finish", || state(&lost) == "finished");
    assert_eq!(summaries(&lost)[0]["state"], "finished");
    let name = format!("sweepd-{}-1", lost.file_name().unwrap().to_str().unwrap());
    let named = cluster.jobs().into_iter().filter(|j| j.1 == name).count();
    assert_eq!(named, 1, "submitted once");
    drop(sweepd);
}
