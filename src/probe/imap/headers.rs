//! Reading `Authentication-Results` (RFC 8601) from a fetched header block: which methods
//! (spf, dkim, dmarc, …) the receiving server ran and what each concluded.

use std::collections::BTreeMap;

/// The most methods kept from one message.
const MAX_METHODS: usize = 16;

/// `method → result` from every `Authentication-Results` field, the topmost (the receiving
/// server's, added last) winning. Method names and results are reduced to `[a-z0-9._-]`, so
/// nothing a sender wrote can reach a label or a page unescaped.
pub fn authentication_results(header: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(header);
    let mut fields: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.trim().is_empty() {
            fields.push(line.trim().to_string());
        }
    }
    let mut results = BTreeMap::new();
    for field in &fields {
        let Some((name, value)) = field.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let value = strip_comments(value);
        for resinfo in value.split(';').skip(1) {
            let Some(first) = resinfo.split_whitespace().next() else {
                continue;
            };
            let Some((method, result)) = first.split_once('=') else {
                continue;
            };
            let method = method.split('/').next().unwrap_or_default();
            let (Some(method), Some(result)) = (token(method, 32), token(result, 16)) else {
                continue;
            };
            if results.len() < MAX_METHODS {
                results.entry(method).or_insert(result);
            }
        }
    }
    results
}

/// Drops `( … )` comments, which may hold anything.
fn strip_comments(value: &str) -> String {
    let mut depth = 0usize;
    value
        .chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect()
}

fn token(text: &str, max: usize) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiving_servers_verdicts_are_read_and_the_topmost_wins() {
        let header = b"Authentication-Results: mx.example.com;\r\n\
            \tspf=pass (sender SPF authorized) smtp.mailfrom=example.org;\r\n\
            \tdkim=pass header.d=example.org; dmarc=pass (p=reject) header.from=example.org\r\n\
            Authentication-Results: older.example.net; spf=fail; arc=none\r\n";
        let r = authentication_results(header);
        assert_eq!(r.get("spf").map(String::as_str), Some("pass"));
        assert_eq!(r.get("dkim").map(String::as_str), Some("pass"));
        assert_eq!(r.get("dmarc").map(String::as_str), Some("pass"));
        assert_eq!(r.get("arc").map(String::as_str), Some("none"));
    }

    #[test]
    fn hostile_values_are_dropped_not_kept() {
        let header = b"Authentication-Results: x; spf=<script>; dkim\x1b[31m=pass; \
            dmarc=pass(a;b=c)\r\nSubject: dkim=fail\r\n";
        let r = authentication_results(header);
        assert_eq!(r.get("spf"), None);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r.get("dmarc").map(String::as_str), Some("pass"));
        let many: String = (0..100).map(|i| format!("; m{i}=pass")).collect();
        let header = format!("Authentication-Results: x{many}\r\n");
        assert_eq!(authentication_results(header.as_bytes()).len(), MAX_METHODS);
    }
}
