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

/// Parses the `_mta-sts.<domain>` TXT strings: records not starting with `v=STSv1` are
/// ignored; exactly one must remain. `Ok(None)`: the domain publishes no MTA-STS.
pub fn parse_record(txts: &[String]) -> Result<Option<StsRecord>, String> {
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
            .ok_or_else(|| format!("field {field:?} is not key=value"))?;
        match (i, key.trim(), value.trim()) {
            (0, "v", "STSv1") => {}
            (0, _, _) => return Err("the record must start with v=STSv1".into()),
            (_, "id", value) => {
                let ok = (1..=32).contains(&value.len())
                    && value.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(format!("id {value:?} must be 1-32 letters and digits"));
                }
                id = Some(value.to_string());
            }
            _ => {}
        }
    }
    let id = id.ok_or("the record has no id")?;
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
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "line {:?} is not `key: value`",
                crate::escape::escape_str(line)
            )
        })?;
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => {
                        return Err(format!(
                            "mode {:?} is not enforce, testing or none",
                            crate::escape::escape_str(other)
                        ))
                    }
                })
            }
            "mx" => {
                let value = value.trim_end_matches('.');
                if !valid_pattern(value) {
                    return Err(format!(
                        "mx pattern {:?} is not a host name (a wildcard may only be the whole left-most label)",
                        crate::escape::escape_str(value)
                    ));
                }
                mx.push(value.to_ascii_lowercase());
            }
            "max_age" => {
                let age: u64 = value.parse().map_err(|_| {
                    format!(
                        "max_age {:?} is not a number",
                        crate::escape::escape_str(value)
                    )
                })?;
                if age > MAX_AGE_LIMIT {
                    return Err(format!("max_age {age} exceeds {MAX_AGE_LIMIT}"));
                }
                max_age = Some(age);
            }
            _ => {} // RFC 8461: unknown keys are ignored
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("version must be STSv1".into());
    }
    let mode = mode.ok_or("the policy has no mode")?;
    let max_age = max_age.ok_or("the policy has no max_age")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("the policy lists no mx".into());
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
            .is_err_and(|e| e.contains("exactly one")));
        assert!(parse_record(&txt(&["v=STSv1;"])).is_err_and(|e| e.contains("no id")));
        assert!(parse_record(&txt(&["v=STSv1; id=bad-id!"])).is_err());
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
                got.as_ref().is_err_and(|e| e.contains(want)),
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
