//! `/metrics`: the agent's own families, then each per-address family in chunks of probes, so a
//! scrape of 100,000 probes never builds one giant string nor holds the series lock for long;
//! rendered (and gzip-compressed when the scraper accepts it, as Prometheus does) on a blocking
//! thread while the event loop only passes the pieces on, so probing keeps its schedule during a
//! scrape.

use std::io::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::{View, TEXT_FORMAT};

/// Whether `Accept-Encoding` admits gzip (`gzip`, `gzip;q=…` other than 0, or `*`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// One scrape renders at a time: renders run beside the event loop, and two of them at once on
/// a two-core machine would leave the probes no core.
static RENDERING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Bytes handed to the connection at a time.
const PIECE: usize = 64 * 1024;

pub(super) async fn metrics(State(agent): State<View>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::spawn(async move {
        let Ok(permit) = RENDERING.acquire().await else {
            return;
        };
        // Rendering and compressing 100,000 probes takes a core for a second or so: off the
        // event loop, at a lower priority, so probes keep their schedule during a scrape.
        crate::runtime::in_background("smtpwatch-scrape", move || {
            let _permit = permit;
            produce(&agent, gzip, &tx);
        })
        .await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let piece = rx.recv().await?;
        Some((piece, rx))
    });
    let body = axum::body::Body::from_stream(body);
    let mut response = ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response();
    if gzip {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            axum::http::HeaderValue::from_static("gzip"),
        );
    }
    response
}

/// Renders the exposition (gzip-compressed if `gzip`) into `tx`, a piece at a time; stops when
/// the client has gone (the receiver is dropped).
fn produce(agent: &View, gzip: bool, tx: &tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) {
    // Fast compression: text this repetitive shrinks about fifteenfold even so, and the CPU it
    // saves is the probes'.
    let mut encoder = gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast()));
    let mut pending: Vec<u8> = Vec::with_capacity(PIECE);
    for text in agent.metrics().pieces() {
        match encoder.as_mut() {
            Some(encoder) => {
                if let Err(e) = encoder.write_all(text.as_bytes()) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                pending.append(encoder.get_mut());
            }
            None => pending.extend_from_slice(text.as_bytes()),
        }
        if pending.len() >= PIECE && tx.blocking_send(Ok(std::mem::take(&mut pending))).is_err() {
            return;
        }
    }
    if let Some(encoder) = encoder {
        match encoder.finish() {
            Ok(mut rest) => pending.append(&mut rest),
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
    if !pending.is_empty() {
        let _ = tx.blocking_send(Ok(pending));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_used_when_the_scraper_admits_it() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, value.parse().expect("header"));
            accepts_gzip(&h)
        };
        assert!(with("gzip"));
        assert!(with("deflate, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
