//! How to probe: the settings every address of a target shares, their defaults (in one place),
//! and the plan of one address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::mail_flow::MailFlow;
use super::reply::Limits;
use crate::limit::Limit;
use crate::target::TlsMode;
use crate::trust::LazyTrust;

/// The default overall budget of one probe round (`--timeout`, `timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default certificate expiry warning threshold (`--warn-cert`, `warn_cert`).
pub const DEFAULT_WARN_CERT: Duration = Duration::from_secs(14 * 86_400);

/// The longest an MTA-STS policy fetch may take, whatever the probe's timeout.
pub const POLICY_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How to probe, shared by every address of a target.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// TLS mode; `None` means the target's default (its scheme or port).
    pub tls: Option<TlsMode>,
    /// Record certificate verification but do not enforce it.
    pub insecure: bool,
    /// Trusted roots.
    pub trust: Arc<LazyTrust>,
    /// SNI and verification name, overriding the host name.
    pub server_name: Option<String>,
    /// The name sent in EHLO/HELO.
    pub ehlo_name: String,
    /// Send NOOP before QUIT.
    pub noop: bool,
    /// A leaf certificate expiring within this makes the status `warning`.
    pub warn_cert: Duration,
    /// The overall budget for one target, resolution included.
    pub timeout: Duration,
    /// The most one phase may take (never more than what is left of `timeout`).
    pub phase_timeout: Duration,
    /// How long to wait for the 221 after QUIT.
    pub quit_timeout: Duration,
    /// Reply bounds.
    pub limits: Limits,
    /// The agent-wide limit on open connections (`concurrency`); each address probed holds one
    /// unit while it is connected. None: no limit (`check`).
    pub connections: Option<Limit>,
    /// AUTH, envelope and delivery checks (None: the plain probe).
    pub mail: Option<Arc<MailFlow>>,
}

impl ProbeSettings {
    /// Bounds the whole round, and so each phase, by `timeout`.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.phase_timeout = timeout;
    }

    /// Defaults as documented: opportunistic TLS, NOOP on, 10 s timeout, 14 d certificate warning.
    pub fn new(trust: Arc<LazyTrust>, ehlo_name: String) -> Self {
        ProbeSettings {
            tls: None,
            insecure: false,
            trust,
            server_name: None,
            ehlo_name,
            noop: true,
            warn_cert: DEFAULT_WARN_CERT,
            timeout: DEFAULT_TIMEOUT,
            phase_timeout: DEFAULT_TIMEOUT,
            quit_timeout: Duration::from_secs(2),
            limits: Limits::default(),
            connections: None,
            mail: None,
        }
    }
}

/// One address to probe, as decided by resolution.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The configured probe name (null for `check`).
    pub probe: Option<String>,
    /// `host:port` as reported.
    pub target: String,
    /// Where to connect.
    pub address: SocketAddr,
    /// SNI and certificate verification name.
    pub server_name: String,
    /// The effective TLS mode.
    pub tls: TlsMode,
    /// How long the lookups that produced this address took, if any.
    pub resolved_in: Option<Duration>,
    /// When the probe (resolution included) started.
    pub started: Instant,
}
