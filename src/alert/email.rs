//! Email through an SMTP relay of the operator's choice (never the monitored server unless the
//! configuration names it): STARTTLS required by default, implicit TLS or, for a relay on
//! loopback, plaintext; AUTH when credentials are given (only inside TLS, as lettre does).
//!
//! A plain-text message: the title as Subject, the message, the facts, the transcript and the
//! notification id, with `Auto-Submitted: auto-generated`. A 5xx from the relay is refused for
//! good; 4xx, network and TLS trouble are retried like every notifier's.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::notification::Notification;
use crate::config::notifiers::{EmailSettings, EmailTls};

/// The message for `n`.
pub fn body(n: &Notification) -> String {
    let mut text = format!("{}\n\n{}\n\n", n.title(), n.message);
    for (k, v) in n.facts() {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if !n.transcript.is_empty() {
        text.push_str("\nTranscript:\n");
        for line in &n.transcript {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text.push_str(&format!("\nNotification id {}\n", n.id));
    text
}

/// Why a mail did not go.
#[derive(Debug)]
pub enum Undelivered {
    /// Not worth trying again (a 5xx, an address or setting the relay cannot take).
    Refused(String),
    /// Worth trying again (a 4xx, the network, TLS).
    Retry(String),
}

/// Sends `n` through the relay in `s`.
pub async fn send(
    s: &EmailSettings,
    n: &Notification,
    timeout: Duration,
) -> Result<(), Undelivered> {
    let message = message(s, n).map_err(Undelivered::Refused)?;
    let transport = transport(s, timeout).map_err(Undelivered::Refused)?;
    transport.send(message).await.map(|_| ()).map_err(|e| {
        let why = crate::escape::escape_str(&e.to_string());
        if e.is_permanent() {
            Undelivered::Refused(why)
        } else {
            Undelivered::Retry(why)
        }
    })
}

fn message(s: &EmailSettings, n: &Notification) -> Result<Message, String> {
    let parse = |a: &str| a.parse().map_err(|e| format!("address {a:?}: {e}"));
    let mut builder = Message::builder()
        .from(parse(&s.from)?)
        .subject(super::notification::clip(&n.title(), 200))
        .header(ContentType::TEXT_PLAIN)
        .raw_header(lettre::message::header::HeaderValue::new(
            lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    for to in &s.to {
        builder = builder.to(parse(to)?);
    }
    builder.body(body(n)).map_err(|e| e.to_string())
}

fn transport(
    s: &EmailSettings,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(s.host.clone());
        if let Some(pem) = &s.ca_pem {
            builder = builder
                .certificate_store(CertificateStore::Default)
                .add_root_certificate(Certificate::from_pem(pem).map_err(|e| e.to_string())?);
        }
        builder.build_rustls().map_err(|e| e.to_string())
    };
    let mode = match s.tls {
        EmailTls::Starttls => Tls::Required(tls()?),
        EmailTls::Implicit => Tls::Wrapper(tls()?),
        EmailTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(mode)
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&s.user, &s.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}
