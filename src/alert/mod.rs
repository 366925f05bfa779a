//! Alerting. So far only the pure state machine ([`state`]) that decides when to fire, remind
//! and resolve; the dispatcher and notifiers (Slack, webhook, Alertmanager) build on it.

pub mod state;
