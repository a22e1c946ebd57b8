//! sweepctl: the command-line side of sweepd.
//!
//! Exit codes: 0 success; 1 a sweep file is invalid; 2 usage or I/O error.

mod preview;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sweepctl",
    version,
    about = "Check, preview and (soon) run W&B-style sweeps with sweepd"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check sweep files: every problem, with line, column and key path.
    ///
    /// Exit status: 0 when every file is valid (warnings allowed), 1 when any
    /// is invalid, 2 when a file cannot be read.
    Validate {
        /// Sweep files (YAML, or JSON when named *.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Show the runs a sweep would start, before any GPU is spent.
    Preview {
        /// The sweep file.
        file: PathBuf,
        /// How many runs to show (default: the whole grid, or 10 random runs).
        #[arg(short = 'n', long = "runs")]
        n: Option<u64>,
        /// Seed for random search (default: `sweepd.seed` in the file, else a random one).
        #[arg(long)]
        seed: Option<u64>,
        /// One JSON object of parameters per run, one per line.
        #[arg(long)]
        json: bool,
    },
}

/// How a command ended, mapped to the documented exit codes.
pub enum Outcome {
    Ok,
    Invalid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files, json } => validate::run(&files, json),
        Command::Preview {
            file,
            n,
            seed,
            json,
        } => preview::run(&file, n, seed, json),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        // A closed pipe (`sweepctl preview ... | head`) is the reader's choice, not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sweepctl: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
