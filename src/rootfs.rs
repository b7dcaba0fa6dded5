//! The container's writable layer and named volumes, carried beside the CRIU
//! images the way Podman and CRI-O carry them. `rootfs-diff.tar` contains the
//! files added or changed since the image, `deleted.files` (a JSON array of
//! absolute paths) lists the files deleted from it, and `volumes/<name>.tar`
//! contains a named volume.
//!
//! With the overlay2 storage driver, the writable layer is the container's
//! upper folder: changed files are there as they are, and deleted ones are
//! whiteouts (character devices 0:0). Restoring writes the same files and
//! whiteouts into the new container's upper folder before it starts, which
//! is exactly what overlayfs itself would have written.
//!
//! NOTE: an opaque folder (deleted and made again, marked with the
//! `trusted.overlay.opaque` attribute) is carried as an ordinary folder, so
//! after a restore the image's old files in it show through again. Carrying
//! the attribute, or listing the image's files under it as deleted, would
//! lift this.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use miette::Diagnostic;
use nix::sys::stat::{mknod, Mode, SFlag};
use thiserror::Error;

pub const ROOTFS_DIFF: &str = "rootfs-diff.tar";
pub const DELETED_FILES: &str = "deleted.files";
pub const VOLUMES_DIR: &str = "volumes";

#[derive(Debug, Error, Diagnostic)]
pub enum RootfsError {
    #[error("could not {action} {path}")]
    #[diagnostic(code(docker_cr::rootfs::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{file} names a path outside the container: {entry}")]
    #[diagnostic(code(docker_cr::rootfs::unsafe_path), help("the checkpoint was edited or is corrupt; take a new one"))]
    UnsafePath { file: PathBuf, entry: String },

    #[error("{path} is not a valid list of deleted files")]
    #[diagnostic(code(docker_cr::rootfs::invalid_deleted_files), help("the checkpoint was edited or is corrupt; take a new one"))]
    InvalidDeletedFiles {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The changes an export or apply of the writable layer covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerChanges {
    /// Files, folders and links written to the tar, relative to the root.
    pub changed: usize,
    /// Absolute paths deleted from the image.
    pub deleted: Vec<String>,
}

/// Writes the changes found in `upper` to `tar_path` and the deleted paths
/// to `deleted_path`, leaving out everything at or below `excluded` paths
/// (mount points, whose contents belong to the mount).
pub fn export_layer(upper: &Path, excluded: &[String], tar_path: &Path, deleted_path: &Path) -> Result<LayerChanges, RootfsError> {
    let file = File::create(tar_path).map_err(|source| io_error("create", tar_path, source))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    let mut changes = LayerChanges::default();
    walk_layer(upper, upper, excluded, &mut builder, &mut changes)?;
    builder.into_inner().and_then(|file| file.sync_all()).map_err(|source| io_error("write", tar_path, source))?;

    let json = serde_json::to_vec_pretty(&changes.deleted).unwrap_or_default();
    fs::write(deleted_path, json).map_err(|source| io_error("write", deleted_path, source))?;
    Ok(changes)
}

fn walk_layer(
    upper: &Path,
    dir: &Path,
    excluded: &[String],
    builder: &mut tar::Builder<File>,
    changes: &mut LayerChanges,
) -> Result<(), RootfsError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|source| io_error("read", dir, source))?
        .collect::<Result<_, _>>()
        .map_err(|source| io_error("read", dir, source))?;
    entries.sort_by_key(|entry| entry.file_name());

    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(upper).unwrap_or(&path).to_path_buf();
        let absolute = format!("/{}", relative.display());
        if excluded.iter().any(|mount| absolute == *mount || absolute.starts_with(&format!("{}/", mount.trim_end_matches('/')))) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(|source| io_error("read", &path, source))?;
        let kind = meta.file_type();
        if kind.is_char_device() && meta.rdev() == 0 {
            changes.deleted.push(absolute);
            continue;
        }
        if kind.is_socket() {
            // A socket file is only a name; the process that listens on it
            // is restored by CRIU, which binds the name again.
            continue;
        }
        builder
            .append_path_with_name(&path, &relative)
            .map_err(|source| io_error("archive", &path, source))?;
        changes.changed += 1;
        if kind.is_dir() {
            walk_layer(upper, &path, excluded, builder, changes)?;
        }
    }
    Ok(())
}

/// Writes an exported layer into another container's upper folder: the tar's
/// files as they are, and a whiteout for each deleted path.
pub fn apply_layer(upper: &Path, tar_path: &Path, deleted_path: &Path) -> Result<LayerChanges, RootfsError> {
    let mut changes = LayerChanges::default();
    if tar_path.is_file() {
        changes.changed = unpack(tar_path, upper)?;
    }
    if deleted_path.is_file() {
        let text = fs::read(deleted_path).map_err(|source| io_error("read", deleted_path, source))?;
        let deleted: Vec<String> = serde_json::from_slice(&text)
            .map_err(|source| RootfsError::InvalidDeletedFiles { path: deleted_path.to_path_buf(), source })?;
        for entry in &deleted {
            let relative = safe_relative(entry)
                .ok_or_else(|| RootfsError::UnsafePath { file: deleted_path.to_path_buf(), entry: entry.clone() })?;
            let whiteout = upper.join(relative);
            if let Some(parent) = whiteout.parent() {
                fs::create_dir_all(parent).map_err(|source| io_error("create", parent, source))?;
            }
            let _ = fs::remove_file(&whiteout);
            mknod(&whiteout, SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(|errno| io_error("create the whiteout", &whiteout, io::Error::from(errno)))?;
        }
        changes.deleted = deleted;
    }
    Ok(changes)
}

/// Writes a folder's contents to a tar, for a named volume.
pub fn export_folder(folder: &Path, tar_path: &Path) -> Result<(), RootfsError> {
    let file = File::create(tar_path).map_err(|source| io_error("create", tar_path, source))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", folder).map_err(|source| io_error("archive", folder, source))?;
    builder.into_inner().and_then(|file| file.sync_all()).map_err(|source| io_error("write", tar_path, source))
}

/// Unpacks a tar into a folder, keeping owners, modes and times. Returns the
/// number of entries.
pub fn unpack(tar_path: &Path, into: &Path) -> Result<usize, RootfsError> {
    let file = File::open(tar_path).map_err(|source| io_error("open", tar_path, source))?;
    let mut archive = tar::Archive::new(file);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut count = 0;
    for entry in archive.entries().map_err(|source| io_error("read", tar_path, source))? {
        let mut entry = entry.map_err(|source| io_error("read", tar_path, source))?;
        // unpack_in refuses entries that would land outside `into`.
        entry.unpack_in(into).map_err(|source| io_error("unpack", tar_path, source))?;
        count += 1;
    }
    Ok(count)
}

/// Turns "/etc/motd" into "etc/motd", refusing anything with "..".
fn safe_relative(entry: &str) -> Option<PathBuf> {
    let path = Path::new(entry);
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => relative.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!relative.as_os_str().is_empty()).then_some(relative)
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> RootfsError {
    RootfsError::Io { action, path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whiteout(path: &Path) {
        mknod(path, SFlag::S_IFCHR, Mode::empty(), 0).expect("mknod needs root");
    }

    #[test]
    fn layer_round_trip_keeps_files_and_deletions() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: whiteouts need root");
            return;
        }
        let upper = tempfile::tempdir().unwrap();
        fs::create_dir_all(upper.path().join("etc")).unwrap();
        fs::write(upper.path().join("etc/app.conf"), "mode=warm\n").unwrap();
        whiteout(&upper.path().join("etc/motd"));
        fs::create_dir_all(upper.path().join("data/inside")).unwrap();
        fs::write(upper.path().join("data/inside/x"), "mounted").unwrap();

        let out = tempfile::tempdir().unwrap();
        let tar_path = out.path().join(ROOTFS_DIFF);
        let deleted_path = out.path().join(DELETED_FILES);
        let exported = export_layer(upper.path(), &["/data".to_string()], &tar_path, &deleted_path).unwrap();
        assert_eq!(exported.deleted, vec!["/etc/motd".to_string()]);

        let target = tempfile::tempdir().unwrap();
        let applied = apply_layer(target.path(), &tar_path, &deleted_path).unwrap();
        assert_eq!(applied.deleted, vec!["/etc/motd".to_string()]);
        assert_eq!(fs::read_to_string(target.path().join("etc/app.conf")).unwrap(), "mode=warm\n");
        let motd = fs::symlink_metadata(target.path().join("etc/motd")).unwrap();
        assert!(motd.file_type().is_char_device(), "deletions become whiteouts");
        assert_eq!(motd.rdev(), 0, "a whiteout is the device 0:0");
        assert!(!target.path().join("data").exists(), "mount points are left out");
    }

    #[test]
    fn deleted_entry_with_parent_dir_is_refused() {
        let out = tempfile::tempdir().unwrap();
        let deleted_path = out.path().join(DELETED_FILES);
        fs::write(&deleted_path, r#"["/../../etc/passwd"]"#).unwrap();
        let target = tempfile::tempdir().unwrap();
        let error = apply_layer(target.path(), &out.path().join("none.tar"), &deleted_path).unwrap_err();
        assert!(matches!(error, RootfsError::UnsafePath { .. }));
    }

    #[test]
    fn safe_relative_strips_root() {
        assert_eq!(safe_relative("/etc/motd"), Some(PathBuf::from("etc/motd")));
        assert_eq!(safe_relative("/"), None);
        assert_eq!(safe_relative("/a/../b"), None);
    }
}
