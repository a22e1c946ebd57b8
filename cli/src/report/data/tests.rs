use super::*;
use crate::synthetic::{self, Synthetic};
use sweepd_core::store::Home;

fn report(runs: u32, running: u32) -> ReportData {
    let dir = tempfile::tempdir().unwrap();
    let written = synthetic::write(
        dir.path(),
        &Synthetic {
            runs,
            epochs: 10,
            seed: 2,
            running,
        },
    );
    let view = SweepView::load(&Home::new(dir.path()), &written.id).unwrap();
    ReportData::new(&view, SystemTime::now())
}

#[test]
fn axes_follow_the_sweep_file() {
    let r = report(30, 0);
    let axes: Vec<(&str, &AxisKind)> = r.axes.iter().map(|a| (a.name.as_str(), &a.kind)).collect();
    assert_eq!(axes.len(), 4, "epochs is a constant, not an axis");
    assert_eq!(axes[0].0, "dropout");
    assert!(matches!(axes[0].1, AxisKind::Numeric { log: false, .. }));
    assert_eq!(axes[1].0, "lr");
    let AxisKind::Numeric {
        log: true,
        range: Some((lo, hi)),
    } = axes[1].1
    else {
        panic!("lr is log_uniform_values: {:?}", axes[1]);
    };
    assert!(1e-5 <= *lo && lo < hi && *hi <= 0.1);
    assert_eq!(
        axes[2],
        (
            "model.width",
            &AxisKind::Categorical {
                labels: vec!["64".into(), "128".into(), "256".into(), "512".into()]
            }
        ),
        "numeric labels sorted as numbers"
    );
    assert_eq!(
        axes[3],
        (
            "optimizer",
            &AxisKind::Categorical {
                labels: vec!["adam".into(), "sgd".into(), "rmsprop".into()]
            }
        ),
        "text labels in the file's order"
    );
    assert_eq!(r.sweep.constants, [("epochs".to_owned(), "10".to_owned())]);
    assert!(!r.sweep.active);
}

#[test]
fn runs_carry_positions_metric_and_curves() {
    let r = report(30, 2);
    assert_eq!(r.runs.len(), 30);
    for run in &r.runs {
        let width = run.values[2].unwrap();
        assert!(
            [0.0, 1.0, 2.0, 3.0].contains(&width),
            "an index into the labels"
        );
        if let Some(m) = run.metric {
            let lowest = run.curve.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            assert!((lowest - m).abs() <= m.abs() * 1e-5, "{lowest} vs {m}");
        }
    }
    let stopped: Vec<u32> = r.runs.iter().filter(|r| r.stopped).map(|r| r.run).collect();
    assert_eq!(stopped, [7, 14, 21, 28], "killed by early termination");
    assert!(r.sweep.active, "two runs still run");
    assert_eq!(r.sweep.counts[0], ("finished".to_owned(), 24));
    // The best-so-far curve never gets worse and ends at the best run.
    let values: Vec<f64> = r.best_so_far.iter().map(|p| p.1).collect();
    assert!(values.windows(2).all(|w| w[1] <= w[0]), "{values:?}");
    let best = r.best.as_ref().unwrap();
    assert_eq!(*values.last().unwrap(), best.value);
    let yaml: serde_yaml::Value = serde_yaml::from_str(&best.yaml).unwrap();
    assert_eq!(
        yaml["parameters"]["epochs"]["value"],
        serde_yaml::Value::from(10)
    );
    assert!(yaml["parameters"]["model"]["parameters"]["width"]["value"].is_number());
}

#[test]
fn big_sweeps_keep_curves_within_budget() {
    let values: Vec<f64> = (0..1000).map(f64::from).collect();
    let thinned = thin(&values, 16);
    assert_eq!(thinned.len(), 16);
    assert_eq!(thinned[0], (1, 0.0));
    assert_eq!(*thinned.last().unwrap(), (1000, 999.0));
    assert_eq!(thin(&values[..5], 16).len(), 5);
    assert_eq!(round(0.123456789), 0.123457);
}
