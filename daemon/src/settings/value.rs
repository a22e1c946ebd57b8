//! How each type of setting is read from `config.toml`, read from a flag and
//! shown (by `sweepctl config`, and as the default in `sweepd --help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{TypedValueParser, ValueParser};
use serde::{Deserialize, Deserializer};

/// A type a setting may have.
pub trait Value: Sized {
    /// The value as `config.toml` writes it.
    fn from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    /// The value as a flag writes it.
    fn parser() -> ValueParser;
    /// The value as `sweepctl config` shows it, and `sweepd --help` the
    /// default.
    fn show(&self) -> String;
}

/// serde's `deserialize_with` for every key of `config.toml`: the key is
/// optional, and when present read as its type says.
pub fn from_file<'de, D: Deserializer<'de>, T: Value>(d: D) -> Result<Option<T>, D::Error> {
    T::from_file(d).map(Some)
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t>::deserialize(d)
            }
            fn parser() -> ValueParser {
                clap::value_parser!($t).into()
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

plain!(usize, u64, u32, bool);

/// Durations as people write them: "30s", "2m", "1h 30m".
impl Value for Duration {
    fn from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); e.g. \"30s\", \"2m\""
            ))
        })
    }

    fn parser() -> ValueParser {
        ValueParser::new(humantime::parse_duration)
    }

    fn show(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

impl Value for PathBuf {
    fn from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PathBuf::deserialize(d)
    }

    fn parser() -> ValueParser {
        ValueParser::path_buf()
    }

    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// A path that may be left unset (the setting's own `shown` says what
/// unset means).
impl Value for Option<PathBuf> {
    fn from_file<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PathBuf::deserialize(d).map(Some)
    }

    fn parser() -> ValueParser {
        ValueParser::new(clap::builder::PathBufValueParser::new().map(Some))
    }

    fn show(&self) -> String {
        self.as_ref().map(PathBuf::show).unwrap_or_default()
    }
}
