//! One endpoint's worker: takes its queue in order, waits until each notification is on disk,
//! delivers it with retries and backoff, and frees its place in the outbox.

use std::sync::Arc;
use std::time::Duration;

use super::super::deliver::{deliver, Attempt, Item};
use super::sink::{Shared, Sink};

/// Runs `sink`'s queue until shutdown empties it or a stop (shutdown, retirement) ends it.
pub(super) async fn work(sink: Arc<Sink>, shared: Arc<Shared>) {
    // The sinks this one replaces hand over first (they stop promptly: they are retired).
    for predecessor in &sink.predecessors {
        predecessor.cancelled().await;
    }
    loop {
        let wake = sink.wake.notified();
        let Some(queued) = sink.pop(&shared) else {
            if sink.is_closed() {
                break;
            }
            tokio::select! {
                _ = wake => continue,
                _ = sink.stop.cancelled() => break,
            }
        };
        if let Some(ticket) = queued.ticket {
            // Never send what a crash could forget: the outbox write comes first.
            tokio::select! {
                _ = shared.outbox.durable(ticket) => {}
                _ = sink.stop.cancelled() => {
                    sink.leave(&shared, queued);
                    break;
                }
            }
        }
        if !deliver_with_retries(&sink, &shared, &queued.item).await {
            // Stopped mid-way: the item stays in the outbox (shutdown) or moves (retired).
            sink.leave(&shared, queued);
            break;
        }
        if let Some(ticket) = queued.ticket {
            shared.outbox.done(ticket);
        }
    }
    sink.finished.cancel();
}

/// Delivers `item` to `sink`'s endpoint: retries with backoff until delivered, refused or out
/// of attempts (each outcome counted); false when stopped first.
async fn deliver_with_retries(sink: &Sink, shared: &Shared, item: &Item) -> bool {
    let notifier = sink.notifier();
    let count = |outcome: &str| {
        shared
            .metrics
            .notifications
            .with_label_values(&[notifier, outcome])
            .inc()
    };
    let policy = shared.policy();
    let mut delay = policy.backoff;
    for attempt in 1..=policy.attempts {
        let result = tokio::select! {
            r = deliver(&shared.client, &sink.endpoint, item, &policy) => r,
            _ = sink.stop.cancelled() => return false,
        };
        let (wait, why) = match result {
            Attempt::Delivered => {
                count("sent");
                return true;
            }
            Attempt::Refused(why) => {
                count("failed");
                tracing::warn!(notifier, url = %sink.endpoint.redacted_url(), error = %why, "notification refused; not retrying");
                return true;
            }
            Attempt::Retry(after, why) => (after.unwrap_or_else(|| jitter(delay)), why),
        };
        if attempt == policy.attempts {
            count("failed");
            tracing::warn!(notifier, url = %sink.endpoint.redacted_url(), attempts = attempt, error = %why, "notification not delivered; giving up");
            return true;
        }
        count("retried");
        tracing::info!(notifier, error = %why, retry_in = ?wait, "notification delivery failed; will retry");
        delay = (delay * 2).min(policy.backoff_max);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = sink.stop.cancelled() => return false,
        }
    }
    true
}

/// `d` ± 20 %.
fn jitter(d: Duration) -> Duration {
    use ring::rand::SecureRandom;
    let mut byte = [0u8; 1];
    let random = ring::rand::SystemRandom::new()
        .fill(&mut byte)
        .map_or(128, |_| byte[0]);
    // 0..=255 → 0.8..=1.2
    d.mul_f64(0.8 + 0.4 * f64::from(random) / 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
