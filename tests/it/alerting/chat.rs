//! The notifiers people use (PagerDuty, Teams, Discord, ntfy, a template): each fires and
//! resolves against a local receiver, and each payload has its documented shape; secrets stay
//! in the places the receiver reads them from.

use super::*;
use crate::support::receiver::Received;

const ROUTING_KEY: &str = "R0UT1NG-KEY-abc123";
const TOKEN: &str = "tk_ntfy_s3cret";

/// Fires then resolves probe `mx` through the one notifier `table` sets up (`{url}` is the
/// receiver's URL at `path`); returns both requests.
async fn fire_and_resolve(table: &str, path: &str, answer: u16) -> (Received, Received, Config) {
    let (down, up) = reports().await;
    let mut receiver = Receiver::start(Answer::new(answer, "")).await;
    let table = table.replace("{url}", &receiver.url(path));
    let cfg = config(
        &format!("failure_threshold = 1\nsuccess_threshold = 1\n{table}"),
        "",
    );
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    alerting.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    let firing = receiver.next().await;
    alerting.observe(probe, std::slice::from_ref(&up), SystemTime::now());
    let resolved = receiver.next().await;
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "n", "sent"), 2, "both delivered");
    (firing, resolved, cfg)
}

fn secret_file(name: &str, value: &str) -> String {
    let path = temp_path(name);
    std::fs::write(&path, format!("{value}\n")).expect("secret");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_one_incident() {
    let key = secret_file("pd.key", ROUTING_KEY);
    let table = format!(
        "[[alerting.pagerduty]]\nname = \"n\"\nurl = \"{{url}}\"\nrouting_key_file = \"{key}\"\n"
    );
    let (firing, resolved, cfg) = fire_and_resolve(&table, "/v2/enqueue", 202).await;
    assert_eq!(firing.path, "/v2/enqueue");
    let (f, r) = (firing.json(), resolved.json());
    assert_eq!(f["routing_key"], ROUTING_KEY);
    assert_eq!(f["event_action"], "trigger");
    assert_eq!(f["payload"]["component"], "mx");
    assert!(f["payload"]["summary"]
        .as_str()
        .is_some_and(|s| s.starts_with("[FIRING] mx")));
    assert!(["critical", "warning"].contains(&f["payload"]["severity"].as_str().unwrap_or("")));
    assert_eq!(r["event_action"], "resolve");
    assert_eq!(r["dedup_key"], f["dedup_key"], "one incident");
    assert!(f["dedup_key"].as_str().is_some_and(|k| k.len() == 32));
    assert!(!format!("{cfg:?}").contains(ROUTING_KEY));
}

#[tokio::test]
async fn teams_gets_an_adaptive_card_coloured_by_state() {
    let table = "[[alerting.teams]]\nname = \"n\"\nurl = \"{url}\"\n";
    let (firing, resolved, _) = fire_and_resolve(table, "/workflows/abc", 202).await;
    let f = firing.json();
    let attachment = &f["attachments"][0];
    assert_eq!(f["type"], "message");
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let body = &attachment["content"]["body"];
    assert_eq!(body[0]["color"], "Attention");
    assert!(
        body[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("FIRING")),
        "{body}"
    );
    assert!(
        body[2]["facts"]
            .to_string()
            .contains("connect / connect\\\\_refused"),
        "{body}"
    );
    assert_eq!(
        resolved.json()["attachments"][0]["content"]["body"][0]["color"],
        "Good"
    );
}

#[tokio::test]
async fn discord_gets_an_embed_without_mentions() {
    let table = "[[alerting.discord]]\nname = \"n\"\nurl = \"{url}\"\n";
    let (firing, resolved, _) = fire_and_resolve(table, "/api/webhooks/1/x", 204).await;
    let f = firing.json();
    assert_eq!(f["allowed_mentions"]["parse"], serde_json::json!([]));
    let embed = &f["embeds"][0];
    assert!(embed["title"]
        .as_str()
        .is_some_and(|t| t.starts_with("[FIRING] mx")));
    assert_ne!(embed["color"], resolved.json()["embeds"][0]["color"]);
    assert_eq!(resolved.json()["embeds"][0]["color"], 0x2e_b6_7d);
    assert!(embed["footer"]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("id ")));
}

#[tokio::test]
async fn ntfy_publishes_json_to_the_root_with_the_token() {
    let token = secret_file("ntfy.token", TOKEN);
    let table =
        format!("[[alerting.ntfy]]\nname = \"n\"\nurl = \"{{url}}\"\ntoken_file = \"{token}\"\n");
    let (firing, resolved, _) = fire_and_resolve(&table, "/smtp-alerts", 200).await;
    assert_eq!(
        firing.path, "/",
        "JSON publishing goes to the server's root"
    );
    assert_eq!(
        firing.header("authorization").as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let (f, r) = (firing.json(), resolved.json());
    assert_eq!(f["topic"], "smtp-alerts");
    assert!(f["title"]
        .as_str()
        .is_some_and(|t| t.starts_with("[FIRING] mx")));
    assert!(f["priority"].as_i64().is_some_and(|p| p >= 4));
    assert_eq!(r["priority"], 3);
    assert_eq!(r["tags"][0], "white_check_mark");
}

#[tokio::test]
async fn a_template_is_filled_json_escaped_with_its_content_type() {
    let table = r#"[[alerting.template]]
name = "n"
url = "{url}"
content_type = "application/vnd.example+json"
headers = { "X-Team" = "mail" }
body = '{"summary": "{{title}}", "state": "{{event}}", "probe": "{{probe}}", "reason": "{{reason}}", "message": "{{message}}", "key": "{{alert_key}}"}'
"#;
    let (firing, resolved, _) = fire_and_resolve(table, "/hook", 200).await;
    assert_eq!(
        firing.header("content-type").as_deref(),
        Some("application/vnd.example+json")
    );
    assert_eq!(firing.header("x-team").as_deref(), Some("mail"));
    let (f, r) = (firing.json(), resolved.json());
    assert_eq!(
        (f["state"].as_str(), f["probe"].as_str()),
        (Some("firing"), Some("mx"))
    );
    assert_eq!(f["reason"], "connect_refused");
    assert_eq!(r["state"], "resolved");
    // The fixture's good round comes from another address: a probe-level alert keeps its key.
    assert_eq!(r["key"], f["key"]);
}

#[test]
fn notifier_tables_refuse_keys_of_other_kinds_and_missing_secrets() {
    let cases = [
        ("[[alerting.pagerduty]]\nname = \"n\"\n", "needs routing_key_file or routing_key_env"),
        ("[[alerting.teams]]\nname = \"n\"\nurl = \"https://x.test/w\"\nsecret_file = \"/k\"\n", "key `secret_file` is not used by a teams notifier"),
        ("[[alerting.ntfy]]\nname = \"n\"\nurl = \"https://ntfy.sh/\"\n", "must name a topic"),
        ("[[alerting.template]]\nname = \"n\"\nurl = \"https://x.test/h\"\n", "needs a body template"),
        ("[[alerting.template]]\nname = \"n\"\nurl = \"https://x.test/h\"\nbody = \"{{secret}}\"\n", "unknown placeholder"),
        ("[[alerting.discord]]\nname = \"n\"\nurl = \"https://x.test/d\"\ntoken_env = \"T\"\n", "key `token_env` is not used by a discord notifier"),
        ("[[alerting.email]]\nname = \"n\"\nfrom = \"a@b.test\"\nto = [\"c@d.test\"]\n", "needs relay"),
        ("[[alerting.email]]\nname = \"n\"\nrelay = \"smtp.example.net:587\"\ntls = \"none\"\nfrom = \"a@b.test\"\nto = [\"c@d.test\"]\n", "only for a relay on loopback"),
        ("[[alerting.email]]\nname = \"n\"\nrelay = \"127.0.0.1:25\"\nfrom = \"a@b.test\"\nto = [\"c@d.test\"]\nuser = \"u\"\n", "user and a password_* key together"),
        ("[[alerting.email]]\nname = \"n\"\nrelay = \"127.0.0.1:25\"\nfrom = \"a@b.test>\\r\\nRCPT\"\nto = [\"c@d.test\"]\n", "from"),
    ];
    for (table, wanted) in cases {
        let text =
            format!("[alerting]\n{table}\n[[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1:25\"\n");
        let err = config::parse(&text, Path::new("t.toml"))
            .expect_err(wanted)
            .to_string();
        assert!(err.starts_with("t.toml:"), "{err}");
        assert!(err.contains(wanted), "{wanted}: {err}");
    }
}

/// One relay session: STARTTLS with `leaf`, AUTH PLAIN, one message to oncall@example.test.
fn relay_script(leaf: &crate::support::certs::Leaf) -> Vec<crate::support::fake_smtp::Step> {
    use crate::support::fake_smtp::{raw, Step};
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 2.0.0 Ready"),
        Step::StartTls(leaf.server_config()),
        Step::Expect("EHLO "),
        raw("250-fake.test\r\n250 AUTH PLAIN LOGIN\r\n"),
        Step::Expect("AUTH PLAIN"),
        Step::Line("235 2.7.0 ok"),
        Step::Expect("MAIL FROM:<smtpwatch@probe.test>"),
        Step::Line("250 2.1.0 Ok"),
        Step::Expect("RCPT TO:<oncall@example.test>"),
        Step::Line("250 2.1.5 Ok"),
        Step::Expect("DATA"),
        Step::Line("354 go ahead"),
        Step::ReadMessage,
        Step::Line("250 2.0.0 Ok: queued as E1"),
        Step::Expect("QUIT"),
        Step::Line("221 2.0.0 Bye"),
    ]);
    steps
}

#[tokio::test]
async fn email_goes_through_the_relay_with_starttls_and_auth_for_firing_and_resolved() {
    use crate::support::fake_smtp::FakeSmtp;
    let (down, up) = reports().await;
    let ca = TestCa::new("relay CA");
    let leaf = ca.leaf(&["127.0.0.1"], 90);
    let ca_file = temp_path("relay-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("ca");
    let password = secret_file("relay.pw", "relay-s3cret");
    let relay = FakeSmtp::start(relay_script(&leaf)).await;
    let table = format!(
        "failure_threshold = 1\nsuccess_threshold = 1\n[[alerting.email]]\nname = \"n\"\nrelay = \"{}\"\n\
         from = \"smtpwatch@probe.test\"\nto = [\"oncall@example.test\"]\nuser = \"smtpwatch\"\n\
         password_file = \"{password}\"\nca_file = \"{}\"\n",
        relay.addr,
        ca_file.display()
    );
    let cfg = config(&table, "");
    assert!(!format!("{cfg:?}").contains("relay-s3cret"));
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    alerting.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    let addr = relay.addr;
    let firing = relay.finish().await.expect("the relay session");
    let subject = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("Subject: "))
            .cloned()
            .unwrap_or_default()
    };
    assert!(subject(&firing).contains("[FIRING] mx"), "{firing:?}");
    assert!(
        firing.iter().any(|l| l == "Auto-Submitted: auto-generated"),
        "{firing:?}"
    );
    assert!(
        firing.iter().any(|l| l.contains("connect_refused")),
        "{firing:?}"
    );
    let second = FakeSmtp::start_on(addr, relay_script(&leaf)).await;
    alerting.observe(probe, std::slice::from_ref(&up), SystemTime::now());
    let resolved = second.finish().await.expect("the second session");
    assert!(subject(&resolved).contains("[RESOLVED] mx"), "{resolved:?}");
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "n", "sent"), 2);
}
