//! A delivery probe in the agent: config keys with secrets from files, the delivery families in
//! `/metrics`, and the delivery time on the status page.

use super::*;
use crate::support::certs::TestCa;
use crate::support::fake_imap::{FakeImap, Script};
use crate::support::fake_smtp::greet_and_ehlo;

const PASSWORD: &str = "agent-s3cret";

fn submission_script() -> Vec<Step> {
    let mut steps = greet_and_ehlo(&["PIPELINING"]);
    steps.extend([
        Step::Expect("MAIL FROM:<monitor@probe.test>"),
        Step::Line("250 2.1.0 Ok"),
        Step::Expect("RCPT TO:<box@fake.test>"),
        Step::Line("250 2.1.5 Ok"),
        Step::Expect("DATA"),
        Step::Line("354 go ahead"),
        Step::ReadMessage,
        Step::Line("250 2.0.0 Ok: queued as Q1"),
    ]);
    steps.extend(noop_quit());
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_probe_exports_its_families_and_shows_its_time() {
    let ca = TestCa::new("agent delivery CA");
    let imap = FakeImap::start(Script::good(PASSWORD), &ca.leaf(&["localhost"], 90)).await;
    let smtp = FakeService::start(submission_script).await;
    let dir = std::env::temp_dir().join(format!("smtpwatch-agent-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca");
    std::fs::write(dir.join("pw"), PASSWORD).expect("pw");
    let config = format!(
        r#"
[agent]
listen = "127.0.0.1:0"
ehlo_name = "probe.test"

[[probe]]
name = "flow"
target = "{smtp}"
tls = "none"
interval = "30s"
timeout = "2s"
ca_file = "{dir}/ca.pem"
mail_from = "monitor@probe.test"

[probe.delivery]
to = "box@fake.test"
imap = "imaps://localhost:{imap_port}"
user = "monitor"
password_file = "{dir}/pw"
timeout = "10s"
warn_after = "5s"
"#,
        smtp = smtp.addr,
        dir = dir.display(),
        imap_port = imap.addr.port(),
    );
    let agent = start(&config).await;
    let m = agent
        .metrics_when(|m| m.contains("smtpwatch_delivery_success{"))
        .await;
    assert_eq!(
        sample(&m, "smtpwatch_delivery_success", &["probe=\"flow\""]),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(&m, "smtpwatch_delivery_seconds", &["probe=\"flow\""]).is_some_and(|v| v < 10.0)
    );
    assert_eq!(
        sample(
            &m,
            "smtpwatch_delivery_warn_after_seconds",
            &["probe=\"flow\""]
        ),
        Some(5.0)
    );
    let spf = ["probe=\"flow\"", "method=\"spf\"", "result=\"pass\""];
    assert_eq!(
        sample(&m, "smtpwatch_delivery_authentication_result", &spf),
        Some(1.0)
    );
    assert!(!m.contains(PASSWORD));
    let (_, page) = get(agent.addr, "/").await;
    assert!(page.contains("<b>delivery</b> "), "{page}");
    assert!(page.contains("spf=pass"), "{page}");
    assert!(!page.contains(PASSWORD));
    let (_, last) = get(agent.addr, "/probes/flow/last").await;
    assert!(!last.contains(PASSWORD), "{last}");
    agent.stop().await;
    assert!(imap.tokens().is_empty(), "the test message was left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
