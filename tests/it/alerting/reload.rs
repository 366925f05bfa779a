//! Reloads that change the notifiers: an unchanged endpoint keeps its queue and the delivery
//! under way; a rotated URL takes over the old one's undelivered notifications, oldest first;
//! a new notifier hears of the alerts already firing, then of their resolution.

use super::*;

/// Two failing probes, `mx` and `mx2`, and one webhook `name` at `url`.
fn two_probes(name: &str, url: &str, attempts: u32) -> Config {
    let text = format!(
        "[alerting]\nfailure_threshold = 1\nsuccess_threshold = 1\nretry_attempts = {attempts}\n\
         [[alerting.webhook]]\nname = \"{name}\"\nurl = \"{url}\"\n\
         [[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1:25\"\n\
         [[probe]]\nname = \"mx2\"\ntarget = \"127.0.0.2:25\"\n"
    );
    config::parse(&text, Path::new("a.toml")).expect("valid")
}

/// Both probes fail; the receiver holds its answer to the first, so the second waits behind it.
async fn one_held_one_queued(alerting: &Alerting, cfg: &Config, hook: &mut Receiver) -> String {
    let (down, _) = reports().await;
    hook.script([Answer::new(200, "").held()]);
    alerting.observe(
        &cfg.probes[0],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    let held = hook.next().await.json();
    assert_eq!(held["probe"], "mx");
    alerting.observe(
        &cfg.probes[1],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    held["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_new_policy_keeps_the_queue_and_the_delivery_under_way() {
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let first = two_probes("hook", &hook.url("/h"), 4);
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&first, metrics.clone()).expect("alerting");
    one_held_one_queued(&alerting, &first, &mut hook).await;

    alerting.reconfigure(&two_probes("hook", &hook.url("/h"), 5));
    hook.release();
    assert_eq!(hook.next().await.json()["probe"], "mx2");
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert!(hook.try_next().is_none(), "nothing sent twice");
    assert_eq!(counter(&metrics, "hook", "sent"), 2);
}

#[tokio::test]
async fn a_rotated_url_takes_over_what_the_old_one_had_not_delivered_in_order() {
    let mut old = Receiver::start(Answer::new(200, "")).await;
    let mut new = Receiver::start(Answer::new(200, "")).await;
    let first = two_probes("hook", &old.url("/h"), 4);
    let alerting = Alerting::start(&first, delivery_metrics()).expect("alerting");
    let held_id = one_held_one_queued(&alerting, &first, &mut old).await;

    alerting.reconfigure(&two_probes("hook", &new.url("/h"), 4));
    let a = new.next().await.json();
    let b = new.next().await.json();
    assert_eq!(
        (a["probe"].as_str(), a["id"].as_str(), b["probe"].as_str()),
        (Some("mx"), Some(held_id.as_str()), Some("mx2")),
        "the one in flight first, with its id, then the queued one"
    );
    old.release();
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert!(old.try_next().is_none(), "the old URL gets nothing more");
}

#[tokio::test]
async fn a_notifier_added_by_a_reload_hears_of_firing_alerts_then_of_their_resolution() {
    let (down, up) = reports().await;
    let mut a = Receiver::start(Answer::new(200, "")).await;
    let mut b = Receiver::start(Answer::new(200, "")).await;
    let first = two_probes("a", &a.url("/a"), 4);
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&first, metrics.clone()).expect("alerting");
    alerting.observe(
        &first.probes[0],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    let firing = a.next().await.json();
    assert_eq!(firing["event"], "firing");

    // `a` answers 500 from now on and is then replaced by `b`.
    a.script([
        Answer::new(500, ""),
        Answer::new(500, ""),
        Answer::new(500, ""),
    ]);
    alerting.observe(
        &first.probes[1],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    assert_eq!(a.next().await.json()["probe"], "mx2");
    let second = two_probes("b", &b.url("/b"), 4);
    alerting.reconfigure(&second);
    let mut heard: Vec<(String, String)> = Vec::new();
    for _ in 0..2 {
        let n = b.next().await.json();
        heard.push((
            n["probe"].as_str().unwrap_or("").into(),
            n["event"].as_str().unwrap_or("").into(),
        ));
        if n["probe"] == "mx" {
            assert_eq!(n["id"], firing["id"], "the same firing, the same id");
        }
    }
    heard.sort();
    assert_eq!(
        heard,
        [
            ("mx".into(), "firing".into()),
            ("mx2".into(), "firing".into())
        ]
    );
    alerting.observe(
        &second.probes[0],
        std::slice::from_ref(&up),
        SystemTime::now(),
    );
    let resolved = b.next().await.json();
    assert_eq!(
        (resolved["probe"].as_str(), resolved["event"].as_str()),
        (Some("mx"), Some("resolved"))
    );
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(
        counter(&metrics, "a", "dropped"),
        1,
        "the removed notifier's retrying firing is dropped, and said so"
    );
}
