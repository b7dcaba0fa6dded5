//! Discovery of checkpoints in folders, for `docker-cr list`: a folder
//! counts when it has CRIU's images in any layout `inspect` reads, and so
//! does a checkpoint archive. Both are found at most two levels down, as in
//! `<output>/<container>/<name>/`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint;
use crate::exec::inspect::{container_info, locate, open_archive, read_config_dump, read_manifest, Layout, Located};
use crate::image::archive::Compression;

/// The depth of folders below a searched folder that may be checkpoints.
const SEARCH_DEPTH: usize = 2;

/// One checkpoint found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    pub path: PathBuf,
    pub layout: Layout,
    pub container: Option<String>,
    pub image: Option<String>,
    /// When the dump finished, in RFC 3339: from the manifest, or the
    /// modification time of inventory.img for other layouts.
    pub checkpointed_at: Option<String>,
    pub size_bytes: u64,
    pub engine: Option<String>,
}

/// Finds the checkpoints in `dirs`, sorted by path. Folders that cannot be
/// read are skipped with a warning on stderr.
pub fn find_checkpoints(dirs: &[PathBuf]) -> Vec<ListEntry> {
    let mut found = Vec::new();
    for dir in dirs {
        search(dir, SEARCH_DEPTH, &mut found);
    }
    found.sort_by(|left, right| left.path.cmp(&right.path));
    found
}

fn search(path: &Path, depth: usize, found: &mut Vec<ListEntry>) {
    if path.is_file() {
        let Some(compression) = Compression::from_name(path) else { return };
        match open_archive(path, compression, false) {
            Ok(located) => found.push(describe(&located)),
            Err(error) => tracing::warn!(path = %path.display(), %error, "not a readable checkpoint archive; skipping it"),
        }
        return;
    }
    if let Ok(located) = locate(path) {
        found.push(describe(&located));
        return;
    }
    if depth == 0 {
        return;
    }
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "could not read the folder; skipping it");
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    children.sort();
    for child in children {
        search(&child, depth - 1, found);
    }
}

fn describe(located: &Located) -> ListEntry {
    let manifest = match read_manifest(located) {
        Ok(manifest) => manifest,
        Err(error) => {
            tracing::warn!(path = %located.root.display(), %error, "the manifest could not be read");
            None
        }
    };
    let config = read_config_dump(located);
    let container = container_info(manifest.as_ref(), config.as_ref());
    let size_bytes = if located.is_archive() { located.total_bytes(0) } else { checkpoint::tree_size(&located.root) };
    // Without a manifest, the newest sign of the dump is when CRIU wrote
    // the inventory, or when the archive was written.
    let written = if located.is_archive() { located.root.clone() } else { located.images.join("inventory.img") };
    ListEntry {
        path: located.root.clone(),
        layout: located.layout,
        container: container.as_ref().and_then(|info| info.name.clone()),
        image: container.as_ref().and_then(|info| info.image.clone()),
        checkpointed_at: manifest.as_ref().map(|manifest| manifest.checkpointed_at.clone()).or_else(|| modified_time(&written)),
        size_bytes,
        engine: manifest.as_ref().map(|manifest| format!("docker {}", manifest.engine.version)),
    }
}

fn modified_time(path: &Path) -> Option<String> {
    let modified = fs::metadata(path).and_then(|meta| meta.modified()).ok()?;
    let time = time::OffsetDateTime::from(modified);
    time.format(&time::format_description::well_known::Rfc3339).ok()
}
