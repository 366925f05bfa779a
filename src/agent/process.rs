//! The agent as a process: its runtime, and signal handling (SIGHUP reloads,
//! SIGTERM/SIGINT stop).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{serve, Agent};

/// Runs the agent until SIGTERM/SIGINT; SIGHUP reloads the configuration.
pub fn run_agent(config: &Path) -> Result<(), String> {
    let runtime = crate::runtime::single_threaded().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let agent = Agent::load(config).map_err(|e| e.to_string())?;
        let listen = agent.config().listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        tracing::info!(%listen, probes = agent.config().probes.len(), "smtpwatch agent started");
        let shutdown = CancellationToken::new();
        spawn_signal_handlers(agent.clone(), shutdown.clone())?;
        let grace = Duration::from_secs(10);
        serve(agent, listener, shutdown, grace)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("smtpwatch agent stopped");
        Ok(())
    })
}

fn spawn_signal_handlers(agent: Arc<Agent>, shutdown: CancellationToken) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
    let (mut hup, mut term, mut int) = (
        listen(SignalKind::hangup())?,
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let agent = agent.clone();
                    // A failed reload is logged and counted by the agent; it keeps running.
                    let _ = tokio::task::spawn_blocking(move || agent.reload()).await;
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        tracing::info!("shutting down: no new probes; waiting for probes in flight");
        shutdown.cancel();
    });
    Ok(())
}
