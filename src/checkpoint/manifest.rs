//! docker-cr's manifest: the contents of a checkpoint and how it was made, so that
//! a restore on another host, or a reader years later, needs nothing but the
//! folder.

use serde::{Deserialize, Serialize};

use crate::criu::options::{DumpFlags, DumpTarget};
use crate::docker::ContainerSnapshot;

/// The manifest format this build writes and reads.
pub const MANIFEST_FORMAT: &str = "docker-cr.checkpoint/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`] for manifests this build understands.
    pub format: String,
    /// The checkpoint's name (the folder's name).
    pub name: String,
    /// The docker-cr version that wrote the checkpoint.
    pub tool_version: String,
    /// The CRIU version that dumped it, as "4.2.1".
    pub criu_version: String,
    /// The kernel release of the host it was dumped on.
    pub kernel: String,
    /// The host name of the host it was dumped on.
    pub host: String,
    /// When the dump finished, in RFC 3339.
    pub checkpointed_at: String,
    /// The options the dump was made with.
    pub options: DumpFlags,
    /// The engine that ran the container.
    pub engine: EngineRecord,
    /// The container's configuration as the engine reported it.
    pub container: ContainerSnapshot,
    /// The process tree and external mounts CRIU was asked to dump.
    pub dump: DumpTarget,
    /// CRIU's measurements, when its statistics could be read.
    pub stats: Option<DumpStats>,
    /// The files carried beside the images.
    #[serde(default)]
    pub files: FilesRecord,
}

/// The container's files carried beside the CRIU images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesRecord {
    /// Whether rootfs-diff.tar and deleted.files hold the writable layer.
    pub rootfs_diff: bool,
    /// Files, folders and links added or changed since the image.
    pub changed: usize,
    /// Paths deleted from the image.
    pub deleted: usize,
    /// Named volumes whose contents are in volumes/<name>.tar.
    pub volumes: Vec<String>,
    /// Whether cpuinfo/cpuinfo.img records the CPU features of the host.
    pub cpuinfo: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineRecord {
    pub version: String,
    pub api_version: String,
    pub storage_driver: String,
    pub cgroup_version: String,
}

/// CRIU's dump statistics; times in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpStats {
    pub freezing_time_us: u64,
    pub frozen_time_us: u64,
    pub memdump_time_us: u64,
    pub memwrite_time_us: u64,
    pub pages_scanned: u64,
    pub pages_written: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_through_json() {
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            name: "before-upgrade".into(),
            tool_version: "0.1.0".into(),
            criu_version: "4.2.1".into(),
            kernel: "6.18.44".into(),
            host: "node-1".into(),
            checkpointed_at: "2026-12-04T20:00:00Z".into(),
            options: DumpFlags::default(),
            engine: EngineRecord { version: "20.10.24".into(), api_version: "1.41".into(), ..Default::default() },
            container: ContainerSnapshot { name: "web".into(), image: "dcr-demo:latest".into(), ..Default::default() },
            dump: DumpTarget { pid: 12, root: "/merged".into(), ..Default::default() },
            stats: Some(DumpStats { frozen_time_us: 51_000, ..Default::default() }),
            files: FilesRecord { rootfs_diff: true, changed: 3, deleted: 1, volumes: vec!["cache".into()], cpuinfo: true },
        };
        let json = serde_json::to_string_pretty(&manifest).unwrap();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, manifest);
    }
}
