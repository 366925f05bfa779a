//! The generic webhook: the [`Notification`] as JSON, optionally signed.
//!
//! With a `secret_file`, the header `X-Smtpwatch-Signature: sha256=<hex>` carries
//! HMAC-SHA256 of the exact body bytes under that key, so a receiver can check that the
//! notification comes from this agent and was not altered.

use ring::hmac;

use super::notification::Notification;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-smtpwatch-signature";

/// The request body.
pub fn body(notification: &Notification) -> Vec<u8> {
    // Serialising a struct of strings and numbers cannot fail.
    serde_json::to_vec(notification).unwrap_or_default()
}

/// `sha256=<hex of HMAC-SHA256(key, body)>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
