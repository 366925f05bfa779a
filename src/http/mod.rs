//! The agent's HTTP endpoints (axum): `/metrics`, `/probe`, `/healthz`, `/-/ready`,
//! `POST /-/reload`, the status page `/`, `/probes/<name>` (history) and
//! `/probes/<name>/last`, badges `/badges/<name>/<kind>.svg`, and `/api/v1/probes`.
//!
//! The handlers see the agent through [`AgentView`] only: the latest rounds, the metrics, the
//! settings of an ad-hoc probe and a reload trigger. The web layer never reaches into the
//! agent's scheduler, alerting or configuration state.

pub mod adhoc;
mod charts;
mod history_pages;
mod pages;
mod scrape;
pub mod secure;
pub mod server;

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use self::adhoc::{AdhocProbe, ProbeQuery};
use crate::config::web::WebConfig;
use crate::config::ProbeConfig;
use crate::escape;
use crate::history::History;
use crate::latest::Round;
use crate::limit::Limit;
use crate::metrics::{blackbox, Metrics};
use crate::probe::fanout::probe_target;
use crate::probe::ProbeSettings;
use crate::report::render::json_lines_from;
use crate::resolve::{DnsError, Family, Resolver};
use crate::target::Host;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the HTTP surface needs from the agent.
pub trait AgentView: Send + Sync + 'static {
    /// Whether the configuration is loaded and the scheduler runs.
    fn is_ready(&self) -> bool;
    /// Every probe of the configuration in force with its latest round, in file order.
    fn latest(&self) -> Vec<(Arc<ProbeConfig>, Option<Round>)>;
    /// The agent's metric families.
    fn metrics(&self) -> &Metrics;
    /// Re-reads the configuration file; the agent decides what runs off the event loop.
    fn reload_configuration(self: Arc<Self>) -> Reloading;
    /// How an ad-hoc `/probe` probes: the agent's EHLO name, the system trust store and the
    /// agent's timeout.
    fn adhoc_settings(&self) -> ProbeSettings;
    /// The resolver of the configuration in force.
    fn resolver(&self) -> Result<Resolver, DnsError>;
    /// What the HTTP surface lets clients do, as configured now.
    fn web(&self) -> WebConfig;
    /// The ad-hoc probes that may run at once (`[agent.probe_endpoint] max_concurrent`).
    fn adhoc_limit(&self) -> &Limit;
    /// Every round's outcome (off without `history_file`).
    fn history(&self) -> &History;
    /// The last reload that failed and why, until one succeeds.
    fn reload_problem(&self) -> Option<(std::time::SystemTime, String)>;
    /// This agent's shard of a fleet, and how many probes the file has in all.
    fn shard(&self) -> Option<(crate::shard::Shard, usize)>;
    /// Where this agent probes from (`[agent] vantage`).
    fn vantage(&self) -> Option<String>;
}

/// A reload under way ([`AgentView::reload_configuration`]).
pub type Reloading = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

/// The shared state of every handler.
type View = Arc<dyn AgentView>;

/// All routes, sharing the agent's view.
pub fn router(agent: View) -> Router {
    Router::new()
        .route("/", get(pages::status_page))
        .route("/probes/{name}", get(history_pages::history_page))
        .route("/probes/{name}/last", get(pages::last_round))
        .route("/badges/{name}/{file}", get(history_pages::badge_svg))
        .route("/api/v1/probes", get(history_pages::api_probes))
        .route(
            "/api/v1/probes/{name}/history",
            get(history_pages::api_history),
        )
        .route("/metrics", get(scrape::metrics))
        .route("/probe", get(probe))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .layer(axum::middleware::from_fn_with_state(agent.clone(), guard))
        .with_state(agent)
}

/// Refuses what no legitimate client sends: a `Host` outside `allowed_hosts` (DNS rebinding:
/// a page elsewhere that resolves its own name to the agent), and a state-changing request
/// from another site (a page that posts to `/-/reload` with `text/plain`).
async fn guard(
    State(agent): State<View>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let web = agent.web();
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !web.host_allowed(host) {
        return (
            StatusCode::FORBIDDEN,
            "this Host is not in [agent] allowed_hosts\n",
        )
            .into_response();
    }
    let changes_state = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if changes_state && cross_site(headers, host) {
        return (StatusCode::FORBIDDEN, "cross-site requests are refused\n").into_response();
    }
    next.run(request).await
}

/// Whether a browser says the request comes from another site: `Sec-Fetch-Site`, or an
/// `Origin` whose host is not the one asked.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if matches!(fetch_site.as_deref(), Some("cross-site" | "same-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("null");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        _ => true,
    }
}

async fn ready(State(agent): State<View>) -> Response {
    if agent.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn reload(State(agent): State<View>) -> Response {
    if !agent.web().enable_lifecycle {
        let why = "POST /-/reload is off: set [agent] enable_lifecycle = true, or send SIGHUP\n";
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    match agent.reload_configuration().await {
        Ok(()) => (StatusCode::OK, "reloaded\n").into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("reload failed: {e}\n")).into_response(),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

async fn probe(
    State(agent): State<View>,
    headers: HeaderMap,
    Query(query): Query<ProbeQuery>,
) -> Response {
    let web = agent.web();
    let (endpoint, endpoint_modules) = (web.probe_endpoint, web.modules);
    if !endpoint.enabled {
        return (StatusCode::NOT_FOUND, "the probe endpoint is off\n").into_response();
    }
    let AdhocProbe {
        target,
        settings,
        json,
    } = match query.into_probe(agent.adhoc_settings(), &endpoint_modules, &headers) {
        Ok(probe) => probe,
        Err(e) => return bad_request(e.to_string()),
    };
    if !endpoint.allows(&target) {
        let why = "this target is not in [agent.probe_endpoint] allow\n";
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let Some(_permit) = agent.adhoc_limit().try_acquire() else {
        let why = "too many probes in flight ([agent.probe_endpoint] max_concurrent)\n";
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    };
    let resolver = match &target.host {
        Host::Ip(_) => None,
        Host::Name(_) => match agent.resolver() {
            Ok(r) => Some(r),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        },
    };
    let started = std::time::Instant::now();
    let reports = probe_target(
        &target,
        None,
        Arc::new(settings),
        resolver.as_ref(),
        Family::Any,
    )
    .await;
    let took = started.elapsed().as_secs_f64();
    if json {
        let body = json_lines_from(&reports, agent.vantage().as_deref());
        ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_FORMAT)],
            blackbox::render(&reports, took),
        )
            .into_response()
    }
}

/// Wraps a page body in the shared layout (no external assets; readable on a phone).
pub fn page(title: &str, refresh_seconds: Option<u64>, body: &str) -> Html<String> {
    let refresh = refresh_seconds
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{}</title><style>{}</style></head><body>{body}</body></html>\n",
        escape::html(title),
        pages::CSS
    ))
}
