//! Fuzz `/probe`: any query string and scrape-timeout header is a probe plan or a 400 reason,
//! never a panic.
#![no_main]

use std::sync::Arc;

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use smtpwatch::http::adhoc::ProbeQuery;
use smtpwatch::probe::ProbeSettings;
use smtpwatch::trust::LazyTrust;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (query, header) = (&data[..split], &data[split + 1..]);
    let Ok(query) = std::str::from_utf8(query) else { return };
    let Ok(uri) = format!("/probe?{query}").parse::<Uri>() else { return };
    let Ok(Query(parsed)) = Query::<ProbeQuery>::try_from_uri(&uri) else { return };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        headers.insert("x-prometheus-scrape-timeout-seconds", value);
    }
    let base = ProbeSettings::new(Arc::new(LazyTrust::new(Vec::new())), "fuzz.test".into());
    if let Ok(probe) = parsed.into_probe(base, &headers) {
        assert!(probe.settings.timeout <= smtpwatch::probe::DEFAULT_TIMEOUT);
    }
});
