//! The delivery counters (`smtpwatch_notifications_total`, the queue lengths, the state file's
//! errors), registered by alerting itself on the agent's registry.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Counters the dispatcher keeps, registered on the agent's registry.
#[derive(Clone)]
pub struct DeliveryMetrics {
    /// `smtpwatch_notifications_total{notifier,outcome}`; outcome is `sent`, `failed`
    /// (given up or refused), `retried` (one per retry) or `dropped` (queue overflow).
    pub notifications: IntCounterVec,
    /// `smtpwatch_notification_queue_length{notifier}`.
    pub queue_length: IntGaugeVec,
    /// `smtpwatch_state_write_errors_total`: saves of the state file that failed.
    pub state_write_errors: IntCounter,
    /// `smtpwatch_state_file_set_aside_total`: unreadable state files moved aside at start.
    pub state_set_aside: IntCounter,
}

impl DeliveryMetrics {
    /// Creates the delivery families and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<DeliveryMetrics, prometheus::Error> {
        let metrics = DeliveryMetrics {
            notifications: IntCounterVec::new(
                Opts::new(
                    "smtpwatch_notifications_total",
                    "Notifications by notifier and outcome (sent, failed, retried, dropped).",
                ),
                &["notifier", "outcome"],
            )?,
            queue_length: IntGaugeVec::new(
                Opts::new(
                    "smtpwatch_notification_queue_length",
                    "Notifications waiting to be delivered, per notifier.",
                ),
                &["notifier"],
            )?,
            state_write_errors: IntCounter::new(
                "smtpwatch_state_write_errors_total",
                "Saves of the alert state file that failed.",
            )?,
            state_set_aside: IntCounter::new(
                "smtpwatch_state_file_set_aside_total",
                "Alert state files that could not be read at start and were set aside.",
            )?,
        };
        registry.register(Box::new(metrics.notifications.clone()))?;
        registry.register(Box::new(metrics.queue_length.clone()))?;
        registry.register(Box::new(metrics.state_write_errors.clone()))?;
        registry.register(Box::new(metrics.state_set_aside.clone()))?;
        Ok(metrics)
    }
}
