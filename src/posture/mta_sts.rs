//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and MX pattern matching.
//! Pure parsing; fetching lives in [`super::fetch`].

use serde::Serialize;

/// The largest `max_age` RFC 8461 allows (one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// A parsed `v=STSv1; id=…;` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StsRecord {
    /// The policy id (1-32 letters and digits).
    pub id: String,
}

/// Why an `_mta-sts` record is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// More than one `v=STSv1` record.
    #[error(transparent)]
    Several(#[from] super::SeveralRecords),
    /// A field without `=`.
    #[error("field {0:?} is not key=value")]
    NotKeyValue(String),
    /// The first field is not `v=STSv1`.
    #[error("the record must start with v=STSv1")]
    NotVersion1,
    /// An id that is not 1-32 letters and digits.
    #[error("id {0:?} must be 1-32 letters and digits")]
    BadId(String),
    /// No id.
    #[error("the record has no id")]
    NoId,
}

/// Why a policy file is unusable. Text that came from the server is escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A line without `:`.
    #[error("line {0:?} is not `key: value`")]
    NotKeyValue(String),
    /// A mode other than the three.
    #[error("mode {0:?} is not enforce, testing or none")]
    BadMode(String),
    /// An MX pattern that is not a host name.
    #[error(
        "mx pattern {0:?} is not a host name (a wildcard may only be the whole left-most label)"
    )]
    BadPattern(String),
    /// A `max_age` that is not a number.
    #[error("max_age {0:?} is not a number")]
    BadMaxAge(String),
    /// A `max_age` over a year.
    #[error("max_age {0} exceeds {MAX_AGE_LIMIT}")]
    MaxAgeTooLong(u64),
    /// `version` missing or not `STSv1`.
    #[error("version must be STSv1")]
    NotVersion1,
    /// No `mode`.
    #[error("the policy has no mode")]
    NoMode,
    /// No `max_age`.
    #[error("the policy has no max_age")]
    NoMaxAge,
    /// No `mx` while the mode is not `none`.
    #[error("the policy lists no mx")]
    NoMx,
}

/// Parses the `_mta-sts.<domain>` TXT strings: records not starting with `v=STSv1` are
/// ignored; exactly one must remain. `Ok(None)`: the domain publishes no MTA-STS.
pub fn parse_record(txts: &[String]) -> Result<Option<StsRecord>, RecordError> {
    let Some(record) = super::single_record(txts, "v=STSv1")? else {
        return Ok(None);
    };
    let mut id = None;
    for (i, field) in record.split(';').enumerate() {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| RecordError::NotKeyValue(field.to_string()))?;
        match (i, key.trim(), value.trim()) {
            (0, "v", "STSv1") => {}
            (0, _, _) => return Err(RecordError::NotVersion1),
            (_, "id", value) => {
                let ok = (1..=32).contains(&value.len())
                    && value.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(RecordError::BadId(value.to_string()));
                }
                id = Some(value.to_string());
            }
            _ => {}
        }
    }
    let id = id.ok_or(RecordError::NoId)?;
    Ok(Some(StsRecord { id }))
}

/// The policy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Senders must not deliver without a valid TLS connection to a listed MX.
    Enforce,
    /// Senders deliver anyway and report (TLS-RPT).
    Testing,
    /// The policy is withdrawn.
    None,
}

impl Mode {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// `enforce`, `testing` or `none`.
    pub mode: Mode,
    /// MX patterns (`mx.example.com`, `*.example.net`).
    pub mx: Vec<String>,
    /// Seconds senders may cache the policy.
    pub max_age: u64,
}

/// Parses a policy file (`key: value` lines, CRLF or LF).
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| PolicyError::NotKeyValue(crate::escape::escape_str(line)))?;
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(PolicyError::BadMode(crate::escape::escape_str(other))),
                })
            }
            "mx" => {
                let value = value.trim_end_matches('.');
                if !valid_pattern(value) {
                    return Err(PolicyError::BadPattern(crate::escape::escape_str(value)));
                }
                mx.push(value.to_ascii_lowercase());
            }
            "max_age" => {
                let age: u64 = value
                    .parse()
                    .map_err(|_| PolicyError::BadMaxAge(crate::escape::escape_str(value)))?;
                if age > MAX_AGE_LIMIT {
                    return Err(PolicyError::MaxAgeTooLong(age));
                }
                max_age = Some(age);
            }
            _ => {} // RFC 8461: unknown keys are ignored
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err(PolicyError::NotVersion1);
    }
    let mode = mode.ok_or(PolicyError::NoMode)?;
    let max_age = max_age.ok_or(PolicyError::NoMaxAge)?;
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx);
    }
    Ok(Policy { mode, mx, max_age })
}

fn valid_pattern(pattern: &str) -> bool {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether `host` matches `pattern`: exactly, or `*.rest` for exactly one label before
/// `rest`. Case-insensitive; trailing dots ignored.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Vec<String> {
        records.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn records_need_exactly_one_v_stsv1_with_an_id() {
        let one = parse_record(&txt(&["v=STSv1; id=20240101T000000;", "other"]));
        assert_eq!(
            one,
            Ok(Some(StsRecord {
                id: "20240101T000000".into()
            }))
        );
        assert_eq!(
            parse_record(&txt(&["google-site-verification=x"])),
            Ok(None)
        );
        assert!(parse_record(&txt(&["v=STSv1; id=1", "v=STSv1; id=2"]))
            .is_err_and(|e| e.to_string().contains("exactly one")));
        assert_eq!(parse_record(&txt(&["v=STSv1;"])), Err(RecordError::NoId));
        assert_eq!(
            parse_record(&txt(&["v=STSv1; id=bad-id!"])),
            Err(RecordError::BadId("bad-id!".into()))
        );
        assert_eq!(
            parse_record(&txt(&["v=STSv1; id"])),
            Err(RecordError::NotKeyValue("id".into()))
        );
    }

    #[test]
    fn policies_parse_with_crlf_and_unknown_keys_ignored() {
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mx1.mail.test\r\nmx: *.backup.test.\r\nmax_age: 86400\r\nextension: x\r\n");
        assert_eq!(
            p,
            Ok(Policy {
                mode: Mode::Enforce,
                mx: vec!["mx1.mail.test".into(), "*.backup.test".into()],
                max_age: 86400
            })
        );
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        let cases = [
            (
                "mode: enforce\nmx: a.test\nmax_age: 1\n",
                "version must be STSv1",
            ),
            (
                "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
                "is not enforce",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
                "exceeds 31557600",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: soon\n",
                "not a number",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 60\n",
                "lists no mx",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: mx.*.test\nmax_age: 60\n",
                "wildcard",
            ),
            ("version: STSv1\nmode: enforce\nmx: a.test\n", "no max_age"),
            ("<html>not a policy</html>", "not `key: value`"),
        ];
        for (text, want) in cases {
            let got = parse_policy(text);
            assert!(
                got.as_ref().is_err_and(|e| e.to_string().contains(want)),
                "{text:?}: {got:?}"
            );
        }
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 60\n").is_ok());
    }

    #[test]
    fn wildcards_match_exactly_one_left_most_label() {
        assert!(mx_matches("mx1.mail.test", "MX1.mail.test."));
        assert!(mx_matches("*.mail.test", "mx2.mail.test"));
        assert!(!mx_matches("*.mail.test", "a.b.mail.test"));
        assert!(!mx_matches("*.mail.test", "mail.test"));
        assert!(!mx_matches("mx1.mail.test", "mx2.mail.test"));
    }
}
