//! systemd integration (`Type=notify`): `READY=1` once the configuration is loaded and the
//! scheduler runs, `STOPPING=1` when shutdown begins, and `WATCHDOG=1` pings while the agent's
//! event loop is alive, when the unit sets `WatchdogSec=`.
//!
//! Every call is a no-op outside systemd (no `NOTIFY_SOCKET`), so tests and shells are
//! unaffected. A notification that cannot be sent is logged, never fatal.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// The agent is up: configuration loaded, scheduler running, listener bound.
pub fn ready(probes: usize) {
    let status = format!("probing {probes} targets");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Shutdown has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings systemd's watchdog at half the configured interval until `stop`, as long as
/// `alive()` says so. The ping runs on the agent's own (single-threaded) runtime, so a stuck
/// event loop stops the pings and systemd restarts the service.
pub fn spawn_watchdog(alive: impl Fn() -> bool + Send + 'static, stop: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if alive() {
                        send(&[NotifyState::Watchdog]);
                    }
                }
                _ = stop.cancelled() => return,
            }
        }
    });
}
