//! Two ways a dialogue ends early without the server having simply failed: a server that
//! spoke out of turn (a reply nobody asked for), and one that refused TLS for want of a legacy
//! suite while the TLS mode lets mail go in plaintext.

use tokio::time::Instant;

use super::verdict::session_failure;
use super::{fail, Dialogue, Step};
use crate::report::{Failure, FailureReason, Phase};
use crate::target::TlsMode;

impl Dialogue<'_> {
    /// After a failed STARTTLS: with `opportunistic` TLS, a server that refused the handshake
    /// for want of a legacy suite or version still takes mail, since senders with opportunistic
    /// TLS (Postfix's `may`, Exim's default) retry in plaintext, so the round is a warning, not
    /// an outage. The connection is gone either way: nothing more is asked.
    pub(super) fn fall_back(&mut self, mode: TlsMode, failure: Failure) -> Step<()> {
        match self.refused {
            Some(_) if mode == TlsMode::Opportunistic => {
                self.warnings.push(format!(
                    "TLS refused, mail would go in plaintext: {}; senders with opportunistic \
                     TLS retry without it",
                    failure.message
                ));
                Ok(())
            }
            _ => Err(failure),
        }
    }

    /// The server spoke out of turn before `line`: its stray reply is read (bounded) and
    /// shown. A 421 is the server closing (RFC 5321 §3.8); anything else puts every later
    /// reply against the wrong command, so the probe stops rather than misread them.
    pub(super) async fn stray_reply(
        &mut self,
        phase: Phase,
        line: &str,
        started: Instant,
        deadline: Instant,
    ) -> Failure {
        let stray = self.session.read_reply(deadline).await;
        self.record(phase, started, stray.as_ref().ok().map(|r| r.code));
        let verb = line.split_whitespace().next().unwrap_or(line);
        match stray {
            Ok(reply) if reply.code == 421 => fail(
                phase,
                FailureReason::Rejected,
                Some(421),
                format!("the server is closing the connection (421 before {verb}): {}", reply.text()),
            ),
            Ok(reply) => fail(
                phase,
                FailureReason::ProtocolError,
                Some(reply.code),
                format!(
                    "the server sent a reply nobody asked for before {verb} ({} {}): the dialogue is out of step",
                    reply.code,
                    reply.text()
                ),
            ),
            Err(e) => session_failure(phase, e),
        }
    }
}
