//! SIGKILL at three points of a delivery: a firing queued behind another, a firing retrying
//! against a receiver answering 500, and a resolved in flight with another queued. The
//! restarted agent delivers each, with its id, and each is accepted once.

use std::time::Duration;

use super::*;

const BOUND: Duration = Duration::from_secs(30);

/// Two probes of `a` and `b`, a webhook at `hook`, retries a minute apart.
fn config(
    scratch: &Scratch,
    listen: &str,
    hook: &Receiver,
    a: SocketAddr,
    b: SocketAddr,
) -> PathBuf {
    let state = scratch.path("state.json");
    let text = format!(
        "{}[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n{}{}",
        head(
            listen,
            &state,
            "retry_backoff = \"1m\"\nretry_backoff_max = \"1m\""
        ),
        hook.url("/hook"),
        probe("a", a),
        probe("b", b),
    );
    let path = scratch.path("probes.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn listen() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn a_firing_queued_behind_a_held_one_arrives_after_a_sigkill() {
    let scratch = Scratch::new("queued");
    let hook = Receiver::start(Answer::Hold);
    let (a, b) = (SmtpServer::start(false), SmtpServer::start(false));
    let listen = listen();
    let config = config(&scratch, &listen, &hook, a.addr, b.addr);
    let state = scratch.path("state.json");

    let first = Agent::start(&config, &listen, &[]);
    // One firing held by the receiver, the other queued behind it: both in the outbox.
    wait_until("two firings in the outbox", BOUND, || {
        !hook.seen().is_empty() && saved_outbox(&state).len() == 2
    });
    let mut ids: Vec<String> = saved_outbox(&state)
        .iter()
        .map(|p| p["notification"]["id"].as_str().unwrap_or("").to_string())
        .collect();
    first.kill();
    hook.set(Answer::Status(200));

    let second = Agent::start(&config, &listen, &[]);
    wait_until("both firings accepted", BOUND, || {
        hook.accepted("firing").len() == 2
    });
    drop(second);
    let mut accepted: Vec<String> = hook
        .accepted("firing")
        .iter()
        .map(|s| s.field("id").to_string())
        .collect();
    ids.sort();
    accepted.sort();
    assert_eq!(accepted, ids, "the ids in the outbox before the kill");
    accepted_once_per_id(&hook.seen());
    assert!(hook.accepted("resolved").is_empty());
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn a_firing_retrying_against_a_500_arrives_after_a_sigkill_once() {
    let scratch = Scratch::new("retrying");
    let hook = Receiver::start(Answer::Status(500));
    let (a, b) = (SmtpServer::start(false), SmtpServer::start(true));
    let listen = listen();
    let config = config(&scratch, &listen, &hook, a.addr, b.addr);

    let first = Agent::start(&config, &listen, &[]);
    wait_until("the first attempt", BOUND, || !hook.seen().is_empty());
    // The firing waits a minute for its retry: kill the agent outright.
    first.kill();
    hook.set(Answer::Status(200));

    let second = Agent::start(&config, &listen, &[]);
    wait_until("the re-delivery", BOUND, || {
        !hook.accepted("firing").is_empty()
    });
    drop(second);
    let seen = hook.seen();
    assert_eq!(
        (seen[0].field("event"), seen[0].status),
        ("firing", Some(500)),
        "{seen:#?}"
    );
    let accepted = hook.accepted("firing");
    assert_eq!(accepted.len(), 1, "{seen:#?}");
    assert_eq!(accepted[0].field("id"), seen[0].field("id"), "the same id");
    assert_eq!(accepted[0].field("id").len(), 32);
    accepted_once_per_id(&seen);
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn resolved_in_flight_and_queued_arrive_after_a_sigkill_and_nothing_fires_again() {
    let scratch = Scratch::new("resolved");
    let hook = Receiver::start(Answer::Status(200));
    let (a, b) = (SmtpServer::start(false), SmtpServer::start(false));
    let listen = listen();
    let config = config(&scratch, &listen, &hook, a.addr, b.addr);
    let state = scratch.path("state.json");

    let first = Agent::start(&config, &listen, &[]);
    wait_until("both firings accepted", BOUND, || {
        hook.accepted("firing").len() == 2
    });
    // Both recover; the receiver holds the first resolved, the second waits behind it.
    hook.set(Answer::Hold);
    a.set_up(true);
    b.set_up(true);
    wait_until("two resolved in the outbox", BOUND, || {
        let outbox = saved_outbox(&state);
        outbox.len() == 2
            && outbox
                .iter()
                .all(|p| p["notification"]["event"] == "resolved")
            && hook.seen().iter().any(|s| s.field("event") == "resolved")
    });
    first.kill();
    hook.set(Answer::Status(200));

    let second = Agent::start(&config, &listen, &[]);
    wait_until("both resolved accepted", BOUND, || {
        hook.accepted("resolved").len() == 2
    });
    wait_until("an empty outbox", BOUND, || saved_outbox(&state).is_empty());
    drop(second);
    let seen = hook.seen();
    let probes = |event: &str| {
        let mut p: Vec<String> = hook
            .accepted(event)
            .iter()
            .map(|s| s.field("probe").to_string())
            .collect();
        p.sort();
        p
    };
    assert_eq!(probes("resolved"), ["a", "b"], "{seen:#?}");
    assert_eq!(probes("firing"), ["a", "b"], "no second firing: {seen:#?}");
    accepted_once_per_id(&seen);
}
