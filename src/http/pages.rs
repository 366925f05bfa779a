//! Server-rendered HTML: the status page and the last round of one probe (with transcripts).
//! Every value is HTML-escaped; server text was already control-escaped at the probe.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{charts, page, View};
use crate::escape::html as esc;
use crate::history::{Overview, Range};
use crate::latest::Round;
use crate::report::render::{json_lines_from, summarize};
use crate::report::{ProbeReport, Status};

/// The page style: system fonts, cards that stack on a narrow screen.
pub const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:70rem;\
padding:.5rem;color:#1b1b1b;background:#f6f6f4}h1{font-size:1.3rem}h2{font-size:1.1rem;margin:.2rem 0}\
.probe{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6rem;margin:.6rem 0}\
.badge{display:inline-block;border-radius:4px;padding:0 .4rem;font-weight:600;color:#fff}\
.summary .badge{margin-right:.3rem}.history{margin:.3rem 0}.bar{vertical-align:middle}\
.chart{display:block;margin:.2rem 0}.critical-box{border:2px solid #c62828;padding:.5rem;background:#fff}\
.ok{background:#2e7d32}.warning{background:#b26a00}.critical{background:#c62828}.pending{background:#777}\
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{text-align:left;padding:.25rem .4rem;\
border-top:1px solid #eee;vertical-align:top}.muted{color:#666;font-size:.85rem}\
pre{background:#111;color:#eee;padding:.5rem;overflow-x:auto;font-size:.8rem}\
@media (max-width:40rem){table,tbody,tr,td,th{display:block}thead{display:none}\
td{border:0;padding:.1rem 0}tr{border-top:1px solid #eee;padding:.3rem 0}\
td[data-label]::before{content:attr(data-label) \": \";color:#666}}";

pub(super) fn badge(status: Option<Status>) -> String {
    let (class, word) = match status {
        None => ("pending", "PENDING"),
        Some(s) => (status_class(s), s.nagios_word()),
    };
    format!("<span class=\"badge {class}\" data-status=\"{class}\">{word}</span>")
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Warning => "warning",
        Status::Critical => "critical",
    }
}

pub(super) fn ago(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{} ({secs}s ago)", humantime::format_rfc3339_seconds(t))
}

fn phases(r: &ProbeReport) -> String {
    r.phases
        .iter()
        .map(|p| format!("{} {:.1}ms", p.phase.as_str(), p.seconds * 1000.0))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The delivery check's line: how long the message took, and the receiving server's verdicts.
fn delivery(r: &ProbeReport) -> String {
    let Some(d) = r.mail.delivery() else {
        return String::new();
    };
    let took = match (d.seconds, d.submitted_at) {
        (Some(s), _) => format!("{s:.2} s"),
        (None, Some(_)) => "not seen".into(),
        (None, None) => "not sent".into(),
    };
    let verdicts: Vec<String> = d
        .authentication_results
        .iter()
        .map(|(m, v)| format!("{m}={v}"))
        .collect();
    let verdicts = if verdicts.is_empty() {
        String::new()
    } else {
        format!(" · {}", verdicts.join(" "))
    };
    format!("<br><b>delivery</b> {}{}", esc(&took), esc(&verdicts))
}

/// The leaf certificate: its expiry, and its subject and issuer when the round kept them.
fn cert(r: &ProbeReport) -> String {
    let Some(tls) = r.tls.as_ref() else {
        return "-".into();
    };
    let mut out = match tls.cert_not_after.zip(tls.cert_seconds_left) {
        Some((at, left)) => format!(
            "{} ({:.0} days)",
            humantime::format_rfc3339_seconds(at),
            left / 86_400.0
        ),
        None => "-".into(),
    };
    if let Some(leaf) = tls.chain.first() {
        let _ = write!(
            out,
            "<br><span class=\"muted\">subject {}<br>issuer {}</span>",
            esc(&leaf.subject),
            esc(&leaf.issuer)
        );
    }
    out
}

pub(super) fn address_rows(out: &mut String, round: &Round) {
    out.push_str(
        "<table><thead><tr><th>address</th><th>status</th><th>phases</th><th>failure</th>\
         <th>certificate expiry</th><th>TLS</th></tr></thead><tbody>",
    );
    for r in &round.reports {
        let failure = r.failure.as_ref().map_or("-".to_string(), |f| {
            let code = f.code.map(|c| format!(" {c}")).unwrap_or_default();
            format!(
                "<b>{} {}{code}</b><br>{}",
                f.phase.as_str(),
                f.reason.as_str(),
                esc(&f.message)
            )
        });
        let tls = r
            .tls
            .as_ref()
            .and_then(|t| t.version.clone())
            .unwrap_or_else(|| "-".into());
        let address = r.address.as_deref().unwrap_or("-");
        let target = if r.target == address {
            String::new()
        } else {
            format!("<br><span class=\"muted\">{}</span>", esc(&r.target))
        };
        let _ = write!(
            out,
            "<tr><td>{}{target}</td><td data-label=\"status\">{}</td><td data-label=\"phases\">{}{}</td>\
             <td data-label=\"failure\">{failure}</td><td data-label=\"certificate\">{}</td>\
             <td data-label=\"TLS\">{}</td></tr>",
            esc(address),
            badge(Some(r.status)),
            esc(&phases(r)),
            delivery(r),
            cert(r),
            esc(&tls),
        );
    }
    out.push_str("</tbody></table>");
}

/// A probe's status from its latest round (its addresses and its posture); `None` before
/// the first round.
pub(super) fn probe_status(round: Option<&Round>) -> Option<Status> {
    round.map(|r| {
        let posture = r.posture.as_ref().map_or(Status::Ok, |p| p.status());
        summarize(&r.reports).status.max(posture)
    })
}

/// The history overviews of `names`, read off the event loop (SQLite blocks).
pub(super) async fn overviews(agent: &View, names: Vec<String>) -> HashMap<String, Overview> {
    if !agent.history().is_on() {
        return HashMap::new();
    }
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        agent.history().overviews(&names, SystemTime::now())
    })
    .await
    .unwrap_or_default()
}

/// Uptime over 24 h, 7 d and 30 d, as the page writes it.
pub(super) fn uptime_text(o: &Overview) -> String {
    Range::ALL
        .iter()
        .zip(o.uptime)
        .map(|(range, share)| {
            let value = share.map_or("-".to_string(), |_| charts::uptime_badge(share).0);
            format!(
                "<span class=\"uptime\" data-range=\"{}\">{} {value}</span>",
                range.as_str(),
                range.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn history_line(out: &mut String, name: &str, o: &Overview) {
    let _ = write!(
        out,
        "<div class=\"history\">{} <span class=\"muted\">uptime {}</span>",
        charts::result_bar(&o.recent),
        uptime_text(o)
    );
    if let Some(since) = o.failing_since {
        let _ = write!(
            out,
            " · <b class=\"failing-since\">failing since {}</b>",
            ago(since)
        );
    }
    let _ = write!(
        out,
        " · <a href=\"/probes/{name}\">history</a></div>{}",
        charts::latency_chart(&o.day, Range::Day.length(), SystemTime::now(), 40)
    );
}

/// `/`: a summary, then every probe (its recent results, uptime and latency when history is
/// kept) and address, refreshing itself every 30 s.
pub async fn status_page(State(agent): State<View>) -> Response {
    let mut body = String::from("<h1>smtpwatch</h1>");
    let latest = agent.latest();
    let names = latest.iter().map(|(p, _)| p.name.clone()).collect();
    let overviews = overviews(&agent, names).await;
    if let Some(vantage) = agent.vantage() {
        let _ = write!(
            body,
            "<p class=\"vantage muted\">probing from vantage point <b>{}</b></p>",
            esc(&vantage)
        );
    }
    if let Some((shard, configured)) = agent.shard() {
        let _ = write!(
            body,
            "<p class=\"shard muted\">shard {shard} (from 0): {} of the configuration's {configured} probes</p>",
            latest.len()
        );
    }
    if let Some((at, why)) = agent.reload_problem() {
        let _ = write!(
            body,
            "<p class=\"reload-failed critical-box\"><b>The last configuration reload failed</b> ({}); \
             the previous configuration is still in force:<br>{}</p>",
            ago(at),
            esc(&why)
        );
    }
    let statuses: Vec<Option<Status>> = latest
        .iter()
        .map(|(_, r)| probe_status(r.as_ref()))
        .collect();
    let count = |want: Option<Status>| statuses.iter().filter(|s| **s == want).count();
    let _ = write!(
        body,
        "<p class=\"summary\"><span class=\"badge ok\">{} ok</span> <span class=\"badge warning\">{} warning</span> \
         <span class=\"badge critical\">{} critical</span> <span class=\"badge pending\">{} pending</span></p>",
        count(Some(Status::Ok)),
        count(Some(Status::Warning)),
        count(Some(Status::Critical)),
        count(None)
    );
    if latest.is_empty() {
        body.push_str("<p>No probes configured.</p>");
    }
    for ((probe, round), status) in latest.into_iter().zip(statuses) {
        let name = esc(&probe.name);
        let _ = write!(
            body,
            "<section class=\"probe\" id=\"probe-{name}\"><h2>{} {name}</h2>\
             <div class=\"muted\">{} · every {}",
            badge(status),
            esc(&probe.target.to_string()),
            humantime::format_duration(probe.interval),
        );
        match &round {
            None => body.push_str(" · not probed yet</div>"),
            Some(round) => {
                let _ = write!(
                    body,
                    " · last probe {} · <a href=\"/probes/{name}/last\">last transcript</a></div>",
                    ago(round.finished_at)
                );
            }
        }
        if let Some(o) = overviews.get(&probe.name) {
            history_line(&mut body, &name, o);
        }
        if let Some(round) = &round {
            address_rows(&mut body, round);
            if let Some(posture) = &round.posture {
                let _ = write!(
                    body,
                    "<pre class=\"posture\">{}</pre>",
                    crate::escape::html_lines(&crate::posture::render::text(posture))
                );
            }
        }
        body.push_str("</section>");
    }
    page("smtpwatch status", Some(30), &body).into_response()
}

/// Query of `/probes/<name>/last`.
#[derive(Debug, Deserialize)]
pub struct LastQuery {
    format: Option<String>,
}

/// `/probes/<name>/last`: the last round of one probe, with transcripts (`?format=json` for
/// the reports as JSON lines).
pub async fn last_round(
    State(agent): State<View>,
    Path(name): Path<String>,
    Query(q): Query<LastQuery>,
) -> Response {
    let Some((probe, round)) = agent.latest().into_iter().find(|(p, _)| p.name == name) else {
        return (StatusCode::NOT_FOUND, "no such probe\n").into_response();
    };
    let Some(round) = round else {
        return (StatusCode::NOT_FOUND, "not probed yet\n").into_response();
    };
    if q.format.as_deref() == Some("json") {
        let body = json_lines_from(&round.reports, agent.vantage().as_deref());
        return ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
    }
    let mut body = format!(
        "<p><a href=\"/\">&larr; all probes</a></p><h1>{} · last round {}</h1>",
        esc(&probe.name),
        ago(round.finished_at)
    );
    address_rows(&mut body, &round);
    for r in &round.reports {
        let _ = write!(
            body,
            "<h2>{} {}</h2>",
            badge(Some(r.status)),
            esc(r.address.as_deref().unwrap_or(&r.target))
        );
        if let Some(banner) = &r.banner {
            let _ = write!(body, "<p class=\"muted\">banner: {}</p>", esc(banner));
        }
        if r.transcript.is_empty() && r.status == Status::Ok {
            body.push_str(
                "<p class=\"muted\">OK: the agent keeps transcripts of rounds that were not OK \
                 only; <code>smtpwatch check --transcript</code> shows a live one.</p>",
            );
            continue;
        }
        body.push_str("<pre>");
        for line in &r.transcript {
            let arrow = if line.dir == "C" { "->" } else { "<-" };
            let _ = writeln!(
                body,
                "{:>9.1}ms {} {}",
                line.t * 1000.0,
                esc(arrow),
                esc(&line.line)
            );
        }
        body.push_str("</pre>");
    }
    page(&format!("smtpwatch: {}", probe.name), None, &body).into_response()
}
