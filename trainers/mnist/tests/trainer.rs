//! The real `sweepd-mnist` binary on the real MNIST (scripts/setup-trainer
//! fetches it), spoken to as sweepd speaks to it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const TRAINER: &str = env!("CARGO_BIN_EXE_sweepd-mnist");

fn trainer(args: &[&str]) -> Command {
    let mut command = Command::new(TRAINER);
    // The test's own settings, whatever the environment says.
    command
        .args(args)
        .env_remove("SWEEP_RUN_ID")
        .env_remove("SWEEP_RUN_DIR")
        .env_remove("SWEEP_RESUME_DIR")
        .env_remove("SWEEPD_MNIST_DIR")
        .env_remove("OMP_NUM_THREADS")
        .env("SWEEPD_MNIST_THREADS", "1")
        .env("SWEEPD_MNIST_DEVICE", "cpu");
    command
}

fn run(args: &[&str]) -> Output {
    trainer(args).stdin(Stdio::null()).output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The epoch records (the ones with `loss`), and the batch losses.
fn split(records: &[Value]) -> (Vec<&Value>, Vec<f64>) {
    let epochs = records.iter().filter(|r| r.get("loss").is_some()).collect();
    let batches = records
        .iter()
        .filter_map(|r| r["batch loss"].as_f64())
        .collect();
    (epochs, batches)
}

#[test]
fn one_epoch_of_the_tutorial_logs_every_batch_and_the_epoch_and_learns() {
    let out = run(&[
        "--fc_layer_size=64",
        "--batch_size=100",
        "--learning_rate=0.002",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = records(&out);
    let (epochs, batches) = split(&all);
    // every 5th of 60,000 images in batches of 100
    assert_eq!(batches.len(), 120);
    assert_eq!(epochs.len(), 1);
    let epoch = epochs[0];
    assert_eq!(epoch["epoch"], 0);
    assert_eq!(
        all.last().unwrap(),
        epoch,
        "the epoch is logged after its batches"
    );
    let mean = batches.iter().sum::<f64>() / 120.0;
    assert!(
        (epoch["loss"].as_f64().unwrap() - mean).abs() < 1e-9,
        "loss is the mean batch loss"
    );
    let first: f64 = batches[..10].iter().sum::<f64>() / 10.0;
    let last: f64 = batches[110..].iter().sum::<f64>() / 10.0;
    assert!(
        first > 1.5 && last < 0.6,
        "batch loss went from {first} to {last}"
    );
    let accuracy = epoch["val_accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.85 && accuracy <= 1.0,
        "val_accuracy {accuracy}"
    );
}

#[test]
fn the_same_seed_trains_the_same_bits_and_another_seed_does_not() {
    let args = [
        "--fc_layer_size=32",
        "--batch_size=500",
        "--epochs=2",
        "--shuffle=True",
        "--seed=7",
    ];
    let a = run(&args);
    let b = run(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(split(&records(&a)).0.len(), 2);
    let c = run(&[
        "--fc_layer_size=32",
        "--batch_size=500",
        "--epochs=2",
        "--shuffle=True",
        "--seed=8",
    ]);
    assert_ne!(a.stdout, c.stdout);
    let unshuffled = run(&[
        "--fc_layer_size=32",
        "--batch_size=500",
        "--epochs=2",
        "--seed=7",
    ]);
    assert_ne!(a.stdout, unshuffled.stdout, "shuffling changes the batches");
}

#[test]
fn bad_parameters_exit_non_zero_saying_which_and_why() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--optimizer=rmsprop"],
            "parameter `optimizer`: unknown optimizer \"rmsprop\"",
        ),
        (
            &["--batch_size=0"],
            "parameter `batch_size`: must be an integer >= 1, got 0",
        ),
        (
            &["--learning_rate=-0.1"],
            "parameter `learning_rate`: must be a number >= 0, got -0.1",
        ),
        (
            &["--device=tpu"],
            "--device: expected auto, cpu, cuda or cuda:N",
        ),
        (&["--threads=0"], "--threads must be >= 1"),
        // 313 GB of weights: libtorch's allocator refuses, and says so
        (&["--fc_layer_size=100000000"], "can't allocate memory"),
    ];
    for (args, message) in cases {
        let mut command = trainer(args);
        if args[0].starts_with("--device") {
            command.env_remove("SWEEPD_MNIST_DEVICE");
        }
        let out = command.stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing trained");
        assert!(
            !stderr(&out).contains("frame #"),
            "no C++ backtrace: {}",
            stderr(&out)
        );
    }
    let out = run(&["--learning-rat=1"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown flag");
}

#[test]
fn a_missing_data_folder_is_named_with_the_way_to_fix_it() {
    let out = run(&["--data-dir=/nonexistent/mnist"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("/nonexistent/mnist/train-images-idx3-ubyte"),
        "{e}"
    );
    assert!(e.contains("scripts/setup-trainer"), "{e}");
}

/// Start the trainer as sweepd does: SWEEP_RUN_ID set, the start message on
/// stdin.
fn under_sweepd(params: Value, args: &[&str]) -> std::process::Child {
    let mut child = trainer(args)
        .env("SWEEP_RUN_ID", "t/1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start =
        json!({"type": "start", "protocol": 1, "sweep_id": "t", "run_id": "t/1", "params": params});
    writeln!(child.stdin.as_mut().unwrap(), "{start}").unwrap();
    child
}

#[test]
fn parameters_come_from_the_start_message_and_flags_win() {
    let child = under_sweepd(
        json!({"batch_size": 2000, "fc_layer_size": 16, "epochs": 2}),
        &["--epochs=1"],
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = records(&out);
    let (epochs, batches) = split(&all);
    assert_eq!(
        (epochs.len(), batches.len()),
        (1, 6),
        "12,000 images in batches of 2,000, one epoch"
    );

    let child = under_sweepd(json!({"optimizer": "adagrad"}), &[]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("parameter `optimizer`: unknown optimizer \"adagrad\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stop_message_ends_the_run_cleanly_between_batches() {
    // Batches of 1: the first epoch has 12,000 of them, and the trainer
    // blocks on the full stdout pipe (64 KiB, ~1,800 records) long before its
    // end until the test reads on, by which time the stop has been sent. So
    // whatever the timing, the stop arrives inside epoch 0.
    let mut child = under_sweepd(
        json!({"batch_size": 1, "fc_layer_size": 16, "epochs": 100}),
        &[],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(first["batch loss"].is_f64(), "{first}");
    writeln!(
        child.stdin.as_mut().unwrap(),
        r#"{{"type":"stop","reason":"early_terminate"}}"#
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        rest.len() < 12_000,
        "stopped within the first epoch ({} more batches)",
        rest.len()
    );
    assert!(
        rest.iter().all(|l| l.contains("batch loss")),
        "no epoch record: {rest:?}"
    );
    assert!(
        err.contains(&format!(
            "stopped (early_terminate) in epoch 0 after {} batches",
            rest.len() + 1
        )),
        "{err}"
    );
}

/// After every epoch the trainer checkpoints into its run's folder; a run
/// given that folder as SWEEP_RESUME_DIR (sweepd runs the parameters again
/// after an interruption) goes on from the next epoch, with the weights
/// learned, and keeps the checkpoint in its own folder. A checkpoint of
/// other parameters is not resumed from.
#[test]
fn it_checkpoints_every_epoch_and_resumes_from_the_earlier_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let folder = |name: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        path
    };
    let (first, second, other) = (folder("first"), folder("second"), folder("other"));
    let attempt =
        |epochs: &str, size: &str, run: &std::path::Path, resume: Option<&std::path::Path>| {
            let mut command = trainer(&[
                &format!("--fc_layer_size={size}"),
                "--batch_size=500",
                &format!("--epochs={epochs}"),
            ]);
            command.env("SWEEP_RUN_DIR", run);
            if let Some(resume) = resume {
                command.env("SWEEP_RESUME_DIR", resume);
            }
            let out = command.stdin(Stdio::null()).output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            out
        };
    let checkpoint = |run: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint.json")).unwrap())
            .unwrap()
    };

    // Interrupted after its first epoch, as far as the checkpoint knows.
    let out = attempt("1", "32", &first, None);
    let all = records(&out);
    let (_, fresh) = split(&all);
    assert_eq!(checkpoint(&first)["epochs_done"], 1);
    assert!(first.join("checkpoint-1.ot").is_file());

    let out = attempt("3", "32", &second, Some(&first));
    let all = records(&out);
    let (epochs, resumed) = split(&all);
    let numbers: Vec<i64> = epochs
        .iter()
        .map(|e| e["epoch"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "it goes on from the second epoch");
    assert!(stderr(&out).contains("resumed from"), "{}", stderr(&out));
    assert!(
        resumed[0] < fresh[0] / 2.0,
        "the weights were learned: first batch loss {} resumed, {} fresh",
        resumed[0],
        fresh[0]
    );
    assert_eq!(checkpoint(&second)["epochs_done"], 3);
    assert!(second.join("checkpoint-3.ot").is_file());
    assert!(
        !second.join("checkpoint-1.ot").exists(),
        "the checkpoint it replaced is gone"
    );

    // Another model does not take these weights.
    let out = attempt("1", "64", &other, Some(&first));
    let all = records(&out);
    let (epochs, _) = split(&all);
    assert_eq!(epochs[0]["epoch"], 0);
    assert!(stderr(&out).contains("not resuming"), "{}", stderr(&out));
}

/// `--check` (what `sweepctl doctor` asks): the libtorch loaded, the CUDA
/// backend's fate, and with `--check-steps` a timed training on random
/// images; a device it cannot have is an error in the JSON and exit 1.
#[test]
fn check_says_which_libtorch_and_trains_steps_on_random_images() {
    let out = run(&["--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = &records(&out)[0];
    let dir = report["libtorch"].as_str().unwrap();
    assert!(
        std::path::Path::new(dir).join("libtorch_cpu.so").is_file(),
        "{report}"
    );
    assert!(report["cuda_backend"].is_string(), "{report}");
    assert!(report.get("steps").is_none(), "no steps unless asked");

    let out = run(&["--check", "--check-steps", "20", "--device", "cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = &records(&out)[0];
    assert_eq!(report["steps"], 20);
    let loss = report["loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{report}");
    assert!(report["seconds"].as_f64().unwrap() > 0.0);

    let devices = report["cuda_devices"].as_i64().unwrap();
    let beyond = format!("cuda:{devices}");
    let out = run(&["--check", "--check-steps", "20", "--device", &beyond]);
    assert_eq!(out.status.code(), Some(1));
    let report = &records(&out)[0];
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("CUDA device(s) visible"),
        "{report}"
    );
}
