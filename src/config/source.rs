//! Configuration errors and locating them: byte offsets to line and column, and the key a parse
//! error is about.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

/// The shortest probe interval accepted.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A configuration error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The text being parsed, to locate errors in it.
pub(crate) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Source<'_> {
    /// An error at byte range `span`.
    pub(crate) fn at(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError {
            file: self.path.to_path_buf(),
            position: Some(line_col(self.text, span.start)),
            message,
        }
    }

    /// A humantime duration, or `default` when absent.
    pub(crate) fn duration(
        &self,
        value: &Option<Spanned<String>>,
        what: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => super::values::parse_duration(v.get_ref())
                .map_err(|e| self.at(v.span(), format!("{what} {:?}: {e}", v.get_ref()))),
        }
    }

    /// A probe interval (humantime, at least [`MIN_INTERVAL`]), or `default` when absent.
    pub(crate) fn interval(
        &self,
        value: &Option<Spanned<String>>,
        what: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let interval = self.duration(value, what, default)?;
        match value {
            Some(v) if interval < MIN_INTERVAL => Err(self.at(
                v.span(),
                format!(
                    "{what} {:?} is shorter than {}: probing a mail server more often is abuse, not monitoring",
                    v.get_ref(),
                    humantime::format_duration(MIN_INTERVAL)
                ),
            )),
            _ => Ok(interval),
        }
    }

    /// An integer of at least `min`, or `default` when absent.
    pub(crate) fn count(
        &self,
        value: &Option<Spanned<i64>>,
        what: &str,
        min: i64,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() >= min => Ok(*v.get_ref() as usize),
            Some(v) => Err(self.at(v.span(), format!("{what} must be at least {min}"))),
        }
    }
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A parser message with the values it quotes taken out: serde quotes the offending value
/// (`invalid type: string "https://user:pw@…", expected a sequence`), and a value in a
/// notifier's table may be a secret. The file, line, column and key still say where to look.
pub(super) fn without_values(message: &str) -> String {
    let quotes_values = message.starts_with("invalid type") || message.starts_with("invalid value");
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        let closing = match c {
            '"' => '"',
            '`' if quotes_values => '`',
            '\'' if quotes_values => '\'',
            _ => {
                out.push(c);
                continue;
            }
        };
        // Skip to the closing quote (backslash escapes included).
        let mut escaped = false;
        for inner in chars.by_ref() {
            match inner {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                q if q == closing => break,
                _ => {}
            }
        }
        out.push(closing);
        out.push('…');
        out.push(closing);
    }
    out
}

/// The key on the line holding `offset` (`key = value`), to name it in parse errors.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c));
    ok.then(|| key.trim_matches('"').to_string())
}
