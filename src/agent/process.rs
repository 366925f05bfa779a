//! The agent as a process: its runtime, and signal handling (SIGHUP reloads,
//! SIGTERM/SIGINT stop).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{serve, Agent, AgentError, Placement};

/// Runs the agent until SIGTERM/SIGINT; SIGHUP reloads the configuration.
pub fn run_agent(config: &Path, placement: Placement) -> Result<(), AgentError> {
    match crate::runtime::raise_descriptor_limit() {
        Some((before, after)) if after > before => {
            tracing::info!(
                before,
                after,
                "raised the file descriptor limit (soft to hard)"
            )
        }
        Some((_, limit)) => tracing::info!(limit, "file descriptor limit"),
        None => tracing::warn!("cannot read or raise the file descriptor limit"),
    }
    let runtime = crate::runtime::single_threaded()?;
    runtime.block_on(serve_until_signal(config, placement))
}

/// The agent of `config` on its listen address until SIGTERM/SIGINT (SIGHUP reloads), inside
/// a runtime the caller runs (`smtpwatch run`, `smtpwatch demo`).
pub async fn serve_until_signal(config: &Path, placement: Placement) -> Result<(), AgentError> {
    let agent = Agent::start_with(config, placement)?;
    let listen = agent.config().listen;
    let grace = Duration::from_secs(10);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(source) => {
            // Probing has begun: let what is queued go out before the process ends.
            agent.stop(grace).await;
            return Err(AgentError::Listen {
                addr: listen,
                source,
            });
        }
    };
    let scheme = if agent.config().web.web_config_file.is_some() {
        "https (or http, as the web configuration file says)"
    } else {
        "http"
    };
    tracing::info!(
        %listen,
        probes = agent.config().probes.len(),
        shard = %agent.config().shard.map_or("-".to_string(), |s| s.to_string()),
        status_page = %format!("http://{listen}/"),
        scheme,
        "smtpwatch agent started"
    );
    let shutdown = CancellationToken::new();
    spawn_signal_handlers(agent.clone(), shutdown.clone())?;
    serve(agent, listener, shutdown, grace).await?;
    tracing::info!("smtpwatch agent stopped");
    Ok(())
}

fn spawn_signal_handlers(agent: Arc<Agent>, shutdown: CancellationToken) -> Result<(), AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind| signal(kind).map_err(AgentError::Signals);
    let (mut hup, mut term, mut int) = (
        listen(SignalKind::hangup())?,
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    // A failed reload is logged and counted by the agent; it keeps running.
                    let _ = agent.reload().await;
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
