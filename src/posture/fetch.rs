//! Fetching an MTA-STS policy: `https://mta-sts.<domain>/.well-known/mta-sts.txt` over
//! verified HTTPS, 200 only, no redirects (RFC 8461 §3.3), `text/plain`, at most 64 KiB, within
//! a short deadline. The host name is resolved through smtpwatch's own resolver, so
//! `--dns-server` applies to it as to every other lookup.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::resolve::{Family, Resolver};
use crate::trust::{https_client, ClientError, Trust};

/// The largest policy accepted.
pub const POLICY_LIMIT: usize = 64 * 1024;

/// Resolves names for reqwest through [`Resolver`].
struct ViaResolver(Resolver);

impl reqwest::dns::Resolve for ViaResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = resolver
                .addresses(&host, Family::Any)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why no policy text came back: the URL, and what went wrong there.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct FetchError {
    url: String,
    problem: FetchProblem,
}

/// What went wrong fetching a policy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchProblem {
    /// The connection, TLS or HTTP failed (the error chain, escaped).
    #[error("{0}")]
    Transport(String),
    /// A 3xx answer.
    #[error("HTTP {0}: a redirect, which RFC 8461 forbids following")]
    Redirect(reqwest::StatusCode),
    /// Any other status but 200.
    #[error("HTTP {0}, not 200")]
    Status(reqwest::StatusCode),
    /// A media type other than `text/plain` (escaped).
    #[error("Content-Type {0:?}, not text/plain")]
    ContentType(String),
    /// More than [`POLICY_LIMIT`] bytes.
    #[error("the policy exceeds {POLICY_LIMIT} bytes")]
    TooLarge,
    /// A body that is not UTF-8.
    #[error("the policy is not UTF-8")]
    NotUtf8,
}

/// Fetches policies.
#[derive(Clone, Debug)]
pub struct PolicyFetcher {
    client: reqwest::Client,
    port: Option<u16>,
}

impl PolicyFetcher {
    /// A fetcher verifying against `trust`, resolving through `resolver`, giving up after
    /// `timeout`.
    pub fn new(trust: &Trust, resolver: Resolver, timeout: Duration) -> Result<Self, ClientError> {
        let client = https_client(trust, Some(timeout), |builder| {
            builder
                .dns_resolver(Arc::new(ViaResolver(resolver)))
                .no_proxy()
        })?;
        Ok(PolicyFetcher { client, port: None })
    }

    /// Fetches from this port instead of 443 (tests, whose policy server cannot own 443).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The policy text of `domain`, or why there is none.
    pub async fn fetch(&self, domain: &str) -> Result<String, FetchError> {
        let host = format!("mta-sts.{}", domain.trim_end_matches('.'));
        let url = match self.port {
            Some(port) => format!("https://{host}:{port}/.well-known/mta-sts.txt"),
            None => format!("https://{host}/.well-known/mta-sts.txt"),
        };
        let fail = |problem| FetchError {
            url: url.clone(),
            problem,
        };
        let transport = |e: reqwest::Error| fail(FetchProblem::Transport(error_chain(&e)));
        let mut response = self.client.get(&url).send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(fail(FetchProblem::Redirect(status)));
        }
        if status != reqwest::StatusCode::OK {
            return Err(fail(FetchProblem::Status(status)));
        }
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let essence = media_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("text/plain") {
            return Err(fail(FetchProblem::ContentType(crate::escape::escape_str(
                &media_type,
            ))));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            body.extend_from_slice(&chunk);
            if body.len() > POLICY_LIMIT {
                return Err(fail(FetchProblem::TooLarge));
            }
        }
        String::from_utf8(body).map_err(|_| fail(FetchProblem::NotUtf8))
    }
}

/// The error and its causes, one line (reqwest's own message is often just "error sending
/// request").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::escape::escape_str(&text)
}
