//! Rendering reports for people and for other programs: text, JSON lines and Nagios.
//!
//! A `check` yields one report per probed address. [`summarize`] folds them into one verdict:
//! critical when no address works, warning when some fail or warn, ok otherwise.

use super::{Phase, ProbeReport, Status};
use std::fmt::Write as _;

/// The verdict over every address of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The combined status.
    pub status: Status,
    /// Addresses probed.
    pub total: usize,
    /// Addresses whose probe failed.
    pub failed: usize,
}

/// Folds per-address reports into one status (see the module docs).
pub fn summarize(reports: &[ProbeReport]) -> Summary {
    let total = reports.len();
    let failed = reports.iter().filter(|r| !r.success).count();
    let status = if total == 0 || failed == total {
        Status::Critical
    } else if failed > 0 {
        Status::Warning
    } else {
        reports.iter().map(|r| r.status).max().unwrap_or(Status::Ok)
    };
    Summary {
        status,
        total,
        failed,
    }
}

/// One compact JSON object per report, one per line (a single-address check prints exactly one
/// ProbeReport; `jq -s` gathers several).
pub fn json_lines(reports: &[ProbeReport]) -> String {
    json_lines_from(reports, None)
}

/// A report as the agent publishes it: with the agent's `vantage` (null without one, and for
/// `check`). Kept beside the report rather than in it: every report of 100,000 probes would carry
/// the same string.
#[derive(serde::Serialize)]
struct FromVantage<'a> {
    #[serde(flatten)]
    report: &'a ProbeReport,
    vantage: Option<&'a str>,
}

/// [`json_lines`] for reports probed from `vantage` (`[agent] vantage`).
pub fn json_lines_from(reports: &[ProbeReport], vantage: Option<&str>) -> String {
    let mut out = String::new();
    for report in reports {
        match serde_json::to_string(&FromVantage { report, vantage }) {
            Ok(json) => out.push_str(&json),
            // Serialising plain data cannot fail; say so rather than print half a line.
            Err(e) => out.push_str(&format!("{{\"error\":\"cannot serialise report: {e}\"}}")),
        }
        out.push('\n');
    }
    out
}

/// A check_smtp-style line with perfdata, then one line per address (Nagios long output).
pub fn nagios(target: &str, reports: &[ProbeReport]) -> String {
    let summary = summarize(reports);
    let word = summary.status.nagios_word();
    let mut out = String::new();
    match reports {
        [only] => {
            let _ = write!(out, "SMTP {word} - {:.3}s", only.duration_seconds);
            if let Some(f) = &only.failure {
                let _ = write!(out, " - {} failed: {}", f.phase.as_str(), f.reason.as_str());
                if let Some(code) = f.code {
                    let _ = write!(out, " ({code})");
                }
                let _ = write!(out, ": {}", nagios_text(&f.message, 160));
            }
            only.warnings.iter().for_each(|w| {
                let _ = write!(out, " - {}", nagios_text(w, 160));
            });
            let _ = write!(out, " | time={:.6}s;;;0", only.duration_seconds);
            let mut shown = Vec::new();
            for p in only
                .phases
                .iter()
                .filter(|p| p.phase != super::Phase::Delivery)
            {
                // One perfdata label per phase (RCPT TO may run several times).
                if !shown.contains(&p.phase) {
                    shown.push(p.phase);
                    let _ = write!(out, " {}={:.6}s;;;0", p.phase.as_str(), p.seconds);
                }
            }
            if let Some(seconds) = only.mail.delivery().and_then(|d| d.seconds) {
                let _ = write!(out, " delivery={seconds:.3}s;;;0");
            }
            if let Some(left) = only.tls.as_ref().and_then(|t| t.cert_seconds_left) {
                let _ = write!(out, " cert_days_left={:.1};;;", left / 86_400.0);
            }
            out.push('\n');
        }
        _ => {
            let ok = summary.total - summary.failed;
            let _ = write!(
                out,
                "SMTP {word} - {target}: {ok} of {} addresses ok |",
                summary.total
            );
            for r in reports {
                let label = r.address.as_deref().unwrap_or(&r.target);
                let _ = write!(out, " '{label} time'={:.6}s;;;0", r.duration_seconds);
            }
            out.push('\n');
            for r in reports {
                let _ = writeln!(out, "{}", nagios_text(&one_line(r, true), 400));
            }
        }
    }
    out
}

/// Plugin output text: `|` starts perfdata, so server text must not contain one; long
/// messages are cut (on a character boundary).
fn nagios_text(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c == '|' { '/' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        out.push_str("...");
    }
    out
}

/// `OK 192.0.2.1:25 (mx.example.com:25) 0.042s` or the failure in a few words.
fn one_line(r: &ProbeReport, with_warnings: bool) -> String {
    let mut line = format!(
        "{} {} ({}) {:.3}s",
        r.status.nagios_word(),
        r.address.as_deref().unwrap_or("-"),
        r.target,
        r.duration_seconds
    );
    if let Some(f) = &r.failure {
        let _ = write!(
            line,
            " {} {}: {}",
            f.phase.as_str(),
            f.reason.as_str(),
            f.message
        );
    }
    if with_warnings {
        r.warnings.iter().for_each(|w| {
            let _ = write!(line, " [{w}]");
        });
    }
    line
}

/// The human summary: a block per address, then a one-line verdict when there are several.
pub fn text(target: &str, reports: &[ProbeReport], with_transcript: bool) -> String {
    let mut out = String::new();
    for r in reports {
        text_block(&mut out, r, with_transcript);
        out.push('\n');
    }
    if reports.len() > 1 {
        let s = summarize(reports);
        let _ = writeln!(
            out,
            "{target}: {} — {} of {} addresses ok",
            s.status.nagios_word(),
            s.total - s.failed,
            s.total
        );
    }
    out
}

fn text_block(out: &mut String, r: &ProbeReport, with_transcript: bool) {
    let _ = writeln!(out, "{}", one_line(r, false));
    for p in &r.phases {
        let code = match (p.phase, p.code) {
            (_, Some(code)) => format!("  {code}"),
            (Phase::Quit, None) => "  (no reply)".to_string(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<14} {:>10}{code}",
            p.phase.as_str(),
            millis(p.seconds)
        );
    }
    if let Some(banner) = &r.banner {
        let _ = writeln!(out, "  banner:        {banner}");
    }
    if !r.capabilities.is_empty() {
        let _ = writeln!(out, "  capabilities:  {}", r.capabilities.join(", "));
    }
    if let Some(tls) = &r.tls {
        let session = match (&tls.version, &tls.cipher) {
            (Some(v), Some(c)) => format!("{v} {c}"),
            _ => "handshake failed".to_string(),
        };
        let verdict = match (&tls.verify_error, tls.verified) {
            (_, true) => "certificate verified".to_string(),
            (Some(e), false) => format!("certificate NOT verified: {e}"),
            (None, false) => "certificate NOT verified".to_string(),
        };
        let _ = writeln!(out, "  tls:           {session}, {verdict}");
        if let Some(leaf) = tls.chain.first() {
            let left = tls.cert_seconds_left.map(days).unwrap_or_default();
            let _ = writeln!(out, "  certificate:   {}", leaf.subject);
            let _ = writeln!(out, "    issuer:      {}", leaf.issuer);
            let _ = writeln!(
                out,
                "    expires:     {} ({left})",
                humantime::format_rfc3339_seconds(leaf.not_after)
            );
            if !leaf.sans.is_empty() {
                let _ = writeln!(out, "    names:       {}", leaf.sans.join(", "));
            }
        }
    }
    mail_lines(out, r);
    if let Some(f) = &r.failure {
        let code = f.code.map(|c| format!(" {c}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  failure:       {} {}{code}",
            f.phase.as_str(),
            f.reason.as_str()
        );
        let _ = writeln!(out, "  message:       {}", f.message);
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning:       {w}");
    }
    if with_transcript {
        let _ = writeln!(out, "  transcript:");
        for l in &r.transcript {
            let arrow = if l.dir == "C" { "->" } else { "<-" };
            let _ = writeln!(out, "    {:>9} {arrow} {}", millis(l.t), l.line);
        }
    }
}

/// The recipients' answers and the delivery round trip, when a mail-flow check ran.
fn mail_lines(out: &mut String, r: &ProbeReport) {
    for rcpt in r.mail.recipients() {
        let _ = writeln!(
            out,
            "  recipient:     <{}> {} {}",
            rcpt.rcpt, rcpt.code, rcpt.message
        );
    }
    if let Some(d) = r.mail.delivery() {
        let queue = d.queue_id.as_deref().unwrap_or("-");
        let seen = match d.seconds {
            Some(s) => format!("seen after {s:.3} s"),
            None => "not seen".to_string(),
        };
        let _ = writeln!(
            out,
            "  delivery:      to <{}>, queue id {queue}, {seen}",
            d.to
        );
        let verdicts: Vec<String> = d
            .authentication_results
            .iter()
            .map(|(method, result)| format!("{method}={result}"))
            .collect();
        if !verdicts.is_empty() {
            let _ = writeln!(out, "    auth results: {}", verdicts.join(" "));
        }
    }
}

fn millis(seconds: f64) -> String {
    format!("{:.1}ms", seconds * 1000.0)
}

/// "in 42 days" / "in 5 hours" / "EXPIRED 3 days ago".
fn days(seconds: f64) -> String {
    let amount = |s: f64| {
        if s >= 2.0 * 86_400.0 {
            format!("{} days", (s / 86_400.0).floor())
        } else {
            format!("{} hours", (s / 3600.0).floor())
        }
    };
    if seconds < 0.0 {
        format!("EXPIRED {} ago", amount(-seconds))
    } else {
        format!("in {}", amount(seconds))
    }
}

#[cfg(test)]
mod tests;
