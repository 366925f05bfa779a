//! Delivery: one bounded queue and one worker per notifier endpoint, so a slow or dead
//! receiver delays only its own notifications and never a probe.
//!
//! - Queue full: the oldest `reminder` goes first, then the oldest other non-`resolved`
//!   item; a `resolved` is never dropped (the queue may exceed its size by resolved items
//!   only, which are bounded by the number of alerts). A queued Alertmanager re-send is
//!   replaced by a newer one.
//! - What [`deliver`] says is worth retrying is retried with exponential backoff (±20 %
//!   jitter) up to `retry_attempts`, or after the receiver's `Retry-After`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::deliver::{deliver, Attempt, Endpoint, Item, Policy};
pub use super::delivery_metrics::DeliveryMetrics;
use super::notification::Notification;
use super::outbox::{Outbox, Ticket};
use crate::config::NotifierConfig;

/// A queued item and its place in the outbox (re-sends have none: they are made again).
struct Queued {
    item: Item,
    ticket: Option<Ticket>,
}

/// The queue and worker of one endpoint.
struct Sink {
    endpoint: Endpoint,
    key: String,
    queue: Mutex<VecDeque<Queued>>,
    wake: Notify,
    closed: AtomicBool,
}

/// Every endpoint's queue and worker.
pub struct Dispatcher {
    sinks: Vec<Arc<Sink>>,
    metrics: DeliveryMetrics,
    policy: Policy,
    outbox: Arc<Outbox>,
    stop: CancellationToken,
    workers: TaskTracker,
}

impl Dispatcher {
    /// Starts one worker per endpoint of `notifiers` (needs a tokio runtime).
    pub fn start(
        notifiers: &[NotifierConfig],
        policy: Policy,
        client: reqwest::Client,
        metrics: DeliveryMetrics,
        outbox: Arc<Outbox>,
    ) -> Dispatcher {
        let stop = CancellationToken::new();
        let workers = TaskTracker::new();
        let mut sinks = Vec::new();
        for endpoint in notifiers.iter().flat_map(Endpoint::of) {
            metrics
                .queue_length
                .with_label_values(&[&endpoint.notifier]);
            for outcome in ["sent", "failed", "retried", "dropped"] {
                metrics
                    .notifications
                    .with_label_values(&[endpoint.notifier.as_str(), outcome]);
            }
            let sink = Arc::new(Sink {
                key: endpoint.key(),
                endpoint,
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
            });
            workers.spawn(work(
                sink.clone(),
                client.clone(),
                policy,
                metrics.clone(),
                outbox.clone(),
                stop.clone(),
            ));
            sinks.push(sink);
        }
        workers.close();
        Dispatcher {
            sinks,
            metrics,
            policy,
            outbox,
            stop,
            workers,
        }
    }

    /// Queues `n` for every endpoint whose notifier `route` accepts, in the outbox first.
    pub fn send(&self, n: Notification, route: &dyn Fn(&str) -> bool) {
        let n = Arc::new(n);
        for sink in self.sinks.iter().filter(|s| route(&s.endpoint.notifier)) {
            let ticket = self.outbox.add(&sink.key, &n);
            self.push(
                sink,
                Queued {
                    item: Item::One(n.clone()),
                    ticket: Some(ticket),
                },
            );
        }
    }

    /// Queues a notification the outbox held (a restart, a reload) for its endpoint; false when
    /// this dispatcher has no such endpoint.
    pub fn requeue(&self, endpoint: &str, n: Notification) -> bool {
        let Some(sink) = self.sinks.iter().find(|s| s.key == endpoint) else {
            return false;
        };
        let ticket = self.outbox.add(&sink.key, &n);
        let item = Item::One(Arc::new(n));
        self.push(
            sink,
            Queued {
                item,
                ticket: Some(ticket),
            },
        );
        true
    }

    /// Takes every queued notification out (for a dispatcher that replaces this one), each
    /// with its endpoint; what is being delivered right now stays with its worker.
    pub fn take_queued(&self) -> Vec<(String, Notification)> {
        let mut taken = Vec::new();
        for sink in &self.sinks {
            let Ok(mut queue) = sink.queue.lock() else {
                continue;
            };
            for queued in queue.drain(..) {
                self.metrics
                    .queue_length
                    .with_label_values(&[&sink.endpoint.notifier])
                    .dec();
                if let Some(ticket) = queued.ticket {
                    self.outbox.done(ticket);
                }
                if let Item::One(n) = queued.item {
                    taken.push((sink.key.clone(), n.as_ref().clone()));
                }
            }
        }
        taken
    }

    /// Queues a re-send of `firing` for every Alertmanager endpoint; `route(notifier, n)`
    /// says which alerts go to which notifier.
    pub fn resend(&self, firing: &[Notification], route: &dyn Fn(&str, &Notification) -> bool) {
        for sink in self.sinks.iter().filter(|s| s.endpoint.is_alertmanager()) {
            let mine: Vec<Notification> = firing
                .iter()
                .filter(|n| route(&sink.endpoint.notifier, n))
                .cloned()
                .collect();
            if !mine.is_empty() {
                let item = Item::Resend(Arc::new(mine));
                self.push(sink, Queued { item, ticket: None });
            }
        }
    }

    fn push(&self, sink: &Sink, queued: Queued) {
        let notifier = sink.endpoint.notifier.as_str();
        let Ok(mut queue) = sink.queue.lock() else {
            return;
        };
        if matches!(queued.item, Item::Resend(_)) {
            if let Some(i) = queue.iter().position(|q| matches!(q.item, Item::Resend(_))) {
                queue.remove(i);
                self.metrics
                    .queue_length
                    .with_label_values(&[notifier])
                    .dec();
            }
        }
        if queue.len() >= self.policy.queue_size {
            let victim = queue
                .iter()
                .position(|q| q.item.is_reminder())
                .or_else(|| queue.iter().position(|q| !q.item.is_resolved()));
            match victim {
                Some(i) => {
                    self.metrics
                        .queue_length
                        .with_label_values(&[notifier])
                        .dec();
                    if let Some(dropped) = queue.remove(i) {
                        self.drop_queued(notifier, dropped);
                    }
                }
                // Only resolved items are queued: a new non-resolved one is the one to go.
                None if !queued.item.is_resolved() => {
                    self.drop_queued(notifier, queued);
                    return;
                }
                // Only resolved items, and another resolved: none is ever dropped.
                None => {}
            }
        }
        self.enqueue(sink, &mut queue, queued);
    }

    /// Drops `queued` for a full queue: counted, logged, out of the outbox.
    fn drop_queued(&self, notifier: &str, queued: Queued) {
        self.metrics
            .notifications
            .with_label_values(&[notifier, "dropped"])
            .inc();
        let what = match &queued.item {
            Item::One(n) => n.title(),
            Item::Resend(_) => "re-send".to_string(),
        };
        tracing::warn!(notifier, dropped = %what, "notification queue full; dropped one");
        if let Some(ticket) = queued.ticket {
            self.outbox.done(ticket);
        }
    }

    fn enqueue(&self, sink: &Sink, queue: &mut VecDeque<Queued>, queued: Queued) {
        queue.push_back(queued);
        self.metrics
            .queue_length
            .with_label_values(&[sink.endpoint.notifier.as_str()])
            .inc();
        sink.wake.notify_one();
    }

    /// Stops taking work, lets queued notifications go out for up to `grace`, then cancels.
    pub async fn close(&self, grace: Duration) -> bool {
        for sink in &self.sinks {
            sink.closed.store(true, Ordering::SeqCst);
            sink.wake.notify_one();
        }
        let drained = tokio::time::timeout(grace, self.workers.wait())
            .await
            .is_ok();
        self.stop.cancel();
        self.workers.wait().await;
        drained
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for sink in &self.sinks {
            sink.closed.store(true, Ordering::SeqCst);
            sink.wake.notify_one();
        }
    }
}

async fn work(
    sink: Arc<Sink>,
    client: reqwest::Client,
    policy: Policy,
    metrics: DeliveryMetrics,
    outbox: Arc<Outbox>,
    stop: CancellationToken,
) {
    let notifier = sink.endpoint.notifier.clone();
    let count = |outcome: &str| {
        metrics
            .notifications
            .with_label_values(&[notifier.as_str(), outcome])
            .inc()
    };
    loop {
        let wake = sink.wake.notified();
        let next = sink.queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some(Queued { item, ticket }) = next else {
            if sink.closed.load(Ordering::SeqCst) {
                return;
            }
            tokio::select! {
                _ = wake => continue,
                _ = stop.cancelled() => return,
            }
        };
        metrics.queue_length.with_label_values(&[&notifier]).dec();
        if let Some(ticket) = ticket {
            // Never send what a crash could forget: the outbox write comes first.
            tokio::select! {
                _ = outbox.durable(ticket) => {}
                _ = stop.cancelled() => return,
            }
        }
        deliver_with_retries(&sink, &client, &item, &policy, &count, &stop).await;
        // Cancelled mid-way (shutdown) leaves the item in the outbox, for the next start.
        if stop.is_cancelled() {
            return;
        }
        if let Some(ticket) = ticket {
            outbox.done(ticket);
        }
    }
}

/// Delivers `item` to `sink`'s endpoint: retries with backoff until delivered, refused or out
/// of attempts (each outcome counted), or `stop`.
async fn deliver_with_retries(
    sink: &Sink,
    client: &reqwest::Client,
    item: &Item,
    policy: &Policy,
    count: &(dyn Fn(&str) + Sync),
    stop: &CancellationToken,
) {
    let notifier = sink.endpoint.notifier.as_str();
    {
        let mut delay = policy.backoff;
        for attempt in 1..=policy.attempts {
            let result = tokio::select! {
                r = deliver(client, &sink.endpoint, item, policy) => r,
                _ = stop.cancelled() => return,
            };
            let (wait, why) = match result {
                Attempt::Delivered => {
                    count("sent");
                    break;
                }
                Attempt::Refused(why) => {
                    count("failed");
                    tracing::warn!(notifier, url = %sink.endpoint.redacted_url(), error = %why, "notification refused; not retrying");
                    break;
                }
                Attempt::Retry(after, why) => (after.unwrap_or_else(|| jitter(delay)), why),
            };
            if attempt == policy.attempts {
                count("failed");
                tracing::warn!(notifier, url = %sink.endpoint.redacted_url(), attempts = attempt, error = %why, "notification not delivered; giving up");
                break;
            }
            count("retried");
            tracing::info!(notifier, error = %why, retry_in = ?wait, "notification delivery failed; will retry");
            delay = (delay * 2).min(policy.backoff_max);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
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
