//! The demo's alert receiver: a webhook endpoint on 127.0.0.1 that prints each notification
//! on one line (the fields as received, control bytes escaped) and answers 204.

use std::net::SocketAddr;

use axum::routing::post;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::escape::escape_str;

/// One notification as a line: `ALERT firing flapping 127.0.0.1:… connect/connect_refused: …`.
fn line(body: &str) -> String {
    let Ok(n) = serde_json::from_str::<serde_json::Value>(body) else {
        return format!("ALERT (not JSON) {}", escape_str(body));
    };
    let field = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("-");
    let cause = match (
        n.get("phase").and_then(|v| v.as_str()),
        n.get("reason").and_then(|v| v.as_str()),
    ) {
        (Some(p), Some(r)) => format!("{p}/{r}"),
        _ => field("alert").to_string(),
    };
    escape_str(&format!(
        "ALERT {} {} {} {} {cause}: {}",
        field("event"),
        field("severity"),
        field("probe"),
        n.get("address").and_then(|v| v.as_str()).unwrap_or("-"),
        field("message")
    ))
}

/// Starts the receiver on 127.0.0.1:0; stops with `stop`.
pub async fn start(stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route(
        "/alerts",
        post(|body: String| async move {
            println!("{}", line(&body));
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_notification_is_one_escaped_line() {
        let body = r#"{"event":"firing","severity":"critical","probe":"flapping","address":"127.0.0.1:1","phase":"connect","reason":"connect_refused","message":"refused\u001b[31m\nnext"}"#;
        let line = super::line(body);
        assert!(
            line.starts_with(
                "ALERT firing critical flapping 127.0.0.1:1 connect/connect_refused: refused"
            ),
            "{line}"
        );
        assert!(!line.contains('\u{1b}') && !line.contains('\n'), "{line}");
        assert!(super::line("\u{7}junk").starts_with("ALERT (not JSON) "));
    }
}
