//! What `sweepctl submit` leaves in the inbox beside the file it submits
//! (a sidecar), which the watcher reads when it takes the file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The sidecar's contents: where the file came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// The file's name as the user gave it.
    pub original_name: String,
    /// The directory `sweepctl submit` was run in (runs' default working
    /// directory).
    pub submitted_from: Option<PathBuf>,
}

/// The sidecar's suffix (after the inbox file's name).
pub const SIDECAR_SUFFIX: &str = ".submit.json";

/// The sidecar's name beside inbox file `name` (a dot name: the watcher
/// never takes it for a sweep).
pub fn sidecar_name(name: &str) -> String {
    format!(".{name}{SIDECAR_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_reads_back_and_hides_beside_its_file() {
        let sidecar = Sidecar {
            original_name: "tutorial.yaml".into(),
            submitted_from: Some("/home/me/project".into()),
        };
        let bytes = serde_json::to_vec(&sidecar).unwrap();
        assert_eq!(serde_json::from_slice::<Sidecar>(&bytes).unwrap(), sidecar);
        assert_eq!(sidecar_name("a.yaml"), ".a.yaml.submit.json");
    }
}
