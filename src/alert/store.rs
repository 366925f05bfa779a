//! The state file: firing alerts and the outbox, saved whenever a notification is made or
//! delivered, so a restarted agent neither re-pages (`firing` again) nor forgets to send
//! `resolved`, and delivers what it had not delivered.
//!
//! JSON, `{"version": 1, "alerts": [...]}`, written to a temporary file in the same directory,
//! synced, renamed over the old one, then the directory synced: a crash leaves the old or the
//! new file, never half of one. A file that cannot be read back is set aside, never
//! overwritten.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::book::{AlertKey, Entry};
use super::notification::Notification;

/// One saved alert.
pub type Saved = (AlertKey, Entry);

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    alerts: Vec<SavedAlert>,
    /// Notifications not yet accepted by their endpoint (added within version 1).
    #[serde(default)]
    outbox: Vec<Pending>,
}

/// One notification waiting for one endpoint (the outbox's entries, as saved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The endpoint (`Endpoint::key`: the notifier and a hash of its URL, never the URL).
    pub endpoint: String,
    /// The notification.
    pub notification: Notification,
}

/// What a state file holds.
#[derive(Debug, Default)]
pub struct Restored {
    /// The firing alerts.
    pub alerts: Vec<Saved>,
    /// Notifications to deliver again.
    pub outbox: Vec<Pending>,
}

#[derive(Serialize, Deserialize)]
struct SavedAlert {
    key: AlertKey,
    entry: Entry,
}

/// Reads the saved alerts; a missing file is an empty state. A file that cannot be understood
/// (not JSON, another version) is renamed to `<file>.corrupt-<unix time>` before the error is
/// returned, so the next save does not overwrite what it held: an operator can still read which
/// alerts were firing.
pub fn load(path: &Path) -> Result<Restored, StoreError> {
    let failed = |reason: String| StoreError {
        path: path.to_path_buf(),
        reason,
        set_aside: None,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restored::default()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(set_aside(path, "not UTF-8".into()))
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let file: StateFile = match serde_json::from_str(&text) {
        Ok(file) => file,
        Err(e) => return Err(set_aside(path, e.to_string())),
    };
    if file.version != VERSION {
        let reason = format!("state file version {} is not {VERSION}", file.version);
        return Err(set_aside(path, reason));
    }
    Ok(Restored {
        alerts: file.alerts.into_iter().map(|a| (a.key, a.entry)).collect(),
        outbox: file.outbox,
    })
}

/// Moves an unreadable state file out of the way; the error says where it went.
fn set_aside(path: &Path, reason: String) -> StoreError {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{at}"));
    let aside = std::path::PathBuf::from(aside);
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            // Best effort: the file is out of the way either way.
            let _ = sync_parent(path);
            StoreError {
                path: path.to_path_buf(),
                reason: format!("{reason}; set aside as {}", aside.display()),
                set_aside: Some(aside),
            }
        }
        Err(e) => StoreError {
            path: path.to_path_buf(),
            reason: format!("{reason}; cannot set it aside: {e}"),
            set_aside: None,
        },
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Replaces the file atomically with `alerts` and `outbox`.
pub fn save(path: &Path, alerts: Vec<Saved>, outbox: Vec<Pending>) -> Result<(), StoreError> {
    let failed = |reason: String| StoreError {
        path: path.to_path_buf(),
        reason,
        set_aside: None,
    };
    let file = StateFile {
        version: VERSION,
        alerts: alerts
            .into_iter()
            .map(|(key, entry)| SavedAlert { key, entry })
            .collect(),
        outbox,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| failed(e.to_string()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable only once the directory is synced.
        sync_parent(path)
    };
    write().map_err(|e| failed(e.to_string()))
}

/// The state file cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct StoreError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What went wrong.
    pub reason: String,
    /// Where an unreadable file was moved to.
    pub set_aside: Option<std::path::PathBuf>,
}
