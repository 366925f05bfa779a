//! A reload that swaps the notifier's URL (a rotated webhook) while a firing retries against
//! the old one: the new URL gets that firing, with its id, and later its resolution; the old
//! one gets nothing more.

use std::time::Duration;

use super::*;

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn a_reload_swapping_the_notifier_hands_the_retrying_firing_to_the_new_one() {
    let scratch = Scratch::new("reload");
    let old = Receiver::start(Answer::Status(500));
    let new = Receiver::start(Answer::Status(200));
    let smtp = SmtpServer::start(false);
    let listen = format!("127.0.0.1:{}", free_port());
    let config = scratch.path("probes.toml");
    let write = |hook: &Receiver| {
        let text = format!(
            "{}[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n{}",
            head(
                &listen,
                &scratch.path("state.json"),
                "retry_backoff = \"1m\"\nretry_backoff_max = \"1m\""
            ),
            hook.url("/hook"),
            probe("down", smtp.addr),
        );
        std::fs::write(&config, text).expect("config");
    };
    write(&old);
    let agent = Agent::start(&config, &listen, &[]);
    wait_until("the first attempt", Duration::from_secs(30), || {
        !old.seen().is_empty()
    });
    let id = old.seen()[0].field("id").to_string();

    write(&new);
    agent.signal("HUP");
    wait_until("the firing at the new URL", Duration::from_secs(30), || {
        !new.accepted("firing").is_empty()
    });
    smtp.set_up(true);
    wait_until(
        "the resolution at the new URL",
        Duration::from_secs(30),
        || !new.accepted("resolved").is_empty(),
    );
    drop(agent);

    let firing = new.accepted("firing");
    assert_eq!(firing.len(), 1, "{:#?}", new.seen());
    assert_eq!(firing[0].field("id"), id, "the same notification");
    assert_eq!(new.accepted("resolved").len(), 1);
    accepted_once_per_id(&new.seen());
    assert!(
        old.seen()
            .iter()
            .all(|s| s.field("event") == "firing" && s.status == Some(500)),
        "the old URL got only the refused attempts: {:#?}",
        old.seen()
    );
}
