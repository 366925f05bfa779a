//! The outbox: every notification from the moment it is queued for an endpoint until that
//! endpoint accepted it (or refused it, or the retries ran out), kept in the state file with the
//! firing alerts, so a crash or a restart re-delivers it: delivery is at least once, and the
//! notification's `id` lets receivers drop a repeat.
//!
//! State writes are batched on one writer task and done off the event loop: any number of
//! changes while a write runs become one more write. A notification is sent only once a write
//! that holds it is on disk. Should writing fail (a read-only disk), delivery goes on and the
//! failure is counted: an alert late is better than an alert lost to a disk problem.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

use super::notification::Notification;
pub use super::store::Pending;
use super::store::{self, Saved};

/// A place in the outbox, and the write that must be on disk before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    seq: u64,
    generation: u64,
}

/// What the state file holds, taken when a write starts.
pub struct Snapshot {
    /// Where to write (None: no state file configured now).
    pub path: Option<PathBuf>,
    /// The firing alerts.
    pub alerts: Vec<Saved>,
    /// The outbox.
    pub outbox: Vec<Pending>,
}

/// Whatever owns the alert state: the writer asks it for a snapshot.
pub trait StateSource: Send + Sync + 'static {
    /// The whole state, now.
    fn snapshot(&self) -> Snapshot;
    /// A write failed.
    fn write_failed(&self, error: &store::StoreError);
}

/// What waits, by sequence number; numbers are never reused, so a ticket names one entry.
#[derive(Default)]
struct Entries {
    last: u64,
    waiting: BTreeMap<u64, Pending>,
}

/// The outbox and the writer that persists it.
pub struct Outbox {
    entries: Mutex<Entries>,
    requested: watch::Sender<u64>,
    written: watch::Receiver<u64>,
}

impl Outbox {
    /// An empty outbox whose writer asks `source` what to write (needs a tokio runtime).
    pub fn start(source: Weak<dyn StateSource>) -> Arc<Outbox> {
        let (requested, mut wanted) = watch::channel(0u64);
        let (done, written) = watch::channel(0u64);
        tokio::spawn(async move {
            // Ends when the outbox (the only sender) is gone.
            while wanted.changed().await.is_ok() {
                let generation = *wanted.borrow_and_update();
                let Some(source) = source.upgrade() else {
                    return;
                };
                let snapshot = source.snapshot();
                if let Some(path) = snapshot.path {
                    let (alerts, outbox) = (snapshot.alerts, snapshot.outbox);
                    let saved =
                        tokio::task::spawn_blocking(move || store::save(&path, alerts, outbox))
                            .await;
                    if let Ok(Err(e)) = saved {
                        source.write_failed(&e);
                    }
                }
                drop(source);
                let _ = done.send(generation);
            }
        });
        Arc::new(Outbox {
            entries: Mutex::new(Entries::default()),
            requested,
            written,
        })
    }

    /// An outbox that persists nothing and never makes a sender wait (a dispatcher on its own).
    pub fn in_memory() -> Arc<Outbox> {
        struct Nothing;
        impl StateSource for Nothing {
            fn snapshot(&self) -> Snapshot {
                Snapshot {
                    path: None,
                    alerts: Vec::new(),
                    outbox: Vec::new(),
                }
            }
            fn write_failed(&self, _: &store::StoreError) {}
        }
        // A source that is already gone: the writer ends at once, and with it every wait.
        let gone: Weak<dyn StateSource> = Weak::<Nothing>::new();
        Outbox::start(gone)
    }

    /// Asks for a write of the current state; returns the generation that write will reach.
    pub fn save(&self) -> u64 {
        let mut generation = 0;
        self.requested.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        generation
    }

    /// Puts `n` in the outbox for `endpoint` and asks for a write.
    pub fn add(&self, endpoint: &str, n: &Notification) -> Ticket {
        let pending = Pending {
            endpoint: endpoint.to_string(),
            notification: n.clone(),
        };
        let seq = match self.entries.lock() {
            Ok(mut entries) => {
                entries.last += 1;
                let seq = entries.last;
                entries.waiting.insert(seq, pending);
                seq
            }
            Err(_) => 0,
        };
        Ticket {
            seq,
            generation: self.save(),
        }
    }

    /// Takes `ticket` out: delivered, refused, given up or dropped.
    pub fn done(&self, ticket: Ticket) {
        let removed = self
            .entries
            .lock()
            .map(|mut e| e.waiting.remove(&ticket.seq).is_some())
            .unwrap_or(false);
        if removed {
            self.save();
        }
    }

    /// Waits until the write that holds `ticket` is done.
    pub async fn durable(&self, ticket: Ticket) {
        let mut written = self.written.clone();
        // The writer gone (shutdown) means nothing more will be written: do not wait for it.
        let _ = written.wait_for(|w| *w >= ticket.generation).await;
    }

    /// Everything waiting, oldest first.
    pub fn pending(&self) -> Vec<Pending> {
        self.entries
            .lock()
            .map(|e| e.waiting.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits until every change asked for so far is written.
    pub async fn flush(&self) {
        let generation = *self.requested.borrow();
        let mut written = self.written.clone();
        let _ = written.wait_for(|w| *w >= generation).await;
    }
}
