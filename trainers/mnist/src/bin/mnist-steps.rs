//! `mnist-steps`: training steps per second of the tutorial's network on
//! preloaded MNIST tensors, the Rust half of `scripts/mnist-bench` (its
//! Python half, trainers/mnist/bench/steps.py, does the same in PyTorch).
//! On the CPU or a CUDA device (`--device`, timed between synchronisations).
//! Prints one JSON line: steps/s, CPU ms per step, the final loss.

use std::time::Instant;

use clap::Parser;
use serde_json::json;
use sweepd_mnist::data::{self, Mnist};
use sweepd_mnist::params::Params;
use sweepd_mnist::train::{Data, Trainer};
use tch::Device;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    steps: i64,
    #[arg(long, default_value_t = 20)]
    warmup: i64,
    #[arg(long, default_value_t = 64)]
    batch_size: i64,
    #[arg(long, default_value_t = 512)]
    fc_layer_size: i64,
    #[arg(long, default_value_t = 1)]
    threads: i32,
    #[arg(long, env = "SWEEPD_MNIST_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 * 1e-6;
    t(usage.user_time()) + t(usage.system_time())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    tch::set_num_interop_threads(1);
    let dir = args
        .data_dir
        .or_else(data::default_dir)
        .expect("a data folder");
    let device = match args.device.as_str() {
        "cpu" => Device::Cpu,
        other => {
            // Before any tch call (docs: src/cuda.rs).
            sweepd_mnist::cuda::load_backend()
                .map_err(|e| anyhow::anyhow!("libtorch's CUDA backend did not load: {e}"))?;
            match other.strip_prefix("cuda:") {
                Some(i) => Device::Cuda(i.parse()?),
                None if other == "cuda" => Device::Cuda(0),
                None => anyhow::bail!("--device: expected cpu, cuda or cuda:N, got {other:?}"),
            }
        }
    };
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let data = Data::prepare(&Mnist::load(&dir)?, false, device);
    let params = Params {
        fc_layer_size: args.fc_layer_size,
        batch_size: args.batch_size,
        ..Params::default()
    };
    let mut trainer = Trainer::new(&params, device)?;
    anyhow::ensure!(
        (1..=data.train_len()).contains(&args.batch_size),
        "--batch-size must be from 1 to {}",
        data.train_len()
    );
    let batches = data.train_len() / args.batch_size;
    let mut loss = 0.0;
    let mut step = |i: i64| {
        let start = (i % batches) * args.batch_size;
        let x = data.train_x.narrow(0, start, args.batch_size);
        let y = data.train_y.narrow(0, start, args.batch_size);
        loss = trainer.step(&x, &y);
    };
    (0..args.warmup).for_each(&mut step);
    sync();
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    (args.warmup..args.warmup + args.steps).for_each(&mut step);
    sync();
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "{}",
        json!({"steps_per_s": args.steps as f64 / wall, "cpu_ms_per_step": cpu * 1e3 / args.steps as f64,
               "final_loss": loss, "steps": args.steps, "threads": args.threads,
               "device": args.device})
    );
    Ok(())
}
