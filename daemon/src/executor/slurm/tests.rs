use super::*;

fn job(state: &str, exit_code: Option<i32>) -> JobInfo {
    JobInfo {
        job_id: 9,
        name: "sweepd-x-1".into(),
        state: state.into(),
        reason: None,
        node: Some("n1".into()),
        exit_code,
    }
}

#[test]
fn how_jobs_end() {
    use StopReason::*;
    // A trainer killed by a signal (the OOM killer's 9): crashed, as a local run would be.
    assert_eq!(
        ending(Some(&job("FAILED", None)), Some(137), None).0,
        Some(Exit::Signal(9))
    );
    // The script's own record comes first.
    assert_eq!(
        ending(Some(&job("COMPLETED", Some(0))), Some(0), None),
        (Some(Exit::Code(0)), None, None)
    );
    assert_eq!(
        ending(Some(&job("FAILED", None)), Some(3), None),
        (Some(Exit::Code(3)), None, None)
    );
    // Else Slurm's.
    assert_eq!(
        ending(Some(&job("FAILED", Some(2))), None, None),
        (Some(Exit::Code(2)), None, None)
    );
    // Stopped by sweepd: its reason, whatever Slurm says.
    assert_eq!(
        ending(Some(&job("CANCELLED", None)), None, Some(EarlyTerminate)),
        (None, Some(EarlyTerminate), None)
    );
    // The cluster's limit, a person's scancel.
    assert_eq!(
        ending(Some(&job("TIMEOUT", None)), Some(143), None).1,
        Some(Timeout)
    );
    assert_eq!(
        ending(Some(&job("CANCELLED", None)), None, None).1,
        Some(User)
    );
    // Not the run's doing: run again per `retry`.
    let (exit, stopped, lost) = ending(Some(&job("NODE_FAIL", None)), Some(143), None);
    assert_eq!((exit, stopped), (None, None));
    assert!(lost.unwrap().contains("ended NODE_FAIL"));
    let (_, _, lost) = ending(Some(&job("PREEMPTED", None)), None, None);
    assert!(lost.unwrap().contains("PREEMPTED"));
    // Gone from the queue: the script's record, or nothing known.
    assert_eq!(ending(None, Some(1), None).0, Some(Exit::Code(1)));
    assert!(
        ending(None, None, None)
            .2
            .unwrap()
            .contains("without an exit status")
    );
}
