//! CRIU options for restores that the engine drives.
//!
//! When Docker restores a container, runc runs CRIU with options of its own
//! choosing. The only way to add more is CRIU's configuration file for runc,
//! `/etc/criu/runc.conf`, which runc (1.1 and later) hands to CRIU for every
//! dump and restore. docker-cr writes its lines there for the length of one
//! restore and then puts the previous content back. The file is global to the
//! host, so restores take an exclusive lock on it for that time.
//!
//! NOTE: a dump or restore that another tool starts through runc while the
//! lock is held also reads these lines. Engines with API 1.43 or later can
//! name a per-container file through the `org.criu.config` annotation, which
//! would lift this; Docker 20.10 (API 1.41) cannot.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The file runc passes to CRIU as its configuration.
pub const RUNC_CONFIG: &str = "/etc/criu/runc.conf";

/// The lock that serialises docker-cr's edits of the file.
const LOCK_FILE: &str = "/run/docker-cr-runc-conf.lock";

/// The comment above docker-cr's lines, naming their owner for a reader.
const MARKER: &str = "# added by docker-cr for one restore; removed when it ends";

/// Holds `/etc/criu/runc.conf` with docker-cr's lines in it; dropping it puts
/// the previous content back and releases the lock.
pub struct RuncConfig {
    path: PathBuf,
    previous: Option<Vec<u8>>,
    _lock: Flock<File>,
}

impl RuncConfig {
    /// Takes the lock (waiting for another docker-cr restore to finish) and
    /// appends `lines` to the file.
    pub fn apply(lines: &[String]) -> io::Result<Self> {
        Self::apply_at(Path::new(RUNC_CONFIG), Path::new(LOCK_FILE), lines)
    }

    fn apply_at(path: &Path, lock_path: &Path, lines: &[String]) -> io::Result<Self> {
        let lock_file = OpenOptions::new().create(true).truncate(false).write(true).open(lock_path)?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))?;

        let previous = match fs::read(path) {
            Ok(content) => Some(content),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        let mut content = previous.clone().unwrap_or_default();
        if !content.is_empty() && !content.ends_with(b"\n") {
            content.push(b'\n');
        }
        content.extend_from_slice(MARKER.as_bytes());
        content.push(b'\n');
        for line in lines {
            content.extend_from_slice(line.as_bytes());
            content.push(b'\n');
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, content)?;
        Ok(Self { path: path.to_path_buf(), previous, _lock: lock })
    }
}

impl Drop for RuncConfig {
    fn drop(&mut self) {
        let restored = match &self.previous {
            Some(content) => fs::write(&self.path, content),
            None => fs::remove_file(&self.path),
        };
        if let Err(error) = restored {
            tracing::warn!(path = %self.path.display(), %error, "could not put back CRIU's runc configuration");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_added_then_removed() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("criu/runc.conf");
        let lock = folder.path().join("lock");
        {
            let _config = RuncConfig::apply_at(&path, &lock, &["log-file /tmp/x.log".to_string()]).unwrap();
            let content = fs::read_to_string(&path).unwrap();
            assert!(content.contains("log-file /tmp/x.log"));
        }
        assert!(!path.exists(), "a file that was not there before is removed");
    }

    #[test]
    fn previous_content_is_put_back() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("runc.conf");
        let lock = folder.path().join("lock");
        fs::write(&path, "tcp-close").unwrap();
        {
            let _config = RuncConfig::apply_at(&path, &lock, &["file-locks".to_string()]).unwrap();
            let content = fs::read_to_string(&path).unwrap();
            assert!(content.starts_with("tcp-close\n"));
            assert!(content.ends_with("file-locks\n"));
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "tcp-close");
    }
}
