//! The scheduler's table: every job in a slot of its own, found by name, and the heap of their
//! next starts. A slot's generation changes whenever it is emptied, so a start planned for a job
//! that a reload removed or replaced is recognised and dropped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One job in the table: what it is, when its slots fall, and its round in flight.
pub(super) struct Entry<J> {
    pub job: Arc<J>,
    /// Its first slot (base + offset); slot `k` is `first + k × interval` (+ jitter).
    pub first: Instant,
    /// Cancels the round in flight (or its wait for a permit): a reload removed the job.
    pub round: Option<CancellationToken>,
    /// The last job set (`Table::applies`) that had this job: what a reload did not mark goes.
    pub applied: u64,
}

/// A place in the table. Its generation changes whenever the place is emptied, so heap items of
/// a job that a reload removed or replaced are recognised and dropped.
pub(super) struct Slot<J> {
    generation: u32,
    pub entry: Option<Entry<J>>,
}

/// A planned start: when, which place of the table, and of which generation.
pub(super) type Due = Reverse<(Instant, u32, u32)>;

/// Every job, and the heap of their next starts.
pub(super) struct Table<J> {
    pub slots: Vec<Slot<J>>,
    free: Vec<u32>,
    pub by_name: HashMap<String, u32>,
    pub heap: BinaryHeap<Due>,
    /// When the driver means to wake next (None: it waits for news).
    pub wake_at: Option<Instant>,
    /// How many job sets have been applied.
    pub applies: u64,
    /// The window of the first job set's first rounds ([`super::FIRST_ROUND_WINDOW`]).
    pub first_window: std::time::Duration,
}

impl<J> Table<J> {
    pub fn new() -> Table<J> {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            by_name: HashMap::new(),
            heap: BinaryHeap::new(),
            wake_at: None,
            applies: 0,
            first_window: std::time::Duration::ZERO,
        }
    }

    /// Adds `job` under `name`, its slots counted from `first`, to start at `at`.
    pub fn insert(&mut self, name: String, job: Arc<J>, first: Instant, at: Instant) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                entry: None,
            });
            (self.slots.len() - 1) as u32
        });
        self.by_name.insert(name, index);
        let slot = &mut self.slots[index as usize];
        slot.entry = Some(Entry {
            job,
            first,
            round: None,
            applied: self.applies,
        });
        self.heap.push(Reverse((at, index, slot.generation)));
    }

    /// Takes the job named `name` out; its round in flight (if any) is cancelled.
    pub fn remove(&mut self, name: &str) {
        let Some(index) = self.by_name.remove(name) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if let Some(round) = slot.entry.take().and_then(|e| e.round) {
                round.cancel();
            }
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(index);
        }
    }

    /// The job at `index` if it is still the one of `generation`.
    pub fn live(&mut self, index: u32, generation: u32) -> Option<&mut Entry<J>> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        slot.entry.as_mut()
    }
}
