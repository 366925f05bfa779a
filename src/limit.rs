//! A concurrency limit that can be resized while permits are held: the scheduler's rounds and
//! the probes' connections both count against `concurrency`, which a reload may change.
//!
//! A semaphore can only forget the permits that are free. Shrinking while they are held records
//! a debt, paid by the next permits to come back (each is forgotten instead of released), and
//! growing pays the debt before adding permits: 2 → 1 → 2 under load ends with 2, never 3.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A resizable limit; clones share it.
#[derive(Clone, Debug)]
pub struct Limit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    permits: Arc<Semaphore>,
    /// The size the limit should have.
    size: Mutex<usize>,
    /// Permits still to be taken out of circulation after a shrink.
    debt: AtomicUsize,
}

/// One unit of the limit, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Limit {
    /// A limit of `size` (at least 1).
    pub fn new(size: usize) -> Limit {
        let size = size.max(1);
        Limit {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(size)),
                size: Mutex::new(size),
                debt: AtomicUsize::new(0),
            }),
        }
    }

    /// Waits for a unit of the limit.
    pub async fn acquire(&self) -> Permit {
        loop {
            let permit = match self.inner.permits.clone().acquire_owned().await {
                Ok(permit) => permit,
                // The semaphore is never closed; should it be, do not block probing forever.
                Err(_) => continue,
            };
            if let Some(permit) = self.unless_owed(permit) {
                return permit;
            }
        }
    }

    /// `permit`, or None when it pays off a shrink's debt instead (it is then forgotten).
    fn unless_owed(&self, permit: OwnedSemaphorePermit) -> Option<Permit> {
        let debt = &self.inner.debt;
        if debt
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
            .is_ok()
        {
            permit.forget();
            return None;
        }
        Some(Permit { _permit: permit })
    }

    /// A unit of the limit if one is free now (a request beyond the limit is refused, not
    /// queued).
    pub fn try_acquire(&self) -> Option<Permit> {
        loop {
            let permit = self.inner.permits.clone().try_acquire_owned().ok()?;
            if let Some(permit) = self.unless_owed(permit) {
                return Some(permit);
            }
        }
    }

    /// Changes the size (at least 1); permits held now stay valid.
    pub fn resize(&self, size: usize) {
        let size = size.max(1);
        let Ok(mut current) = self.inner.size.lock() else {
            return;
        };
        if size > *current {
            let mut grow = size - *current;
            let debt = &self.inner.debt;
            while grow > 0 {
                match debt.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1)) {
                    Ok(_) => grow -= 1,
                    Err(_) => break,
                }
            }
            self.inner.permits.add_permits(grow);
        } else if size < *current {
            let shrink = *current - size;
            let forgotten = self.inner.permits.forget_permits(shrink);
            self.inner
                .debt
                .fetch_add(shrink - forgotten, Ordering::SeqCst);
        }
        *current = size;
    }

    /// The size.
    pub fn size(&self) -> usize {
        self.inner.size.lock().map(|s| *s).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many permits can be held at once right now.
    fn holdable(limit: &Limit) -> usize {
        let mut held = Vec::new();
        while let Ok(p) = limit.inner.permits.clone().try_acquire_owned() {
            held.push(p);
        }
        held.len()
            .saturating_sub(limit.inner.debt.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn shrinking_while_held_then_growing_never_leaks_a_permit() {
        let limit = Limit::new(2);
        let (a, b) = (limit.acquire().await, limit.acquire().await);
        limit.resize(1);
        limit.resize(2);
        limit.resize(1);
        drop((a, b));
        assert_eq!(holdable(&limit), 1, "1 after 2 → 1 → 2 → 1 under load");
        limit.resize(3);
        assert_eq!(holdable(&limit), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permits_returned_after_a_shrink_pay_the_debt() {
        let limit = Limit::new(3);
        let held = [
            limit.acquire().await,
            limit.acquire().await,
            limit.acquire().await,
        ];
        limit.resize(1);
        drop(held);
        let first = limit.acquire().await;
        let second = tokio::time::timeout(std::time::Duration::from_millis(20), limit.acquire());
        assert!(
            second.await.is_err(),
            "only one permit after shrinking to 1"
        );
        drop(first);
        assert_eq!(limit.size(), 1);
    }
}
