//! What history shows: `/probes/<name>` (the chart over 24 h, 7 d or 30 d, uptime, the last
//! failures with their transcripts), the badges `/badges/<name>/<kind>.svg`, and the JSON API
//! `/api/v1/probes` and `/api/v1/probes/<name>/history?range=24h`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::pages::{ago, badge, overviews, probe_status, uptime_text};
use super::{charts, page, View};
use crate::escape::html as esc;
use crate::history::{Point, Range, RecordedFailure};
use crate::report::Status;

/// Failures the history page lists.
const FAILURES_SHOWN: usize = 10;

/// `?range=` of the history page and API: `24h` (default), `7d` or `30d`; anything else is a
/// 400, never a silent default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    range: Option<String>,
}

fn range_of(q: &RangeQuery) -> Option<Range> {
    match q.range.as_deref() {
        None => Some(Range::Day),
        Some(text) => Range::parse(text),
    }
}

fn bad_range() -> Response {
    (StatusCode::BAD_REQUEST, "range must be 24h, 7d or 30d\n").into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such probe\n").into_response()
}

/// Points and failures of one probe, read off the event loop.
async fn read(agent: &View, name: &str, range: Range) -> (Vec<Point>, Vec<RecordedFailure>) {
    let (agent, name) = (agent.clone(), name.to_string());
    tokio::task::spawn_blocking(move || {
        let history = agent.history();
        (
            history.points(&name, range, SystemTime::now()),
            history.failures(&name, FAILURES_SHOWN),
        )
    })
    .await
    .unwrap_or_default()
}

/// `/probes/<name>`: the probe's history page.
pub async fn history_page(
    State(agent): State<View>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let Some(range) = range_of(&q) else {
        return bad_range();
    };
    let Some((probe, round)) = agent.latest().into_iter().find(|(p, _)| p.name == name) else {
        return not_found();
    };
    let escaped = esc(&probe.name);
    let mut body = format!(
        "<p><a href=\"/\">&larr; all probes</a></p><h1>{} {escaped}</h1>\
         <p class=\"muted\">{} · every {} · <a href=\"/probes/{escaped}/last\">last round</a></p>",
        badge(probe_status(round.as_ref())),
        esc(&probe.target.to_string()),
        humantime::format_duration(probe.interval)
    );
    if !agent.history().is_on() {
        body.push_str(
            "<p>History is off: set <code>[agent] history_file</code> to keep uptime and charts.</p>",
        );
        return page(&format!("smtpwatch: {}", probe.name), None, &body).into_response();
    }
    let overview = overviews(&agent, vec![probe.name.clone()]).await;
    if let Some(o) = overview.get(&probe.name) {
        let _ = write!(
            body,
            "<p>{} <span class=\"muted\">uptime {}</span></p>",
            charts::result_bar(&o.recent),
            uptime_text(o)
        );
        if let Some(since) = o.failing_since {
            let _ = write!(
                body,
                "<p><b class=\"failing-since\">failing since {}</b></p>",
                ago(since)
            );
        }
    }
    let links: Vec<String> = Range::ALL
        .iter()
        .map(|r| {
            if *r == range {
                format!("<b>{}</b>", r.as_str())
            } else {
                format!("<a href=\"?range={0}\">{0}</a>", r.as_str())
            }
        })
        .collect();
    let (points, failures) = read(&agent, &probe.name, range).await;
    let _ = write!(
        body,
        "<h2>Latency, {}</h2><p>{}</p>{}<p class=\"muted\">line: average per point; shaded: the \
         slowest; red marks: points with failures</p>",
        range.as_str(),
        links.join(" · "),
        charts::latency_chart(&points, range.length(), SystemTime::now(), 160)
    );
    body.push_str("<h2>Last failures</h2>");
    if failures.is_empty() {
        body.push_str("<p class=\"muted\">None kept.</p>");
    }
    for f in &failures {
        let _ = write!(
            body,
            "<h3 class=\"failure\">{} {} · {}</h3><pre>{}</pre>",
            badge(Some(f.status)),
            esc(&f.reason),
            ago(f.at),
            crate::escape::html_lines(&f.detail)
        );
    }
    page(&format!("smtpwatch: {}", probe.name), None, &body).into_response()
}

fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        body,
    )
        .into_response()
}

/// `/badges/<name>/<kind>.svg`: `status`, `uptime-24h`, `uptime-7d`, `uptime-30d` or
/// `latency-24h` (the average over 24 h).
pub async fn badge_svg(
    State(agent): State<View>,
    Path((name, file)): Path<(String, String)>,
) -> Response {
    let Some((probe, round)) = agent.latest().into_iter().find(|(p, _)| p.name == name) else {
        return not_found();
    };
    let kind = file.strip_suffix(".svg").unwrap_or("");
    if kind == "status" {
        let (word, colour) = match probe_status(round.as_ref()) {
            None => ("pending", "#9f9f9f"),
            Some(Status::Ok) => ("up", "#4c1"),
            Some(Status::Warning) => ("warning", "#dfb317"),
            Some(Status::Critical) => ("down", "#e05d44"),
        };
        return svg(charts::badge(&probe.name, word, colour));
    }
    let slot = match kind {
        "uptime-24h" => Some(0),
        "uptime-7d" => Some(1),
        "uptime-30d" => Some(2),
        "latency-24h" => None,
        _ => return (StatusCode::NOT_FOUND, "no such badge\n").into_response(),
    };
    let overview = overviews(&agent, vec![probe.name.clone()])
        .await
        .remove(&probe.name)
        .unwrap_or_default();
    match slot {
        Some(i) => {
            let (value, colour) = charts::uptime_badge(overview.uptime[i]);
            let label = format!("uptime {}", Range::ALL[i].as_str());
            svg(charts::badge(&label, &value, colour))
        }
        None => {
            let (count, sum) = overview.day.iter().fold((0u64, 0.0), |(c, s), p| {
                (c + p.count, s + p.avg_seconds * p.count as f64)
            });
            let avg = (count > 0).then(|| sum / count as f64);
            let (value, colour) = charts::latency_badge(avg);
            svg(charts::badge("latency 24h", &value, colour))
        }
    }
}

fn json_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `/api/v1/probes`: every probe with its status, last result and uptime.
pub async fn api_probes(State(agent): State<View>) -> Response {
    let latest = agent.latest();
    let names = latest.iter().map(|(p, _)| p.name.clone()).collect();
    let mut overviews: HashMap<_, _> = overviews(&agent, names).await;
    let probes: Vec<serde_json::Value> = latest
        .into_iter()
        .map(|(probe, round)| {
            let status = probe_status(round.as_ref());
            let last = round.as_ref().map(|r| {
                let first = r.reports.iter().find(|r| r.status != Status::Ok);
                json!({
                    "finished_at": rfc3339(r.finished_at),
                    "addresses": r.reports.len(),
                    "seconds": r.reports.iter().map(|r| r.duration_seconds).fold(0.0, f64::max),
                    "failure": first.and_then(|r| r.failure.as_ref()).map(|f| json!({
                        "phase": f.phase.as_str(), "reason": f.reason.as_str(), "message": f.message,
                    })),
                })
            });
            let o = overviews.remove(&probe.name);
            let uptime = o.as_ref().map(|o| {
                json!({"24h": o.uptime[0], "7d": o.uptime[1], "30d": o.uptime[2]})
            });
            json!({
                "name": probe.name,
                "target": probe.target.to_string(),
                "status": status.map_or("pending", |s| s.nagios_word()).to_ascii_lowercase(),
                "last": last,
                "uptime": uptime,
                "failing_since": o.and_then(|o| o.failing_since).map(rfc3339),
            })
        })
        .collect();
    json_response(json!({ "probes": probes }))
}

/// `/api/v1/probes/<name>/history?range=24h`: the chart's points.
pub async fn api_history(
    State(agent): State<View>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let Some(range) = range_of(&q) else {
        return bad_range();
    };
    if !agent.latest().iter().any(|(p, _)| p.name == name) {
        return not_found();
    }
    let (points, _) = read(&agent, &name, range).await;
    let points: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            json!({
                "start": rfc3339(p.start), "count": p.count, "failures": p.failures,
                "min_seconds": p.min_seconds, "avg_seconds": p.avg_seconds,
                "max_seconds": p.max_seconds, "worst": p.worst,
            })
        })
        .collect();
    json_response(json!({ "probe": name, "range": range.as_str(), "points": points }))
}
