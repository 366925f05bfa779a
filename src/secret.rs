//! Secrets (passwords, webhook URLs, HMAC keys) that must never be printed.
//!
//! A [`Secret`] only shows its value through [`Secret::expose`]; `Debug` and `Display` print
//! a redacted form (`https://hooks.slack.com/<redacted>` for URLs, `<redacted>` otherwise), so
//! a secret that ends up in a log line, an error or a page by accident still says nothing.
//! It lives below both the configuration and probing: the configuration reads secrets, the
//! probe sends mail-flow credentials.

use std::fmt;

/// A value that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for building a request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]/<redacted>` for a URL (no user info, path or query), `<redacted>`
    /// for anything else.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

/// `scheme://host[:port]/<redacted>` for a URL, `<redacted>` for anything else.
pub fn redact_url(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(url) if url.host_str().is_some() => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}/<redacted>", url.scheme()),
                None => format!("{}://{host}/<redacted>", url.scheme()),
            }
        }
        _ => "<redacted>".to_string(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}
