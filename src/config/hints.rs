//! Hints added to TOML and schema errors: "did you mean" for a misspelt key, and what an
//! unquoted string turns into (TOML reads `target = 127.0.0.1` as a malformed number).

/// Levenshtein distance, for short keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The names between backticks in `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `message` with a hint appended when one helps.
pub(super) fn with_hint(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let best = quoted(expected)
                .into_iter()
                .map(|k| (distance(field, k), k))
                .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < field.len().max(1))
                .min();
            if let Some((_, key)) = best {
                return format!("{message}; did you mean `{key}`?");
            }
        }
    }
    let lowered = message.to_ascii_lowercase();
    if lowered.contains("invalid float")
        || lowered.contains("invalid number")
        || lowered.contains("invalid integer")
        || lowered.contains("string values must be quoted")
        || lowered.contains("invalid unquoted")
    {
        return format!(
            "{message} (a text value must be quoted, e.g. target = \"127.0.0.1:25\", interval = \"30s\")"
        );
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn misspelt_keys_get_the_nearest_and_nonsense_gets_none() {
        let e = parse("[agent]\nintreval = \"30s\"\n", Path::new("p.toml")).expect_err("typo");
        assert!(e.to_string().contains("did you mean `interval`?"), "{e}");
        let e = parse(
            "[[probe]]\nname = \"a\"\ntargte = \"127.0.0.1\"\n",
            Path::new("p.toml"),
        )
        .expect_err("typo");
        assert!(e.to_string().contains("did you mean `target`?"), "{e}");
        let e = parse("[agent]\nzzzzzzzz = 1\n", Path::new("p.toml")).expect_err("unknown");
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }

    #[test]
    fn an_unquoted_value_says_to_quote_it() {
        for text in [
            "[[probe]]\nname = \"a\"\ntarget = 127.0.0.1\n",
            "[agent]\ninterval = 30s\n",
        ] {
            let e = parse(text, Path::new("p.toml"))
                .expect_err(text)
                .to_string();
            assert!(e.contains("must be quoted"), "{text}: {e}");
            assert!(e.starts_with("p.toml:"), "located: {e}");
        }
    }
}
