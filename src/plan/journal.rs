//! The journal of finished steps, kept beside the checkpoints so that a
//! second apply of the same plan skips what is done and resumes after a
//! failure.
//!
//! A step counts as done only when its entry carries the hash of the job
//! definition it ran with. Editing a job changes the hash, so that job runs
//! again. The file is rewritten after every finished step, through a
//! temporary file and a rename so that a crash never leaves half a journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
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

    #[error("could not write the journal {}", path.display())]
    #[diagnostic(code(docker_cr::plan::journal_write), help("check that the plan's output folder is writable"))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    fn invalid_json_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(Journal::load(&path, "plan"), Err(JournalError::Invalid { .. })));
    }
}
