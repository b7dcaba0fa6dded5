//! Discovery of checkpoints in folders, for `docker-cr list`: a folder
//! counts when it has CRIU's images in any layout `inspect` reads, found
//! at most two levels down, as `<output>/<container>/<name>/`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{self, CheckpointDir};
use crate::exec::inspect::{locate, Layout};

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

fn search(dir: &Path, depth: usize, found: &mut Vec<ListEntry>) {
    if let Ok(located) = locate(dir) {
        found.push(describe(&located.root, located.layout, &located.images));
        return;
    }
    if depth == 0 {
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(path = %dir.display(), %error, "could not read the folder; skipping it");
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()).collect();
    children.sort();
    for child in children {
        search(&child, depth - 1, found);
    }
}

fn describe(root: &Path, layout: Layout, images: &Path) -> ListEntry {
    let mut entry = ListEntry {
        path: root.to_path_buf(),
        layout,
        container: None,
        image: None,
        checkpointed_at: modified_time(&images.join("inventory.img")),
        size_bytes: checkpoint::tree_size(root),
        engine: None,
    };
    if layout == Layout::DockerCr {
        match CheckpointDir::at(root).read_manifest() {
            Ok(manifest) => {
                entry.container = Some(manifest.container.name);
                entry.image = Some(manifest.container.image);
                entry.checkpointed_at = Some(manifest.checkpointed_at);
                entry.engine = Some(format!("docker {}", manifest.engine.version));
            }
            Err(error) => tracing::warn!(path = %root.display(), %error, "the manifest could not be read"),
        }
        return entry;
    }
    let config = fs::read_to_string(root.join(checkpoint::CONFIG_DUMP)).ok().and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    if let Some(config) = config {
        let text = |value: &serde_json::Value| value.as_str().map(|text| text.trim_start_matches('/').to_string());
        entry.container = text(&config["Name"]).or_else(|| text(&config["name"]));
        entry.image = text(&config["Config"]["Image"]).or_else(|| text(&config["rootfsImageName"]));
    }
    entry
}

fn modified_time(path: &Path) -> Option<String> {
    let modified = fs::metadata(path).and_then(|meta| meta.modified()).ok()?;
    let time = time::OffsetDateTime::from(modified);
    time.format(&time::format_description::well_known::Rfc3339).ok()
}
