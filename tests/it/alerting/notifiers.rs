//! Webhook and Slack notifications: fired at the threshold, signed, Block Kit, resolved once.

use super::*;

#[tokio::test]
async fn webhook_fires_at_the_threshold_signed_and_resolves_once() {
    let (down, up) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let key = temp_path("hmac.key");
    std::fs::write(&key, "s3cret-key\n").expect("key file");
    let cfg = config(
        &format!(
            "[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\nsecret_file = \"{}\"\nheaders = {{ X-Team = \"mail\" }}\n",
            hook.url("/in/hook-token"),
            key.display()
        ),
        "",
    );
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    let now = SystemTime::now();
    for i in 0..4 {
        alerting.observe(
            probe,
            std::slice::from_ref(&down),
            now + Duration::from_secs(i * 60),
        );
    }
    let firing = hook.next().await;
    assert_eq!(firing.path, "/in/hook-token");
    assert_eq!(firing.header("x-team").as_deref(), Some("mail"));
    assert_eq!(
        firing.header("content-type").as_deref(),
        Some("application/json")
    );
    let signature = firing.header("x-smtpwatch-signature").expect("signed");
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let verifier = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-key");
    ring::hmac::verify(&verifier, &firing.body, &tag).expect("the signature verifies");

    let json = firing.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["event"], "firing");
    assert_eq!(json["alert"], "probe_failing");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["probe"], "mx");
    assert_eq!(json["target"], "127.0.0.1:25");
    assert_eq!(json["address"], down.address.clone().expect("address"));
    assert_eq!(json["phase"], "connect");
    assert_eq!(json["reason"], "connect_refused");
    assert_eq!(json["labels"]["team"], "mail");
    assert!(!json["agent"].as_str().unwrap_or("").is_empty());

    for i in 4..6 {
        alerting.observe(
            probe,
            std::slice::from_ref(&up),
            now + Duration::from_secs(i * 60),
        );
    }
    // The fourth failure sent nothing: the next request is the resolution.
    let resolved = hook.next().await.json();
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["status"], "ok");
    assert_eq!(resolved["since"], json["since"]);
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "sent"), 2);
}

#[tokio::test]
async fn slack_gets_block_kit_and_only_200_ok_counts_as_delivered() {
    let (down, up) = reports().await;
    let mut slack = Receiver::start(Answer::new(200, "ok")).await;
    slack.script([Answer::new(200, "ok"), Answer::new(200, "invalid_payload")]);
    let cfg = config(
        &format!(
            "failure_threshold = 1\nsuccess_threshold = 1\n[[alerting.slack]]\nname = \"chat\"\nurl = \"{}\"\n",
            slack.url("/services/T0/B0/XYZ")
        ),
        "",
    );
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    alerting.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    let message = slack.next().await.json();
    assert!(message["text"]
        .as_str()
        .unwrap_or("")
        .starts_with("[FIRING] mx"));
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], "#e01e5a");
    assert_eq!(attachment["blocks"][0]["type"], "header");
    let facts = attachment["blocks"][2]["fields"].to_string();
    assert!(facts.contains("connect / connect_refused"), "{facts}");
    alerting.observe(probe, std::slice::from_ref(&up), SystemTime::now());
    let resolved = slack.next().await.json();
    assert_eq!(resolved["attachments"][0]["color"], "#2eb67d");
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "chat", "sent"), 1);
    assert_eq!(counter(&metrics, "chat", "failed"), 1);
    assert_eq!(counter(&metrics, "chat", "retried"), 0);
}
