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
/// Two are equal when they name the same path: whether a probe changed on reload is a question
/// about the configuration, and a reload reads every file afresh anyway.
pub struct Loaded<T> {
    path: PathBuf,
    value: Arc<T>,
}

impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        Loaded {
            path: self.path.clone(),
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
        self.path == other.path
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
    trust: HashMap<PathBuf, Arc<LazyTrust>>,
    anchors: HashMap<PathBuf, Arc<TrustAnchors>>,
}

impl FileCache {
    /// The system roots plus the CA file at `path`, read now (a bad file is a configuration
    /// error, not a failure at the first TLS probe).
    pub(super) fn ca_file(&mut self, path: &Path) -> Result<Loaded<LazyTrust>, TrustError> {
        let value = match self.trust.get(path) {
            Some(trust) => trust.clone(),
            None => {
                let trust = Trust::load(&[path.to_path_buf()])?;
                let trust = Arc::new(LazyTrust::ready(trust));
                self.trust.insert(path.to_path_buf(), trust.clone());
                trust
            }
        };
        Ok(Loaded {
            path: path.to_path_buf(),
            value,
        })
    }

    /// The DNSKEY trust anchor at `path`, read now.
    pub(super) fn anchor(&mut self, path: &Path) -> Result<Loaded<TrustAnchors>, AnchorError> {
        let value = match self.anchors.get(path) {
            Some(anchors) => anchors.clone(),
            None => {
                let anchors = Arc::new(trust_anchor_file(path)?);
                self.anchors.insert(path.to_path_buf(), anchors.clone());
                anchors
            }
        };
        Ok(Loaded {
            path: path.to_path_buf(),
            value,
        })
    }
}
