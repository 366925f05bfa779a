//! The state file: firing alerts, saved whenever a notification is made, so a restarted
//! agent neither re-pages (`firing` again) nor forgets to send `resolved`.
//!
//! JSON, `{"version": 1, "alerts": [...]}`, written to a temporary file in the same directory,
//! synced, then renamed over the old one: a crash leaves the old or the new file, never half
//! of one.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::book::{AlertKey, Entry};

/// One saved alert.
pub type Saved = (AlertKey, Entry);

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    alerts: Vec<SavedAlert>,
}

#[derive(Serialize, Deserialize)]
struct SavedAlert {
    key: AlertKey,
    entry: Entry,
}

/// Reads the saved alerts; a missing file is an empty state.
pub fn load(path: &Path) -> Result<Vec<Saved>, StoreError> {
    let failed = |reason: String| StoreError {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed(e.to_string())),
    };
    let file: StateFile = serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
    if file.version != VERSION {
        let reason = format!("state file version {} is not {VERSION}", file.version);
        return Err(failed(reason));
    }
    Ok(file.alerts.into_iter().map(|a| (a.key, a.entry)).collect())
}

/// Replaces the file atomically with `alerts`.
pub fn save(path: &Path, alerts: Vec<Saved>) -> Result<(), StoreError> {
    let failed = |reason: String| StoreError {
        path: path.to_path_buf(),
        reason,
    };
    let file = StateFile {
        version: VERSION,
        alerts: alerts
            .into_iter()
            .map(|(key, entry)| SavedAlert { key, entry })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| failed(e.to_string()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
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
}
