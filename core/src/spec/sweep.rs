//! The sweep as a whole: W&B's top-level keys, our `sweepd:` block, and the
//! checks that span several keys.

use super::checker::{Checker, Fields, choice};
use super::command::{Command, check_command};
use super::diagnostic::KeyPath;
use super::document::Node;
use super::early_terminate::{Hyperband, check_early_terminate};
use super::metric::{Metric, check_metric};
use super::options::{SweepdOptions, check_options};
use super::parameter::{MAX_FLOAT_STEPS, NotListable, Parameters, check_parameters};
use super::structure::check_structure;

/// A sweep that passed every check: only this reaches the search and the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub method: Method,
    pub parameters: Parameters,
    pub metric: Option<Metric>,
    pub early_terminate: Option<Hyperband>,
    pub program: Option<String>,
    pub command: Option<Command>,
    /// At most this many runs.
    pub run_cap: Option<u64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub project: Option<String>,
    pub entity: Option<String>,
    pub sweepd: SweepdOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Grid,
    Random,
    Bayes,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Bayes => "bayes",
        }
    }
}

/// Every top-level key W&B accepts, plus `sweepd`.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "method",
    "parameters",
    "metric",
    "early_terminate",
    "program",
    "command",
    "run_cap",
    "name",
    "description",
    "project",
    "entity",
    "controller",
    "apiVersion",
    "kind",
    "job",
    "image_uri",
    "metrics",
    "scheduler",
    "sweepd",
];

/// W&B keys for features of W&B's cloud that sweepd does not have.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    (
        "job",
        "W&B Launch jobs are not supported",
        "sweepd runs `program` or `command` on this machine; remove `job` and give `program`",
    ),
    (
        "image_uri",
        "container images (W&B Launch) are not supported",
        "sweepd runs `program` or `command` on this machine; remove `image_uri` and give `program`",
    ),
    (
        "metrics",
        "W&B's `metrics` key is for its Launch schedulers (`method: custom`), which sweepd does not have",
        "list several metrics in `sweepd: {objectives: [{name: ..., goal: ...}, ...]}` (docs/beyond-wandb.md)",
    ),
    (
        "scheduler",
        "custom schedulers (W&B Launch with Optuna or Ax) are not supported",
        "use `method: bayes`, sweepd's own Bayesian search, and remove `scheduler`",
    ),
];

pub(crate) fn check_sweep(c: &mut Checker, root: &Node) -> Option<SweepSpec> {
    let path = KeyPath::root();
    if matches!(root.value, super::document::Value::Null) {
        c.error(
            root.position,
            &path,
            "the file is empty: a sweep needs at least `method` and `parameters`",
        );
        return None;
    }
    let fields = c.mapping(root, &path, "a sweep file")?;
    c.only_keys(&fields, TOP_LEVEL_KEYS, "a sweep");
    for (key, _) in fields.entries {
        let name = key.as_str().unwrap_or_default();
        if let Some((_, message, help)) = UNSUPPORTED.iter().find(|(k, ..)| *k == name) {
            c.error_help(key.position, &fields.child(name), *message, *help);
        }
    }

    let method = c
        .require(&fields, "method", "a sweep")
        .and_then(|n| method(c, n, &fields.child("method")));
    let parameters = c
        .require(&fields, "parameters", "a sweep")
        .and_then(|n| check_parameters(c, n, &fields.child("parameters")));
    let metric = optional(fields.get("metric"), |n| {
        check_metric(c, n, &fields.child("metric"))
    });
    let early_terminate = optional(fields.get("early_terminate"), |n| {
        check_early_terminate(c, n, &fields.child("early_terminate"))
    });
    let text =
        |c: &mut Checker, key: &str| optional(fields.get(key), |n| c.string(n, &fields.child(key)));
    let program = text(c, "program");
    let name = text(c, "name");
    let description = text(c, "description");
    let project = text(c, "project");
    let entity = text(c, "entity");
    let api_version = text(c, "apiVersion");
    let kind = optional(fields.get("kind"), |n| {
        choice(c, n, &fields.child("kind"), &[("sweep", ())])
    });
    let controller = optional(fields.get("controller"), |n| {
        controller(c, n, &fields.child("controller"))
    });
    let has_program = matches!(program, Some(Some(_)));
    let parameter_names: Vec<&str> = match &parameters {
        Some(p) => p.0.keys().map(String::as_str).collect(),
        None => Vec::new(),
    };
    let command = optional(fields.get("command"), |n| {
        check_command(
            c,
            n,
            &fields.child("command"),
            has_program,
            &parameter_names,
        )
    });
    let run_cap = optional(fields.get("run_cap"), |n| {
        let path = fields.child("run_cap");
        match c.integer(n, &path)? {
            cap if cap > 0 => Some(cap as u64),
            cap => {
                c.error(
                    n.position,
                    &path,
                    format!("`run_cap` must be at least 1, found {cap}"),
                );
                None
            }
        }
    });
    let sweepd = optional(fields.get("sweepd"), |n| {
        check_options(c, n, &fields.child("sweepd"))
    });

    // Checks across keys run on whatever was read, so that their problems
    // are reported along with every other.
    let command_read = command.as_ref().and_then(Option::as_ref);
    check_across_keys(c, &fields, method, parameters.as_ref(), command_read);
    if let (Some(Some(options)), Some(parameters)) = (&sweepd, &parameters) {
        if let Some(block) = fields
            .get("sweepd")
            .and_then(|n| c.mapping(n, &fields.child("sweepd"), "`sweepd`"))
        {
            check_structure(
                c,
                &block,
                &options.conditions,
                &options.constraints,
                parameters,
            );
        }
        check_enqueued(c, &fields, options, parameters, run_cap.flatten());
    }
    if let Some(Some(options)) = &sweepd {
        let metric = metric.as_ref().and_then(Option::as_ref);
        check_objectives(c, &fields, metric, options);
    }

    let (method, parameters) = (method?, parameters?);
    let (metric, early_terminate, program, command, run_cap) =
        (metric?, early_terminate?, program?, command?, run_cap?);
    let (name, description, project, entity, sweepd) =
        (name?, description?, project?, entity?, sweepd?);
    // Checked, but with no effect on a local sweep: not kept.
    let (_, _, _) = (api_version?, kind?, controller?);

    let spec = SweepSpec {
        method,
        parameters,
        metric,
        early_terminate,
        program,
        command,
        run_cap,
        name,
        description,
        project,
        entity,
        sweepd: sweepd.unwrap_or_default(),
    };
    (!c.diagnostics.has_errors()).then_some(spec)
}

/// Absent: fine (`Some(None)`); present: its checked value, or `None` on error.
fn optional<T>(node: Option<&Node>, check: impl FnOnce(&Node) -> Option<T>) -> Option<Option<T>> {
    match node {
        None => Some(None),
        Some(n) => check(n).map(Some),
    }
}

fn method(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<Method> {
    if node.as_str() == Some("custom") {
        c.error_help(
            node.position,
            path,
            "`method: custom` is not supported: it hands the search to a W&B Launch scheduler",
            "use grid, random or bayes",
        );
        return None;
    }
    choice(
        c,
        node,
        path,
        &[
            ("grid", Method::Grid),
            ("random", Method::Random),
            ("bayes", Method::Bayes),
        ],
    )
}

/// `controller: {type: local|cloud}`: accepted and kept quiet, since sweepd is
/// always its own local controller.
fn controller(c: &mut Checker, node: &Node, path: &KeyPath) -> Option<()> {
    let fields = c.mapping(node, path, "`controller`")?;
    let kind = c.require(&fields, "type", "`controller`")?;
    choice(
        c,
        kind,
        &fields.child("type"),
        &[("local", ()), ("cloud", ())],
    )
}

/// Checks that need more than one key.
fn check_across_keys(
    c: &mut Checker,
    fields: &super::checker::Fields<'_>,
    method: Option<Method>,
    parameters: Option<&Parameters>,
    command: Option<&Command>,
) {
    let method_position = fields.get("method").and_then(|n| n.position);
    let objectives = fields
        .get("sweepd")
        .and_then(|n| n.get("objectives"))
        .is_some();
    if !fields.has("metric") {
        if method == Some(Method::Bayes) && !objectives {
            c.error_help(
                method_position,
                &fields.child("method"),
                "bayes search needs a `metric` to optimize",
                "add `metric: {name: loss, goal: minimize}` with the name your program logs",
            );
        }
        if fields.has("early_terminate") {
            c.error_help(
                fields.get("early_terminate").and_then(|n| n.position),
                &fields.child("early_terminate"),
                "early termination needs a `metric` to compare runs by",
                "add `metric: {name: loss, goal: minimize}` with the name your program logs",
            );
        }
    }
    if let (Some(Method::Grid), Some(parameters)) = (method, parameters) {
        for (names, distribution) in parameters.leaves() {
            let Err(why) = distribution.grid_axis() else {
                continue;
            };
            let (node, path) = parameter_node(fields.node, &names);
            let kind = distribution.kind();
            let name = names.join(".");
            let (message, help) = match why {
                NotListable::Weighted => (
                    format!(
                        "grid search cannot take `{name}`, a {kind} parameter: \
                         a grid runs every value once, so probabilities mean nothing there"
                    ),
                    "drop `probabilities`, or use `method: random` or `bayes`".to_owned(),
                ),
                NotListable::Continuous => (
                    format!(
                        "grid search cannot take `{name}`, a {kind} parameter: \
                         a grid can only list values, and this range has infinitely many"
                    ),
                    "use `values: [...]`, int_uniform or q_uniform, or `method: random` or `bayes`"
                        .to_owned(),
                ),
                NotListable::TooManySteps => (
                    format!(
                        "`{name}` steps from min to max in more than {MAX_FLOAT_STEPS} steps of q: \
                         too many to list in a grid"
                    ),
                    "raise q, or narrow min and max".to_owned(),
                ),
            };
            c.error_help(node.and_then(|n| n.position), &path, message, help);
        }
    }
    match (fields.has("program"), fields.has("command")) {
        (false, false) => c.warn(
            fields.node.position,
            &KeyPath::root(),
            "the sweep has neither `program` nor `command`: sweepd starts none of its runs \
             itself, it waits for agents to run them",
            Some(
                "run it with `sweepd.agent(SWEEP_ID, function)` in Python or \
                 `sweepctl agent SWEEP -- COMMAND`; or add `program: train.py`"
                    .into(),
            ),
        ),
        (true, true) if command.is_some_and(|command| !command.uses("program")) => c.warn(
            fields.get("command").and_then(|n| n.position),
            &fields.child("command"),
            "`program` is set but `command` does not use `${program}`",
            Some("runs start with the command as written; `program` is unused".into()),
        ),
        _ => {}
    }
}

/// Several objectives with `metric` and `early_terminate`: the metric, if
/// given, is one of them (what W&B optimises without the `sweepd` block);
/// early termination ranks runs by one metric, so it is refused.
fn check_objectives(
    c: &mut Checker,
    fields: &Fields<'_>,
    metric: Option<&Metric>,
    options: &SweepdOptions,
) {
    if options.objectives.is_empty() {
        return;
    }
    if let Some(metric) = metric {
        match options.objectives.iter().find(|o| o.name == metric.name) {
            None => c.error_help(
                fields.get("metric").and_then(|n| n.position),
                &fields.child("metric"),
                format!(
                    "`metric` is `{}`, which is not one of `sweepd.objectives`",
                    metric.name
                ),
                "name one of the objectives (what W&B optimises without the sweepd block), \
                 or remove `metric`",
            ),
            Some(o) if o.goal != metric.goal => c.error(
                fields.get("metric").and_then(|n| n.position),
                &fields.child("metric"),
                format!(
                    "`metric` says {} `{}`, its objective says {}",
                    metric.goal.name(),
                    metric.name,
                    o.goal.name()
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(node) = fields.get("early_terminate") {
        c.error_help(
            node.position,
            &fields.child("early_terminate"),
            "early termination with several objectives is not defined: hyperband compares \
             runs by one metric, and a run behind on one objective may lead on another",
            "remove `early_terminate`, or optimise one metric",
        );
    }
}

/// The document node of a (possibly nested) parameter, and its key path.
fn parameter_node<'n>(root: &'n Node, names: &[String]) -> (Option<&'n Node>, KeyPath) {
    let mut path = KeyPath::root().key("parameters");
    let mut node = root.get("parameters");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            path = path.key("parameters");
            node = node.and_then(|n| n.get("parameters"));
        }
        path = path.key(name);
        node = node.and_then(|n| n.get(name));
    }
    (node, path)
}

/// Each run of `sweepd.enqueue` against the parameters: every name one of
/// them, every value one its distribution can take.
fn check_enqueued(
    c: &mut Checker,
    fields: &Fields<'_>,
    options: &SweepdOptions,
    parameters: &Parameters,
    run_cap: Option<u64>,
) {
    let space = crate::search::Space::with(parameters, &options.conditions, &options.constraints);
    let path = fields.child("sweepd").key("enqueue");
    let items = fields
        .get("sweepd")
        .and_then(|n| n.get("enqueue"))
        .and_then(|n| match &n.value {
            super::document::Value::Seq(items) => Some(items.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    if let Some(cap) = run_cap
        && options.enqueue.len() as u64 > cap
    {
        c.error_help(
            fields
                .get("sweepd")
                .and_then(|n| n.get("enqueue"))
                .and_then(|n| n.position),
            &path,
            format!(
                "`enqueue` gives {} runs, more than `run_cap` ({cap}) lets run",
                options.enqueue.len()
            ),
            "the given runs count toward run_cap: raise it, or give fewer",
        );
    }
    for (i, given) in options.enqueue.iter().enumerate() {
        // What a run leaves out is drawn, as the daemon draws it (a seed of
        // its own here: a run the file gives must fit with some draws).
        let fills = crate::search::Random::of_space(space.clone(), 0);
        if let Err(e) = space.check_given(given, fills.fills(i as u64)) {
            let position = items.get(i).and_then(|n| n.position);
            c.error_help(
                position,
                &path.index(i),
                format!("run {} of `enqueue`: {e}", i + 1),
                "each run of `enqueue` gives values its parameters can take; leave out what the search should choose",
            );
        }
    }
}
