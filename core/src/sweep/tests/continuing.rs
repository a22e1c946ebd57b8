//! A sweep that continues: `extend` and `enqueue` on the model.

use super::*;
use crate::sweep::extend::CAP_REACHED;

fn capped(cap: u64) -> SweepModel {
    SweepModel::new(rules(&format!("run_cap: {cap}")), record(), vec![], 1)
}

fn x(value: f64) -> ParamSet {
    json!({ "x": value }).as_object().unwrap().clone()
}

const TWO_RUNS: &[Step] = &[
    Propose(0.1),
    Start(1),
    Exits(1, 0),
    Propose(0.2),
    Start(2),
    Exits(2, 0),
];

#[test]
fn a_sweep_finished_by_its_cap_runs_again_when_extended() {
    let mut model = capped(2);
    play(&mut model, TWO_RUNS);
    assert_eq!(model.state(), SweepState::Finished);
    assert_eq!(model.record().reason.as_deref(), Some(CAP_REACHED));
    assert!(!model.may_propose());

    let fx = model.extend(4).unwrap();
    assert_eq!(model.state(), SweepState::Running);
    assert_eq!(model.run_cap(), Some(4));
    assert_eq!(model.record().run_cap, Some(4), "kept in state.json");
    assert!(fx.contains(&Effect::SaveState));
    assert!(fx.contains(&Effect::Log(EventKind::Extended {
        from: Some(2),
        to: 4
    })));
    assert!(model.may_propose());
    play(
        &mut model,
        &[
            Propose(0.3),
            Start(3),
            Exits(3, 0),
            Propose(0.4),
            Start(4),
            Exits(4, 0),
        ],
    );
    assert_eq!(model.state(), SweepState::Finished);
    assert_eq!(model.counts().counted, 4);
}

#[test]
fn a_running_sweep_gets_a_cap_and_a_lowered_cap_ends_it() {
    let mut model = SweepModel::new(rules(""), record(), vec![], 1);
    play(&mut model, TWO_RUNS);
    assert_eq!(model.run_cap(), None);
    model.extend(2).unwrap();
    assert_eq!(
        model.state(),
        SweepState::Finished,
        "no run left to wait for"
    );
    assert_eq!(model.record().reason.as_deref(), Some(CAP_REACHED));
}

#[test]
fn what_cannot_be_extended_says_why_and_changes_nothing() {
    let mut canceled = capped(2);
    play(&mut canceled, &[Propose(0.1), Control(Event::Cancel)]);
    let err = canceled.extend(5).unwrap_err();
    assert!(
        matches!(
            err,
            ContinueError::Ended {
                state: "canceled",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("canceled by user"), "{err}");

    let mut stopped = capped(5);
    play(&mut stopped, &[Propose(0.1), Control(Event::Stop)]);
    assert!(matches!(
        stopped.extend(9),
        Err(ContinueError::Ended { .. })
    ));

    let mut done = capped(2);
    play(&mut done, TWO_RUNS);
    let before = done.record().clone();
    assert_eq!(
        done.extend(1),
        Err(ContinueError::BelowRuns { to: 1, counted: 2 })
    );
    assert_eq!(done.extend(2), Err(ContinueError::Unchanged(2)));
    assert_eq!(done.record(), &before);
    assert_eq!(done.run_cap(), Some(2));
}

#[test]
fn enqueued_runs_come_first_in_order_and_count_toward_the_cap() {
    let mut model = capped(3);
    play(&mut model, &[Propose(0.1), Start(1)]);
    let fx = model.enqueue(vec![x(0.7), x(0.8)]).unwrap();
    assert!(fx.contains(&Effect::Log(EventKind::Enqueued { runs: vec![2, 3] })));
    assert_eq!(states(&model), [(1, Running), (2, Queued), (3, Queued)]);
    assert_eq!(model.run(2).unwrap().params, x(0.7));
    assert_eq!(model.next_queued(), Some(2), "the first given run is next");
    assert!(!model.may_propose(), "the search waits for the given runs");
    // New proposals each: the search learns from them as from its own.
    let proposals: Vec<u32> = model.runs().map(|r| r.summary.proposal).collect();
    assert_eq!(proposals, [1, 2, 3]);

    assert_eq!(
        model.enqueue(vec![x(0.9)]),
        Err(ContinueError::NoRoom {
            cap: 3,
            room: 0,
            wanted: 1
        })
    );
    let err = model.enqueue(vec![x(0.9)]).unwrap_err().to_string();
    assert!(err.contains("sweepctl extend SWEEP --more 1"), "{err}");
}

#[test]
fn an_extended_cap_is_read_back_from_the_record() {
    let record = SweepRecord {
        run_cap: Some(7),
        ..record()
    };
    let model = SweepModel::new(rules("run_cap: 2"), record, vec![], 1);
    assert_eq!(model.run_cap(), Some(7));
}

#[test]
fn seeds_join_the_history_but_are_not_runs() {
    let seeds = vec![Seed {
        params: x(0.5),
        value: 0.25,
        from: "20261204-110000-a-bbbb/1".into(),
        imported: false,
    }];
    let mut model = capped(1).with_seeds(seeds);
    let history = model.history();
    assert!(history.trials.is_empty());
    assert_eq!(history.seeds.len(), 1);
    assert_eq!(history.seeds[0].metric, [0.25]);
    assert_eq!(history.seeds[0].state, TrialState::Finished);
    assert_eq!(model.counts().counted, 0);
    assert!(model.may_propose(), "seeds take none of run_cap");
    play(&mut model, &[Propose(0.1)]);
    assert!(!model.may_propose());
}
