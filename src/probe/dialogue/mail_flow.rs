//! The SMTP steps of a mail-flow check, between EHLO (after TLS) and NOOP: AUTH, the envelope
//! check (MAIL FROM, each RCPT TO, RSET) and the delivery check's message (MAIL, RCPT, DATA).
//!
//! Credentials are sent only inside TLS; the transcript shows `AUTH PLAIN <redacted>`. A refused
//! recipient does not stop the others being asked, so the report has every recipient's code;
//! the probe fails with the first refusal.

use base64::Engine as _;
use tokio::time::Instant;

use super::verdict::require;
use super::{fail, Dialogue, Step};
use crate::probe::mail_flow::{identity_of, Auth, AuthMech, Delivery, MailFlow, Submitted};
use crate::probe::session::SessionError;
use crate::report::{DeliveryFacts, Failure, FailureReason, Phase, RecipientReply, TlsFacts};

impl Dialogue<'_> {
    pub(super) async fn mail_flow(&mut self, flow: &MailFlow) -> Step<()> {
        if let Some(auth) = &flow.auth {
            self.auth(auth).await?;
        }
        let sender = flow.mail_from.as_deref().unwrap_or("");
        if !flow.rcpt.is_empty() {
            self.mail_from(sender).await?;
            let mut refused = None;
            for rcpt in &flow.rcpt {
                if let Err(failure) = self.rcpt_to(rcpt).await {
                    if failure.reason != FailureReason::Rejected {
                        return Err(failure);
                    }
                    refused.get_or_insert(failure);
                }
            }
            if let Some(failure) = refused {
                return Err(failure);
            }
            let reply = self.exchange(Phase::Rset, Some("RSET")).await?;
            require(Phase::Rset, &reply, 250, "RSET")?;
        }
        if let Some(delivery) = &flow.delivery {
            self.submit(sender, flow.mail_from.as_deref(), delivery)
                .await?;
        }
        Ok(())
    }

    /// The delivery check's IMAP half, after the SMTP session ended: its phases, its facts,
    /// and its failure, if any.
    pub(super) async fn find_delivered(&mut self) -> Option<Failure> {
        let submitted = self.submitted.take()?;
        let flow = self.settings.mail.clone()?;
        let delivery = flow.delivery.as_ref()?;
        let transcript = &mut self.session.transcript;
        let trip =
            crate::probe::imap::round_trip(self.settings, delivery, &submitted, transcript).await;
        self.phases.extend(trip.phases);
        self.warnings.extend(trip.warnings);
        if let Some(facts) = self.mail.facts_mut().delivery.as_mut() {
            facts.seen_at = trip.seen.as_ref().map(|s| s.at);
            facts.seconds = trip.seen.as_ref().map(|s| s.seconds);
            if let Some(seen) = trip.seen {
                facts.authentication_results = seen.authentication_results;
                if let Some(warn) = delivery
                    .warn_after
                    .filter(|w| seen.seconds > w.as_secs_f64())
                {
                    self.warnings.push(format!(
                        "delivery took {:.1} s (warning threshold {})",
                        seen.seconds,
                        humantime::format_duration(warn)
                    ));
                }
            }
        }
        trip.failure
    }

    async fn auth(&mut self, auth: &Auth) -> Step<()> {
        let unavailable =
            |why: String| fail(Phase::Auth, FailureReason::AuthUnavailable, None, why);
        if !self.tls.as_ref().is_some_and(TlsFacts::established) {
            return Err(unavailable(
                "the session is not encrypted, and credentials are never sent in plaintext \
                 (use a submission:// or smtps:// target, or --tls starttls)"
                    .into(),
            ));
        }
        let offered = mechanisms(&self.capabilities);
        let has = |m: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(m));
        let mech = match auth.mech {
            AuthMech::Auto if has("PLAIN") => AuthMech::Plain,
            AuthMech::Auto if has("LOGIN") => AuthMech::Login,
            AuthMech::Plain if has("PLAIN") => AuthMech::Plain,
            AuthMech::Login if has("LOGIN") => AuthMech::Login,
            wanted => {
                let what = match wanted {
                    AuthMech::Plain => "PLAIN",
                    AuthMech::Login => "LOGIN",
                    AuthMech::Auto => "PLAIN or LOGIN",
                };
                let why = if offered.is_empty() {
                    "the server does not offer AUTH".to_string()
                } else {
                    format!(
                        "the server offers AUTH {} but not {what}",
                        offered.join(" ")
                    )
                };
                return Err(unavailable(why));
            }
        };
        let started = Instant::now();
        let deadline = self.phase_deadline();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let result = match mech {
            AuthMech::Plain => {
                let secret = format!("\0{}\0{}", auth.user, auth.password.expose());
                let line = format!("AUTH PLAIN {}", b64(secret.as_bytes()));
                self.session
                    .send_hidden(&line, "AUTH PLAIN <redacted>", deadline)
                    .await
            }
            _ => self.auth_login(auth, deadline).await,
        };
        let reply = result.map_err(|e| super::verdict::session_failure(Phase::Auth, e));
        self.record(Phase::Auth, started, reply.as_ref().ok().map(|r| r.code));
        let reply = reply?;
        match reply.code {
            235 => Ok(()),
            535 | 534 => Err(fail(
                Phase::Auth,
                FailureReason::AuthFailed,
                Some(reply.code),
                format!(
                    "credentials of {:?} refused: {} {}",
                    crate::escape::escape_str(&auth.user),
                    reply.code,
                    reply.text()
                ),
            )),
            _ => require(Phase::Auth, &reply, 235, "AUTH"),
        }
    }

    /// `AUTH LOGIN`: two 334 challenges, user then password; any other reply ends it early.
    async fn auth_login(
        &mut self,
        auth: &Auth,
        deadline: Instant,
    ) -> Result<crate::probe::reply::Reply, SessionError> {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let reply = self.session.command("AUTH LOGIN", deadline).await?;
        if reply.code != 334 {
            return Ok(reply);
        }
        let reply = self
            .session
            .send_hidden(&b64(&auth.user), "<redacted>", deadline)
            .await?;
        if reply.code != 334 {
            return Ok(reply);
        }
        self.session
            .send_hidden(&b64(auth.password.expose()), "<redacted>", deadline)
            .await
    }

    async fn mail_from(&mut self, sender: &str) -> Step<()> {
        let line = format!("MAIL FROM:<{sender}>");
        let reply = self.exchange(Phase::MailFrom, Some(&line)).await?;
        require(Phase::MailFrom, &reply, 250, "MAIL FROM")
    }

    /// One RCPT TO, its answer kept in the report.
    async fn rcpt_to(&mut self, rcpt: &str) -> Step<()> {
        let line = format!("RCPT TO:<{rcpt}>");
        let reply = self.exchange(Phase::RcptTo, Some(&line)).await?;
        self.mail.facts_mut().recipients.push(RecipientReply {
            rcpt: rcpt.to_string(),
            code: reply.code,
            message: reply.text(),
        });
        if reply.code == 251 {
            return Ok(());
        }
        require(Phase::RcptTo, &reply, 250, &format!("recipient <{rcpt}>"))
    }

    async fn submit(
        &mut self,
        sender: &str,
        from_header: Option<&str>,
        delivery: &Delivery,
    ) -> Step<()> {
        self.mail_from(sender).await?;
        self.rcpt_to(&delivery.to).await?;
        // Per address: the addresses of one target are probed at once, and each cleans up only
        // its own leftovers, never a sibling's message that is still on its way.
        let address = self.plan.address.to_string();
        let identity = identity_of(&[&delivery.identity, &address]);
        let token = new_token(&identity);
        let from = match from_header {
            Some(from) => from.to_string(),
            None => format!("smtpwatch@{}", self.settings.ehlo_name),
        };
        let message = message(&token, &from, &delivery.to, &self.settings.ehlo_name);
        let started = Instant::now();
        let deadline = self.phase_deadline();
        let reply = match self.session.command("DATA", deadline).await {
            Ok(reply) if reply.code == 354 => self.session.send_message(&message, deadline).await,
            other => other,
        };
        self.record(Phase::Data, started, reply.as_ref().ok().map(|r| r.code));
        let reply = reply.map_err(|e| super::verdict::session_failure(Phase::Data, e))?;
        require(Phase::Data, &reply, 250, "the message")?;
        let at = Instant::now();
        let facts = self
            .mail
            .facts_mut()
            .delivery
            .get_or_insert_with(|| unsent(delivery));
        facts.token = token.clone();
        facts.queue_id = queue_id(&reply.text());
        facts.submitted_at = Some(std::time::SystemTime::now());
        self.submitted = Some(Submitted {
            token,
            identity,
            at,
        });
        Ok(())
    }
}

/// The delivery facts before anything was sent.
pub(super) fn unsent(delivery: &Delivery) -> DeliveryFacts {
    DeliveryFacts {
        to: delivery.to.clone(),
        token: String::new(),
        queue_id: None,
        submitted_at: None,
        seen_at: None,
        seconds: None,
        warn_after_seconds: delivery.warn_after.map(|w| w.as_secs_f64()),
        authentication_results: Default::default(),
    }
}

/// The SASL mechanisms of the EHLO `AUTH` line (also the old `AUTH=` form).
fn mechanisms(capabilities: &[String]) -> Vec<String> {
    capabilities
        .iter()
        .filter(|c| c.len() > 4 && c[..4].eq_ignore_ascii_case("AUTH"))
        .filter(|c| matches!(c.as_bytes()[4], b' ' | b'='))
        .flat_map(|c| c[5..].split_whitespace().map(str::to_string))
        .collect()
}

/// `IDENTITY-MILLIS-RANDOM`: the identity prefix finds this probe's leftovers.
fn new_token(identity: &str) -> String {
    let mut random = [0u8; 6];
    // A failing system RNG leaves zeros: the time still makes the token unique per round.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{identity}-{millis:x}-{random}")
}

/// The test message: plain ASCII, marked as automatic so no one replies to it.
fn message(token: &str, from: &str, to: &str, host: &str) -> String {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now()).replace("GMT", "+0000");
    format!(
        "Message-ID: <{token}@{host}>\nDate: {date}\nFrom: <{from}>\nTo: <{to}>\n\
         Subject: smtpwatch delivery check {token}\nX-Smtpwatch-Token: {token}\n\
         Auto-Submitted: auto-generated\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=us-ascii\n\n\
         This message was sent by smtpwatch to check that mail reaches this mailbox.\n\
         smtpwatch deletes it as soon as it has found it.\n"
    )
}

/// The queue id in a 250 after DATA: Postfix's `queued as ID`, Exim's `id=ID`.
fn queue_id(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower
        .find("queued as ")
        .map(|i| i + "queued as ".len())
        .or_else(|| lower.find("id=").map(|i| i + 3))?;
    let id: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_come_from_either_auth_form() {
        let caps = ["PIPELINING", "AUTH PLAIN LOGIN", "AUTH=CRAM-MD5", "AUTHX Y"];
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        assert_eq!(mechanisms(&caps), ["PLAIN", "LOGIN", "CRAM-MD5"]);
    }

    #[test]
    fn queue_ids_of_postfix_and_exim() {
        assert_eq!(
            queue_id("2.0.0 Ok: queued as 4Fj2kX0abc").as_deref(),
            Some("4Fj2kX0abc")
        );
        assert_eq!(
            queue_id("OK id=1tABCD-000123-Xy").as_deref(),
            Some("1tABCD-000123-Xy")
        );
        assert_eq!(queue_id("2.0.0 Ok"), None);
    }

    #[test]
    fn the_message_carries_the_token_and_is_marked_automatic() {
        let m = message("abc-1-ff", "a@b.test", "c@d.test", "probe.test");
        for wanted in [
            "Message-ID: <abc-1-ff@probe.test>",
            "Subject: smtpwatch delivery check abc-1-ff",
            "X-Smtpwatch-Token: abc-1-ff",
            "Auto-Submitted: auto-generated",
            "To: <c@d.test>",
        ] {
            assert!(m.lines().any(|l| l == wanted), "{wanted} missing in {m}");
        }
        assert!(m.contains("+0000"), "{m}");
        assert!(new_token("id").starts_with("id-"));
        assert_ne!(new_token("id"), new_token("id"));
    }
}
