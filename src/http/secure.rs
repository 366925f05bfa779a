//! The agent's HTTP front door as `[agent] web_config_file` says: TLS (with client
//! certificates if asked) and basic auth with bcrypt hashes, re-read when the file changes, as
//! the exporter toolkit does.
//!
//! The file is looked at (its modification time and size) at most once a second; a changed
//! file that no longer loads is logged and the last good one stays in force, so a bad edit
//! never opens the door. bcrypt is slow on purpose: checks run off the event loop, two at a
//! time, and a password that verified is remembered (by a SHA-256 of user, password and hash)
//! so Prometheus' scrape every 15 s costs one check, not one each.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tokio::sync::Semaphore;

use crate::config::web_file::{self, WebFile};

/// How often the file is looked at.
const RECHECK: Duration = Duration::from_secs(1);
/// Passwords remembered as good (the cache is emptied when full).
const REMEMBERED: usize = 256;

/// The web configuration in force, and what it takes to keep it current.
pub struct Front {
    path: PathBuf,
    state: Mutex<State>,
    bcrypt: Semaphore,
    verified: Mutex<HashSet<[u8; 32]>>,
}

struct State {
    file: Arc<WebFile>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Front {
    /// Loads `path` (already checked with the configuration).
    pub fn open(path: PathBuf) -> Result<Front, String> {
        let file = web_file::load(&path)?;
        Ok(Front {
            state: Mutex::new(State {
                file: Arc::new(file),
                stamp: stamp(&path),
                checked: Instant::now(),
            }),
            path,
            bcrypt: Semaphore::new(2),
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// The configuration in force, re-read first if the file changed.
    pub fn current(&self) -> Arc<WebFile> {
        self.refresh(false)
    }

    /// [`Front::current`]; `force` looks at the file now, whenever it was last looked at.
    fn refresh(&self, force: bool) -> Arc<WebFile> {
        // A poisoned lock cannot hold a half-written file (it is replaced whole): keep serving
        // what it had, never an empty configuration that would drop TLS and authentication.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if force || state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            let now = stamp(&self.path);
            if now != state.stamp {
                state.stamp = now;
                match web_file::load(&self.path) {
                    Ok(file) => {
                        tracing::info!(file = %self.path.display(), "web configuration reloaded");
                        state.file = Arc::new(file);
                        if let Ok(mut v) = self.verified.lock() {
                            v.clear();
                        }
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "web configuration not reloaded; the previous one stays in force"
                    ),
                }
            }
        }
        state.file.clone()
    }

    /// Whether the request's `Authorization` header passes (always, without users).
    pub async fn authorized(&self, file: &WebFile, authorization: Option<&str>) -> bool {
        if file.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let Some(hash) = file.users.get(&user).cloned() else {
            return false;
        };
        let key = fingerprint(&user, &password, &hash);
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return true;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        let good = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if good {
            if let Ok(mut v) = self.verified.lock() {
                if v.len() >= REMEMBERED {
                    v.clear();
                }
                v.insert(key);
            }
        }
        good
    }
}

/// The basic-auth check in front of every route: 401 with a `WWW-Authenticate` challenge
/// unless the configured users let the request in.
pub async fn basic_auth(
    axum::extract::State(front): axum::extract::State<Arc<Front>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let file = front.current();
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if front.authorized(&file, header).await {
        return next.run(request).await;
    }
    (
        axum::http::StatusCode::UNAUTHORIZED,
        [(
            axum::http::header::WWW_AUTHENTICATE,
            "Basic realm=\"smtpwatch\"",
        )],
        "authentication required\n",
    )
        .into_response()
}

/// User and password of a `Basic` authorization header.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn fingerprint(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let text = format!("{user}\0{password}\0{hash}");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broken_edit_keeps_the_last_good_file_and_a_good_one_replaces_it() {
        let dir = std::env::temp_dir().join(format!("smtpwatch-front-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("web.yml");
        let users = |password: &str| {
            let hash = bcrypt::hash(password, 4).expect("hash");
            format!("basic_auth_users:\n  alice: {hash}\n")
        };
        std::fs::write(&path, users("one")).expect("write");
        let front = Front::open(path.clone()).expect("open");
        let header = |password: &str| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
            format!("Basic {b64}")
        };
        let file = front.refresh(true);
        assert!(front.authorized(&file, Some(&header("one"))).await);
        std::fs::write(&path, "basic_auth_users: [broken\n").expect("break");
        let file = front.refresh(true);
        assert!(
            front.authorized(&file, Some(&header("one"))).await,
            "the old file stays"
        );
        assert!(!front.authorized(&file, None).await);
        std::fs::write(&path, users("two")).expect("rewrite");
        let file = front.refresh(true);
        assert!(front.authorized(&file, Some(&header("two"))).await);
        assert!(
            !front.authorized(&file, Some(&header("one"))).await,
            "no stale cache"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn basic_headers_parse_and_others_do_not() {
        assert_eq!(
            basic_credentials("Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"),
            Some(("alice".into(), "s3cret:with:colons".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
