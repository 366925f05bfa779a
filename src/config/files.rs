//! Files the configuration names (CA files, DNSSEC trust anchors), read while it is validated and
//! kept: each distinct file is read once per load, and the probes that name it share it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_resolver::proto::dnssec::TrustAnchors;

use crate::posture::dns::{trust_anchor_file, AnchorError};
use crate::trust::{LazyTrust, Trust, TrustError};

/// A file read when the configuration was loaded, with what it holds.
///
/// Two are equal when they name the same path and the file had not changed between the two
/// reads (same size, modification time and inode): a reload restarts the probes whose CA file or
/// trust anchor was rotated in place, and keeps the others running.
pub struct Loaded<T> {
    path: PathBuf,
    stamp: Option<FileStamp>,
    value: Arc<T>,
}

/// What identifies one version of a file without reading it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    device: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            device: meta.dev(),
            inode: meta.ino(),
        })
    }
}

impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        Loaded {
            path: self.path.clone(),
            stamp: self.stamp,
            value: self.value.clone(),
        }
    }
}

impl<T> Loaded<T> {
    /// The file, as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it holds.
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }
}

impl<T> PartialEq for Loaded<T> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.stamp.is_some() && self.stamp == other.stamp
    }
}

impl<T> fmt::Debug for Loaded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Loaded({})", self.path.display())
    }
}

/// The files read so far in one load.
#[derive(Default)]
pub(super) struct FileCache {
    trust: HashMap<PathBuf, Loaded<LazyTrust>>,
    anchors: HashMap<PathBuf, Loaded<TrustAnchors>>,
}

impl FileCache {
    /// The system roots plus the CA file at `path`, read now (a bad file is a configuration
    /// error, not a failure at the first TLS probe).
    pub(super) fn ca_file(&mut self, path: &Path) -> Result<Loaded<LazyTrust>, TrustError> {
        once(&mut self.trust, path, |path| {
            Ok(LazyTrust::ready(Trust::load(&[path.to_path_buf()])?))
        })
    }

    /// The DNSKEY trust anchor at `path`, read now.
    pub(super) fn anchor(&mut self, path: &Path) -> Result<Loaded<TrustAnchors>, AnchorError> {
        once(&mut self.anchors, path, trust_anchor_file)
    }
}

/// The file at `path` as `read` makes it, read the first time it is asked for in this load.
fn once<T, E>(
    cache: &mut HashMap<PathBuf, Loaded<T>>,
    path: &Path,
    read: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<Loaded<T>, E> {
    if let Some(loaded) = cache.get(path) {
        return Ok(loaded.clone());
    }
    // The stamp first: a file replaced while it is read then looks changed.
    let stamp = FileStamp::of(path);
    let loaded = Loaded {
        path: path.to_path_buf(),
        stamp,
        value: Arc::new(read(path)?),
    };
    cache.insert(path.to_path_buf(), loaded.clone());
    Ok(loaded)
}
