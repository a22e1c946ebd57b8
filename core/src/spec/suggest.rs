//! "Did you mean ...?" for misspelt keys and names.

/// The candidate closest to `word`, if it is close enough to be a likely typo:
/// within about one edit in three characters, or sharing most of its letters
/// in order (Jaro-Winkler, which forgives a changed ending: `retries`, `retry`).
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .filter_map(|&c| {
            let candidate = c.to_ascii_lowercase();
            let similarity = strsim::jaro_winkler(&word, &candidate);
            let edits = strsim::damerau_levenshtein(&word, &candidate);
            let limit = (candidate.len().max(word.len()) / 3).max(2);
            (edits <= limit || similarity >= 0.85).then_some((similarity, c))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean `x`?` or, with no close candidate, the list of what is allowed.
pub(crate) fn help(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_likely_typo() {
        let names = [
            "log_uniform",
            "log_uniform_values",
            "uniform",
            "q_log_uniform_values",
        ];
        assert_eq!(
            closest("log_uniform_value", &names),
            Some("log_uniform_values")
        );
        assert_eq!(closest("unifrom", &names), Some("uniform"));
        assert_eq!(closest("Uniform", &names), Some("uniform"));
        assert_eq!(closest("gaussian", &names), None);
        assert_eq!(
            closest("retries", &["seed", "retry", "timeout"]),
            Some("retry")
        );
        assert_eq!(closest("env", &["seed", "retry", "timeout"]), None);
    }

    #[test]
    fn help_lists_choices_when_nothing_is_close() {
        assert_eq!(
            help("xyz", &["grid", "random"]),
            "expected one of: grid, random"
        );
        assert_eq!(
            help("paramters", &["parameters", "program"]),
            "did you mean `parameters`?"
        );
    }
}
