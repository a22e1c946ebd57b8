//! The argv of a run: the sweep's `command` (or W&B's default) with every
//! macro expanded as W&B's agent expands it. No shell is involved: each list
//! item is one argument, and a macro is replaced only when it is the whole
//! item (`${envvar:NAME}` is replaced anywhere in an item). sweepd's
//! extension: `${NAME}`, where NAME is one of the sweep's (top-level)
//! parameters, is its value as W&B's agent writes values, anywhere in an
//! item (`--batch_size=${batch_size}`, as W&B's docs write it).

use std::path::Path;

use serde_json::Value;

use super::python;
use crate::search::ParamSet;
use crate::spec::DEFAULT_COMMAND;

/// What the macros stand for, for one run.
pub struct Macros<'a> {
    /// `${program}`; a checked spec has one whenever its command uses it.
    pub program: Option<&'a str>,
    /// `${interpreter}`: `python`, or `python3` where there is no `python`.
    pub interpreter: &'a str,
    /// The run's parameters (top-level names; nested groups are objects).
    pub params: &'a ParamSet,
    /// `${args_json_file}`: a file holding the parameters as JSON.
    pub params_json_file: &'a Path,
    /// `${envvar:NAME}`: the environment the run starts from.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The sweep's top-level parameters this run does not have
    /// (`sweepd.conditions`): an argument that names one is left out.
    pub absent: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the command uses ${{envvar:{0}}} but {0} is not set in sweepd's environment")]
    UnsetVariable(String),
    #[error("the command uses ${{program}} but the sweep has no program")]
    NoProgram,
}

/// The run's argv. `command` is the sweep's, or `None` for W&B's default
/// `${env} ${interpreter} ${program} ${args}`.
pub fn argv(command: Option<&[String]>, macros: &Macros<'_>) -> Result<Vec<String>, CommandError> {
    let default: Vec<String> = DEFAULT_COMMAND.iter().map(|t| (*t).to_owned()).collect();
    let command = command.unwrap_or(&default);
    let mut out = Vec::new();
    for token in command {
        if names_absent(token, macros.absent) {
            continue;
        }
        match whole_macro(token) {
            Some(name) => expand(name, macros, &mut out)?,
            None => out.push(substitute(token, macros)?),
        }
    }
    Ok(out)
}

/// Whether a token holds `${NAME}` for a parameter the run does not have:
/// `--momentum=${momentum}` is not passed to a run without momentum.
fn names_absent(token: &str, absent: &[String]) -> bool {
    absent
        .iter()
        .any(|name| token.contains(&format!("${{{name}}}")))
}

/// The macro a token consists of, if it is exactly `${name}` (not `${envvar:...}`).
fn whole_macro(token: &str) -> Option<&str> {
    let name = token.strip_prefix("${")?.strip_suffix('}')?;
    (!name.contains(['{', '}', '$']) && !name.starts_with("envvar:")).then_some(name)
}

fn expand(name: &str, m: &Macros<'_>, out: &mut Vec<String>) -> Result<(), CommandError> {
    let params = || m.params.iter();
    match name {
        "env" => out.push("/usr/bin/env".to_owned()),
        "interpreter" => out.push(m.interpreter.to_owned()),
        "program" => out.push(m.program.ok_or(CommandError::NoProgram)?.to_owned()),
        "args" => out.extend(params().map(|(k, v)| format!("--{k}={}", python::str(v)))),
        "args_no_equals" => {
            for (k, v) in params() {
                out.push(format!("--{k}"));
                out.push(python::str(v));
            }
        }
        "args_no_hyphens" => out.extend(params().map(|(k, v)| format!("{k}={}", python::str(v)))),
        "args_no_boolean_flags" => out.extend(params().filter_map(|(k, v)| match v {
            Value::Bool(true) => Some(format!("--{k}")),
            Value::Bool(false) => None,
            v => Some(format!("--{k}={}", python::str(v))),
        })),
        "args_json" => out.push(python::json_dumps(&Value::Object(m.params.clone()))),
        "args_json_file" => out.push(m.params_json_file.display().to_string()),
        "args_append_hydra" => {
            out.extend(params().map(|(k, v)| format!("+{k}={}", python::str(v))))
        }
        "args_override_hydra" => {
            out.extend(params().map(|(k, v)| format!("++{k}={}", python::str(v))))
        }
        other => match m.params.get(other) {
            Some(value) => out.push(python::str(value)),
            // The spec refuses unknown macros, so a checked command never
            // gets here; should one, it is passed as written, not dropped.
            None => out.push(format!("${{{other}}}")),
        },
    }
    Ok(())
}

/// Replace every `${envvar:NAME}` in a token (an unset variable is an
/// error: W&B would pass the bare name on), and every `${NAME}` that names
/// one of the run's parameters; anything else is left as written.
fn substitute(token: &str, m: &Macros<'_>) -> Result<String, CommandError> {
    let mut out = String::with_capacity(token.len());
    let mut rest = token;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        out.push_str(&rest[..start]);
        if let Some(var) = name.strip_prefix("envvar:") {
            out.push_str(&(m.env)(var).ok_or_else(|| CommandError::UnsetVariable(var.to_owned()))?);
        } else if let Some(value) = m.params.get(name) {
            out.push_str(&python::str(value));
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> ParamSet {
        json!({"lr": 1e-5, "flag": false, "on": true, "layers": [64, 32], "opt": {"name": "adam"}})
            .as_object()
            .unwrap()
            .clone()
    }

    fn run(command: Option<&[&str]>) -> Result<Vec<String>, CommandError> {
        let p = params();
        let env = |name: &str| (name == "DATA").then(|| "/data".to_owned());
        let macros = Macros {
            program: Some("train.py"),
            interpreter: "python3",
            params: &p,
            params_json_file: Path::new("/runs/1/params.json"),
            env: &env,
            absent: &["momentum".to_owned()],
        };
        let owned: Option<Vec<String>> =
            command.map(|c| c.iter().map(|t| (*t).to_owned()).collect());
        argv(owned.as_deref(), &macros)
    }

    #[test]
    fn an_argument_that_names_a_parameter_the_run_lacks_is_left_out() {
        assert_eq!(
            run(Some(&[
                "train",
                "--lr=${lr}",
                "--momentum=${momentum}",
                "${momentum}",
                "x"
            ]))
            .unwrap(),
            ["train", "--lr=1e-05", "x"]
        );
    }

    #[test]
    fn the_default_command_is_wandbs() {
        assert_eq!(
            run(None).unwrap(),
            [
                "/usr/bin/env",
                "python3",
                "train.py",
                "--flag=False",
                "--layers=[64, 32]",
                "--lr=1e-05",
                "--on=True",
                "--opt={'name': 'adam'}",
            ]
        );
    }

    #[test]
    fn a_parameter_by_name_is_its_value_anywhere_in_an_argument() {
        assert_eq!(
            run(Some(&[
                "train",
                "--lr=${lr}",
                "${flag}",
                "--x=${nope}",
                "${layers}"
            ]))
            .unwrap(),
            ["train", "--lr=1e-05", "False", "--x=${nope}", "[64, 32]"]
        );
    }

    #[test]
    fn every_args_macro() {
        let one = |m: &str| run(Some(&[m])).unwrap();
        assert_eq!(
            one("${args_no_equals}"),
            [
                "--flag",
                "False",
                "--layers",
                "[64, 32]",
                "--lr",
                "1e-05",
                "--on",
                "True",
                "--opt",
                "{'name': 'adam'}"
            ]
        );
        assert_eq!(
            one("${args_no_hyphens}"),
            [
                "flag=False",
                "layers=[64, 32]",
                "lr=1e-05",
                "on=True",
                "opt={'name': 'adam'}"
            ]
        );
        assert_eq!(
            one("${args_no_boolean_flags}"),
            [
                "--layers=[64, 32]",
                "--lr=1e-05",
                "--on",
                "--opt={'name': 'adam'}"
            ]
        );
        assert_eq!(
            one("${args_json}"),
            [
                r#"{"flag": false, "layers": [64, 32], "lr": 1e-05, "on": true, "opt": {"name": "adam"}}"#
            ]
        );
        assert_eq!(one("${args_json_file}"), ["/runs/1/params.json"]);
        assert_eq!(one("${args_append_hydra}")[2], "+lr=1e-05");
        assert_eq!(one("${args_override_hydra}")[0], "++flag=False");
    }

    #[test]
    fn env_vars_anywhere_and_literal_tokens_as_written() {
        assert_eq!(
            run(Some(&[
                "python",
                "--data=${envvar:DATA}/x",
                "${program}",
                "$HOME",
                "--n=3"
            ]))
            .unwrap(),
            ["python", "--data=/data/x", "train.py", "$HOME", "--n=3"]
        );
        assert_eq!(
            run(Some(&["${envvar:NOPE}"])).unwrap_err(),
            CommandError::UnsetVariable("NOPE".into())
        );
    }
}
