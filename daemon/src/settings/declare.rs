//! `declare_settings!`: from the one table of settings in `mod.rs`, every
//! place a setting is needed: the `Settings` struct, `Default`, one function
//! per default (`defaults::*`, which the scheduler, the inbox watcher and the
//! executors read too), `config.toml`'s structs (`FileSettings` and one per
//! `[table]`, strict about unknown keys), `Settings::apply` with its
//! `Origin`, `Settings::shown` for `sweepctl config`, sweepd's clap flags
//! (`Flags`, their help from `help::*`) and `DECLARED`, every setting's
//! names for the tests.
//!
//! One entry, in the top level or under a `[table] StructName { .. }`:
//!
//! ```text
//! /// Help: the flag's (`sweepd --help`, default appended) and the field's doc.
//! "file_key" => field_name: Type = default expression, {
//!     flag: "flag-name" value "VALUE_NAME",  // optional; `value ..` too
//!     default_help: "text",   // optional: `--help` says this, not the default
//!     tidy: function,         // optional: applied to file and flag values
//!     shown: function,        // optional: `&Type -> String`, not Value::show
//! },
//! ```
//!
//! The options come in this order. `Type` implements `Value` (value.rs). The
//! shown name is the file key, `table.key` under a table.

/// See the module's doc.
macro_rules! declare_settings {
    (
        $(
            $(#[doc = $help:literal])+
            $key:literal => $field:ident : $ty:ty = $default:expr, { $($opt:tt)* },
        )*
        $(
            [$table:ident] $File:ident {
                $(
                    $(#[doc = $thelp:literal])+
                    $tkey:literal => $tfield:ident : $tty:ty = $tdefault:expr, { $($topt:tt)* },
                )*
            }
        )*
    ) => {
        /// What `config.toml` may hold; every key is optional, an unknown one
        /// is an error (a misspelt key would otherwise be silently ignored).
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileSettings {
            $(
                #[serde(default, rename = $key,
                    deserialize_with = "crate::settings::value::from_file")]
                pub $field: Option<$ty>,
            )*
            $(
                #[serde(default)]
                pub $table: $File,
            )*
        }

        $(
            #[doc = concat!("The `[", stringify!($table), "]` table of `config.toml`.")]
            #[derive(Debug, Default, serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $File {
                $(
                    #[serde(default, rename = $tkey,
                        deserialize_with = "crate::settings::value::from_file")]
                    pub $tfield: Option<$tty>,
                )*
            }
        )*

        $crate::settings::declare::declare_settings! { @flat
            $( [] $(#[doc = $help])+ $key => $field: $ty = $default, { $($opt)* } )*
            $( $( [$table] $(#[doc = $thelp])+ $tkey => $tfield: $tty = $tdefault, { $($topt)* } )* )*
        }
    };

    // Every setting in one list, each with its table if any.
    (@flat $(
        [$($table:ident)?] $(#[doc = $help:literal])+
        $key:literal => $field:ident : $ty:ty = $default:expr, {
            $(flag: $flag:literal $(value $vn:literal)?,)?
            $(default_help: $dh:literal,)?
            $(tidy: $tidy:expr,)?
            $(shown: $shown:expr,)?
        }
    )*) => {
        /// Everything the daemon can be told, with defaults.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Settings {
            /// The configuration file read, if any.
            pub file: Option<PathBuf>,
            $( $(#[doc = $help])+ pub $field: Setting<$ty>, )*
        }

        /// Each setting's built-in default, one function per setting.
        pub mod defaults {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[doc = concat!("The default of `", $(stringify!($table), ".",)? $key, "`.")]
                pub fn $field() -> $ty {
                    $default
                }
            )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    file: None,
                    $( $field: Setting::default(defaults::$field()), )*
                }
            }
        }

        impl Settings {
            /// Values from the file or the command line (`from`) over these.
            pub fn apply(&mut self, given: FileSettings, from: Origin) {
                $(
                    let value = given $(.$table)? .$field;
                    $( let value = value.map($tidy); )?
                    self.$field.set(value, from);
                )*
            }

            /// Every setting as `config.toml` names it, its value, and its origin.
            pub fn shown(&self) -> Vec<Shown> {
                vec![$(
                    Shown {
                        name: concat!($(stringify!($table), ".",)? $key).to_owned(),
                        value: $crate::settings::declare::declare_settings!(
                            @show &self.$field.value $(, $shown)?
                        ),
                        from: self.$field.from,
                    },
                )*]
            }
        }

        /// Each setting's help, as `sweepd --help` gives it.
        pub mod help {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[doc = concat!("The help of `", $(stringify!($table), ".",)? $key, "`.")]
                pub fn $field() -> String {
                    $crate::settings::declare::flag_help(
                        &[$($help),+],
                        $crate::settings::declare::declare_settings!(
                            @default_help [$($dh)?] &defaults::$field() $(, $shown)?
                        ),
                    )
                }
            )*
        }

        /// sweepd's flags for the settings, each over the file's value.
        #[derive(Debug, Default, clap::Args)]
        pub struct Flags {
            $($(
                #[arg(
                    long = $flag,
                    value_parser = <$ty as Value>::parser(),
                    help = help::$field()
                    $(, value_name = $vn)?
                )]
                pub $field: Option<$ty>,
            )?)*
        }

        impl Flags {
            /// The flags given, as settings over the file's.
            pub fn overrides(self) -> FileSettings {
                let flags = self;
                let mut given = FileSettings::default();
                $(
                    given $(.$table)? .$field =
                        $crate::settings::declare::declare_settings!(@flag flags.$field $($flag)?);
                )*
                given
            }
        }

        /// Every setting's names: as `sweepctl config` shows it (and
        /// `config.toml` writes it, `table.key` under a table) and its flag.
        pub const DECLARED: &[Declared] = &[$(
            Declared {
                name: concat!($(stringify!($table), ".",)? $key),
                flag: $crate::settings::declare::declare_settings!(@option $($flag)?),
            },
        )*];
    };

    (@show $value:expr) => { Value::show($value) };
    (@show $value:expr, $shown:expr) => { ($shown)($value) };
    (@default_help [$dh:literal] $($value:tt)*) => { $dh.to_owned() };
    (@default_help [] $($value:tt)*) => {
        $crate::settings::declare::declare_settings!(@show $($value)*)
    };
    (@flag $flags:ident . $field:ident) => { None };
    (@flag $flags:ident . $field:ident $flag:literal) => { $flags.$field };
    (@option) => { None };
    (@option $flag:literal) => { Some($flag) };
}

pub(crate) use declare_settings;

/// A flag's help: the setting's doc lines as one line, without its last
/// full stop (as clap writes a doc comment), then the default.
pub fn flag_help(doc: &[&str], default: String) -> String {
    let lines: Vec<&str> = doc.iter().map(|l| l.trim()).collect();
    let text = lines.join(" ");
    let text = text.strip_suffix('.').unwrap_or(&text);
    format!("{text} [default: {default}]")
}
