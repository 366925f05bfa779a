//! The `smtpwatch check` binary end to end against fake servers: formats and exit codes.

use std::process::Output;

use tokio::process::Command;

use crate::fanout::servers_on_one_port;
use crate::support::fake_dns::{ip, mx, FakeDns};

async fn smtpwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(args)
        .output()
        .await
        .expect("run smtpwatch")
}

#[tokio::test]
async fn check_text_output_and_exit_code_ok() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.1"]).await;
    let out = smtpwatch(&[
        "check",
        &format!("127.0.0.1:{port}"),
        "--ehlo",
        "probe.test",
        "--transcript",
    ])
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with(&format!("OK 127.0.0.1:{port}")), "{text}");
    for needle in [
        "connect",
        "banner",
        "220",
        "ehlo",
        "250",
        "capabilities:  PIPELINING",
        "-> EHLO probe.test",
        "<- 221 2.0.0 Bye",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// `check mx:example.test:PORT --format json` through the fake DNS server, plus `extra`.
async fn check_mx_json(port: u16, dns: &FakeDns, extra: &[&str]) -> Output {
    let target = format!("mx:example.test:{port}");
    let dns_arg = dns.addr.to_string();
    let mut args = vec![
        "check",
        &target,
        "--dns-server",
        &dns_arg,
        "--format",
        "json",
    ];
    args.extend(["--timeout", "5s"]);
    args.extend(extra);
    smtpwatch(&args).await
}

#[tokio::test]
async fn check_mx_json_and_nagios_with_one_dead_address_is_a_warning() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.2", "127.0.0.3"]).await;
    let dns = FakeDns::start(vec![
        ("example.test", mx(10, "mx1.example.test")),
        ("mx1.example.test", ip("127.0.0.2")),
        ("mx1.example.test", ip("127.0.0.3")),
        ("mx1.example.test", ip("127.0.0.4")),
    ])
    .await;
    let out = check_mx_json(port, &dns, &["--no-posture"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a ProbeReport"))
        .collect();
    assert_eq!(lines.len(), 3);
    let statuses: Vec<&str> = lines
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["ok", "ok", "critical"]);
    assert_eq!(lines[2]["failure"]["reason"], "connect_refused");
    for key in [
        "probe",
        "target",
        "address",
        "started_at",
        "success",
        "duration_seconds",
        "failure",
        "phases",
        "banner",
        "capabilities",
        "tls",
        "warnings",
        "transcript",
    ] {
        assert!(lines[0].get(key).is_some(), "key {key} missing");
    }
    assert!(lines[0]["started_at"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && s.contains('.')));
}

#[tokio::test]
async fn check_nagios_single_address_has_perfdata_and_critical_exit() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let out = smtpwatch(&["check", &format!("127.0.0.1:{port}"), "--format", "nagios"]).await;
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{line}");
    assert!(line.starts_with("SMTP CRITICAL - "), "{line}");
    assert!(line.contains("connect failed: connect_refused"), "{line}");
    assert!(
        line.contains("| time=") && line.contains(" connect="),
        "{line}"
    );

    let (port, _servers) = servers_on_one_port(&["127.0.0.1"]).await;
    let out = smtpwatch(&["check", &format!("127.0.0.1:{port}"), "--format", "nagios"]).await;
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(line.starts_with("SMTP OK - "), "{line}");
    for perf in ["connect=", "banner=", "ehlo=", "noop=", "quit="] {
        assert!(line.contains(perf), "{perf} missing: {line}");
    }
}

#[tokio::test]
async fn usage_errors_exit_3() {
    let out = smtpwatch(&["check", "smtp://a@b"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only host and port"));
    let out = smtpwatch(&["check", "x", "--format", "xml"]).await;
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test]
async fn check_mx_posture_through_a_resolver_without_dnssec_warns_instead_of_failing() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.2"]).await;
    let dns = FakeDns::start(vec![
        ("example.test", mx(10, "mx1.example.test")),
        ("mx1.example.test", ip("127.0.0.2")),
    ])
    .await;
    let out = check_mx_json(port, &dns, &["--no-mta-sts", "--no-fcrdns"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("posture line");
    let posture = &last["domain_posture"];
    let reasons: Vec<&str> = posture["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["reason"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(reasons, ["dnssec_unavailable"], "{stdout}");
    assert_eq!(posture["hosts"][0]["dane"], false);
    // The address works; the posture only warns: exit 1.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
}

#[tokio::test]
async fn run_with_a_bad_configuration_exits_3_and_says_so_once() {
    let path = std::env::temp_dir().join(format!("smtpwatch-bad-run-{}.toml", std::process::id()));
    std::fs::write(&path, "[agent]\ninterval = \"soon\"\n").expect("config");
    let path_text = path.to_string_lossy().to_string();
    let out = smtpwatch(&["run", "--config", &path_text]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(
        stderr.matches("agent.interval").count(),
        1,
        "printed once: {stderr}"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn nagios_output_says_unknown_even_about_bad_usage() {
    for args in [
        vec![
            "check",
            "127.0.0.1:25",
            "--format",
            "nagios",
            "--no-such-flag",
        ],
        vec!["check", "--format=nagios"],
        vec!["check", "smtp://a@b", "--format", "nagios"],
    ] {
        let out = smtpwatch(&args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        assert!(stdout.starts_with("SMTP UNKNOWN - "), "{args:?}: {stdout}");
    }
}

/// The small mistakes a newcomer makes get messages that say what to do.
#[tokio::test]
async fn common_mistakes_get_messages_that_say_what_to_do() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.1"]).await;
    let target = format!("127.0.0.1:{port}");
    let out = smtpwatch(&["check", &target, "--timeout", "-1s"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(err.contains("must be a positive duration"), "{err}");
    let out = smtpwatch(&["check", "mx:"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mx: needs a mail domain"), "{err}");
    // Implicit TLS against a plaintext server.
    let out = smtpwatch(&[
        "check",
        &format!("smtps://{target}"),
        "--ehlo",
        "probe.test",
    ])
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("the server answered in plaintext, not TLS"),
        "{text}"
    );
}

#[tokio::test]
async fn config_shards_partitions_the_probes_and_bad_shards_are_usage_errors() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-it-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("p.toml");
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!(
            "[[probe]]\nname = \"p{i}\"\ntarget = \"127.0.0.1:25\"\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    let path_text = path.to_string_lossy().to_string();
    let out = smtpwatch(&["config", "shards", &path_text, "--count", "3"]).await;
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 50, "every probe once: {stdout}");
    for line in &lines {
        let (shard, name) = line.split_once('\t').expect("shard<TAB>name");
        let index: u32 = shard.trim_end_matches("/3").parse().expect("index");
        assert_eq!(index, smtpwatch::shard::owner(name, 3), "{line}");
    }
    let totals: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# shard "))
        .map(|l| {
            l.split(": ")
                .nth(1)
                .and_then(|n| n.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .expect("count")
        })
        .sum();
    assert_eq!(totals, 50);
    let out = Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["run", "--config", &path_text])
        .env("SMTPWATCH_SHARD", "3/3")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SMTPWATCH_SHARD: shard \"3/3\" must be I/N")
    );
    let out = smtpwatch(&["run", "--config", &path_text, "--shard", "0/0"]).await;
    assert_eq!(out.status.code(), Some(3));
    // A vantage from the environment or the command line is checked like the file's, and
    // what is wrong with it is shown escaped.
    let out = Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["run", "--config", &path_text])
        .env("SMTPWATCH_VANTAGE", "eu 1\x1b[2J")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SMTPWATCH_VANTAGE \"eu 1\\x1b[2J\": vantage must be 1 to 64"),
        "{stderr}"
    );
    let out = smtpwatch(&["run", "--config", &path_text, "--vantage", ""]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--vantage \"\": vantage must be"));
    let _ = std::fs::remove_dir_all(&dir);
}
