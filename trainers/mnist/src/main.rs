//! `sweepd-mnist`: trains the MNIST model of W&B's PyTorch sweep tutorial.
//! Under sweepd it reads its parameters from the start message and stops when
//! asked; by hand, parameters come as W&B's `--name=value` flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::Map;
use sweepd_mnist::params::{Params, value_from_flag};
use sweepd_mnist::protocol::{self, Session};
use sweepd_mnist::train::{self, Data, Ended, Trainer};
use sweepd_mnist::{checkpoint, cuda, data};
use tch::Device;

/// Train the MNIST classifier of W&B's PyTorch sweep tutorial and print its
/// metrics as JSON lines (sweepd's trainer protocol). Parameters come from
/// sweepd's start message and from `--name=value` flags (flags win).
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Cli {
    /// adam, or sgd (momentum 0.9) [default: adam]
    #[arg(long, value_name = "NAME")]
    optimizer: Option<String>,
    /// >= 0 [default: 0.001]
    #[arg(long = "learning_rate", value_name = "X")]
    learning_rate: Option<String>,
    /// Units of the hidden layer [default: 128]
    #[arg(long = "fc_layer_size", value_name = "N")]
    fc_layer_size: Option<String>,
    /// From 0 to 1 [default: 0.3]
    #[arg(long, value_name = "P")]
    dropout: Option<String>,
    /// >= 1 [default: 64]
    #[arg(long = "batch_size", value_name = "N")]
    batch_size: Option<String>,
    /// >= 1 [default: 1]
    #[arg(long, value_name = "N")]
    epochs: Option<String>,
    /// Fixes initial weights, dropout and shuffling [default: 0]
    #[arg(long, value_name = "N")]
    seed: Option<String>,
    /// Train on all 60,000 images, not every 5th [default: false]
    #[arg(long = "full_dataset", value_name = "BOOL")]
    full_dataset: Option<String>,
    /// Shuffle the training images every epoch [default: false]
    #[arg(long, value_name = "BOOL")]
    shuffle: Option<String>,
    /// Folder with MNIST's four IDX files [default: ~/.local/share/sweepd/mnist]
    #[arg(long, env = "SWEEPD_MNIST_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Intra-op threads of libtorch (one per run suits a busy machine)
    #[arg(
        long,
        env = "SWEEPD_MNIST_THREADS",
        default_value_t = 1,
        value_name = "N"
    )]
    threads: i32,
    /// auto (CUDA when a GPU is visible), cpu, cuda or cuda:N
    #[arg(
        long,
        env = "SWEEPD_MNIST_DEVICE",
        default_value = "auto",
        value_name = "DEVICE"
    )]
    device: String,
    /// Say which libtorch is loaded, whether its CUDA backend loads and how
    /// many GPUs it sees, as one JSON line, and exit (`sweepctl doctor`)
    #[arg(long)]
    check: bool,
    /// With --check: train this many steps on --device (random images)
    #[arg(long, default_value_t = 0, value_name = "N", requires = "check")]
    check_steps: i64,
}

impl Cli {
    /// The parameters given as flags, as a sweep's values.
    fn flag_values(&self) -> Map<String, serde_json::Value> {
        let flags = [
            ("optimizer", &self.optimizer),
            ("learning_rate", &self.learning_rate),
            ("fc_layer_size", &self.fc_layer_size),
            ("dropout", &self.dropout),
            ("batch_size", &self.batch_size),
            ("epochs", &self.epochs),
            ("seed", &self.seed),
            ("full_dataset", &self.full_dataset),
            ("shuffle", &self.shuffle),
        ];
        flags
            .into_iter()
            .filter_map(|(name, v)| Some((name.to_owned(), value_from_flag(v.as_deref()?))))
            .collect()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check {
        let (ok, report) = sweepd_mnist::check::check(&cli.device, cli.check_steps);
        println!("{report}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // libtorch appends a C++ backtrace to its messages; keep the message.
            let message = format!("{e:#}");
            let cut = ["\nException raised from", "\nframe #"]
                .iter()
                .filter_map(|marker| message.find(marker))
                .min()
                .unwrap_or(message.len());
            let message = &message[..cut];
            eprintln!("sweepd-mnist: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    // Before any tch call: whether the CUDA backend is there decides `auto`.
    let device = device(&cli.device)?;
    let session = Session::connect()?;
    let mut values = session.params.clone();
    values.extend(cli.flag_values());
    let params = Params::from_values(&values)?;
    if cli.threads < 1 {
        bail!("--threads must be >= 1, got {}", cli.threads);
    }
    tch::set_num_threads(cli.threads);
    tch::set_num_interop_threads(1);

    let dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => data::default_dir().context("no home folder to find MNIST in; pass --data-dir")?,
    };
    let mnist = data::Mnist::load(&dir)?;
    let data = Data::prepare(&mnist, params.full_dataset, device);
    drop(mnist);
    eprintln!(
        "sweepd-mnist: {params:?} on {device:?} ({} intra-op thread{}), {} training images",
        cli.threads,
        if cli.threads == 1 { "" } else { "s" },
        data.train_len()
    );
    let mut trainer = Trainer::new(&params, device)?;
    let run_dir = std::env::var_os("SWEEP_RUN_DIR").map(PathBuf::from);
    let first = resume(&params, &mut trainer, run_dir.as_deref())?;
    let stop = || session.stop_reason().map(str::to_owned);
    let mut out = std::io::stdout().lock();
    let epoch_done = |trainer: &Trainer, done: i64| {
        if let Some(dir) = &run_dir
            && let Err(e) = checkpoint::save(dir, &params, trainer, done)
        {
            eprintln!(
                "sweepd-mnist: cannot save a checkpoint in {}: {e}",
                dir.display()
            );
        }
    };
    let ended = train::train(
        &params,
        &data,
        &mut trainer,
        first,
        stop,
        |record| protocol::log(&mut out, &record),
        epoch_done,
    )
    .context("writing metrics to stdout")?;
    if let Ended::Stopped {
        reason,
        epoch,
        batches,
    } = ended
    {
        eprintln!("sweepd-mnist: stopped ({reason}) in epoch {epoch} after {batches} batches");
    }
    Ok(())
}

/// With `SWEEP_RESUME_DIR` (sweepd runs this run's parameters again after
/// an interruption), the earlier attempt's checkpoint: loaded, and written
/// into this run's folder at once so that a second interruption finds it.
/// The epochs it has done (0 without one).
fn resume(params: &Params, trainer: &mut Trainer, run_dir: Option<&Path>) -> anyhow::Result<i64> {
    let Some(earlier) = std::env::var_os("SWEEP_RESUME_DIR").map(PathBuf::from) else {
        return Ok(0);
    };
    let found = match checkpoint::find(&earlier, params) {
        Ok(Some(found)) => found,
        Ok(None) => {
            eprintln!(
                "sweepd-mnist: no checkpoint in {}: starting from the first epoch",
                earlier.display()
            );
            return Ok(0);
        }
        Err(e) => {
            eprintln!("sweepd-mnist: not resuming: {e}");
            return Ok(0);
        }
    };
    trainer
        .load(&found.weights)
        .with_context(|| format!("loading the checkpoint {}", found.weights.display()))?;
    if let Some(dir) = run_dir {
        checkpoint::save(dir, params, trainer, found.epochs_done)
            .with_context(|| format!("copying the checkpoint into {}", dir.display()))?;
    }
    eprintln!(
        "sweepd-mnist: resumed from {} after {} epoch(s)",
        earlier.display(),
        found.epochs_done
    );
    Ok(found.epochs_done)
}

/// The device asked for; `auto` is the first visible GPU when libtorch's CUDA
/// backend loads and finds one, else the CPU.
fn device(asked: &str) -> anyhow::Result<Device> {
    let cuda_index = match asked {
        "cpu" => return Ok(Device::Cpu),
        "auto" if !cuda::worth_trying() => return Ok(Device::Cpu),
        "auto" | "cuda" => 0,
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => i,
            _ => bail!("--device: expected auto, cpu, cuda or cuda:N, got {other:?}"),
        },
    };
    let loaded = cuda::load_backend();
    let count = if loaded.is_ok() {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    match (asked, loaded) {
        ("auto", Err(why)) => {
            // A driver is there (worth_trying), so say why its GPU goes unused.
            eprintln!("sweepd-mnist: using the CPU: libtorch's CUDA backend did not load: {why}");
            Ok(Device::Cpu)
        }
        ("auto", Ok(())) if count == 0 => Ok(Device::Cpu),
        (_, Err(why)) => bail!("--device {asked}: libtorch's CUDA backend did not load: {why}"),
        _ if cuda_index >= count => {
            bail!("--device {asked}: {count} CUDA device(s) visible")
        }
        _ => Ok(Device::Cuda(cuda_index)),
    }
}
