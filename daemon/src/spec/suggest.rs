//! "Did you mean ...?" for misspelt keys and names.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|&c| {
            (
                strsim::damerau_levenshtein(&word_lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(distance, c)| {
            // Allow about one edit in three characters, at least two for short words.
            let limit = (c.len().max(word.len()) / 3).max(2);
            distance <= limit
        })
        .min_by_key(|&(distance, _)| distance)
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
