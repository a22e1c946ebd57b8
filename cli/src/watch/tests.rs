use super::*;
use crate::synthetic::{self, Synthetic};

#[test]
fn values_are_shown_short() {
    assert_eq!(short(4.333333333333333), "4.33333");
    assert_eq!(short(0.000123456789), "0.000123457");
    assert_eq!(short(1.0), "1");
    assert_eq!(short(0.0), "0");
    assert_eq!(short(123456.7), "123457");
    assert_eq!(short(-2.5), "-2.5");
    assert_eq!(short(1.5e-7), "1.5e-7");
    assert_eq!(short(2e20), "2e20");
}

#[test]
fn the_panel_is_redrawn_in_place() {
    let mut watch = Watch::new(Mode::Panel);
    let mut first = Vec::new();
    watch
        .draw(
            &mut first,
            &["one".into(), "two that is long".into()],
            (10, 24),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(first).unwrap(),
        "one\u{1b}[K\ntwo that \u{1b}[K\n\u{1b}[J",
        "lines cut to the width, each cleared to its end, the rest cleared"
    );
    let mut second = Vec::new();
    watch
        .draw(&mut second, &["three".into()], (10, 24))
        .unwrap();
    assert_eq!(
        String::from_utf8(second).unwrap(),
        "\u{1b}[2Fthree\u{1b}[K\n\u{1b}[J",
        "back up over the two lines drawn before"
    );
    let mut resized = Vec::new();
    watch
        .draw(&mut resized, &["four".into()], (30, 24))
        .unwrap();
    assert_eq!(
        String::from_utf8(resized).unwrap(),
        "\u{1b}[2J\u{1b}[1;1Hfour\u{1b}[K\n\u{1b}[J",
        "a resize clears the screen: the old rows may have been re-wrapped"
    );
}

#[test]
fn every_line_drawn_is_one_row() {
    let mut watch = Watch::new(Mode::Panel);
    let lines: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
    let mut frame = Vec::new();
    watch.draw(&mut frame, &lines, (40, 5)).unwrap();
    let text = String::from_utf8(frame).unwrap();
    assert_eq!(text.matches('\n').count(), 4, "{text:?}");
    assert!(text.contains("... 7 more lines"), "{text:?}");
    assert_eq!(watch.drawn, 4);
}

#[test]
fn panel_and_event_lines_say_what_happens() {
    let dir = tempfile::tempdir().unwrap();
    let written = synthetic::write(
        dir.path(),
        &Synthetic {
            runs: 8,
            epochs: 4,
            seed: 9,
            running: 2,
        },
    );
    let home = Home::new(dir.path());
    let view = SweepView::load(&home, &written.id).unwrap();
    let events = home.sweep(&written.id).events().unwrap();
    let lines = panel(&view, &events, SystemTime::now());
    assert!(
        lines[0].contains("synthetic  random search  running"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "6 done, 2 running, 0 queued, 0 failed");
    let (best_run, best) = view.best().unwrap();
    assert!(
        lines[2].starts_with(&format!(
            "best loss {}  run {}",
            short(best),
            best_run.summary.run
        )),
        "{lines:?}"
    );
    let running: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("  7 ") || l.starts_with("  8 "))
        .collect();
    assert_eq!(running.len(), 2, "{lines:?}");
    assert!(
        running[0].contains("(2 logged)"),
        "the latest value and how many: {lines:?}"
    );
    let ended = events
        .iter()
        .find(|e| matches!(e.what, EventKind::RunEnded { run: 7, .. }))
        .map(|e| event_line(e, &view));
    assert_eq!(ended, None, "run 7 still runs");
    let killed = events
        .iter()
        .find(|e| matches!(e.what, EventKind::RunEnded { .. }))
        .map(|e| event_line(e, &view))
        .unwrap();
    assert!(killed.contains("run 1 finished: loss "), "{killed}");
}
