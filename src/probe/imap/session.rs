//! The steps of the IMAP half, in order (see the parent module): connect (TLS or STARTTLS),
//! log in, select, wait and find, fetch the verdicts, clean up, log out.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsConnector;

use super::conn::{shorten, Completion, Conn, ImapError, Response};
use super::{timing, Seen};
use crate::probe::mail_flow::Delivery;
use crate::probe::session::{BoxStream, Transcript};
use crate::probe::settings::ProbeSettings;
use crate::probe::tls;
use crate::report::{seconds, Failure, FailureReason, Phase, PhaseTiming};

type Step<T> = Result<T, Failure>;

fn fail(phase: Phase, reason: FailureReason, code: Option<u16>, message: String) -> Failure {
    Failure::new(phase, reason, code, message)
}

/// How often the mailbox is searched when the server has no IDLE.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The longest one IDLE lasts before it is renewed (RFC 2177 asks for under 29 minutes).
const IDLE_AT_MOST: Duration = Duration::from_secs(25 * 60);
/// The most waits for one message, whatever the timeout.
const MAX_WAITS: usize = 10_000;
/// The most leftover messages deleted in one round.
const MAX_CLEANUP: usize = 500;

pub(super) struct Trip<'a> {
    pub settings: &'a ProbeSettings,
    pub delivery: &'a Delivery,
    /// The prefix of this probe's tokens at this address (see [`crate::probe::mail_flow::Submitted`]).
    pub identity: &'a str,
    /// When waiting for the message gives up (cleanup's reserve is after it).
    pub wait_until: Instant,
    /// When everything, cleanup included, ends.
    pub end: Instant,
    pub phases: Vec<PhaseTiming>,
}

type Outcome = (Option<Seen>, Option<Failure>, Vec<String>);

impl Trip<'_> {
    fn phase_deadline(&self) -> Instant {
        (Instant::now() + self.settings.phase_timeout).min(self.wait_until)
    }

    pub async fn run(
        &mut self,
        token: &str,
        submitted: Instant,
        transcript: &mut Transcript,
    ) -> Outcome {
        let started = Instant::now();
        let connected = self.connect(transcript).await;
        self.phases.push(timing(Phase::ImapConnect, started, None));
        let (mut conn, capabilities) = match connected {
            Ok(ok) => ok,
            Err(failure) => return (None, Some(failure), Vec::new()),
        };
        let started = Instant::now();
        let login = self.login(&mut conn, capabilities).await;
        self.phases.push(timing(Phase::ImapLogin, started, None));
        let capabilities = match login {
            Ok(capabilities) => capabilities,
            Err(failure) => {
                let _ = conn.command("LOGOUT", None, self.logout_deadline()).await;
                return (None, Some(failure), Vec::new());
            }
        };
        let found = self.find(&mut conn, &capabilities, token, submitted).await;
        let seen_at = Instant::now();
        self.phases.push(PhaseTiming {
            phase: Phase::Delivery,
            seconds: seconds(seen_at.saturating_duration_since(submitted)),
            code: None,
        });
        let (seen, failure) = match found {
            Ok(results) => {
                let seen = Seen {
                    at: SystemTime::now(),
                    seconds: seconds(seen_at.saturating_duration_since(submitted)),
                    authentication_results: results,
                };
                (Some(seen), None)
            }
            Err(failure) => (None, Some(failure)),
        };
        let mut warnings = Vec::new();
        if !matches!(&failure, Some(f) if f.reason == FailureReason::Closed) {
            let started = Instant::now();
            if let Err(why) = self.clean_up(&mut conn, &capabilities).await {
                warnings.push(format!(
                    "the test messages could not be deleted from {}: {why}",
                    self.delivery.mailbox.url()
                ));
            }
            self.phases.push(timing(Phase::ImapCleanup, started, None));
        }
        (seen, failure, warnings)
    }

    /// For the steps that may run after the wait gave up: within the reserve.
    fn final_deadline(&self) -> Instant {
        (Instant::now() + self.settings.phase_timeout).min(self.end)
    }

    fn logout_deadline(&self) -> Instant {
        (Instant::now() + Duration::from_secs(2)).min(self.end)
    }

    async fn connect<'t>(&self, transcript: &'t mut Transcript) -> Step<(Conn<'t>, Vec<String>)> {
        let phase = Phase::ImapConnect;
        let mailbox = &self.delivery.mailbox;
        let deadline = self.phase_deadline();
        let address = (mailbox.host.as_str(), mailbox.port);
        let stream = match timeout_at(deadline, TcpStream::connect(address)).await {
            Err(_) => {
                let why = format!("no TCP answer from {} in time", mailbox.url());
                return Err(fail(phase, FailureReason::ConnectTimeout, None, why));
            }
            Ok(Err(e)) => {
                let reason = crate::probe::session::connect_reason(&e);
                let why = format!("connect to {}: {e}", mailbox.url());
                return Err(fail(phase, reason, None, why));
            }
            Ok(Ok(stream)) => Box::new(stream) as BoxStream,
        };
        if mailbox.implicit_tls {
            let stream = self.tls(stream, deadline).await?;
            let mut conn = Conn::new(stream, transcript);
            let capabilities = greet(&mut conn, deadline).await?;
            return Ok((conn, capabilities));
        }
        let mut conn = Conn::new(stream, transcript);
        let mut capabilities = greet(&mut conn, deadline).await?;
        if capabilities.is_empty() {
            capabilities = capability(&mut conn, phase, deadline).await?;
        }
        if !capabilities.iter().any(|c| c == "STARTTLS") {
            let why = format!(
                "{} does not offer STARTTLS, and the mailbox password is never sent in plaintext",
                mailbox.url()
            );
            return Err(fail(phase, FailureReason::StarttlsUnavailable, None, why));
        }
        let response = conn
            .command("STARTTLS", None, deadline)
            .await
            .map_err(|e| failure(phase, e))?;
        completed(phase, &response, FailureReason::Rejected, "STARTTLS")?;
        if conn.has_unread() {
            let why = "bytes arrived after the IMAP STARTTLS answer and before the TLS handshake \
                       (response injection); refusing to continue";
            return Err(fail(
                phase,
                FailureReason::StarttlsInjection,
                None,
                why.into(),
            ));
        }
        let (stream, transcript) = conn.into_parts();
        let stream = self.tls(stream, deadline).await?;
        let mut conn = Conn::new(stream, transcript);
        // Capabilities from before TLS are not to be trusted (RFC 9051 §6.2.1).
        let capabilities = capability(&mut conn, phase, deadline).await?;
        Ok((conn, capabilities))
    }

    async fn tls(&self, stream: BoxStream, deadline: Instant) -> Step<BoxStream> {
        let phase = Phase::ImapConnect;
        let host = &self.delivery.mailbox.host;
        let ((config, recorder), name) = tls::recording_setup(&self.settings.trust, host)
            .map_err(|why| fail(phase, FailureReason::TlsHandshake, None, why))?;
        let connecting = TlsConnector::from(config).connect(name, stream);
        let stream = match timeout_at(deadline, connecting).await {
            Err(_) => {
                let why = "the IMAP TLS handshake timed out".to_string();
                return Err(fail(phase, FailureReason::Timeout, None, why));
            }
            Ok(Err(e)) => {
                let why = format!("IMAP TLS handshake: {e}");
                return Err(fail(phase, FailureReason::TlsHandshake, None, why));
            }
            Ok(Ok(stream)) => stream,
        };
        let verdict = recorder.seen().map(|seen| seen.verdict);
        let problem = match verdict {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.to_string()),
            None => Some("no certificate was presented".to_string()),
        };
        match problem {
            Some(why) if !self.settings.insecure => Err(fail(
                phase,
                FailureReason::TlsCertificate,
                None,
                format!(
                    "IMAP certificate for {host:?} not trusted: {}{}",
                    crate::escape::escape_str(&why),
                    tls::trust_hint(&why)
                ),
            )),
            _ => Ok(Box::new(stream)),
        }
    }

    async fn login(&self, conn: &mut Conn<'_>, capabilities: Vec<String>) -> Step<Vec<String>> {
        let phase = Phase::ImapLogin;
        let mailbox = &self.delivery.mailbox;
        let deadline = self.phase_deadline();
        let refused = |why: String| fail(phase, FailureReason::ImapLoginFailed, None, why);
        if capabilities.iter().any(|c| c == "LOGINDISABLED") {
            return Err(refused(format!(
                "{} refuses LOGIN (LOGINDISABLED)",
                mailbox.url()
            )));
        }
        let (Some(user), Some(password)) =
            (quoted(&mailbox.user), quoted(mailbox.password.expose()))
        else {
            let why = "the IMAP user name or password has a line break or NUL, which LOGIN \
                       cannot carry";
            return Err(refused(why.into()));
        };
        let command = format!("LOGIN {user} {password}");
        let shown = format!("LOGIN {user} <redacted>");
        let response = conn
            .command(&command, Some(&shown), deadline)
            .await
            .map_err(|e| failure(phase, e))?;
        match &response.completion {
            Completion::Ok(text) => match capability_code(text) {
                Some(after_login) => Ok(after_login),
                None => capability(conn, phase, deadline).await,
            },
            Completion::No(text) => Err(refused(format!(
                "{} refused the credentials of {}: {}",
                mailbox.url(),
                crate::escape::escape_str(&mailbox.user),
                shorten(text)
            ))),
            Completion::Bad(text) => Err(fail(
                phase,
                FailureReason::ProtocolError,
                None,
                format!("LOGIN: BAD {}", shorten(text)),
            )),
        }
    }

    /// Selects the folder and waits for the token; returns the message's verdicts.
    async fn find(
        &self,
        conn: &mut Conn<'_>,
        capabilities: &[String],
        token: &str,
        submitted: Instant,
    ) -> Step<BTreeMap<String, String>> {
        let phase = Phase::Delivery;
        let mailbox = &self.delivery.mailbox;
        let select = format!("SELECT \"{}\"", mailbox.folder);
        let response = conn
            .command(&select, None, self.phase_deadline())
            .await
            .map_err(|e| failure(phase, e))?;
        completed(phase, &response, FailureReason::Rejected, "SELECT")?;
        let idle = capabilities.iter().any(|c| c == "IDLE");
        let search = format!("UID SEARCH HEADER X-Smtpwatch-Token \"{token}\"");
        for _ in 0..MAX_WAITS {
            let response = conn
                .command(&search, None, self.final_deadline())
                .await
                .map_err(|e| failure(phase, e))?;
            completed(phase, &response, FailureReason::Rejected, "SEARCH")?;
            if let Some(uid) = uids(&response).first() {
                return self.verdicts(conn, *uid).await;
            }
            let now = Instant::now();
            if now >= self.wait_until {
                break;
            }
            if idle {
                let until = (now + IDLE_AT_MOST).min(self.wait_until);
                conn.idle(until, self.end)
                    .await
                    .map_err(|e| failure(phase, e))?;
            } else {
                tokio::time::sleep_until((now + POLL_EVERY).min(self.wait_until)).await;
                let response = conn
                    .command("NOOP", None, self.phase_deadline())
                    .await
                    .map_err(|e| failure(phase, e))?;
                completed(phase, &response, FailureReason::Rejected, "NOOP")?;
            }
        }
        let waited = humantime::format_duration(Duration::from_secs(submitted.elapsed().as_secs()));
        Err(fail(
            phase,
            FailureReason::DeliveryTimeout,
            None,
            format!(
                "the message {token} did not reach {} in {waited} (the server accepted it)",
                mailbox.url()
            ),
        ))
    }

    async fn verdicts(&self, conn: &mut Conn<'_>, uid: u64) -> Step<BTreeMap<String, String>> {
        let phase = Phase::Delivery;
        let fetch = format!("UID FETCH {uid} (BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS)])");
        let response = conn
            .command(&fetch, None, self.final_deadline())
            .await
            .map_err(|e| failure(phase, e))?;
        completed(phase, &response, FailureReason::Rejected, "FETCH")?;
        let header: Vec<u8> = response.literals.concat();
        Ok(super::authentication_results(&header))
    }

    /// Deletes every message of this probe (this round's and leftovers), then logs out.
    async fn clean_up(&self, conn: &mut Conn<'_>, capabilities: &[String]) -> Result<(), String> {
        let deadline = (Instant::now() + self.settings.phase_timeout).min(self.end);
        let identity = self.identity;
        let search = format!("UID SEARCH HEADER X-Smtpwatch-Token \"{identity}-\"");
        let response = conn
            .command(&search, None, deadline)
            .await
            .map_err(|e| e.to_string())?;
        expect_ok(&response, "SEARCH")?;
        let found = uids(&response);
        if !found.is_empty() {
            let set: Vec<String> = found.iter().take(MAX_CLEANUP).map(u64::to_string).collect();
            let set = set.join(",");
            let store = format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)");
            let response = conn
                .command(&store, None, deadline)
                .await
                .map_err(|e| e.to_string())?;
            expect_ok(&response, "STORE")?;
            // UID EXPUNGE removes only ours; plain EXPUNGE would take any \Deleted message.
            let expunge = if capabilities.iter().any(|c| c == "UIDPLUS") {
                format!("UID EXPUNGE {set}")
            } else {
                "EXPUNGE".to_string()
            };
            let response = conn
                .command(&expunge, None, deadline)
                .await
                .map_err(|e| e.to_string())?;
            expect_ok(&response, "EXPUNGE")?;
        }
        let _ = conn.command("LOGOUT", None, deadline).await;
        Ok(())
    }
}

/// Reads the greeting; returns the capabilities it carried, if any.
async fn greet(conn: &mut Conn<'_>, deadline: Instant) -> Step<Vec<String>> {
    let phase = Phase::ImapConnect;
    let greeting = conn
        .greeting(deadline)
        .await
        .map_err(|e| failure(phase, e))?;
    let upper = greeting.to_ascii_uppercase();
    if upper.starts_with("OK") || upper.starts_with("PREAUTH") {
        let rest = greeting.split_once(' ').map_or("", |(_, r)| r);
        return Ok(capability_code(rest).unwrap_or_default());
    }
    let why = format!("the IMAP server greeted with {:?}", shorten(&greeting));
    Err(fail(phase, FailureReason::Rejected, None, why))
}

async fn capability(conn: &mut Conn<'_>, phase: Phase, deadline: Instant) -> Step<Vec<String>> {
    let response = conn
        .command("CAPABILITY", None, deadline)
        .await
        .map_err(|e| failure(phase, e))?;
    completed(phase, &response, FailureReason::ProtocolError, "CAPABILITY")?;
    Ok(response
        .untagged
        .iter()
        .filter_map(|line| {
            let (word, rest) = line.split_once(' ')?;
            word.eq_ignore_ascii_case("CAPABILITY").then(|| words(rest))
        })
        .flatten()
        .collect())
}

/// The capabilities of a `[CAPABILITY …]` response code at the start of `text`.
fn capability_code(text: &str) -> Option<Vec<String>> {
    let rest = text.strip_prefix('[')?;
    let (code, _) = rest.split_once(']')?;
    let (word, list) = code.split_once(' ')?;
    word.eq_ignore_ascii_case("CAPABILITY").then(|| words(list))
}

fn words(list: &str) -> Vec<String> {
    list.split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The UIDs of `* SEARCH n n …` lines.
fn uids(response: &Response) -> Vec<u64> {
    response
        .untagged
        .iter()
        .filter_map(|line| {
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            word.eq_ignore_ascii_case("SEARCH").then_some(rest)
        })
        .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()))
        .collect()
}

/// An IMAP quoted string, or None when the text has a line break or NUL.
fn quoted(text: &str) -> Option<String> {
    if text.contains(['\r', '\n', '\0']) {
        return None;
    }
    Some(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn completed(phase: Phase, response: &Response, reason: FailureReason, what: &str) -> Step<()> {
    match &response.completion {
        Completion::Ok(_) => Ok(()),
        Completion::No(text) | Completion::Bad(text) => Err(fail(
            phase,
            reason,
            None,
            format!("IMAP {what} refused: {}", shorten(text)),
        )),
    }
}

fn expect_ok(response: &Response, what: &str) -> Result<(), String> {
    match &response.completion {
        Completion::Ok(_) => Ok(()),
        Completion::No(text) | Completion::Bad(text) => {
            Err(format!("{what} refused: {}", shorten(text)))
        }
    }
}

fn failure(phase: Phase, e: ImapError) -> Failure {
    let reason = match (&e, phase) {
        (ImapError::Timeout, Phase::Delivery) => FailureReason::DeliveryTimeout,
        (ImapError::Timeout, _) => FailureReason::Timeout,
        (ImapError::Closed(_), _) => FailureReason::Closed,
        (ImapError::TooLong(_), _) => FailureReason::ReplyTooLong,
        (ImapError::Protocol(_), _) => FailureReason::ProtocolError,
    };
    fail(phase, reason, None, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses_line_breaks() {
        assert_eq!(quoted(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quoted("a\r\nb"), None);
    }

    #[test]
    fn capability_codes_and_search_results_parse() {
        let caps = capability_code("[CAPABILITY IMAP4rev1 IDLE uidplus] Logged in");
        assert_eq!(
            caps,
            Some(vec!["IMAP4REV1".into(), "IDLE".into(), "UIDPLUS".into()])
        );
        assert_eq!(capability_code("Logged in"), None);
        let response = Response {
            untagged: vec!["SEARCH 3 17".into(), "3 EXISTS".into(), "SEARCH".into()],
            literals: Vec::new(),
            completion: Completion::Ok(String::new()),
        };
        assert_eq!(uids(&response), [3, 17]);
    }
}
