//! `sweepctl extend` and `sweepctl enqueue`: a sweep that continues
//! (docs/continuing.md), through the daemon, which checks and records it.

use anyhow::{Result, bail};
use serde_json::{Map, Value};
use sweepd_core::protocol::control::{Request, Response};
use sweepd_core::search::ParamSet;
use sweepd_core::store::Home;

use crate::Outcome;
use crate::client::Client;
use crate::view::resolve_sweep;

/// `sweepctl extend SWEEP --run-cap N | --more K`.
pub fn extend(
    home: &Home,
    sweep: &str,
    run_cap: Option<u64>,
    more: Option<u64>,
) -> Result<Outcome> {
    let sweep = resolve_sweep(home, sweep)?.to_string();
    ask(
        home,
        "extend a sweep",
        &Request::Extend {
            sweep,
            run_cap,
            more,
        },
    )
}

/// `sweepctl enqueue SWEEP name=value ...`.
pub fn enqueue(home: &Home, sweep: &str, assignments: &[String]) -> Result<Outcome> {
    let run = parse_assignments(assignments)?;
    let sweep = resolve_sweep(home, sweep)?.to_string();
    ask(
        home,
        "queue runs",
        &Request::Enqueue {
            sweep,
            runs: vec![run],
        },
    )
}

/// `sweepctl import SWEEP FILE`: sweepd reads the file (it runs as the
/// same user) and keeps its finished runs as seeds of the sweep's search.
pub fn import(home: &Home, sweep: &str, file: &std::path::Path) -> Result<Outcome> {
    let file = std::path::absolute(file)?;
    if !file.is_file() {
        bail!("{}: no such file", file.display());
    }
    let sweep = resolve_sweep(home, sweep)?.to_string();
    ask(home, "import runs", &Request::Import { sweep, file })
}

fn ask(home: &Home, what: &str, request: &Request) -> Result<Outcome> {
    let Some(mut client) = Client::connect(home)? else {
        bail!(
            "sweepd is not running on {}: start it to {what}",
            home.root().display()
        );
    };
    match client.request(request)? {
        Response::Done { message } => {
            println!("{message}");
            Ok(Outcome::Ok)
        }
        Response::Refused { message } => bail!("{message}"),
        other => bail!("unexpected answer from sweepd: {other:?}"),
    }
}

/// `lr=0.01 optimizer=adam model.depth=4`: one run's parameters. A value
/// reads as JSON where it is JSON (`4`, `0.5`, `true`, `"4"`, `[1, 2]`),
/// else as text; a dotted name is a parameter of a nested group.
pub fn parse_assignments(assignments: &[String]) -> Result<ParamSet> {
    let mut run = Map::new();
    for assignment in assignments {
        let Some((name, text)) = assignment.split_once('=') else {
            bail!("{assignment:?}: expected NAME=VALUE, e.g. lr=0.01");
        };
        let path: Vec<&str> = name.split('.').collect();
        if path.iter().any(|p| p.trim().is_empty()) {
            bail!("{assignment:?}: {name:?} is not a parameter name");
        }
        let value =
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let (last, groups) = path.split_last().expect("split gives at least one part");
        let mut map = &mut run;
        for group in groups {
            let entry = map
                .entry((*group).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = entry else {
                bail!("{assignment:?}: {group} is given a value and parameters both");
            };
            map = inner;
        }
        if map.insert((*last).to_owned(), value).is_some() {
            bail!("{assignment:?}: {name} is given twice");
        }
    }
    if run.is_empty() {
        bail!("give at least one NAME=VALUE (parameters left out are drawn by the search's space)");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<ParamSet> {
        parse_assignments(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn values_read_as_json_where_they_are_and_names_nest() {
        let run = parse(&[
            "lr=0.01",
            "epochs=5",
            "opt=adam",
            "quoted=\"4\"",
            "model.depth=4",
            "model.act=relu",
            "flag=true",
        ])
        .unwrap();
        assert_eq!(
            Value::Object(run),
            json!({"lr": 0.01, "epochs": 5, "opt": "adam", "quoted": "4",
                   "model": {"depth": 4, "act": "relu"}, "flag": true})
        );
    }

    #[test]
    fn malformed_assignments_say_which() {
        for (args, says) in [
            (&["lr"][..], "expected NAME=VALUE"),
            (&["=3"][..], "not a parameter name"),
            (&["a.=3"][..], "not a parameter name"),
            (&["lr=1", "lr=2"][..], "given twice"),
            (&["m=1", "m.x=2"][..], "value and parameters both"),
            (&[][..], "at least one"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
}
