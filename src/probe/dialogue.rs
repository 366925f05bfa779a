//! The phase sequence of one probe (see the parent module for the order and the rules).

use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsConnector;

use self::verdict::{capabilities, expiry_warning, require, session_failure};
use super::first_bytes::FirstBytes;
use super::mail_flow::Submitted;
use super::reply::Reply;
use super::session::{BoxStream, QuickAck, Session, SessionError, Transcript};
use super::settings::{ProbePlan, ProbeSettings};
use super::tls;
use crate::report::{
    seconds, Failure, FailureReason, Phase, PhaseTiming, ProbeReport, Status, TlsFacts,
};
use crate::target::TlsMode;

mod early_end;
mod mail_flow;
mod verdict;

/// A phase's outcome: what it found, or why the probe failed.
pub(super) type Step<T> = Result<T, Failure>;

pub(super) fn fail(
    phase: Phase,
    reason: FailureReason,
    code: Option<u16>,
    message: String,
) -> Failure {
    Failure::new(phase, reason, code, message)
}

/// Probes one address and reports every phase; never panics on server input.
pub async fn probe(plan: &ProbePlan, settings: &ProbeSettings) -> ProbeReport {
    let deadline = plan.started + settings.timeout;
    let resolved_in = plan.resolved_in.unwrap_or_default();
    let mut dialogue = Dialogue {
        plan,
        settings,
        deadline,
        started_at: SystemTime::now() - resolved_in,
        session: Session::new(settings.limits, Transcript::new(Instant::now())),
        phases: plan
            .resolved_in
            .map(|d| PhaseTiming {
                phase: Phase::Resolve,
                seconds: seconds(d),
                code: None,
            })
            .into_iter()
            .collect(),
        banner: None,
        capabilities: Vec::new(),
        capabilities_before_tls: Vec::new(),
        ehlo_name: None,
        tls: None,
        quick_ack: Default::default(),
        refused: None,
        warnings: Vec::new(),
        mail: Default::default(),
        submitted: None,
    };
    if let Some(delivery) = settings.mail.as_ref().and_then(|m| m.delivery.as_ref()) {
        dialogue.mail.facts_mut().delivery = Some(mail_flow::unsent(delivery));
    }
    let outcome = dialogue.steps().await;
    let polite = match &outcome {
        Ok(()) => true,
        Err(f) => {
            (f.reason == FailureReason::Rejected && f.code != Some(421))
                || matches!(
                    f.reason,
                    FailureReason::StarttlsUnavailable
                        | FailureReason::AuthUnavailable
                        | FailureReason::AuthFailed
                )
                // After STARTTLS the server waits for a command; with implicit TLS it has not
                // greeted yet, and a QUIT before its banner would be talking out of turn.
                || (f.reason == FailureReason::TlsCertificate
                    && plan.tls != TlsMode::Implicit)
        }
    };
    if polite && dialogue.session.is_attached() {
        dialogue.quit().await;
    }
    let close_by = Instant::now() + settings.quit_timeout.min(Duration::from_millis(500));
    let tls_up = dialogue.tls.as_ref().is_some_and(TlsFacts::established);
    dialogue
        .session
        .shutdown(tls_up, close_by.min(deadline))
        .await;
    let mut failure = outcome.err();
    if failure.is_none() {
        failure = dialogue.find_delivered().await;
    }
    dialogue.finish(failure)
}

struct Dialogue<'a> {
    plan: &'a ProbePlan,
    settings: &'a ProbeSettings,
    deadline: Instant,
    started_at: SystemTime,
    session: Session,
    phases: Vec<PhaseTiming>,
    banner: Option<String>,
    capabilities: Vec<String>,
    capabilities_before_tls: Vec<String>,
    ehlo_name: Option<String>,
    tls: Option<TlsFacts>,
    /// Turned on when TLS starts (see [`QuickAck`]).
    quick_ack: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The server refused the handshake for want of a suite or version we offer.
    refused: Option<tls::Refusal>,
    /// Findings that make the round a warning.
    warnings: Vec<String>,
    /// What a mail-flow check found.
    mail: crate::report::MailSection,
    /// The delivery check's message, once the server accepted it.
    submitted: Option<Submitted>,
}

impl Dialogue<'_> {
    fn phase_deadline(&self) -> Instant {
        (Instant::now() + self.settings.phase_timeout).min(self.deadline)
    }

    fn record(&mut self, phase: Phase, started: Instant, code: Option<u16>) {
        self.phases.push(PhaseTiming {
            phase,
            seconds: seconds(started.elapsed()),
            code,
        });
    }

    async fn steps(&mut self) -> Step<()> {
        let stream = self.connect().await?;
        let mode = self.plan.tls;
        if mode == TlsMode::Implicit {
            self.handshake(stream).await?;
        } else {
            self.session.attach(stream);
        }
        let started = Instant::now();
        let greeting = self.session.read_reply(self.phase_deadline()).await;
        self.record(
            Phase::Banner,
            started,
            greeting.as_ref().ok().map(|r| r.code),
        );
        let banner = match greeting {
            Ok(banner) => banner,
            Err(e) => {
                // A greeting cut off by the deadline (postscreen's `220-` then a pause) still
                // shows the lines that came.
                if let SessionError::Timeout {
                    partial: Some(lines),
                    ..
                } = &e
                {
                    self.banner = Some(lines.text());
                }
                return Err(session_failure(Phase::Banner, e));
            }
        };
        self.banner = Some(banner.text());
        require(Phase::Banner, &banner, 220, "greeting")?;

        let ehlo = format!("EHLO {}", self.settings.ehlo_name);
        let reply = self.exchange(Phase::Ehlo, Some(&ehlo)).await?;
        let mut helo_only = false;
        if reply.code == 500 || reply.code == 502 {
            let helo = format!("HELO {}", self.settings.ehlo_name);
            let reply = self.exchange(Phase::Helo, Some(&helo)).await?;
            require(Phase::Helo, &reply, 250, "HELO (after EHLO was refused)")?;
            helo_only = true;
        } else {
            require(Phase::Ehlo, &reply, 250, "EHLO")?;
            self.capabilities = capabilities(&reply);
            self.ehlo_name = reply
                .lines
                .first()
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_string);
        }

        let advertised = self
            .capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case("STARTTLS"));
        match mode {
            TlsMode::Opportunistic | TlsMode::Starttls if advertised => {
                if let Err(failure) = self.starttls(&ehlo).await {
                    return self.fall_back(mode, failure);
                }
            }
            TlsMode::Starttls => {
                let why = if helo_only {
                    "EHLO was refused, so STARTTLS cannot be negotiated"
                } else {
                    "STARTTLS is required but the server does not advertise it"
                };
                return Err(fail(
                    Phase::Starttls,
                    FailureReason::StarttlsUnavailable,
                    None,
                    why.into(),
                ));
            }
            _ => {}
        }

        if let Some(flow) = self.settings.mail.clone() {
            self.mail_flow(&flow).await?;
        }
        if self.settings.noop {
            let reply = self.exchange(Phase::Noop, Some("NOOP")).await?;
            require(Phase::Noop, &reply, 250, "NOOP")?;
        }
        Ok(())
    }

    async fn connect(&mut self) -> Step<BoxStream> {
        let started = Instant::now();
        let result = timeout_at(self.phase_deadline(), TcpStream::connect(self.plan.address)).await;
        self.record(Phase::Connect, started, None);
        let phase = Phase::Connect;
        match result {
            Ok(Ok(stream)) => {
                let stream = QuickAck::new(stream);
                self.quick_ack = stream.switch();
                Ok(Box::new(stream))
            }
            Err(_) => Err(fail(
                phase,
                FailureReason::ConnectTimeout,
                None,
                format!("no TCP answer from {} in time", self.plan.address),
            )),
            Ok(Err(e)) => {
                let reason = super::session::connect_reason(&e);
                Err(fail(
                    phase,
                    reason,
                    None,
                    format!("connect to {}: {e}", self.plan.address),
                ))
            }
        }
    }

    /// Sends `command` (if any), reads the reply, records the phase; maps session errors.
    async fn exchange(&mut self, phase: Phase, command: Option<&str>) -> Step<Reply> {
        let started = Instant::now();
        let deadline = self.phase_deadline();
        if let Some(line) = command.filter(|_| self.session.has_unread()) {
            return Err(self.stray_reply(phase, line, started, deadline).await);
        }
        let result = match command {
            Some(line) => self.session.command(line, deadline).await,
            None => self.session.read_reply(deadline).await,
        };
        self.record(phase, started, result.as_ref().ok().map(|r| r.code));
        result.map_err(|e| session_failure(phase, e))
    }

    async fn starttls(&mut self, ehlo: &str) -> Step<()> {
        let reply = self.exchange(Phase::Starttls, Some("STARTTLS")).await?;
        require(Phase::Starttls, &reply, 220, "STARTTLS")?;
        let stream = self.session.take_for_tls().map_err(|injected| {
            let message = format!(
                "{injected} bytes arrived after the STARTTLS 220 and before the TLS handshake \
                 (response injection); refusing to continue"
            );
            fail(
                Phase::Starttls,
                FailureReason::StarttlsInjection,
                Some(220),
                message,
            )
        })?;
        self.handshake(stream).await?;
        let reply = self.exchange(Phase::EhloTls, Some(ehlo)).await?;
        require(Phase::EhloTls, &reply, 250, "EHLO after STARTTLS")?;
        self.capabilities_before_tls =
            std::mem::replace(&mut self.capabilities, capabilities(&reply));
        Ok(())
    }

    async fn handshake(&mut self, stream: BoxStream) -> Step<()> {
        let phase = Phase::TlsHandshake;
        let started = Instant::now();
        let settings = self.settings;
        let setup = tls::recording_setup(&settings.trust, &self.plan.server_name);
        let ((config, recorder), name) = match setup {
            Ok(ok) => ok,
            Err(message) => {
                self.record(phase, started, None);
                return Err(fail(phase, FailureReason::TlsHandshake, None, message));
            }
        };
        self.quick_ack
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let connecting = TlsConnector::from(config)
            .connect(name, FirstBytes::new(stream))
            .into_fallible();
        let result = timeout_at(self.phase_deadline(), connecting).await;
        self.record(phase, started, None);
        let seen = recorder.seen();
        match result {
            Ok(Ok(stream)) => {
                let (_, conn) = stream.get_ref();
                let version = conn.protocol_version().map(tls::version_name);
                let cipher = conn
                    .negotiated_cipher_suite()
                    .map(|s| tls::cipher_name(s.suite()));
                self.tls = tls::facts(seen, version, cipher, SystemTime::now());
                self.quick_ack
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.session.attach(Box::new(stream));
                // The handshake finished with the verdict recorded, not enforced, so the
                // server's log shows a clean session ended by QUIT, not a failed SSL_accept.
                match self.tls.as_ref().and_then(|t| t.verify_error.clone()) {
                    Some(why) if !settings.insecure => Err(fail(
                        phase,
                        FailureReason::TlsCertificate,
                        None,
                        format!(
                            "certificate for {:?} not trusted: {why}{}",
                            self.plan.server_name,
                            tls::trust_hint(&why)
                        ),
                    )),
                    _ => Ok(()),
                }
            }
            Ok(Err((e, tapped))) => {
                // The verifier only records: a failure here is the server's or the protocol's.
                self.tls = tls::facts(seen, None, None, SystemTime::now());
                self.refused = tls::Refusal::of(&e);
                let hint = self.refused.map_or("", tls::Refusal::hint);
                // What a plaintext answer to a ClientHello looks like to rustls: most often
                // `smtps://` (or port 465) pointed at a plain or STARTTLS port.
                let plaintext = if e.to_string().contains("InvalidContentType") {
                    " (the server answered in plaintext, not TLS: for a plain or STARTTLS port \
                     use tls = \"starttls\" or --tls starttls, not implicit TLS)"
                } else {
                    ""
                };
                // What it sent instead of a ServerHello, as the transcript's server lines.
                for line in tapped.text_lines() {
                    self.session.transcript.push("S", &line);
                }
                let message = format!("{e}{hint}{plaintext}");
                Err(fail(phase, FailureReason::TlsHandshake, None, message))
            }
            Err(_) => Err(fail(
                phase,
                FailureReason::Timeout,
                None,
                "TLS handshake timed out".into(),
            )),
        }
    }

    /// QUIT, waiting a short bounded time for the 221; never fails the probe.
    async fn quit(&mut self) {
        let started = Instant::now();
        let deadline = (started + self.settings.quit_timeout).min(self.deadline);
        let code = self
            .session
            .command("QUIT", deadline)
            .await
            .ok()
            .map(|r| r.code);
        self.record(Phase::Quit, started, code);
    }

    fn finish(mut self, failure: Option<Failure>) -> ProbeReport {
        let mut warnings = std::mem::take(&mut self.warnings);
        if let Some(left) = self.tls.as_ref().and_then(|t| t.cert_seconds_left) {
            if failure.is_none() && left < self.settings.warn_cert.as_secs_f64() {
                warnings.push(expiry_warning(left, self.settings.warn_cert));
            }
        }
        let status = match (&failure, warnings.is_empty()) {
            (Some(_), _) => Status::Critical,
            (None, false) => Status::Warning,
            (None, true) => Status::Ok,
        };
        let resolved_in = self.plan.resolved_in.unwrap_or_default();
        ProbeReport {
            probe: self.plan.probe.clone(),
            target: self.plan.target.clone(),
            address: Some(self.plan.address.to_string()),
            started_at: self.started_at,
            success: status != Status::Critical,
            status,
            duration_seconds: seconds(self.plan.started.elapsed().max(resolved_in)),
            failure,
            phases: self.phases,
            banner: self.banner,
            capabilities: self.capabilities,
            capabilities_before_tls: self.capabilities_before_tls,
            ehlo_name: self.ehlo_name,
            tls: self.tls.map(Box::new),
            mail: self.mail,
            warnings,
            transcript: self.session.transcript.into_lines(),
        }
    }
}
