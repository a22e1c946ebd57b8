//! `sweepctl report`, `export` and `watch` end to end: sweeps run by the real
//! sweepd (grid, random, bayes) and a 2,000-run sweep written in the
//! daemon's layout; reports opened in a real headless Chromium (Debian's
//! `chromium`, which scripts/setup installs), their DOM checked and a
//! screenshot kept under the target folder.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::World;
use common::daemon::{Daemon, drop_file, run_dirs, state, sweeps, wait_until};
use common::synthetic::{self, Synthetic};
use serde_json::Value;

// ---- Chromium -----------------------------------------------------------------

/// Debian's chromium, or the one SWEEPD_CHROMIUM names.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("SWEEPD_CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let path = dir.join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "no chromium on PATH: these tests open reports in a real browser; \
         scripts/setup installs Debian's chromium (or set SWEEPD_CHROMIUM)"
    );
}

/// Chromium, headless, with a profile of the test's own and at most two minutes.
fn browser(w: &World, args: &[&str], url: &str) -> std::process::Output {
    let profile = w.path("chromium-profile");
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            // Tests run as root in CI containers, where the sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .env("HOME", w.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn url(page: &Path) -> String {
    format!("file://{}", page.display())
}

/// The page's DOM after its script ran; fails if the script failed.
fn dom(w: &World, page: &Path) -> String {
    dom_at(w, &url(page))
}

fn dom_at(w: &World, url: &str) -> String {
    let dom = String::from_utf8(browser(w, &["--dump-dom"], url).stdout).unwrap();
    assert!(
        dom.contains("data-rendered=\"ok\"") && !dom.contains("data-error="),
        "the report's script failed: {}",
        dom.split("data-error=\"")
            .nth(1)
            .map_or("(it did not finish)", |e| e.split('"').next().unwrap_or(""))
    );
    dom
}

/// A full-page screenshot, kept where a person can look at it.
fn screenshot(w: &World, page: &Path, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    let _ = fs::remove_file(&png);
    browser(
        w,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,3400",
        ],
        &url(page),
    );
    let bytes = fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[1..4], b"PNG");
    eprintln!("screenshot: {}", png.display());
    png
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `data-parameter` of each importance bar, top to bottom.
fn importance_order(dom: &str) -> Vec<String> {
    dom.split("class=\"importance-bar\"")
        .skip(1)
        .map(|rest| {
            rest.split("data-parameter=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Nothing in the page may reach for the network.
fn assert_offline(html: &str) {
    for needle in [
        "<link",
        "src=\"http",
        "src='http",
        "url(",
        "@import",
        "fetch(",
    ] {
        assert!(!html.contains(needle), "the report refers out: {needle}");
    }
}

// ---- sweeps run by the daemon -------------------------------------------------------

/// A trainer whose loss is known: strong in lr, weak in dropout, none in optimizer.
const TRAINER: &str = "import json, math, sys\n\
p = json.loads(sys.argv[1])\n\
end = 2 * abs(math.log10(p['lr']) + 3) + 0.4 * p['dropout']\n\
for e in range(1, 5):\n    print(json.dumps({'epoch': e, 'loss': end + 2.5 * 0.6 ** e, 'accuracy': 1 - end / 12}), flush=True)\n";

fn sweep_file(w: &World, method: &str, metric: &str, extra: &str) -> String {
    let trainer = w.file("trainer.py", TRAINER);
    format!(
        "name: {method}-sweep\nmethod: {method}\nmetric: {metric}\n\
         command: [python3, {}, '${{args_json}}']\nsweepd: {{max_parallel: 3, seed: 11}}\n{extra}",
        trainer.display()
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn flat(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flat(&name, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// Each run's flattened parameters and best `metric` by `goal`, from its folder.
fn runs_on_disk(
    sweep: &Path,
    metric: &str,
    maximize: bool,
) -> BTreeMap<u64, (BTreeMap<String, Value>, f64)> {
    let mut out = BTreeMap::new();
    for dir in run_dirs(sweep) {
        let summary = read_json(&dir.join("summary.json"));
        let mut params = BTreeMap::new();
        flat("", &read_json(&dir.join("params.json")), &mut params);
        let values = fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()[metric]
                    .as_f64()
                    .unwrap()
            })
            .collect::<Vec<f64>>();
        let best = if maximize {
            values.into_iter().fold(f64::NEG_INFINITY, f64::max)
        } else {
            values.into_iter().fold(f64::INFINITY, f64::min)
        };
        out.insert(summary["run"].as_u64().unwrap(), (params, best));
    }
    out
}

/// The export's column for a parameter: its name, or `param.<name>` when a
/// fixed column has that name.
fn param_column(name: &str) -> String {
    if [
        "run",
        "proposal",
        "attempt",
        "state",
        "reason",
        "exit_code",
        "started_at",
        "ended_at",
        "duration_s",
    ]
    .contains(&name)
    {
        format!("param.{name}")
    } else {
        name.to_owned()
    }
}

#[test]
fn reports_of_grid_random_and_bayes_sweeps_open_in_chromium_and_exports_read_back() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let params = "parameters:\n  lr: {distribution: log_uniform_values, min: 0.00001, max: 0.1}\n  \
                  dropout: {min: 0.0, max: 0.5}\n  optimizer: {values: [adam, sgd, rmsprop]}\n  \
                  batch_size: {value: 64}\n";
    let grid = "parameters:\n  lr: {values: [0.00001, 0.0001, 0.001, 0.01, 0.1]}\n  \
                dropout: {values: [0.0, 0.5]}\n  optimizer: {values: [adam, sgd]}\n";
    let loss = "{name: loss, goal: minimize}";
    // Maximised: the best is the highest, the table's first row, the brightest line.
    let accuracy = "{name: accuracy, goal: maximize}";
    let sweeps_wanted = [
        ("grid", sweep_file(&w, "grid", loss, grid), 20, "loss"),
        (
            "random",
            // A parameter named like an export column: kept as `param.state`.
            sweep_file(
                &w,
                "random",
                loss,
                &format!("run_cap: 14\n{params}  state: {{value: 7}}\n"),
            ),
            14,
            "loss",
        ),
        (
            "bayes",
            sweep_file(&w, "bayes", accuracy, &format!("run_cap: 9\n{params}")),
            9,
            "accuracy",
        ),
    ];
    for (method, text, _, _) in &sweeps_wanted {
        drop_file(&w, &format!("{method}.yaml"), text.as_bytes());
    }
    wait_until("three sweeps", || sweeps(&w).len() == 3);
    for sweep in sweeps(&w) {
        wait_until("the sweep to finish", || state(&sweep) == "finished");
    }
    for (method, _, runs, metric) in sweeps_wanted {
        let maximize = metric == "accuracy";
        let dir = sweeps(&w)
            .into_iter()
            .find(|d| d.to_str().unwrap().contains(&format!("-{method}-sweep-")))
            .unwrap();
        let id = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let page = w.path(&format!("{method}.html"));
        let made = w
            .sweepctl(["report", &id, "-o", page.to_str().unwrap()])
            .expect_code(0);
        assert!(
            made.stderr().contains(&format!("wrote {}", page.display()))
                && made.stderr().contains(&format!("{runs} runs")),
            "{}",
            made.stderr()
        );
        let html = fs::read_to_string(&page).unwrap();
        assert_offline(&html);
        let dom = dom(&w, &page);
        assert_eq!(
            count(&dom, "class=\"run-line"),
            runs,
            "{method}: one line per run"
        );
        assert_eq!(
            count(&dom, "<tr data-run="),
            runs,
            "{method}: one row per run"
        );
        let order = importance_order(&dom);
        assert_eq!(order.len(), 3, "{method}: one bar per swept parameter");
        assert_eq!(order[0], "lr", "{method}: lr drives the loss: {order:?}");
        assert!(dom.contains("id=\"best-yaml\""), "{method}");
        let truth = runs_on_disk(&dir, metric, maximize);
        let (best_run, _) = truth
            .iter()
            .map(|(n, (_, best))| (*n, *best))
            .reduce(|a, b| {
                let better = if maximize { b.1 > a.1 } else { b.1 < a.1 };
                if better { b } else { a }
            })
            .unwrap();
        assert!(
            dom.contains(&format!("Best: run {best_run}, {metric} = ")),
            "{method}: best run {best_run}"
        );
        let first_row = dom.split("<tr data-run=\"").nth(1).unwrap();
        assert!(
            first_row.starts_with(&format!("{best_run}\" class=\"best ")),
            "{method}: the table opens sorted best first: {}",
            &first_row[..40]
        );
        assert!(
            dom.contains("Taken "),
            "{method}: a finished sweep's report"
        );
        if method == "random" {
            let png = screenshot(&w, &page, "random-sweep");
            assert!(fs::metadata(&png).unwrap().len() > 20_000, "a drawn page");
        }

        // The export reads back to what the runs' folders hold.
        let csv = w
            .sweepctl(["export", &id, "--format", "csv"])
            .expect_code(0)
            .stdout();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let mut seen = 0;
        for record in reader.records() {
            let record = record.unwrap();
            let get = |c: &str| &record[header.iter().position(|h| h == c).unwrap()];
            let (params, best) = &truth[&get("run").parse::<u64>().unwrap()];
            for (name, value) in params {
                let cell = get(&param_column(name));
                match value {
                    Value::Number(n) => {
                        assert_eq!(cell.parse::<f64>().unwrap(), n.as_f64().unwrap(), "{name}")
                    }
                    Value::String(s) => assert_eq!(cell, s, "{name}"),
                    other => panic!("{other}"),
                }
            }
            assert_eq!(
                get(&format!("best_{metric}")).parse::<f64>().unwrap(),
                *best
            );
            assert_eq!(get("state"), "finished");
            assert_eq!(get("epoch"), "4", "the summary: the last epoch logged");
            seen += 1;
        }
        assert_eq!(seen, runs);
        let jsonl = w
            .sweepctl(["export", &id, "--format", "jsonl"])
            .expect_code(0)
            .json_lines();
        assert_eq!(jsonl.len(), runs);
        for row in jsonl {
            let (params, best) = &truth[&row["run"].as_u64().unwrap()];
            for (name, value) in params {
                assert_eq!(&row[param_column(name)], value, "{name}");
            }
            assert_eq!(row[format!("best_{metric}")].as_f64(), Some(*best));
            assert_eq!(row["state"], "finished");
        }
        // To a file named bare, in the current folder: the same bytes.
        w.sweepctl(["export", &id, "-o", "runs.csv"]).expect_code(0);
        assert_eq!(fs::read_to_string(w.path("runs.csv")).unwrap(), csv);
    }
}

// ---- big, small and running sweeps ----------------------------------------------------

#[test]
fn a_report_of_2000_runs_stays_light_and_opens_in_chromium() {
    let w = World::new();
    let written = synthetic::write(
        &w.path("home"),
        &Synthetic {
            runs: 2000,
            epochs: 10,
            seed: 5,
            running: 12,
        },
    );
    let page = w.path("big.html");
    w.sweepctl(["report", written.id.as_str(), "-o", page.to_str().unwrap()])
        .expect_code(0);
    let size = fs::metadata(&page).unwrap().len();
    eprintln!("2000-run report: {size} bytes");
    assert!(size < 3 * 1024 * 1024, "{size} bytes");
    let dom = dom(&w, &page);
    assert_eq!(count(&dom, "class=\"run-line"), 2000);
    assert_eq!(count(&dom, "<tr data-run="), 2000);
    // The metric depends strongly on lr, weakly on dropout, not at all on the others.
    let order = importance_order(&dom);
    assert_eq!(&order[..2], ["lr", "dropout"], "{order:?}");
    assert_eq!(order.len(), 4, "{order:?}");
    // Many runs: the plot starts with the best 10 % shown, and says so.
    let with_metric = written.runs.iter().filter(|r| r.1.is_some()).count();
    let top = with_metric.div_ceil(10);
    assert!(
        dom.contains(&format!("{top} of 2000 runs shown")),
        "the top 10 % of {with_metric} runs with a metric"
    );
    // A running sweep's report is a snapshot, and says when it was taken.
    assert!(dom.contains("A snapshot taken "), "snapshot");
    // Brushing keeps the runs through a range of each brushed axis; the view
    // is read from (and kept in) the address.
    let view = r#"{"top":"all","brush":[["lr",0.0001,0.01],["optimizer","adam","sgd"]]}"#;
    let brushed = dom_at(
        &w,
        &format!("{}#view={}", url(&page), view.replace('"', "%22")),
    );
    let expected = written
        .runs
        .iter()
        .filter(|(params, _, _)| {
            let lr = params["lr"].as_f64().unwrap();
            (1e-4..=1e-2).contains(&lr)
                && ["adam", "sgd"].contains(&params["optimizer"].as_str().unwrap())
        })
        .count();
    assert!(expected > 300 && expected < 1000, "{expected}");
    let visible =
        count(&brushed, "class=\"run-line\"") + count(&brushed, "class=\"run-line stopped\"");
    assert_eq!(visible, expected);
    assert!(brushed.contains(&format!("{expected} of 2000 runs shown")));
    assert!(
        count(&dom, "class=\"stop-mark\"") > 200,
        "stopped runs are marked"
    );
    screenshot(&w, &page, "synthetic-2000");
}

#[test]
fn a_one_run_sweep_reports_without_importance() {
    let w = World::new();
    let written = synthetic::write(
        &w.path("home"),
        &Synthetic {
            runs: 1,
            epochs: 3,
            seed: 1,
            running: 0,
        },
    );
    let page = w.path("one.html");
    w.sweepctl(["report", written.id.as_str(), "-o", page.to_str().unwrap()])
        .expect_code(0);
    let dom = dom(&w, &page);
    assert_eq!(count(&dom, "class=\"run-line"), 1);
    assert_eq!(count(&dom, "<tr data-run="), 1);
    assert!(importance_order(&dom).is_empty());
    assert!(
        dom.contains("needs at least 5 runs with a metric value; this sweep has 1"),
        "says why there is no importance"
    );
}

// ---- watch -------------------------------------------------------------------------

/// Piped, `watch` prints the headline, then one line per event as the sweep
/// goes, then the final headline, and exits when the sweep ends.
#[test]
fn watch_prints_one_line_per_event_when_not_on_a_terminal() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let gate = w.path("gate");
    let id = gated_sweep(&w, &gate, "gated");
    let mut watch = w
        .command("sweepctl")
        .args(["watch", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with(&format!("{id}: running;")),
        "the headline first: {first}"
    );
    // Only now may the runs end: every event after this is watch's to print.
    fs::write(&gate, "").unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(watch.wait().unwrap().success());
    let text = rest.join("\n");
    for n in 1..=3 {
        let loss = [1, 0, 1][n - 1];
        assert!(
            text.contains(&format!("run {n} finished: loss {loss}")),
            "run {n}:\n{text}"
        );
    }
    assert!(text.contains("sweep running -> finished"), "{text}");
    let last = rest.last().unwrap();
    assert!(
        last.starts_with(&format!("{id}: finished; 3 done")) && last.contains("best loss 0"),
        "the final headline: {last}"
    );
    assert!(
        rest.iter().all(|l| !l.contains('\u{1b}')),
        "no terminal codes in a pipe"
    );
}

/// Sweeps at the edges still render: no runs yet, no metric, every run
/// failed, metric values a few ulps apart, and names written to break out
/// of the page.
#[test]
fn edge_sweeps_render_in_chromium() {
    let w = World::new();
    let small = |runs| Synthetic {
        runs,
        epochs: 3,
        seed: 4,
        running: 0,
    };
    let mut pages = Vec::new();
    let mut make = |name: &str, runs: u32, edit: &dyn Fn(&Path)| {
        let home = w.path(&format!("home-{name}"));
        let written = synthetic::write(&home, &small(runs));
        edit(&home.join("sweeps").join(written.id.as_str()));
        let page = w.path(&format!("{name}.html"));
        let out = w
            .command("sweepctl")
            .env("SWEEPS_HOME", &home)
            .args(["report", written.id.as_str(), "-o", page.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "report of {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pages.push((name.to_owned(), page));
    };
    let each_run = |sweep: &Path, f: &dyn Fn(&Path, usize)| {
        for (i, run) in run_dirs(sweep).iter().enumerate() {
            f(run, i);
        }
    };
    make("empty", 0, &|_| {});
    make("no-metric", 6, &|sweep| {
        let text = fs::read_to_string(sweep.join("sweep.yaml")).unwrap();
        let text = text.replace("metric:\n  name: loss\n  goal: minimize\n", "");
        fs::write(sweep.join("sweep.yaml"), text).unwrap();
    });
    make("all-failed", 6, &|sweep| {
        each_run(sweep, &|run, _| {
            fs::write(run.join("metrics.jsonl"), "").unwrap();
            let mut s = read_json(&run.join("summary.json"));
            s["state"] = "failed".into();
            s["exit_code"] = 1.into();
            fs::write(run.join("summary.json"), s.to_string()).unwrap();
        });
    });
    make("ulps-apart", 6, &|sweep| {
        each_run(sweep, &|run, i| {
            let v = if i % 2 == 0 { 0.3 } else { 0.1 + 0.2 };
            fs::write(run.join("metrics.jsonl"), format!("{{\"loss\":{v}}}\n")).unwrap();
        });
    });
    make("hostile", 6, &|sweep| {
        let text = fs::read_to_string(sweep.join("sweep.yaml")).unwrap();
        let text = text.replace(
            "name: synthetic",
            "name: \"</script><script>document.body.dataset.error='injected'</script><b>\"",
        );
        fs::write(sweep.join("sweep.yaml"), text).unwrap();
    });
    for (name, page) in &pages {
        let dom = dom(&w, page);
        let runs = match name.as_str() {
            "empty" => 0,
            _ => 6,
        };
        assert_eq!(count(&dom, "<tr data-run="), runs, "{name}");
        match name.as_str() {
            "empty" | "all-failed" => {
                assert!(dom.contains("No run has logged loss yet."), "{name}")
            }
            "no-metric" => assert!(dom.contains("The sweep has no metric."), "{name}"),
            "ulps-apart" => assert_eq!(importance_order(&dom).len(), 4, "{name}"),
            "hostile" => assert!(
                dom.contains("<h1>&lt;/script&gt;&lt;script&gt;document.body.dataset.error="),
                "{name}: the name is text"
            ),
            _ => unreachable!(),
        }
    }
}

/// A grid sweep of 3 runs, one at a time, whose runs wait until `gate`
/// exists; its id.
fn gated_sweep(w: &World, gate: &Path, name: &str) -> String {
    let trainer = w.file(
        &format!("{name}.py"),
        &format!(
            "import json, os, sys, time\n\
             while not os.path.exists({gate:?}):\n    time.sleep(0.02)\n\
             x = json.loads(sys.argv[1])['x']\n\
             print(json.dumps({{'loss': (x - 2) ** 2}}), flush=True)\n",
            gate = gate.display().to_string()
        ),
    );
    let text = format!(
        "name: {name}\nmethod: grid\nmetric: {{name: loss}}\ncommand: [python3, {}, '${{args_json}}']\n\
         parameters: {{x: {{values: [1, 2, 3]}}}}\nsweepd: {{max_parallel: 1}}\n",
        trainer.display()
    );
    let before = sweeps(w).len();
    drop_file(w, &format!("{name}.yaml"), text.as_bytes());
    wait_until("the sweep", || sweeps(w).len() == before + 1);
    let dir = sweeps(w)
        .into_iter()
        .find(|d| d.to_str().unwrap().contains(&format!("-{name}-")))
        .unwrap();
    dir.file_name().unwrap().to_str().unwrap().to_owned()
}

/// On a terminal (a real pseudo-terminal, by util-linux's `script`), watch
/// draws a panel and redraws it in place until the sweep ends.
#[test]
fn watch_draws_a_live_panel_on_a_terminal() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let gate = w.path("gate");
    let id = gated_sweep(&w, &gate, "panel");
    let sweepctl = common::bin("sweepctl");
    let mut script = w
        .command_of("script")
        .args(["-qefc"])
        .arg(format!(
            "stty cols 100 rows 30; exec {} watch {id}",
            sweepctl.display()
        ))
        .arg("/dev/null")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux's script runs");
    let mut screen = script.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    // The first panel, with run 1 running (and held at the gate).
    while !String::from_utf8_lossy(&seen).contains("1 running") {
        let n = std::io::Read::read(&mut screen, &mut chunk).unwrap();
        assert!(
            n > 0,
            "watch ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&chunk[..n]);
    }
    fs::write(&gate, "").unwrap();
    std::io::Read::read_to_end(&mut screen, &mut seen).unwrap();
    assert!(script.wait().unwrap().success());
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains(&format!("{id}  panel  grid search  running")),
        "{text}"
    );
    assert!(
        text.contains("[#"),
        "a progress bar toward the grid's 3: {text}"
    );
    assert!(text.contains("0 done of 3, 1 running"), "{text}");
    // Redrawn in place: each panel after the first starts by going back to
    // the top of the one before (CSI n F), so the panels do not pile up.
    let back_up = text
        .split("\u{1b}[")
        .skip(1)
        .filter(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0 && rest.as_bytes().get(digits) == Some(&b'F')
        })
        .count();
    let panels = text.matches(&format!("{id}  panel")).count();
    assert!(panels >= 2, "{text}");
    assert_eq!(back_up, panels - 1, "{text}");
    let final_frame = &text[text.rfind(&format!("{id}  panel")).unwrap()..];
    assert!(
        final_frame.contains("finished") && final_frame.contains("3 done of 3"),
        "the last frame shows the end: {final_frame}"
    );
    assert!(
        final_frame.contains("best loss 0  run 2  x=2"),
        "{final_frame}"
    );
}

/// Two objectives (f1 minimised, f2 maximised) and an outcome constraint
/// on `mem`: what each run logs, from its x and y.
const TWO_OBJECTIVES: &str = "import json, sys\np = json.loads(sys.argv[1])\nx, y = p['x'], p['y']\n\
print(json.dumps({'f1': x, 'f2': 1 - (x - 0.6) ** 2 - y, 'mem': x + y}), flush=True)\n";

/// Whether (a1, a2) dominates (b1, b2) with f1 minimised and f2 maximised.
fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.0 && a.1 >= b.1 && (a.0 < b.0 || a.1 > b.1)
}

#[test]
fn several_objectives_through_the_daemon_show_the_same_front_everywhere() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let trainer = w.file("objectives.py", TWO_OBJECTIVES);
    let text = format!(
        "name: front\nmethod: bayes\ncommand: [python3, {}, '${{args_json}}']\nrun_cap: 16\n\
         parameters:\n  x: {{min: 0.0, max: 1.0}}\n  y: {{min: 0.0, max: 1.0}}\n\
         sweepd:\n  seed: 3\n  max_parallel: 2\n  objectives: [{{name: f1}}, {{name: f2, goal: maximize}}]\n  \
         outcome_constraints: [\"mem <= 1.2\"]\n",
        trainer.display()
    );
    drop_file(&w, "front.yaml", text.as_bytes());
    wait_until("the sweep", || sweeps(&w).len() == 1);
    let dir = sweeps(&w).remove(0);
    wait_until("16 runs", || state(&dir) == "finished");
    let id = dir.file_name().unwrap().to_str().unwrap().to_owned();

    // The front from the runs' own logs.
    let mut logged: Vec<(u64, (f64, f64), f64)> = Vec::new();
    for run in run_dirs(&dir) {
        let n: u64 = run.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let line = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let m: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
        let f = (m["f1"].as_f64().unwrap(), m["f2"].as_f64().unwrap());
        logged.push((n, f, m["mem"].as_f64().unwrap()));
    }
    assert_eq!(logged.len(), 16);
    let feasible: Vec<&(u64, (f64, f64), f64)> =
        logged.iter().filter(|(_, _, mem)| *mem <= 1.2).collect();
    assert!(
        feasible.len() < logged.len() && feasible.len() >= 4,
        "{logged:?}"
    );
    let expected: Vec<u64> = feasible
        .iter()
        .filter(|(_, f, _)| !feasible.iter().any(|(_, g, _)| dominates(*g, *f)))
        .map(|(n, _, _)| *n)
        .collect();
    assert!(expected.len() >= 2, "{logged:?}");

    let status: Value = serde_json::from_str(
        &w.sweepctl(["status", &id, "--json"])
            .expect_code(0)
            .stdout(),
    )
    .unwrap();
    let front = &status["front"];
    let on: Vec<u64> = front["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_u64().unwrap())
        .collect();
    assert_eq!(on, expected, "status --json: {front}");
    assert_eq!(front["objectives"][1]["goal"], "maximize");
    let infeasible = front["infeasible"].as_array().unwrap().len();
    assert_eq!(infeasible, logged.len() - feasible.len());
    let text = w.sweepctl(["status", &id]).expect_code(0).stdout();
    let listed = expected
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        text.contains(&format!(
            "Pareto front (f1 minimize, f2 maximize): runs {listed}"
        )),
        "{text}"
    );

    let export = w
        .sweepctl(["export", &id, "--format", "jsonl"])
        .expect_code(0)
        .stdout();
    let marked: Vec<u64> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["pareto_front"] == true)
        .map(|r| r["run"].as_u64().unwrap())
        .collect();
    assert_eq!(marked, expected, "export");

    let page = w.path("front.html");
    w.sweepctl(["report", &id, "-o", page.to_str().unwrap()])
        .expect_code(0);
    let dom = dom(&w, &page);
    assert!(dom.contains("id=\"pareto-plot\""), "the front is drawn");
    assert_eq!(count(&dom, "class=\"front-point"), 16, "every run a point");
    assert_eq!(count(&dom, "class=\"front-point on-front"), expected.len());
    assert_eq!(count(&dom, "class=\"front-point infeasible"), infeasible);
    assert!(dom.contains("class=\"front-line\""));
    for n in &expected {
        assert!(
            dom.contains(&format!("data-run=\"{n}\"><title>run {n}: f1 ")),
            "run {n} is a point with its values"
        );
    }
    screenshot(&w, &page, "front");
}
