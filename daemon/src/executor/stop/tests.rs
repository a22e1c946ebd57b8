//! The stop sequence as tables: events in, actions out, no processes.

use super::*;
use StopReason::*;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const LOCAL: Plan = Plan::Local(StopTimes {
    term_after: Duration::from_millis(200),
    kill_after: Duration::from_millis(600),
});

const SLURM: Plan = Plan::Slurm {
    grace: Duration::from_millis(200),
    retry: Duration::from_millis(100),
    max_retry: Duration::from_millis(300),
};

#[derive(Debug, Clone, Copy)]
enum Event {
    /// The run has begun: its timeout counts from here.
    Start,
    Stop(StopReason),
}

/// One case: the events (at their milliseconds), and how the executor fares.
struct Case {
    name: &'static str,
    plan: Plan,
    timeout: Option<u64>,
    events: &'static [(u64, Event)],
    /// How long each action takes to carry out.
    takes: u64,
    /// How many cancels fail before one works.
    failed_cancels: u32,
    /// The actions at their milliseconds, and the reason at the end.
    actions: &'static [(u64, Action)],
    reason: Option<StopReason>,
}

impl Case {
    /// A case of `plan` with nothing happening.
    const fn on(plan: Plan) -> Self {
        Self {
            name: "",
            plan,
            timeout: None,
            events: &[],
            takes: 0,
            failed_cancels: 0,
            actions: &[],
            reason: None,
        }
    }
}

/// Drive a sequence as an executor's loop would: wait for the next event
/// or deadline, carry out what it says, report it done; stop on `Detach`.
fn simulate(case: &Case) -> (Vec<(u64, Action)>, Option<StopReason>) {
    let mut seq = StopSequence::<Duration>::new(case.plan, case.timeout.map(ms));
    let mut events = case.events.iter().peekable();
    let mut failed_cancels = case.failed_cancels;
    let mut now = ms(0);
    let mut out = Vec::new();
    for _ in 0..100 {
        let event_at = events.peek().map(|(at, _)| ms(*at));
        let action = match (event_at, seq.next_deadline()) {
            (None, None) => break,
            (Some(at), deadline) if deadline.is_none_or(|d| at <= d) => {
                now = now.max(at);
                match events.next().unwrap().1 {
                    Event::Start => {
                        seq.start_clock(now);
                        None
                    }
                    Event::Stop(reason) => seq.stop(reason),
                }
            }
            (_, Some(deadline)) => {
                now = now.max(deadline);
                seq.on_deadline(now)
            }
            (Some(_), None) => unreachable!(),
        };
        let Some(action) = action else { continue };
        out.push((now.as_millis() as u64, action));
        if action == Action::Detach {
            break;
        }
        now += ms(case.takes);
        let worked = !(action == Action::Cancel && failed_cancels > 0);
        if !worked {
            failed_cancels -= 1;
        }
        seq.done(now, worked);
    }
    (out, seq.reason())
}

const CASES: &[Case] = &[
    Case {
        name: "local: message, SIGTERM after the grace, SIGKILL after another",
        events: &[(0, Event::Stop(User))],
        actions: &[
            (0, Action::SendStopMessage(User)),
            (200, Action::Terminate),
            (600, Action::Kill),
        ],
        reason: Some(User),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: a second reason does not restart the sequence",
        events: &[(0, Event::Stop(User)), (100, Event::Stop(EarlyTerminate))],
        actions: &[
            (0, Action::SendStopMessage(User)),
            (200, Action::Terminate),
            (600, Action::Kill),
        ],
        reason: Some(User),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: nor one while SIGTERM's grace runs",
        events: &[(0, Event::Stop(User)), (300, Event::Stop(Timeout))],
        actions: &[
            (0, Action::SendStopMessage(User)),
            (200, Action::Terminate),
            (600, Action::Kill),
        ],
        reason: Some(User),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: the timeout becomes a stop for `timeout`",
        timeout: Some(1000),
        events: &[(0, Event::Start)],
        actions: &[
            (1000, Action::SendStopMessage(Timeout)),
            (1200, Action::Terminate),
            (1600, Action::Kill),
        ],
        reason: Some(Timeout),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: the timeout counts only once the run began",
        timeout: Some(1000),
        actions: &[],
        reason: None,
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: a stopping run does not time out",
        timeout: Some(250),
        events: &[(0, Event::Start), (100, Event::Stop(User))],
        actions: &[
            (100, Action::SendStopMessage(User)),
            (300, Action::Terminate),
            (700, Action::Kill),
        ],
        reason: Some(User),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: shutdown stops the run like any reason",
        events: &[(0, Event::Stop(Shutdown))],
        actions: &[
            (0, Action::SendStopMessage(Shutdown)),
            (200, Action::Terminate),
            (600, Action::Kill),
        ],
        reason: Some(Shutdown),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: the grace counts from when the message is written",
        events: &[(0, Event::Stop(User))],
        takes: 50,
        actions: &[
            (0, Action::SendStopMessage(User)),
            (250, Action::Terminate),
            (650, Action::Kill),
        ],
        reason: Some(User),
        ..Case::on(LOCAL)
    },
    Case {
        name: "local: SIGKILL due first (or with SIGTERM) comes alone",
        events: &[(0, Event::Stop(User))],
        actions: &[(0, Action::SendStopMessage(User)), (300, Action::Kill)],
        reason: Some(User),
        ..Case::on(Plan::Local(StopTimes {
            term_after: ms(300),
            kill_after: ms(300),
        }))
    },
    Case {
        name: "slurm: grace signal, canceled after the grace",
        events: &[(0, Event::Stop(EarlyTerminate))],
        actions: &[(0, Action::Terminate), (200, Action::Cancel)],
        reason: Some(EarlyTerminate),
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: a failed cancel again, the wait doubling to its cap",
        events: &[(0, Event::Stop(User))],
        failed_cancels: 3,
        actions: &[
            (0, Action::Terminate),
            (200, Action::Cancel),
            (400, Action::Cancel),
            (700, Action::Cancel),
            (1000, Action::Cancel),
        ],
        reason: Some(User),
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: a second reason does not restart the sequence",
        events: &[(0, Event::Stop(User)), (50, Event::Stop(Timeout))],
        actions: &[(0, Action::Terminate), (200, Action::Cancel)],
        reason: Some(User),
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: shutdown lets go of the job",
        events: &[(0, Event::Stop(Shutdown))],
        actions: &[(0, Action::Detach)],
        reason: None,
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: shutdown lets go of a job being stopped too",
        events: &[(0, Event::Stop(User)), (100, Event::Stop(Shutdown))],
        actions: &[(0, Action::Terminate), (100, Action::Detach)],
        reason: Some(User),
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: the timeout counts from the first sight of it running",
        timeout: Some(1000),
        events: &[(100, Event::Start), (500, Event::Start)],
        actions: &[(1100, Action::Terminate), (1300, Action::Cancel)],
        reason: Some(Timeout),
        ..Case::on(SLURM)
    },
    Case {
        name: "slurm: waits count from when the command answered",
        events: &[(0, Event::Stop(User))],
        takes: 40,
        failed_cancels: 1,
        actions: &[
            (0, Action::Terminate),
            (240, Action::Cancel),
            (480, Action::Cancel),
        ],
        reason: Some(User),
        ..Case::on(SLURM)
    },
];

#[test]
fn the_sequence_as_a_table() {
    for case in CASES {
        let (actions, reason) = simulate(case);
        assert_eq!(
            (actions.as_slice(), reason),
            (case.actions, case.reason),
            "{}",
            case.name
        );
    }
}

#[test]
fn nothing_happens_before_it_is_due() {
    let mut seq = StopSequence::new(LOCAL, Some(ms(100)));
    assert_eq!(seq.on_deadline(ms(1000)), None, "no clock, no timeout");
    seq.start_clock(ms(10));
    assert_eq!(seq.next_deadline(), Some(ms(110)));
    assert_eq!(seq.on_deadline(ms(109)), None);
    assert_eq!(seq.phase(), StopPhase::Running);
    assert_eq!(
        seq.on_deadline(ms(110)),
        Some(Action::SendStopMessage(Timeout))
    );
    assert_eq!(seq.phase(), StopPhase::Asked { reason: Timeout });
    assert_eq!(
        seq.next_deadline(),
        None,
        "no grace until the message is out"
    );
    seq.done(ms(120), true);
    assert_eq!(
        seq.phase(),
        StopPhase::Warned {
            reason: Timeout,
            at: ms(120)
        }
    );
    assert_eq!(seq.on_deadline(ms(319)), None);
    assert_eq!(seq.on_deadline(ms(320)), Some(Action::Terminate));
    seq.done(ms(320), true);
    assert_eq!(seq.next_deadline(), Some(ms(720)));
    assert_eq!(seq.on_deadline(ms(720)), Some(Action::Kill));
    seq.done(ms(720), true);
    assert_eq!(seq.phase(), StopPhase::Done { reason: Timeout });
    assert_eq!(seq.next_deadline(), None);
    assert_eq!(seq.stop(User), None);
    assert_eq!(seq.reason(), Some(Timeout));
}

#[test]
fn std_and_tokio_instants_serve_as_clocks() {
    let now = std::time::Instant::now();
    let mut seq = StopSequence::new(SLURM, None);
    assert_eq!(seq.stop(User), Some(Action::Terminate));
    seq.done(now, true);
    assert_eq!(seq.next_deadline(), Some(now + ms(200)));
    let now = tokio::time::Instant::now();
    let mut seq = StopSequence::new(LOCAL, Some(ms(5)));
    seq.start_clock(now);
    assert_eq!(seq.next_deadline(), Some(now + ms(5)));
}
