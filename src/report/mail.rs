//! The mail-flow part of a report: each recipient's reply and the delivery round trip.
//!
//! A report always has the keys `recipients` (a list, empty without an envelope check) and
//! `delivery` (null without a delivery check), so JSON readers see one shape; in memory the
//! section is one pointer that is null for the plain probes the agent mostly runs.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// One `RCPT TO` and the server's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecipientReply {
    /// The recipient address as sent.
    pub rcpt: String,
    /// The reply code.
    pub code: u16,
    /// The reply text, escaped.
    pub message: String,
}

/// A delivery round trip: the message submitted, and when it was seen over IMAP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryFacts {
    /// The mailbox address the message was sent to.
    pub to: String,
    /// The token in the Subject and `X-Smtpwatch-Token` that identifies the message (empty
    /// when the probe failed before submitting it).
    pub token: String,
    /// The queue id in the server's 250 after DATA (Postfix `queued as`, Exim `id=`).
    pub queue_id: Option<String>,
    /// When the server accepted the message.
    #[serde(serialize_with = "super::opt_rfc3339_millis")]
    pub submitted_at: Option<SystemTime>,
    /// When the message was found in the mailbox.
    #[serde(serialize_with = "super::opt_rfc3339_millis")]
    pub seen_at: Option<SystemTime>,
    /// `seen_at - submitted_at`.
    pub seconds: Option<f64>,
    /// The configured `delivery.warn_after`: slower is a warning.
    pub warn_after_seconds: Option<f64>,
    /// `spf`, `dkim`, `dmarc` (and other methods) as the receiving server's
    /// `Authentication-Results` recorded them, escaped.
    pub authentication_results: BTreeMap<String, String>,
}

/// Everything a mail-flow check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailFacts {
    /// Each recipient of the envelope check, in order.
    pub recipients: Vec<RecipientReply>,
    /// The delivery round trip, whenever one was configured (`submitted_at` null: the probe
    /// failed before the message was accepted).
    pub delivery: Option<DeliveryFacts>,
}

/// The report's mail-flow section (see the module header).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailSection(pub Option<Box<MailFacts>>);

impl MailSection {
    /// The facts, created on first use.
    pub fn facts_mut(&mut self) -> &mut MailFacts {
        self.0.get_or_insert_with(Box::default)
    }

    /// The delivery round trip, if any.
    pub fn delivery(&self) -> Option<&DeliveryFacts> {
        self.0.as_ref().and_then(|m| m.delivery.as_ref())
    }

    /// The recipients checked, if any.
    pub fn recipients(&self) -> &[RecipientReply] {
        self.0.as_ref().map_or(&[], |m| m.recipients.as_slice())
    }
}

impl Serialize for MailSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("recipients", self.recipients())?;
        map.serialize_entry("delivery", &self.delivery())?;
        map.end()
    }
}
