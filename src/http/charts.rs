//! Server-rendered SVG: the bar of recent results, the latency chart and shields-style badges.
//! No script and no external asset: the page works as it arrives, on any screen. Text in them
//! (probe names, reasons) is escaped like HTML.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::escape::html as esc;
use crate::history::Point;
use crate::report::Status;

/// A status's colour: the page's badge colours.
pub fn colour(status: Status) -> &'static str {
    match status {
        Status::Ok => "#2e7d32",
        Status::Warning => "#b26a00",
        Status::Critical => "#c62828",
    }
}

/// The recent results, oldest first, as a row of coloured bars with a tooltip each.
pub fn result_bar(recent: &[(SystemTime, Status)]) -> String {
    if recent.is_empty() {
        return String::new();
    }
    let width = recent.len() * 8;
    let mut out = format!(
        "<svg class=\"bar\" role=\"img\" aria-label=\"recent results\" width=\"{width}\" height=\"18\" \
         viewBox=\"0 0 {width} 18\">"
    );
    for (i, (at, status)) in recent.iter().enumerate() {
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"0\" width=\"6\" height=\"18\" rx=\"1\" fill=\"{}\" data-status=\"{}\">\
             <title>{} {}</title></rect>",
            i * 8,
            colour(*status),
            status.nagios_word().to_ascii_lowercase(),
            humantime::format_rfc3339_seconds(*at),
            status.nagios_word()
        );
    }
    out.push_str("</svg>");
    out
}

/// A duration for an axis or a badge: `850 µs`, `12 ms`, `1.4 s`.
pub fn short_seconds(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.1} s")
    }
}

/// The latency chart of `points` over the `length` before `now`: average (line) and maximum
/// (shaded) per point, a red mark under each point with failures. `height` 40 makes the
/// status page's sparkline, 160 the history page's chart.
pub fn latency_chart(points: &[Point], length: Duration, now: SystemTime, height: u32) -> String {
    let (w, h) = (600.0_f64, f64::from(height));
    let from = now - length;
    let x = |t: SystemTime| {
        let into = t.duration_since(from).unwrap_or_default().as_secs_f64();
        (into / length.as_secs_f64() * w).clamp(0.0, w)
    };
    let top = points
        .iter()
        .map(|p| p.max_seconds)
        .fold(0.0, f64::max)
        .max(1e-6);
    let plot = h - 6.0;
    let y = |s: f64| plot - s / top * (plot - 12.0);
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"latency\" viewBox=\"0 0 {w} {h}\" \
         preserveAspectRatio=\"none\" width=\"100%\" height=\"{height}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fafafa\"/>"
    );
    if points.is_empty() {
        let _ = write!(
            out,
            "<text x=\"8\" y=\"{}\" font-size=\"11\" fill=\"#666\">no results in this range</text></svg>",
            h / 2.0
        );
        return out;
    }
    let area: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.start), y(p.max_seconds)))
        .collect();
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.start), y(p.avg_seconds)))
        .collect();
    let (first, last) = (x(points[0].start), x(points[points.len() - 1].start));
    let _ = write!(
        out,
        "<polygon class=\"max\" fill=\"#c8dcf0\" points=\"{first:.1},{plot:.1} {} {last:.1},{plot:.1}\"/>\
         <polyline class=\"avg\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"{}\"/>",
        area.join(" "),
        line.join(" ")
    );
    for p in points.iter().filter(|p| p.failures > 0) {
        let reason = p.worst.as_deref().unwrap_or("failed");
        let _ = write!(
            out,
            "<rect class=\"failure\" x=\"{:.1}\" y=\"{plot:.1}\" width=\"3\" height=\"6\" fill=\"#c62828\">\
             <title>{} {} of {} failed: {}</title></rect>",
            x(p.start),
            humantime::format_rfc3339_seconds(p.start),
            p.failures,
            p.count,
            esc(reason)
        );
    }
    if height >= 80 {
        let _ = write!(
            out,
            "<text x=\"4\" y=\"11\" font-size=\"11\" fill=\"#444\">max {}</text>",
            esc(&short_seconds(top))
        );
    }
    out.push_str("</svg>");
    out
}

/// A shields-style badge: a grey label and a coloured value.
pub fn badge(label: &str, value: &str, colour: &str) -> String {
    // Verdana at 11 px averages about 7 px a character; a little wide is better than clipped.
    let width = |s: &str| s.chars().count() as u32 * 7 + 10;
    let (lw, vw) = (width(label), width(value));
    let total = lw + vw;
    let (label, value) = (esc(label), esc(value));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" \
         aria-label=\"{label}: {value}\"><title>{label}: {value}</title>\
         <rect width=\"{lw}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{lw}\" width=\"{vw}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"{}\" y=\"14\">{label}</text><text x=\"{}\" y=\"14\">{value}</text></g></svg>",
        lw / 2,
        lw + vw / 2
    )
}

/// An uptime share as a badge shows it (`99.95%`), and its colour: green from 99.9 %,
/// yellow-green from 99 %, yellow from 95 %, red below.
pub fn uptime_badge(share: Option<f64>) -> (String, &'static str) {
    match share {
        None => ("no data".into(), "#9f9f9f"),
        Some(s) => {
            let pct = s * 100.0;
            let text = if pct >= 99.995 || pct == 0.0 {
                format!("{pct:.0}%")
            } else {
                format!("{:.2}%", (pct * 100.0).floor() / 100.0)
            };
            let colour = match pct {
                p if p >= 99.9 => "#4c1",
                p if p >= 99.0 => "#a4a61d",
                p if p >= 95.0 => "#dfb317",
                _ => "#e05d44",
            };
            (text, colour)
        }
    }
}

/// A latency as a badge shows it, and its colour: green under 0.5 s, yellow under 2 s, red.
pub fn latency_badge(seconds: Option<f64>) -> (String, &'static str) {
    match seconds {
        None => ("no data".into(), "#9f9f9f"),
        Some(s) => (
            short_seconds(s),
            match s {
                s if s < 0.5 => "#4c1",
                s if s < 2.0 => "#dfb317",
                _ => "#e05d44",
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_floored_never_rounded_up_to_a_better_figure() {
        assert_eq!(uptime_badge(Some(0.99996)).0, "100%");
        assert_eq!(uptime_badge(Some(0.99949)).0, "99.94%");
        assert_eq!(uptime_badge(Some(0.99949)).1, "#4c1");
        assert_eq!(uptime_badge(Some(0.985)).1, "#dfb317");
        assert_eq!(uptime_badge(Some(0.5)).1, "#e05d44");
        assert_eq!(uptime_badge(Some(0.0)).0, "0%");
        assert_eq!(uptime_badge(None).0, "no data");
    }

    #[test]
    fn text_in_svg_is_escaped() {
        let b = badge("<script>", "a&b", "#4c1");
        assert!(!b.contains("<script>") && b.contains("&lt;script&gt;") && b.contains("a&amp;b"));
        let p = Point {
            start: SystemTime::now() - Duration::from_secs(60),
            count: 1,
            failures: 1,
            min_seconds: 0.1,
            avg_seconds: 0.1,
            max_seconds: 0.1,
            worst: Some("banner/<b>".into()),
        };
        let chart = latency_chart(&[p], Duration::from_secs(86_400), SystemTime::now(), 160);
        assert!(chart.contains("banner/&lt;b&gt;") && !chart.contains("<b>"));
    }
}
