//! A run as a Slurm batch job: the script written into the run's folder and
//! the `sbatch` options it is submitted with.
//!
//! The run's folder must be on a filesystem the compute nodes share: the job
//! writes its stdout (the trainer protocol) and stderr there, reads its
//! start message from there, and leaves its exit status there (`job.exit`),
//! since Slurm's accounting is often off and `squeue` forgets a job soon
//! after it ends.

use std::path::PathBuf;

use crate::executor::Launch;
use crate::executor::orphans::TOKEN_VAR;
use crate::spec::SlurmOptions;
use crate::store::{RunDir, RunId};

/// The batch script, in the run's folder.
pub fn script_file(run_dir: &RunDir) -> PathBuf {
    run_dir.root().join("job.sbatch")
}

/// The protocol's start message, the job's stdin.
pub fn start_file(run_dir: &RunDir) -> PathBuf {
    run_dir.root().join("start.json")
}

/// The trainer's exit status, written by the script as it ends.
pub fn exit_file(run_dir: &RunDir) -> PathBuf {
    run_dir.root().join("job.exit")
}

/// The job's name: how a restarted sweepd finds a job it submitted but did
/// not live to record.
pub fn job_name(id: &RunId) -> String {
    format!("sweepd-{}-{}", id.sweep, id.run)
}

/// `sbatch`'s arguments (the script last).
pub fn sbatch_args(launch: &Launch, options: &SlurmOptions, gpus: u32) -> Vec<String> {
    let dir = &launch.run_dir;
    // `%` in a file name is a pattern to sbatch (`%j`); `%%` is a `%`.
    let file = |p: PathBuf| p.display().to_string().replace('%', "%%");
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", job_name(&launch.id)),
        format!("--output={}", file(dir.stdout_file())),
        format!("--error={}", file(dir.stderr_file())),
        "--open-mode=append".to_owned(),
        format!("--chdir={}", launch.cwd.display()),
        // A job Slurm requeued by itself would run again into the same
        // folder; sweepd runs it again, as a new run, per `retry`.
        "--no-requeue".to_owned(),
    ];
    let mut add = |flag: &str, value: &Option<String>| {
        if let Some(v) = value {
            args.push(format!("--{flag}={v}"));
        }
    };
    add("partition", &options.partition);
    add("time", &options.time);
    add("mem", &options.mem);
    add("account", &options.account);
    add("qos", &options.qos);
    if gpus > 0 {
        args.push(format!("--gres=gpu:{gpus}"));
    }
    if let Some(cpus) = options.cpus_per_run {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    args.extend(options.extra_args.iter().cloned());
    args.push(script_file(dir).display().to_string());
    args
}

/// The batch script: the run's environment, its command with the start
/// message on stdin, and its exit status recorded. `program` is the command's
/// first word as it will be run (bundled trainers by their full path).
pub fn script(launch: &Launch, program: &str, args: &[String], gpus: u32) -> String {
    let mut out = String::from("#!/bin/bash\n");
    out.push_str(&format!(
        "# sweepd's run {}, submitted as:\n#   sbatch {}\n",
        launch.id,
        args.join(" ")
    ));
    for (name, value) in &launch.env {
        // The token finds a dead daemon's processes on this machine; a job's
        // processes are Slurm's to end.
        if name != TOKEN_VAR {
            out.push_str(&format!("export {name}={}\n", quote(value)));
        }
    }
    if gpus == 0 {
        out.push_str("export CUDA_VISIBLE_DEVICES=''\n");
    }
    for name in &launch.env_remove {
        out.push_str(&format!("unset {name}\n"));
    }
    let mut command = vec![quote(program)];
    command.extend(launch.argv.iter().skip(1).map(|a| quote(a)));
    let exit = quote(&exit_file(&launch.run_dir).display().to_string());
    let exit_tmp = quote(&format!("{}.tmp", exit_file(&launch.run_dir).display()));
    out.push_str(&format!(
        "{} < {} &\nchild=$!\n",
        command.join(" "),
        quote(&start_file(&launch.run_dir).display().to_string())
    ));
    out.push_str(
        "# sweepd's stop is `scancel --signal=TERM --full`: it reaches the trainer\n\
         # too; this shell outlives it only to record how it ended.\n\
         trap : TERM INT USR1 USR2\n\
         status=0\n\
         while :; do\n  wait \"$child\"; status=$?\n  kill -0 \"$child\" 2>/dev/null || break\ndone\n",
    );
    out.push_str(&format!(
        "printf '%s\\n' \"$status\" > {exit_tmp} && mv -f {exit_tmp} {exit}\nexit \"$status\"\n"
    ));
    out
}

/// A word for bash, in single quotes.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::StopTimes;

    fn launch() -> Launch {
        Launch {
            id: RunId {
                sweep: "20261129-010203-mnist-ab12".parse().unwrap(),
                run: 3,
            },
            argv: vec!["python3".into(), "train.py".into(), "--name=it's".into()],
            cwd: PathBuf::from("/shared/proj"),
            env: vec![
                ("SWEEP_RUN_ID".into(), "20261129-010203-mnist-ab12/3".into()),
                (TOKEN_VAR.into(), "secret".into()),
            ],
            env_remove: vec!["NOTIFY_SOCKET".into()],
            start_line: "{}\n".into(),
            run_dir: RunDir::new("/shared/home/sweeps/s/runs/0003"),
            metric: None,
            timeout: None,
            stop: StopTimes::default(),
            gpu_locks: Vec::new(),
        }
    }

    #[test]
    fn sbatch_gets_the_runs_files_and_resources() {
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("1:00:00".into()),
            mem: Some("16G".into()),
            cpus_per_run: Some(4),
            extra_args: vec!["--constraint=a100".into()],
            ..SlurmOptions::default()
        };
        let args = sbatch_args(&launch(), &options, 1);
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=sweepd-20261129-010203-mnist-ab12-3",
                "--output=/shared/home/sweeps/s/runs/0003/stdout.log",
                "--error=/shared/home/sweeps/s/runs/0003/stderr.log",
                "--open-mode=append",
                "--chdir=/shared/proj",
                "--no-requeue",
                "--partition=gpu",
                "--time=1:00:00",
                "--mem=16G",
                "--gres=gpu:1",
                "--cpus-per-task=4",
                "--constraint=a100",
                "/shared/home/sweeps/s/runs/0003/job.sbatch",
            ]
        );
        assert!(
            !sbatch_args(&launch(), &SlurmOptions::default(), 0)
                .iter()
                .any(|a| a.starts_with("--gres"))
        );
    }

    /// The script as bash runs it: the environment set, the command's words
    /// intact, the start message on stdin, the exit status recorded.
    #[test]
    fn the_script_runs_the_command_and_records_its_exit() {
        let dir = tempfile::tempdir().unwrap();
        let mut launch = launch();
        launch.run_dir = RunDir::new(dir.path());
        launch.argv = vec![
            "sh".into(),
            "-c".into(),
            "read start; echo \"$start|$SWEEP_RUN_ID|${SWEEPD_RUN_TOKEN-none}|$CUDA_VISIBLE_DEVICES|$1\"; exit 4".into(),
            "arg".into(),
            "it's".into(),
        ];
        std::fs::write(start_file(&launch.run_dir), "{\"type\":\"start\"}\n").unwrap();
        let text = script(&launch, "sh", &[], 0);
        let file = dir.path().join("job.sbatch");
        std::fs::write(&file, &text).unwrap();
        let out = std::process::Command::new("bash")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{text}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "{\"type\":\"start\"}|20261129-010203-mnist-ab12/3|none||it's\n"
        );
        assert_eq!(
            std::fs::read_to_string(exit_file(&launch.run_dir)).unwrap(),
            "4\n"
        );
    }

    #[test]
    fn quoting_keeps_every_character() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME `x`"), "'$HOME `x`'");
    }
}
