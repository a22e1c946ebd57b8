//! Checkpoints, so that a run interrupted (its monitor killed, the machine
//! rebooted) continues where it was when sweepd runs it again: after every
//! epoch the network's weights go to `checkpoint-<epochs>.ot` in the run's
//! folder, and `checkpoint.json` says how many epochs are done, with which
//! parameters, and in which weights file (each written to a temp file and
//! renamed, the JSON last, so a crash leaves the previous checkpoint whole).
//! A run that sweepd starts again gets the earlier attempt's folder in
//! `SWEEP_RESUME_DIR` (docs/protocol.md); there it finds the checkpoint,
//! loads it, and writes it into its own folder at once. The optimizer's
//! state (Adam's moments) is not kept: it starts afresh at the resume.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::params::Params;
use crate::train::Trainer;

const FILE: &str = "checkpoint.json";

/// A checkpoint found in a folder: the epochs done, and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub epochs_done: i64,
    pub weights: PathBuf,
}

/// The parameters that must match for a checkpoint to be resumed from:
/// all but `epochs` (a longer run may continue a shorter one).
fn fingerprint(params: &Params) -> Value {
    json!({
        "optimizer": format!("{:?}", params.optimizer).to_lowercase(),
        "learning_rate": params.learning_rate,
        "fc_layer_size": params.fc_layer_size,
        "dropout": params.dropout,
        "batch_size": params.batch_size,
        "seed": params.seed,
        "full_dataset": params.full_dataset,
        "shuffle": params.shuffle,
    })
}

/// Save the network after `epochs_done` epochs into `dir`.
pub fn save(dir: &Path, params: &Params, trainer: &Trainer, epochs_done: i64) -> io::Result<()> {
    let weights = format!("checkpoint-{epochs_done}.ot");
    let tmp = dir.join(format!(".{weights}.tmp"));
    trainer
        .save(&tmp)
        .map_err(|e| io::Error::other(format!("saving the weights: {e}")))?;
    fs::rename(&tmp, dir.join(&weights))?;
    let record = json!({
        "version": 1,
        "epochs_done": epochs_done,
        "weights": weights,
        "params": fingerprint(params),
    });
    let tmp = dir.join(format!(".{FILE}.tmp"));
    fs::write(&tmp, format!("{record:#}\n"))?;
    let previous = find(dir, params).ok().flatten();
    fs::rename(&tmp, dir.join(FILE))?;
    // The checkpoint it replaces is not needed any more.
    if let Some(previous) = previous
        && previous.epochs_done != epochs_done
    {
        let _ = fs::remove_file(previous.weights);
    }
    Ok(())
}

/// The checkpoint in `dir` made with these parameters, if there is one.
/// One made with other parameters (another model) is an error that says so.
pub fn find(dir: &Path, params: &Params) -> io::Result<Option<Found>> {
    let text = match fs::read_to_string(dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", dir.join(FILE).display()),
        )
    };
    let record: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    if record["params"] != fingerprint(params) {
        return Err(bad(&format!(
            "made with other parameters ({}), not these ({})",
            record["params"],
            fingerprint(params)
        )));
    }
    let epochs_done = record["epochs_done"]
        .as_i64()
        .ok_or_else(|| bad("no epochs_done"))?;
    let weights = record["weights"]
        .as_str()
        .filter(|w| !w.contains('/'))
        .ok_or_else(|| bad("no weights file"))?;
    Ok(Some(Found {
        epochs_done,
        weights: dir.join(weights),
    }))
}
