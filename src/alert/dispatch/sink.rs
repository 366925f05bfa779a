//! One endpoint's queue: what waits for its worker, the queue-full rule, and the hand-over to
//! the endpoints that replace it when a reload retires it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::super::deliver::{Endpoint, Item, Policy};
use super::super::outbox::{Outbox, Ticket};
use super::DeliveryMetrics;

/// What every sink of a dispatcher shares.
pub(super) struct Shared {
    pub client: reqwest::Client,
    pub policy: RwLock<Policy>,
    pub metrics: DeliveryMetrics,
    pub outbox: Arc<Outbox>,
}

impl Shared {
    pub fn policy(&self) -> Policy {
        match self.policy.read() {
            Ok(p) => *p,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn queue_length(&self, notifier: &str, change: i64) {
        self.metrics
            .queue_length
            .with_label_values(&[notifier])
            .add(change);
    }
}

/// A queued item and its place in the outbox (re-sends have none: they are made again).
pub(super) struct Queued {
    pub item: Item,
    pub ticket: Option<Ticket>,
}

/// Where a queued item goes in its new queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// After everything: a new notification.
    Back,
    /// Before everything: the one the retired worker was delivering, the oldest.
    Front,
}

/// The queue and worker of one endpoint.
pub(super) struct Sink {
    pub endpoint: Endpoint,
    pub key: String,
    queue: Mutex<VecDeque<Queued>>,
    pub wake: Notify,
    /// No more work comes (shutdown): the worker ends once the queue is empty.
    closed: AtomicBool,
    /// Stops this sink's worker alone (a reload retired it) or with the others (shutdown).
    pub stop: CancellationToken,
    /// Set when a reload retired this sink: the new endpoints of the same notifier, which
    /// take over what it still holds (none: the notifier is gone, and so is its work).
    heirs: Mutex<Option<Vec<Arc<Sink>>>>,
    /// Cancelled when the worker has ended, after handing over what it held.
    pub finished: CancellationToken,
    /// The `finished` of the retired sinks this one takes over from: its worker starts after
    /// them, so their older notifications go first.
    pub predecessors: Vec<CancellationToken>,
}

impl Sink {
    pub fn new(
        endpoint: Endpoint,
        stop: CancellationToken,
        predecessors: Vec<CancellationToken>,
    ) -> Sink {
        Sink {
            key: endpoint.key(),
            endpoint,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            stop,
            heirs: Mutex::new(None),
            finished: CancellationToken::new(),
            predecessors,
        }
    }

    pub fn notifier(&self) -> &str {
        &self.endpoint.notifier
    }

    /// Shutdown: take no more, end when empty.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The next item for the worker.
    pub fn pop(&self, shared: &Shared) -> Option<Queued> {
        let next = self.queue.lock().ok()?.pop_front();
        if next.is_some() {
            shared.queue_length(self.notifier(), -1);
        }
        next
    }

    /// Queues `queued` here, or passes it to the heirs when this sink is retired.
    pub fn accept(&self, shared: &Shared, queued: Queued, place: Place) {
        let Ok(slot) = self.heirs.lock() else {
            return;
        };
        match slot.clone() {
            Some(heirs) => {
                drop(slot);
                hand_over(self.notifier(), &heirs, shared, queued, place);
            }
            // Pushed under the heirs lock, as `retire` drains under it: an item is either
            // drained with the queue or handed over, never left in a retired queue.
            None => self.push(shared, queued, place),
        }
    }

    /// Retires this sink in favour of `heirs`: they get its queue now and, once the worker
    /// stops, the item it was delivering.
    pub fn retire(&self, heirs: Vec<Arc<Sink>>, shared: &Shared) {
        let drained: Vec<Queued> = {
            let Ok(mut slot) = self.heirs.lock() else {
                return;
            };
            *slot = Some(heirs.clone());
            // Under the heirs lock: nothing enters the queue once it is drained.
            self.queue
                .lock()
                .map(|mut q| q.drain(..).collect())
                .unwrap_or_default()
        };
        shared.queue_length(self.notifier(), -(drained.len() as i64));
        for queued in drained {
            hand_over(self.notifier(), &heirs, shared, queued, Place::Back);
        }
        self.stop.cancel();
    }

    /// The worker stopped holding `queued`: a retired sink hands it on; at shutdown it stays
    /// in the outbox for the next start.
    pub fn leave(&self, shared: &Shared, queued: Queued) {
        let heirs = self.heirs.lock().ok().and_then(|h| h.clone());
        if let Some(heirs) = heirs {
            hand_over(self.notifier(), &heirs, shared, queued, Place::Front);
        }
    }

    fn push(&self, shared: &Shared, queued: Queued, place: Place) {
        let notifier = self.notifier();
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        if matches!(queued.item, Item::Resend(_)) {
            if let Some(i) = queue.iter().position(|q| matches!(q.item, Item::Resend(_))) {
                queue.remove(i);
                shared.queue_length(notifier, -1);
            }
        }
        if place == Place::Back && queue.len() >= shared.policy().queue_size {
            let victim = queue
                .iter()
                .position(|q| q.item.is_reminder())
                .or_else(|| queue.iter().position(|q| !q.item.is_resolved()));
            match victim {
                Some(i) => {
                    shared.queue_length(notifier, -1);
                    if let Some(dropped) = queue.remove(i) {
                        drop_item(
                            notifier,
                            shared,
                            dropped,
                            "notification queue full; dropped one",
                        );
                    }
                }
                // Only resolved items are queued: a new non-resolved one is the one to go.
                None if !queued.item.is_resolved() => {
                    drop_item(
                        notifier,
                        shared,
                        queued,
                        "notification queue full; dropped one",
                    );
                    return;
                }
                // Only resolved items, and another resolved: none is ever dropped.
                None => {}
            }
        }
        match place {
            Place::Back => queue.push_back(queued),
            Place::Front => queue.push_front(queued),
        }
        shared.queue_length(notifier, 1);
        self.wake.notify_one();
    }
}

/// Gives `queued` from a retired sink of `notifier` to each of `heirs` (a place of its own in
/// the outbox for each, before its old place is freed); with no heir it is dropped.
fn hand_over(notifier: &str, heirs: &[Arc<Sink>], shared: &Shared, queued: Queued, place: Place) {
    if heirs.is_empty() {
        drop_item(
            notifier,
            shared,
            queued,
            "the notifier was removed; its undelivered notification is dropped",
        );
        return;
    }
    // Re-sends are made again by the re-send loop; only notifications move.
    if let Item::One(n) = &queued.item {
        for heir in heirs {
            let ticket = shared.outbox.add(&heir.key, n);
            let item = Item::One(n.clone());
            heir.accept(
                shared,
                Queued {
                    item,
                    ticket: Some(ticket),
                },
                place,
            );
        }
    }
    if let Some(ticket) = queued.ticket {
        shared.outbox.done(ticket);
    }
}

/// Drops `queued`: counted, logged, out of the outbox.
pub(super) fn drop_item(notifier: &str, shared: &Shared, queued: Queued, why: &str) {
    shared
        .metrics
        .notifications
        .with_label_values(&[notifier, "dropped"])
        .inc();
    let what = match &queued.item {
        Item::One(n) => n.title(),
        Item::Resend(_) => "re-send".to_string(),
    };
    tracing::warn!(notifier, dropped = %what, "{why}");
    if let Some(ticket) = queued.ticket {
        shared.outbox.done(ticket);
    }
}
