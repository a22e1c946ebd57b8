//! Reading the configuration file: where it is by default, and its values
//! over the defaults (serde and toml check it: an unknown key, a wrong type
//! or a bad duration is an error naming the file, the line and the key).

use std::path::{Path, PathBuf};

use super::{FileSettings, Origin, Settings};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

/// `$XDG_CONFIG_HOME/sweepd/config.toml` (`~/.config/sweepd/config.toml`).
pub fn default_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.config_dir().join("sweepd").join("config.toml"))
}

impl Settings {
    /// The defaults, then `path` (`required`: a file named on purpose must
    /// exist; the default one may be absent).
    pub fn load(path: Option<&Path>, required: bool) -> Result<Settings, SettingsError> {
        let mut settings = Settings::default();
        let Some(path) = path else {
            return Ok(settings);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(settings);
            }
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: FileSettings = toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        settings.file = Some(path.to_owned());
        settings.apply(file, Origin::File);
        Ok(settings)
    }
}
