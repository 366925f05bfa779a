//! A state directory that turns read-only (a bind mount remounted `ro` inside the agent's own
//! mount namespace, so even root cannot write): the firing still goes out and the failed
//! writes are counted; once the directory is writable again the state catches up, the
//! resolution goes out, and a SIGKILL and restart send nothing twice.

use std::process::Command;
use std::time::Duration;

use super::*;

/// Runs `mount ARGS` in the mount namespace of process `pid`.
fn mount_in(pid: u32, args: &[&str]) {
    let status = Command::new("nsenter")
        .args(["--target", &pid.to_string(), "--mount", "--"])
        .args(args)
        .status()
        .expect("nsenter (util-linux)");
    assert!(status.success(), "nsenter {args:?}");
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh (root: it makes a mount namespace)"]
fn a_read_only_state_directory_delays_nothing_and_the_state_catches_up() {
    let scratch = Scratch::new("readonly");
    let dir = scratch.path("state");
    std::fs::create_dir_all(&dir).expect("state dir");
    let state = dir.join("state.json");
    let hook = Receiver::start(Answer::Status(200));
    let smtp = SmtpServer::start(true);
    let listen = format!("127.0.0.1:{}", free_port());
    let text = format!(
        "{}[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n{}",
        head(&listen, &state, ""),
        hook.url("/hook"),
        probe("flaky", smtp.addr),
    );
    let config = scratch.path("probes.toml");
    std::fs::write(&config, text).expect("config");
    let wrapper = ["unshare", "--mount", "--propagation", "private", "--"];
    let agent = Agent::start(&config, &listen, &wrapper);
    let dir_text = dir.to_string_lossy().into_owned();
    mount_in(agent.pid(), &["mount", "--bind", &dir_text, &dir_text]);
    mount_in(agent.pid(), &["mount", "-o", "remount,bind,ro", &dir_text]);

    smtp.set_up(false);
    wait_until(
        "the firing, despite the read-only disk",
        Duration::from_secs(30),
        || !hook.accepted("firing").is_empty(),
    );
    let errors = "smtpwatch_state_write_errors_total";
    wait_until("a counted write error", Duration::from_secs(10), || {
        agent.metric(errors) >= 1.0
    });
    assert!(!state.exists(), "nothing could be written");

    mount_in(agent.pid(), &["umount", &dir_text]);
    smtp.set_up(true);
    wait_until("the resolution", Duration::from_secs(30), || {
        !hook.accepted("resolved").is_empty()
    });
    wait_until(
        "the state written, with nothing left",
        Duration::from_secs(10),
        || state.exists() && saved_outbox(&state).is_empty(),
    );
    agent.kill();

    // Restarted on a consistent state: a round of the healthy probe sends nothing.
    let again = Agent::start(&config, &listen, &[]);
    wait_until("a round after the restart", Duration::from_secs(30), || {
        again.metric("smtpwatch_probe_success{") > 0.0
    });
    drop(again);
    assert_eq!(hook.accepted("firing").len(), 1, "{:#?}", hook.seen());
    assert_eq!(hook.accepted("resolved").len(), 1, "{:#?}", hook.seen());
    accepted_once_per_id(&hook.seen());
}
