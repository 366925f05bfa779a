//! `/metrics`: the agent's own families, then each per-address family in chunks of probes, so a
//! scrape of 100,000 probes never builds one giant string nor holds the series lock for long
//! (probing keeps its schedule during a scrape); gzip-compressed as it streams when the
//! scraper accepts it (Prometheus does).

use std::io::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::{View, TEXT_FORMAT};
use crate::metrics::SERIES_FAMILIES;

/// Where the stream is.
enum Cursor {
    Agent,
    Family(usize, Option<String>),
    Done,
}

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

/// The next piece of text after `cursor`, and where the stream goes on.
fn next_text(agent: &View, cursor: Cursor) -> Option<(String, Cursor)> {
    match cursor {
        Cursor::Done => None,
        Cursor::Agent => Some((agent.metrics().render_agent(), Cursor::Family(0, None))),
        Cursor::Family(family, after) => {
            let mut text = String::new();
            let rendered = agent
                .metrics()
                .render_series_chunk(family, after.as_deref(), &mut text);
            let next = match rendered {
                Some(last) => Cursor::Family(family, Some(last)),
                None if family + 1 < SERIES_FAMILIES => Cursor::Family(family + 1, None),
                None => Cursor::Done,
            };
            Some((text, next))
        }
    }
}

pub(super) async fn metrics(State(agent): State<View>, headers: HeaderMap) -> Response {
    if !accepts_gzip(&headers) {
        let chunks = futures_util::stream::unfold(Cursor::Agent, move |cursor| {
            let agent = agent.clone();
            async move {
                let (text, next) = next_text(&agent, cursor)?;
                Some((Ok::<_, std::convert::Infallible>(text), next))
            }
        });
        let body = axum::body::Body::from_stream(chunks);
        return ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response();
    }
    // Fast compression: text this repetitive shrinks about tenfold even so, and the CPU it
    // saves is the probes'.
    let encoder = GzEncoder::new(Vec::new(), Compression::fast());
    let chunks = futures_util::stream::unfold(
        (Cursor::Agent, Some(encoder)),
        move |(mut cursor, encoder)| {
            let agent = agent.clone();
            async move {
                let mut encoder = encoder?;
                // Feed text until the encoder has output, so no empty chunk goes out.
                loop {
                    match next_text(&agent, cursor) {
                        Some((text, next)) => {
                            cursor = next;
                            if let Err(e) = encoder.write_all(text.as_bytes()) {
                                return Some((Err(e), (Cursor::Done, None)));
                            }
                            let out = std::mem::take(encoder.get_mut());
                            if !out.is_empty() {
                                return Some((Ok(out), (cursor, Some(encoder))));
                            }
                        }
                        None => {
                            return Some((encoder.finish(), (Cursor::Done, None)));
                        }
                    }
                }
            }
        },
    );
    let body = axum::body::Body::from_stream(chunks);
    (
        [
            (header::CONTENT_TYPE, TEXT_FORMAT),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        body,
    )
        .into_response()
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
