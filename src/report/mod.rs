//! `ProbeReport`: the result of one probe of one address, the one type every part consumes.
//!
//! Its JSON form is public contract (DESIGN.md, "ProbeReport"); [`render`] turns reports into the
//! `check` command's text, JSON and Nagios outputs. All server-provided strings in a report are
//! already escaped (see [`crate::escape`]).

pub mod render;

mod mail;

pub use self::mail::{DeliveryFacts, MailFacts, MailSection, RecipientReply};

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize, Serializer};

/// The steps of an SMTP probe, in the order they can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// DNS: MX and/or A/AAAA lookups (only when a name was looked up).
    Resolve,
    /// TCP connect.
    Connect,
    /// TLS handshake (implicit TLS before the banner, or after STARTTLS).
    TlsHandshake,
    /// The server greeting.
    Banner,
    /// EHLO.
    Ehlo,
    /// HELO, after EHLO was refused with 500/502.
    Helo,
    /// The STARTTLS command.
    Starttls,
    /// EHLO again, inside TLS.
    EhloTls,
    /// AUTH (mail-flow checks with credentials; only inside TLS).
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO, once per recipient.
    RcptTo,
    /// DATA and the message, up to the 250 that accepts it (delivery checks).
    Data,
    /// RSET, ending an envelope check without a message.
    Rset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
    /// Delivery checks: connecting to the IMAP server (TLS and STARTTLS included).
    ImapConnect,
    /// Delivery checks: IMAP LOGIN.
    ImapLogin,
    /// Delivery checks: from the 250 after DATA until the message is seen in the mailbox.
    Delivery,
    /// Delivery checks: deleting the test messages, EXPUNGE and LOGOUT.
    ImapCleanup,
}

impl Phase {
    /// Every phase, in order (for metrics that pre-create their series).
    pub const ALL: [Phase; 19] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::TlsHandshake,
        Phase::Banner,
        Phase::Ehlo,
        Phase::Helo,
        Phase::Starttls,
        Phase::EhloTls,
        Phase::Auth,
        Phase::MailFrom,
        Phase::RcptTo,
        Phase::Data,
        Phase::Rset,
        Phase::Noop,
        Phase::Quit,
        Phase::ImapConnect,
        Phase::ImapLogin,
        Phase::Delivery,
        Phase::ImapCleanup,
    ];

    /// The label value used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::TlsHandshake => "tls_handshake",
            Phase::Banner => "banner",
            Phase::Ehlo => "ehlo",
            Phase::Helo => "helo",
            Phase::Starttls => "starttls",
            Phase::EhloTls => "ehlo_tls",
            Phase::Auth => "auth",
            Phase::MailFrom => "mail_from",
            Phase::RcptTo => "rcpt_to",
            Phase::Data => "data",
            Phase::Rset => "rset",
            Phase::Noop => "noop",
            Phase::Quit => "quit",
            Phase::ImapConnect => "imap_connect",
            Phase::ImapLogin => "imap_login",
            Phase::Delivery => "delivery",
            Phase::ImapCleanup => "imap_cleanup",
        }
    }
}

/// Why a probe failed: a closed set, used as the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// A DNS lookup failed or found nothing.
    Dns,
    /// The TCP connection was refused (RST).
    ConnectRefused,
    /// The TCP connection did not complete in time.
    ConnectTimeout,
    /// No route, network down, address not available.
    Unreachable,
    /// A phase ran past its deadline.
    Timeout,
    /// The server closed or reset the connection.
    Closed,
    /// A 4xx/5xx reply where 2xx/3xx was needed.
    Rejected,
    /// A malformed reply.
    ProtocolError,
    /// A reply line or a whole reply over its bound.
    ReplyTooLong,
    /// STARTTLS required but not advertised.
    StarttlsUnavailable,
    /// Bytes arrived after the STARTTLS 220 and before the handshake.
    StarttlsInjection,
    /// The TLS handshake failed for a reason other than the certificate.
    TlsHandshake,
    /// The certificate did not verify.
    TlsCertificate,
    /// A DNSSEC-signed answer did not validate.
    DnsBogus,
    /// A secure, usable TLSA set matches nothing the server presents.
    DaneMismatch,
    /// An MTA-STS TXT record is published but its policy is unfetchable or invalid.
    MtaStsPolicy,
    /// An MX host is not covered by the MTA-STS policy, or fails it under `enforce`.
    MtaStsMxMismatch,
    /// AUTH, or the wanted mechanism, is not offered, or the session is not encrypted (the
    /// credentials are never sent in plaintext).
    AuthUnavailable,
    /// The server refused the credentials (535, 534).
    AuthFailed,
    /// The test message was not seen in the mailbox before `--delivery-timeout`.
    DeliveryTimeout,
    /// The IMAP server refused the mailbox credentials.
    ImapLoginFailed,
}

impl FailureReason {
    /// The label value used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Dns => "dns",
            FailureReason::ConnectRefused => "connect_refused",
            FailureReason::ConnectTimeout => "connect_timeout",
            FailureReason::Unreachable => "unreachable",
            FailureReason::Timeout => "timeout",
            FailureReason::Closed => "closed",
            FailureReason::Rejected => "rejected",
            FailureReason::ProtocolError => "protocol_error",
            FailureReason::ReplyTooLong => "reply_too_long",
            FailureReason::StarttlsUnavailable => "starttls_unavailable",
            FailureReason::StarttlsInjection => "starttls_injection",
            FailureReason::TlsHandshake => "tls_handshake",
            FailureReason::TlsCertificate => "tls_certificate",
            FailureReason::DnsBogus => "dns_bogus",
            FailureReason::DaneMismatch => "dane_mismatch",
            FailureReason::MtaStsPolicy => "mta_sts_policy",
            FailureReason::MtaStsMxMismatch => "mta_sts_mx_mismatch",
            FailureReason::AuthUnavailable => "auth_unavailable",
            FailureReason::AuthFailed => "auth_failed",
            FailureReason::DeliveryTimeout => "delivery_timeout",
            FailureReason::ImapLoginFailed => "imap_login_failed",
        }
    }
}

/// Overall verdict; also the Nagios state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything worked.
    Ok,
    /// Works, but something needs attention (e.g. the certificate expires within `warn_cert`).
    Warning,
    /// The probe failed.
    Critical,
}

impl Status {
    /// Nagios plugin exit code: 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`.
    pub fn nagios_word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
        }
    }
}

/// The time one phase took, and the reply code it got, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    /// Which phase.
    pub phase: Phase,
    /// How long it took.
    pub seconds: f64,
    /// The SMTP reply code the phase ended with (null for connect/TLS/resolve, or no reply).
    pub code: Option<u16>,
}

/// Where and why a probe failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The phase that failed.
    pub phase: Phase,
    /// The classified reason.
    pub reason: FailureReason,
    /// The SMTP reply code, when the server sent one.
    pub code: Option<u16>,
    /// Human-readable detail (server text escaped).
    pub message: String,
}

impl Failure {
    /// A failure at `phase` for `reason`, with the reply code if there was one.
    pub fn new(phase: Phase, reason: FailureReason, code: Option<u16>, message: String) -> Self {
        Failure {
            phase,
            reason,
            code,
            message,
        }
    }
}

/// Facts about one certificate of the presented chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertFacts {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// End of validity.
    #[serde(serialize_with = "rfc3339_seconds")]
    pub not_after: SystemTime,
    /// DNS names and IP addresses from subjectAltName.
    pub sans: Vec<String>,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
}

/// What the TLS handshake established, recorded even when verification failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsFacts {
    /// `TLSv1.2` or `TLSv1.3` (null when the handshake did not complete).
    pub version: Option<String>,
    /// IANA cipher suite name.
    pub cipher: Option<String>,
    /// Whether the chain verified against the trust store and the server name.
    pub verified: bool,
    /// Why verification failed.
    pub verify_error: Option<String>,
    /// The leaf certificate's end of validity.
    #[serde(serialize_with = "opt_rfc3339_seconds")]
    pub cert_not_after: Option<SystemTime>,
    /// Seconds from the probe's start to `cert_not_after` (negative when expired).
    pub cert_seconds_left: Option<f64>,
    /// The presented chain, leaf first.
    pub chain: Vec<CertFacts>,
    /// The presented chain as DER, leaf first (for DANE; not serialised).
    #[serde(skip)]
    pub chain_der: Vec<Vec<u8>>,
}

impl TlsFacts {
    /// Whether a TLS session was established (not just a certificate seen).
    pub fn established(&self) -> bool {
        self.version.is_some()
    }
}

/// One line of the SMTP conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptLine {
    /// Seconds since the probe started.
    pub t: f64,
    /// `S` (server) or `C` (client).
    pub dir: &'static str,
    /// The line without CRLF, escaped.
    pub line: String,
}

/// The result of one probe of one address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The configured probe name (null for `check`).
    pub probe: Option<String>,
    /// The probed host and port (for `mx:` targets, the MX host).
    pub target: String,
    /// The socket address probed (null when resolution failed).
    pub address: Option<String>,
    /// Wall-clock start, resolution included.
    #[serde(serialize_with = "rfc3339_millis")]
    pub started_at: SystemTime,
    /// `status != critical`.
    pub success: bool,
    /// The verdict.
    pub status: Status,
    /// Total time, resolution included.
    pub duration_seconds: f64,
    /// Where and why the probe failed.
    pub failure: Option<Failure>,
    /// The phases that ran, in order.
    pub phases: Vec<PhaseTiming>,
    /// The greeting text (all lines joined), escaped.
    pub banner: Option<String>,
    /// EHLO keywords with parameters; after STARTTLS, only the post-TLS ones.
    pub capabilities: Vec<String>,
    /// After STARTTLS: the EHLO keywords the server offered in plaintext, before it.
    pub capabilities_before_tls: Vec<String>,
    /// The name the server gave in its (first) EHLO reply, escaped.
    pub ehlo_name: Option<String>,
    /// TLS facts, when a handshake was attempted and got as far as a certificate (boxed: a
    /// plaintext report should not carry their size).
    pub tls: Option<Box<TlsFacts>>,
    /// Mail-flow results: `recipients` and `delivery` (boxed and absent unless a mail-flow
    /// check ran, so a plain probe's report stays small).
    #[serde(flatten)]
    pub mail: MailSection,
    /// Observations that deserve attention.
    pub warnings: Vec<String>,
    /// The conversation, bounded.
    pub transcript: Vec<TranscriptLine>,
}

impl ProbeReport {
    /// A successful report of `target` with nothing seen yet: callers fill in (or, with struct
    /// update syntax, override) what the probe found.
    pub fn blank(target: &str, address: Option<&str>, started_at: SystemTime) -> ProbeReport {
        ProbeReport {
            probe: None,
            target: target.to_string(),
            address: address.map(str::to_string),
            started_at,
            success: true,
            status: Status::Ok,
            duration_seconds: 0.0,
            failure: None,
            phases: Vec::new(),
            banner: None,
            capabilities: Vec::new(),
            capabilities_before_tls: Vec::new(),
            ehlo_name: None,
            tls: None,
            mail: Default::default(),
            warnings: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// The timing of `phase`, if it ran (the last one, for `tls_handshake` after STARTTLS).
    pub fn phase(&self, phase: Phase) -> Option<&PhaseTiming> {
        self.phases.iter().rev().find(|p| p.phase == phase)
    }

    /// Marks the report failed by a later stage (the posture's DANE or WebPKI verdict):
    /// `success`, `status` and `failure` change together, so they never disagree.
    pub fn fail(&mut self, failure: Failure) {
        self.success = false;
        self.status = Status::Critical;
        self.failure = Some(failure);
    }
}

/// Seconds as f64, rounded to microseconds so JSON stays readable.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

fn rfc3339_millis<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

fn rfc3339_seconds<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_seconds(*t))
}

fn opt_rfc3339_seconds<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339_seconds(t, s),
        None => s.serialize_none(),
    }
}

fn opt_rfc3339_millis<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339_millis(t, s),
        None => s.serialize_none(),
    }
}
