//! `command:`: the argv of each run, with W&B's macros.

use super::checker::{Checker, is_env_var_name};
use super::diagnostic::KeyPath;
use super::document::{Node, Value};
use super::suggest;

/// The macros that stand for a whole argv element (`${args}` may become many).
pub const MACROS: &[&str] = &[
    "env",
    "interpreter",
    "program",
    "args",
    "args_no_equals",
    "args_no_hyphens",
    "args_no_boolean_flags",
    "args_json",
    "args_json_file",
    "args_append_hydra",
    "args_override_hydra",
];

/// W&B's command when none is given.
pub const DEFAULT_COMMAND: &[&str] = &["${env}", "${interpreter}", "${program}", "${args}"];

/// A checked command: every macro in it is one we expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(pub Vec<String>);

impl Command {
    pub fn uses(&self, name: &str) -> bool {
        let token = format!("${{{name}}}");
        self.0.contains(&token)
    }
}

pub(crate) fn check_command(
    c: &mut Checker,
    node: &Node,
    path: &KeyPath,
    has_program: bool,
    parameters: &[&str],
) -> Option<Command> {
    let Value::Seq(items) = &node.value else {
        c.error_help(
            node.position,
            path,
            format!(
                "`command` must be a list of arguments, found {}",
                node.describe()
            ),
            "e.g. command: [\"${env}\", \"${interpreter}\", \"${program}\", \"${args}\"]",
        );
        return None;
    };
    if items.is_empty() {
        c.error(node.position, path, "`command` is empty");
        return None;
    }
    let mut tokens = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        let token = match &item.value {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            _ => {
                c.error_help(
                    item.position,
                    &item_path,
                    format!(
                        "each command argument must be a string, found {}",
                        item.describe()
                    ),
                    "quote it",
                );
                ok = false;
                continue;
            }
        };
        ok &= check_token(c, item, &item_path, &token, has_program, parameters);
        tokens.push(token);
    }
    ok.then_some(Command(tokens))
}

/// Check the `${...}` macros in one argument.
fn check_token(
    c: &mut Checker,
    item: &Node,
    path: &KeyPath,
    token: &str,
    has_program: bool,
    parameters: &[&str],
) -> bool {
    let mut ok = true;
    let mut rest = token;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            c.error(item.position, path, format!("unclosed `${{` in {token:?}"));
            return false;
        };
        let name = &after[..end];
        rest = &after[end + 1..];
        if let Some(var) = name.strip_prefix("envvar:") {
            if !is_env_var_name(var) {
                c.error(
                    item.position,
                    path,
                    format!("`{var}` is not an environment variable name"),
                );
                ok = false;
            }
            continue;
        }
        if MACROS.contains(&name) {
            if token != format!("${{{name}}}") {
                c.error_help(
                    item.position,
                    path,
                    format!("`${{{name}}}` must be a whole argument, not part of {token:?}"),
                    "W&B replaces it only when it stands alone in its list item",
                );
                ok = false;
            } else if name == "program" && !has_program {
                c.error_help(
                    item.position,
                    path,
                    "the command uses `${program}` but the sweep has no `program`",
                    "add `program: train.py` (or whatever runs the training)",
                );
                ok = false;
            }
            continue;
        }
        // sweepd's extension: `--batch_size=${batch_size}` (as W&B's docs
        // write it, though W&B's agent leaves it as written) is the value
        // of the sweep's parameter `batch_size`, anywhere in an argument.
        if parameters.contains(&name) {
            continue;
        }
        // `${HOME}` in `sh -c '...'` is the shell's business: an upper-case
        // name reads as an environment variable and is passed on as written.
        let shell_variable = !name.is_empty()
            && !name.starts_with(|ch: char| ch.is_ascii_digit())
            && name
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
        if shell_variable {
            c.warn(
                item.position,
                path,
                format!("`${{{name}}}` is passed to the run as written; sweepd expands only its own macros"),
                Some(format!("a shell running this argument expands it; for sweepd to, write `${{envvar:{name}}}`")),
            );
            continue;
        }
        c.error_help(
            item.position,
            path,
            format!("unknown macro `${{{name}}}` in {token:?}: W&B would pass it through unexpanded"),
            match suggest::closest(name, &[MACROS, parameters].concat()) {
                Some(m) => format!("did you mean `${{{m}}}`?"),
                None => "parameters reach a run through `${args}` or its variants (`${args_json}`, \
                         `${args_no_hyphens}`, ...) or one by one as `${NAME}` where NAME is one of \
                         the sweep's parameters; the other macros are `${env}`, `${interpreter}`, \
                         `${program}` and `${envvar:NAME}`"
                    .to_owned(),
            },
        );
        ok = false;
    }
    ok
}
