//! The journal of finished steps, kept beside the checkpoints so that a
//! second apply of the same plan skips what is done and resumes after a
//! failure.
//!
//! A step counts as done only when its entry carries the hash of the job
//! definition it ran with. Editing a job changes the hash, so that job runs
//! again. The file is rewritten after every finished step, through a
//! temporary file and a rename so that a crash never leaves half a journal.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version of the journal's format.
pub const JOURNAL_FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub plan: String,
    /// The plan's revision at its last apply.
    pub revision: Option<u64>,
    /// Finished steps by step id.
    pub steps: BTreeMap<String, JournalEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub job_hash: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// The checkpoint folder a checkpoint step wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// The container a restore step created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
}

#[derive(Debug, Error, Diagnostic)]
pub enum JournalError {
    #[error("could not read the journal {}", path.display())]
    #[diagnostic(code(docker_cr::plan::journal_read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the journal {} is not valid JSON", path.display())]
    #[diagnostic(
        code(docker_cr::plan::journal_invalid),
        help("move the file away to apply the plan from its start; every step then runs again")
    )]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("another apply of this plan is running: {} is locked", path.display())]
    #[diagnostic(
        code(docker_cr::plan::journal_locked),
        help("wait for the other `docker-cr apply` to finish; two applies of one plan would dump and restore the same containers twice")
    )]
    Locked { path: PathBuf },

    #[error("could not write the journal {}", path.display())]
    #[diagnostic(code(docker_cr::plan::journal_write), help("check that the plan's output folder is writable"))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock on a plan's journal, held for the whole apply and
/// released when dropped (or when the process dies, as flock(2) locks are).
#[derive(Debug)]
pub struct JournalLock {
    _lock: Flock<File>,
}

/// Takes the lock beside the journal at `journal`, failing at once when
/// another apply holds it.
pub fn lock(journal: &Path) -> Result<JournalLock, JournalError> {
    let path = journal.with_extension("lock");
    let write_error = |source| JournalError::Write { path: path.clone(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(write_error)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(JournalLock { _lock: lock }),
        Err((_, Errno::EWOULDBLOCK)) => Err(JournalError::Locked { path }),
        Err((_, errno)) => Err(JournalError::Write { path: path.clone(), source: errno.into() }),
    }
}

impl Journal {
    /// Reads the journal at `path`; an empty one for the plan when there is
    /// no file yet.
    pub fn load(path: &Path, plan: &str) -> Result<Self, JournalError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Journal { format: JOURNAL_FORMAT, plan: plan.to_string(), ..Default::default() });
            }
            Err(source) => return Err(JournalError::Read { path: path.to_path_buf(), source }),
        };
        serde_json::from_str(&text).map_err(|source| JournalError::Invalid { path: path.to_path_buf(), source })
    }

    pub fn save(&self, path: &Path) -> Result<(), JournalError> {
        let write_error = |source| JournalError::Write { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, json).map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(write_error)
    }

    /// Returns the entry of a step finished with this job definition.
    pub fn finished(&self, step: &str, job_hash: &str) -> Option<&JournalEntry> {
        self.steps.get(step).filter(|entry| entry.job_hash == job_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str) -> JournalEntry {
        JournalEntry { job_hash: hash.into(), finished_at: "now".into(), duration_ms: 1, checkpoint: None, container_id: None }
    }

    #[test]
    fn missing_file_is_an_empty_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::load(&dir.path().join("plan.json"), "plan").unwrap();
        assert_eq!(journal.plan, "plan");
        assert!(journal.steps.is_empty());
    }

    #[test]
    fn saved_journal_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal").join("plan.json");
        let mut journal = Journal::load(&path, "plan").unwrap();
        journal.steps.insert("web/checkpoint".into(), entry("abc"));
        journal.save(&path).unwrap();
        let read = Journal::load(&path, "plan").unwrap();
        assert_eq!(read.steps.get("web/checkpoint"), Some(&entry("abc")));
    }

    #[test]
    fn changed_hash_is_not_finished() {
        let mut journal = Journal::default();
        journal.steps.insert("web/checkpoint".into(), entry("abc"));
        assert!(journal.finished("web/checkpoint", "abc").is_some());
        assert!(journal.finished("web/checkpoint", "def").is_none());
    }

    #[test]
    fn second_lock_fails_while_first_held() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("plan.json");
        let first = lock(&journal).expect("first lock");
        assert!(matches!(lock(&journal), Err(JournalError::Locked { .. })));
        drop(first);
        assert!(lock(&journal).is_ok(), "the lock is free again once dropped");
    }

    #[test]
    fn invalid_json_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(Journal::load(&path, "plan"), Err(JournalError::Invalid { .. })));
    }
}
