//! Delivery: one bounded queue and one worker per notifier endpoint, so a slow or dead
//! receiver delays only its own notifications and never a probe.
//!
//! - Queue full: the oldest `reminder` goes first, then the oldest other non-`resolved`
//!   item; a `resolved` is never dropped (the queue may exceed its size by resolved items
//!   only, which are bounded by the number of alerts). A queued Alertmanager re-send is
//!   replaced by a newer one.
//! - What [`deliver`](super::deliver) says is worth retrying is retried with exponential
//!   backoff (±20 % jitter) up to `retry_attempts`, or after the receiver's `Retry-After`.
//! - A reload keeps every endpoint whose notifier, URL and settings are unchanged, with its
//!   queue and the delivery under way. An endpoint that goes is retired: what it holds (its
//!   queue, then the notification it was delivering, first in line) moves to the new endpoints
//!   of the same notifier name (a rotated URL or secret, another Alertmanager peer), which
//!   start only once it has, so the order holds. A notifier whose name is gone takes its
//!   undelivered notifications with it (counted as dropped, logged).

mod sink;
mod worker;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::sink::{Place, Queued, Shared, Sink};
use super::deliver::{Endpoint, Item, Policy};
pub use super::delivery_metrics::DeliveryMetrics;
use super::notification::Notification;
use super::outbox::Outbox;
use crate::config::NotifierConfig;

/// Every endpoint's queue and worker.
pub struct Dispatcher {
    sinks: RwLock<Vec<Arc<Sink>>>,
    shared: Arc<Shared>,
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
        let dispatcher = Dispatcher {
            sinks: RwLock::new(Vec::new()),
            shared: Arc::new(Shared {
                client,
                policy: RwLock::new(policy),
                metrics,
                outbox,
            }),
            stop: CancellationToken::new(),
            workers: TaskTracker::new(),
        };
        let sinks = notifiers
            .iter()
            .flat_map(Endpoint::of)
            .map(|endpoint| dispatcher.spawn(endpoint, Vec::new()))
            .collect();
        if let Ok(mut slot) = dispatcher.sinks.write() {
            *slot = sinks;
        }
        dispatcher
    }

    /// A sink for `endpoint` and its worker, which starts after `predecessors` finished.
    fn spawn(&self, endpoint: Endpoint, predecessors: Vec<CancellationToken>) -> Arc<Sink> {
        let metrics = &self.shared.metrics;
        metrics
            .queue_length
            .with_label_values(&[&endpoint.notifier]);
        for outcome in ["sent", "failed", "retried", "dropped"] {
            metrics
                .notifications
                .with_label_values(&[endpoint.notifier.as_str(), outcome]);
        }
        let sink = Arc::new(Sink::new(endpoint, self.stop.child_token(), predecessors));
        self.workers
            .spawn(worker::work(sink.clone(), self.shared.clone()));
        sink
    }

    fn sinks(&self) -> Vec<Arc<Sink>> {
        match self.sinks.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Queues `n` for every endpoint whose notifier `route` accepts, in the outbox first.
    pub fn send(&self, n: Notification, route: &dyn Fn(&str) -> bool) {
        let n = Arc::new(n);
        // Under the read lock: a reload waits, so nothing lands in a sink it just retired.
        let Ok(sinks) = self.sinks.read() else {
            return;
        };
        for sink in sinks.iter().filter(|s| route(s.notifier())) {
            self.enqueue(sink, &n);
        }
    }

    /// Puts `n` in the outbox for `sink`, then in its queue.
    fn enqueue(&self, sink: &Sink, n: &Arc<Notification>) {
        let ticket = self.shared.outbox.add(&sink.key, n);
        let queued = Queued {
            item: Item::One(n.clone()),
            ticket: Some(ticket),
        };
        sink.accept(&self.shared, queued, Place::Back);
    }

    /// Queues a notification the outbox held at start for its endpoint or, when that endpoint
    /// is no longer configured, for every endpoint of the same notifier; false when the
    /// notifier is gone.
    pub fn requeue(&self, endpoint: &str, n: Notification) -> bool {
        let sinks = self.sinks();
        let notifier = endpoint.rsplit_once(':').map_or(endpoint, |(name, _)| name);
        let exact: Vec<&Arc<Sink>> = sinks.iter().filter(|s| s.key == endpoint).collect();
        let chosen = if exact.is_empty() {
            sinks.iter().filter(|s| s.notifier() == notifier).collect()
        } else {
            exact
        };
        let n = Arc::new(n);
        for sink in &chosen {
            self.enqueue(sink, &n);
        }
        !chosen.is_empty()
    }

    /// Queues a re-send of `firing` for every Alertmanager endpoint; `route(notifier, n)`
    /// says which alerts go to which notifier.
    pub fn resend(&self, firing: &[Notification], route: &dyn Fn(&str, &Notification) -> bool) {
        for sink in self.sinks().iter().filter(|s| s.endpoint.is_alertmanager()) {
            let mine: Vec<Notification> = firing
                .iter()
                .filter(|n| route(sink.notifier(), n))
                .cloned()
                .collect();
            if !mine.is_empty() {
                let item = Item::Resend(Arc::new(mine));
                sink.accept(&self.shared, Queued { item, ticket: None }, Place::Back);
            }
        }
    }

    /// Applies reloaded notifiers and policy (see the module notes); returns the names of the
    /// notifiers that are new, which have not heard of the alerts already firing.
    pub fn reconfigure(&self, notifiers: &[NotifierConfig], policy: Policy) -> Vec<String> {
        if let Ok(mut slot) = self.shared.policy.write() {
            *slot = policy;
        }
        let Ok(mut sinks) = self.sinks.write() else {
            return Vec::new();
        };
        let before: BTreeSet<String> = sinks.iter().map(|s| s.notifier().to_string()).collect();
        let wanted: Vec<Endpoint> = notifiers.iter().flat_map(Endpoint::of).collect();
        let (kept, gone): (Vec<Arc<Sink>>, Vec<Arc<Sink>>) =
            sinks.drain(..).partition(|s| wanted.contains(&s.endpoint));
        let mut next = Vec::new();
        let mut fresh = Vec::new();
        for endpoint in wanted {
            if let Some(same) = kept.iter().find(|s| s.endpoint == endpoint) {
                next.push(same.clone());
                continue;
            }
            let predecessors = gone
                .iter()
                .filter(|g| g.notifier() == endpoint.notifier)
                .map(|g| g.finished.clone())
                .collect();
            let sink = self.spawn(endpoint, predecessors);
            fresh.push(sink.clone());
            next.push(sink);
        }
        for old in gone {
            let heirs = fresh
                .iter()
                .filter(|s| s.notifier() == old.notifier())
                .cloned()
                .collect();
            old.retire(heirs, &self.shared);
        }
        let added = next
            .iter()
            .map(|s| s.notifier().to_string())
            .filter(|name| !before.contains(name))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        *sinks = next;
        added
    }

    /// Stops taking work, lets queued notifications go out for up to `grace`, then cancels
    /// (what is left stays in the outbox).
    pub async fn close(&self, grace: Duration) -> bool {
        for sink in self.sinks() {
            sink.close();
        }
        self.workers.close();
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
        self.stop.cancel();
    }
}
