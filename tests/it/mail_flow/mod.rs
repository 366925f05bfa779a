//! Mail-flow checks: AUTH, envelope checks and the delivery round trip, against scripted SMTP
//! servers and a fake IMAP server (hostile modes included).

mod delivery;
mod smtp;

use std::sync::Arc;

use smtpwatch::probe::mail_flow::{Auth, AuthMech, MailFlow};
use smtpwatch::probe::ProbeSettings;
use smtpwatch::secret::Secret;

/// The password every test uses, to look for it where it must not be.
pub const PASSWORD: &str = "s3cret-Pa55word";

/// AUTH as `monitor` with [`PASSWORD`].
pub fn auth(mech: AuthMech) -> Auth {
    Auth {
        user: "monitor".into(),
        password: Secret::new(PASSWORD),
        mech,
    }
}

/// Sets the mail-flow check on `settings`.
pub fn with_flow(settings: &mut ProbeSettings, flow: MailFlow) {
    settings.mail = Some(Arc::new(flow));
}

/// Asserts that neither the password nor its base64 forms appear in the report's JSON.
#[track_caller]
pub fn assert_no_secret(report: &smtpwatch::report::ProbeReport) {
    use base64::Engine as _;
    let json = serde_json::to_string(report).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        PASSWORD.to_string(),
        b64.encode(PASSWORD),
        b64.encode(format!("\0monitor\0{PASSWORD}")),
    ];
    for form in forms {
        assert!(!json.contains(&form), "secret form {form:?} in {json}");
    }
}
