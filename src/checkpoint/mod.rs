//! The on-disk checkpoint: a folder laid out the way Podman and CRI-O lay
//! out theirs, so that tools such as checkpointctl understand it, plus
//! docker-cr's own manifest.
//!
//! ```text
//! <output>/<container>/<name>/
//!   checkpoint/         CRIU's images and runc's descriptors.json
//!   config.dump         the engine's inspect output for the container
//!   spec.dump           the container's OCI runtime spec
//!   stats-dump          CRIU's dump statistics
//!   dump.log            CRIU's log of the dump
//!   manifest.json       docker-cr's manifest (see manifest.rs)
//!   rootfs-diff.tar     files added or changed in the writable layer
//!   deleted.files       paths deleted from the image (JSON)
//!   volumes/<name>.tar  a named volume's contents, with --with-volumes
//!   cpuinfo/            CRIU's record of the host's CPU features
//! ```
//!
//! A folder counts as a checkpoint once its manifest is written, which is
//! the last step of a checkpoint. A folder without one is a half-made
//! checkpoint and is never restored.

pub mod manifest;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

pub use manifest::{FilesRecord, Manifest, MANIFEST_FORMAT};

/// The folder under which checkpoints are written when no other is named.
pub const DEFAULT_OUTPUT: &str = "/tmp/docker-checkpoints";

/// The subfolder holding CRIU's images, as Podman and CRI-O name it.
pub const IMAGES_DIR: &str = "checkpoint";
pub const CONFIG_DUMP: &str = "config.dump";
pub const SPEC_DUMP: &str = "spec.dump";
pub const STATS_DUMP: &str = "stats-dump";
pub const DUMP_LOG: &str = "dump.log";
pub const MANIFEST: &str = "manifest.json";
/// The folder of CRIU's cpuinfo.img. It is kept apart from the images so
/// that the restore runc runs never reads it.
pub const CPUINFO_DIR: &str = "cpuinfo";
/// runc's record of what the init process's stdio pointed to.
pub const DESCRIPTORS: &str = "descriptors.json";

/// CRIU images without which no restore can work.
pub const REQUIRED_IMAGES: &[&str] = &["inventory.img", "pstree.img"];

#[derive(Debug, Error, Diagnostic)]
pub enum CheckpointError {
    #[error("no checkpoint folder at {path}")]
    #[diagnostic(
        code(docker_cr::checkpoint::not_found),
        help("check the path: `docker-cr checkpoint` prints the folder it writes, such as /tmp/docker-checkpoints/<container>/<name>")
    )]
    NotFound { path: PathBuf },

    #[error("{path} is not a checkpoint: it has no {MANIFEST}")]
    #[diagnostic(
        code(docker_cr::checkpoint::not_a_checkpoint),
        help("point --from at a folder written by `docker-cr checkpoint`, such as /tmp/docker-checkpoints/<container>/<name>, which holds {MANIFEST} beside the checkpoint/ folder")
    )]
    NotACheckpoint { path: PathBuf },

    #[error("the checkpoint {path} is incomplete: {} missing", missing.join(", "))]
    #[diagnostic(
        code(docker_cr::checkpoint::incomplete),
        help("the checkpoint was cut short or files were removed from it; take a new checkpoint")
    )]
    Incomplete { path: PathBuf, missing: Vec<String> },

    #[error("the manifest {path} is not valid")]
    #[diagnostic(code(docker_cr::checkpoint::invalid_manifest), help("the file was edited or written by another tool; take a new checkpoint"))]
    InvalidManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("a checkpoint named {name} already exists at {path}")]
    #[diagnostic(
        code(docker_cr::checkpoint::exists),
        help("choose another --name, or remove the old checkpoint first if it is no longer needed")
    )]
    AlreadyExists { name: String, path: PathBuf },

    #[error("the output folder {path} is not writable")]
    #[diagnostic(code(docker_cr::checkpoint::not_writable), help("choose a writable folder with --output, or fix its permissions"))]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("could not {action} {path}")]
    #[diagnostic(code(docker_cr::checkpoint::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A checkpoint folder, either being written or read.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    root: PathBuf,
}

impl CheckpointDir {
    /// Creates `<output>/<container>/<name>/` and its images folder. Fails
    /// when a checkpoint of that name exists, and never touches one.
    pub fn create(output: &Path, container: &str, name: &str) -> Result<Self, CheckpointError> {
        let parent = output.join(container);
        fs::create_dir_all(&parent).map_err(|source| CheckpointError::NotWritable { path: parent.clone(), source })?;
        let root = parent.join(name);
        match fs::create_dir(&root) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(CheckpointError::AlreadyExists { name: name.to_string(), path: root });
            }
            Err(source) => return Err(CheckpointError::NotWritable { path: root, source }),
        }
        let dir = Self { root };
        fs::create_dir(dir.images_dir()).map_err(|source| CheckpointError::NotWritable { path: dir.images_dir(), source })?;
        Ok(dir)
    }

    /// Opens an existing checkpoint and checks that it is complete.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let dir = Self { root: path.to_path_buf() };
        if !path.is_dir() {
            return Err(CheckpointError::NotFound { path: path.to_path_buf() });
        }
        if !dir.manifest_path().is_file() {
            return Err(CheckpointError::NotACheckpoint { path: path.to_path_buf() });
        }
        let missing: Vec<String> = REQUIRED_IMAGES
            .iter()
            .chain(std::iter::once(&DESCRIPTORS))
            .map(|file| format!("{IMAGES_DIR}/{file}"))
            .filter(|relative| !dir.root.join(relative).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(CheckpointError::Incomplete { path: path.to_path_buf(), missing });
        }
        Ok(dir)
    }

    /// Refers to a checkpoint folder without checking it, for readers that
    /// show what an incomplete checkpoint still contains.
    pub fn at(path: &Path) -> Self {
        Self { root: path.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join(IMAGES_DIR)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    pub fn path_of(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    pub fn read_manifest(&self) -> Result<Manifest, CheckpointError> {
        let path = self.manifest_path();
        let text = fs::read_to_string(&path).map_err(|source| CheckpointError::Io { action: "read", path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| CheckpointError::InvalidManifest { path, source })
    }

    /// Writes the manifest; this is what makes the folder a checkpoint.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), CheckpointError> {
        let json = serde_json::to_vec_pretty(manifest).map_err(|source| CheckpointError::InvalidManifest {
            path: self.manifest_path(),
            source,
        })?;
        self.write_file(MANIFEST, &json)
    }

    /// Writes a file at the top of the checkpoint.
    pub fn write_file(&self, file: &str, contents: &[u8]) -> Result<(), CheckpointError> {
        let path = self.root.join(file);
        fs::write(&path, contents).map_err(|source| CheckpointError::Io { action: "write", path, source })
    }

    /// Moves CRIU's statistics from the images folder to the top, where
    /// Podman and checkpointctl look for them.
    pub fn lift_stats(&self) -> Result<(), CheckpointError> {
        let from = self.images_dir().join(STATS_DUMP);
        if from.is_file() {
            let to = self.path_of(STATS_DUMP);
            fs::rename(&from, &to).map_err(|source| CheckpointError::Io { action: "move", path: from, source })?;
        }
        Ok(())
    }

    /// Returns the total size in bytes of every file in the checkpoint.
    pub fn size(&self) -> u64 {
        tree_size(&self.root)
    }

    /// Removes a checkpoint folder that a failed checkpoint half made.
    pub fn discard(self) {
        if let Err(error) = fs::remove_dir_all(&self.root) {
            tracing::warn!(path = %self.root.display(), %error, "could not remove the half-made checkpoint");
        }
    }
}

/// Returns the total size in bytes of every file below `path`.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map(|meta| meta.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Copies every regular file of one folder into another, which must exist.
pub fn copy_files(from: &Path, to: &Path) -> io::Result<u64> {
    let mut copied = 0;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            copied += fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_existing_name() {
        let output = tempfile::tempdir().unwrap();
        CheckpointDir::create(output.path(), "web", "first").unwrap();
        let error = CheckpointDir::create(output.path(), "web", "first").unwrap_err();
        assert!(matches!(error, CheckpointError::AlreadyExists { .. }));
    }

    #[test]
    fn create_lays_out_images_folder() {
        let output = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::create(output.path(), "web", "first").unwrap();
        assert!(output.path().join("web/first/checkpoint").is_dir());
        assert_eq!(dir.root(), output.path().join("web/first"));
    }

    #[test]
    fn open_names_missing_folder() {
        let folder = tempfile::tempdir().unwrap();
        let error = CheckpointDir::open(&folder.path().join("absent")).unwrap_err();
        assert!(matches!(error, CheckpointError::NotFound { .. }));
    }

    #[test]
    fn open_rejects_folder_without_manifest() {
        let folder = tempfile::tempdir().unwrap();
        let error = CheckpointDir::open(folder.path()).unwrap_err();
        assert!(matches!(error, CheckpointError::NotACheckpoint { .. }));
    }

    #[test]
    fn open_names_missing_images() {
        let output = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::create(output.path(), "web", "first").unwrap();
        dir.write_file(MANIFEST, b"{}").unwrap();
        fs::write(dir.images_dir().join("inventory.img"), b"").unwrap();
        match CheckpointDir::open(dir.root()).unwrap_err() {
            CheckpointError::Incomplete { missing, .. } => {
                assert_eq!(missing, vec!["checkpoint/pstree.img".to_string(), "checkpoint/descriptors.json".to_string()]);
            }
            other => panic!("expected Incomplete, got {other:?}"),
        }
    }
}
