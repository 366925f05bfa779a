//! What a mail-flow check asks for: AUTH credentials, the envelope, and a delivery round trip
//! (the message, and the IMAP mailbox it must reach).
//!
//! Defaults, in one place: the envelope sender is the null reverse-path `<>`, which every server
//! must accept (RFC 5321 §4.5.5) and to which nothing bounces, so a test message that goes astray
//! makes no backscatter; the message's `From:` header is the sender when one is set, else
//! `smtpwatch@` the EHLO name. The delivery timeout is two minutes.

use std::time::Duration;

use crate::secret::Secret;

/// The default `--delivery-timeout` (`delivery.timeout`).
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// The SASL mechanism to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMech {
    /// PLAIN when offered, else LOGIN.
    Auto,
    /// PLAIN (RFC 4616).
    Plain,
    /// LOGIN (the de-facto username/password exchange).
    Login,
}

impl std::str::FromStr for AuthMech {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(AuthMech::Auto),
            "plain" => Ok(AuthMech::Plain),
            "login" => Ok(AuthMech::Login),
            _ => Err(format!(
                "unknown AUTH mechanism {s:?} (auto, plain or login)"
            )),
        }
    }
}

/// SMTP AUTH credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    /// The user name.
    pub user: String,
    /// The password; never printed.
    pub password: Secret,
    /// Which mechanism.
    pub mech: AuthMech,
}

/// Where the delivered message is looked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Mailbox {
    /// `imaps://` (implicit TLS, port 993) or `imap://` (STARTTLS required, port 143).
    pub implicit_tls: bool,
    /// Host to connect to, also the certificate's expected name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The mailbox (folder) to watch; `INBOX` unless the URL has a path.
    pub folder: String,
    /// IMAP user name.
    pub user: String,
    /// IMAP password; never printed.
    pub password: Secret,
}

impl Mailbox {
    /// Parses `imaps://host[:port][/folder]` or `imap://host[:port][/folder]` (credentials go
    /// elsewhere: a URL with user info is refused so a password cannot hide in it).
    pub fn parse_url(url: &str, user: String, password: Secret) -> Result<Mailbox, String> {
        let (implicit_tls, rest) = if let Some(rest) = url.strip_prefix("imaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("imap://") {
            (false, rest)
        } else {
            return Err("the IMAP URL must start with imaps:// or imap://".into());
        };
        let (authority, folder) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(
                "the IMAP URL must not carry credentials; use the IMAP user and \
                        password settings"
                    .into(),
            );
        }
        let default_port = if implicit_tls { 993 } else { 143 };
        let (host, port) = split_host_port(authority, default_port)?;
        let folder = if folder.is_empty() { "INBOX" } else { folder };
        if folder
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(
                "the IMAP folder name has a control character, a quote or a backslash".into(),
            );
        }
        Ok(Mailbox {
            implicit_tls,
            host,
            port,
            folder: folder.to_string(),
            user,
            password,
        })
    }

    /// `imaps://host:port/folder`, for messages (no credentials in it).
    pub fn url(&self) -> String {
        let scheme = if self.implicit_tls { "imaps" } else { "imap" };
        format!("{scheme}://{}:{}/{}", self.host, self.port, self.folder)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address in the IMAP URL needs its closing ']'")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the IMAP URL has no host".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("the IMAP URL's port {p:?} is not a port number"))?,
    };
    Ok((host.to_string(), port))
}

/// A delivery round trip: a message to `to`, looked for in `mailbox`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The recipient of the test message.
    pub to: String,
    /// The mailbox it must reach.
    pub mailbox: Mailbox,
    /// From the 250 after DATA, how long the message may take to appear (every IMAP phase,
    /// cleanup included, ends within it).
    pub timeout: Duration,
    /// A message slower than this makes the round a warning (and `SMTPDeliverySlow` fire).
    pub warn_after: Option<Duration>,
    /// The probe's identity (with each address's, it prefixes the token), so leftovers of
    /// earlier rounds of this probe (and only of this probe) are found and deleted.
    pub identity: String,
}

/// A message the server accepted: what the IMAP half looks for.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The token in its headers.
    pub token: String,
    /// The token's prefix: this probe's messages to this address, leftovers included.
    pub identity: String,
    /// When the server's 250 after DATA arrived.
    pub at: tokio::time::Instant,
}

/// Everything a mail-flow check does beyond the plain probe.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailFlow {
    /// AUTH before the envelope.
    pub auth: Option<Auth>,
    /// The envelope sender (None: the null reverse-path `<>`).
    pub mail_from: Option<String>,
    /// Recipients to check with RCPT TO, then RSET (nothing is sent).
    pub rcpt: Vec<String>,
    /// A message to send and find.
    pub delivery: Option<Delivery>,
}

impl MailFlow {
    /// Whether the check does anything.
    pub fn is_empty(&self) -> bool {
        self.auth.is_none() && self.rcpt.is_empty() && self.delivery.is_none()
    }
}

/// Checks that `address` can go into `MAIL FROM:<…>`, `RCPT TO:<…>` and a header unchanged:
/// `local@domain`, printable ASCII, no spaces, angle brackets or quotes games.
pub fn check_address(address: &str) -> Result<(), String> {
    let bad = address
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | '\\' | ',' | ';'));
    if let Some(c) = bad {
        return Err(format!(
            "address {:?} has a character that cannot go in an envelope ({c:?})",
            crate::escape::escape_str(address)
        ));
    }
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "address {:?} is not of the form local@domain",
            crate::escape::escape_str(address)
        )),
    }
}

/// A short stable identity for a probe's test messages (hex of a 64-bit FNV-1a hash).
pub fn identity_of(parts: &[&str]) -> String {
    use crate::stable_hash::{fnv1a, FNV_OFFSET};
    let hash = parts
        .iter()
        .fold(FNV_OFFSET, |h, part| fnv1a(fnv1a(h, part.as_bytes()), &[0]));
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_urls_parse_with_their_defaults_and_refuse_credentials() {
        let pw = || Secret::new("pw");
        let m = Mailbox::parse_url("imaps://mail.example.com", "u".into(), pw()).expect("url");
        assert_eq!(
            (m.implicit_tls, m.port, m.folder.as_str()),
            (true, 993, "INBOX")
        );
        let m = Mailbox::parse_url("imap://[::1]:1143/Monitor", "u".into(), pw()).expect("v6");
        assert_eq!(
            (m.host.as_str(), m.port, m.implicit_tls),
            ("::1", 1143, false)
        );
        assert_eq!(m.folder, "Monitor");
        let err = Mailbox::parse_url("imaps://u:secret@host", "u".into(), pw()).expect_err("ui");
        assert!(!err.contains("secret"), "{err}");
        assert!(Mailbox::parse_url("http://host", "u".into(), pw()).is_err());
        assert!(Mailbox::parse_url("imap://host:0", "u".into(), pw()).is_err());
    }

    #[test]
    fn addresses_that_could_change_a_command_are_refused() {
        assert!(check_address("monitor@example.com").is_ok());
        for bad in [
            "a@b>\r\nDATA",
            "no-at",
            "a b@c",
            "@c",
            "a@",
            "a@b@c",
            "a<b@c",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identities_are_stable_and_differ_per_probe() {
        assert_eq!(identity_of(&["p", "t"]), identity_of(&["p", "t"]));
        assert_ne!(identity_of(&["p", "t"]), identity_of(&["pt", ""]));
        assert_eq!(identity_of(&["x"]).len(), 16);
    }
}
