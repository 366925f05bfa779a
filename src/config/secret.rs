//! Reading secrets from files and the environment (the [`Secret`] type itself is
//! [`crate::secret`]), and the systemd directories a secret's path may start with.

use std::path::{Path, PathBuf};

pub use crate::secret::{redact_url, Secret};

/// The directories systemd passes to a service, which a path may start with.
const SYSTEMD_DIRS: [(&str, &str); 2] = [
    ("CREDENTIALS_DIRECTORY", "LoadCredential="),
    ("STATE_DIRECTORY", "StateDirectory="),
];

/// Expands a leading `$CREDENTIALS_DIRECTORY` or `$STATE_DIRECTORY` (also `${...}`), set by
/// systemd's `LoadCredential=` and `StateDirectory=`, so a config file can name credentials
/// and state without knowing where systemd puts them.
pub fn expand_systemd_dirs(path: &Path) -> Result<PathBuf, SecretError> {
    let text = path.to_string_lossy();
    for (var, directive) in SYSTEMD_DIRS {
        let rest = text
            .strip_prefix(&format!("${{{var}}}"))
            .or_else(|| text.strip_prefix(&format!("${var}")));
        if let Some(rest) = rest {
            return match std::env::var_os(var) {
                // StateDirectory= may list several directories, separated by ':'.
                Some(dir) => {
                    let dir = dir
                        .to_string_lossy()
                        .split(':')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    Ok(PathBuf::from(format!("{dir}{rest}")))
                }
                None => Err(SecretError::SystemdDirectory { var, directive }),
            };
        }
    }
    Ok(path.to_path_buf())
}

/// Reads a secret from a file (trailing whitespace removed). Errors name the file, never its
/// content.
pub fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let path = expand_systemd_dirs(path)?;
    let text = std::fs::read_to_string(&path).map_err(|e| SecretError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let value = without_line_ending(&text);
    if value.is_empty() {
        return Err(SecretError::EmptyFile(path));
    }
    Ok(Secret::new(value))
}

/// The one rule for every secret, from a file or a variable: trailing line endings (`\n`,
/// `\r\n`, the editor's) are not part of it; everything else, spaces included, is.
fn without_line_ending(text: &str) -> &str {
    text.trim_end_matches(['\n', '\r'])
}

/// Reads a secret from an environment variable.
pub fn read_secret_env(name: &str) -> Result<Secret, SecretError> {
    match std::env::var(name) {
        Ok(v) if !without_line_ending(&v).is_empty() => Ok(Secret::new(without_line_ending(&v))),
        Ok(_) => Err(SecretError::EmptyVariable(name.to_string())),
        Err(_) => Err(SecretError::UnsetVariable(name.to_string())),
    }
}

/// A secret (or a path under a systemd directory) that cannot be had. The messages name the
/// file or variable, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `$CREDENTIALS_DIRECTORY` or `$STATE_DIRECTORY` is not set.
    #[error("${var} is not set (systemd sets it with {directive})")]
    SystemdDirectory {
        /// The variable.
        var: &'static str,
        /// The unit directive that sets it.
        directive: &'static str,
    },
    /// The file cannot be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is empty.
    #[error("{} is empty", .0.display())]
    EmptyFile(PathBuf),
    /// The variable is not set.
    #[error("environment variable {0} is not set")]
    UnsetVariable(String),
    /// The variable is empty.
    #[error("environment variable {0} is empty")]
    EmptyVariable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_never_shows_the_path_query_or_user_info() {
        let s = Secret::new("https://user:pw@hooks.example.com:8443/services/T000/B000/XXXX?k=v");
        for shown in [format!("{s}"), format!("{s:?}"), s.redacted()] {
            assert_eq!(shown, "https://hooks.example.com:8443/<redacted>");
        }
        assert_eq!(Secret::new("hunter2").to_string(), "<redacted>");
        assert_eq!(
            Secret::new("http://127.0.0.1/a").expose(),
            "http://127.0.0.1/a"
        );
    }

    #[test]
    fn a_secret_file_loses_its_line_ending_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("smtpwatch-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cases = [
            ("key\n", "key"),
            ("key\r\n", "key"),
            ("key  \n", "key  "),
            (" key", " key"),
            ("k e y\n\n", "k e y"),
        ];
        for (i, (content, want)) in cases.into_iter().enumerate() {
            let path = dir.join(format!("s{i}"));
            std::fs::write(&path, content).expect("write");
            let got = read_secret_file(&path).expect("a secret");
            assert_eq!(got.expose(), want, "{content:?}");
        }
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").expect("write");
        assert!(
            read_secret_file(&empty).is_err(),
            "a lone newline is no secret"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn credentials_directory_is_expanded_only_as_a_prefix() {
        let plain = Path::new("/etc/smtpwatch/key");
        assert_eq!(expand_systemd_dirs(plain).as_deref(), Ok(plain));
    }
}
