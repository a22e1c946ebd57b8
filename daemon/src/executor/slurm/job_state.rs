//! A Slurm job's state, read once from Slurm's word for it (`squeue`'s
//! `job_state`) and given back as that word where it is shown or recorded.

use std::fmt;

/// Slurm's base job states; any other word (a flag such as `COMPLETING`
/// that 22.05 gives as the state, or a state of a later Slurm) is kept as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    Suspended,
    Completed,
    Cancelled,
    Failed,
    /// The cluster's time limit (`slurm.time`).
    Timeout,
    NodeFail,
    Preempted,
    BootFail,
    Deadline,
    OutOfMemory,
    Other(String),
}

/// Every state with a name of its own, for reading Slurm's word.
const NAMED: [JobState; 12] = [
    JobState::Pending,
    JobState::Running,
    JobState::Suspended,
    JobState::Completed,
    JobState::Cancelled,
    JobState::Failed,
    JobState::Timeout,
    JobState::NodeFail,
    JobState::Preempted,
    JobState::BootFail,
    JobState::Deadline,
    JobState::OutOfMemory,
];

impl JobState {
    /// Slurm's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Running => "RUNNING",
            JobState::Suspended => "SUSPENDED",
            JobState::Completed => "COMPLETED",
            JobState::Cancelled => "CANCELLED",
            JobState::Failed => "FAILED",
            JobState::Timeout => "TIMEOUT",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::Other(word) => word,
        }
    }

    /// Whether the job is over (Slurm will not run it again by itself).
    pub fn is_over(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Failed
                | JobState::Cancelled
                | JobState::Timeout
                | JobState::Preempted
                | JobState::NodeFail
                | JobState::BootFail
                | JobState::OutOfMemory
                | JobState::Deadline
        )
    }
}

impl From<&str> for JobState {
    /// Slurm's word, as Slurm writes it (upper case).
    fn from(word: &str) -> Self {
        NAMED
            .iter()
            .find(|state| state.as_str() == word)
            .cloned()
            .unwrap_or_else(|| JobState::Other(word.to_owned()))
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_words_read_and_given_back() {
        use JobState::*;
        let table = [
            ("PENDING", Pending, false),
            ("RUNNING", Running, false),
            ("SUSPENDED", Suspended, false),
            ("COMPLETED", Completed, true),
            ("CANCELLED", Cancelled, true),
            ("FAILED", Failed, true),
            ("TIMEOUT", Timeout, true),
            ("NODE_FAIL", NodeFail, true),
            ("PREEMPTED", Preempted, true),
            ("BOOT_FAIL", BootFail, true),
            ("DEADLINE", Deadline, true),
            ("OUT_OF_MEMORY", OutOfMemory, true),
            ("COMPLETING", Other("COMPLETING".into()), false),
            ("REQUEUED", Other("REQUEUED".into()), false),
            ("UNKNOWN", Other("UNKNOWN".into()), false),
            // Slurm writes its words in upper case; nothing else is one of them.
            ("running", Other("running".into()), false),
            ("", Other(String::new()), false),
        ];
        for (word, state, over) in table.clone() {
            let read = JobState::from(word);
            assert_eq!(read, state, "{word:?}");
            assert_eq!(read.as_str(), word);
            assert_eq!(read.to_string(), word);
            assert_eq!(read.is_over(), over, "{word:?}");
        }
        for state in NAMED {
            assert!(
                table.iter().any(|(_, s, _)| *s == state),
                "{state} in the table"
            );
        }
    }
}
