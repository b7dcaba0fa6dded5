//! Checkpointing a running container: its process tree is dumped directly
//! through CRIU's RPC, not through the engine, with the options runc uses
//! (see `criu::options`), into a checkpoint folder (see `checkpoint`).
//!
//! A failure leaves the container as it was (CRIU thaws the tree when a dump
//! fails) and removes the half-made folder, keeping CRIU's log in the
//! temporary folder so the diagnostic can point at it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::ContainerInspectResponse;
use serde::Serialize;

use super::{blocking, require_root, ExecError};
use crate::checkpoint::manifest::{DumpStats, EngineRecord};
use crate::checkpoint::{self, CheckpointDir, FilesRecord, Manifest, MANIFEST_FORMAT};
use crate::criu::options::{dump_options, DumpFlags, DumpTarget};
use crate::criu::{CriuClient, CriuError, KernelVersion};
use crate::docker::{overlay_dir, ContainerSnapshot, Engine, SourceKind};
use crate::image;
use crate::linux;
use crate::rootfs;

/// The engine's state folders for a container's OCI bundle, newest layout
/// first: Docker's own containerd, then a system containerd.
const BUNDLE_ROOTS: &[&str] = &[
    "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby",
    "/run/containerd/io.containerd.runtime.v2.task/moby",
];

/// CRIU's notification sent after the dump, while the tree is still frozen.
const POST_DUMP: &str = "post-dump";

/// Paths Docker masks when the runtime spec cannot be read (Docker 20.10's
/// defaults).
const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// A checkpoint request: the container, where to write, and the options.
#[derive(Debug, Clone)]
pub struct CheckpointRequest {
    /// The container's name or id.
    pub container: String,
    /// The folder under which `<container>/<name>/` is created.
    pub output: PathBuf,
    /// The checkpoint's name; a timestamped one when absent.
    pub name: Option<String>,
    pub flags: DumpFlags,
    /// Leave the writable layer's changes out of the checkpoint.
    pub ignore_rootfs: bool,
    /// Also save the contents of named volumes.
    pub with_volumes: bool,
}

/// The result of a successful checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    pub container: String,
    pub container_id: String,
    pub name: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    /// How long CRIU kept the processes frozen, from its statistics.
    pub frozen_time: Option<Duration>,
    pub duration: Duration,
    pub leave_running: bool,
}

/// Checkpoints a running container. `progress` receives one short line per
/// stage, for the user to watch.
pub async fn checkpoint(
    engine: &Engine,
    criu: &CriuClient,
    request: &CheckpointRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<CheckpointReport, ExecError> {
    let started = Instant::now();
    require_root()?;

    // Preflight: nothing is written until every check has passed.
    let kernel = KernelVersion::running().ok_or(ExecError::KernelUnknown)?;
    let criu_version = blocking(|| criu.ensure_supports(kernel)).await?;
    let engine_info = engine.info().await?;
    let inspect = engine.inspect_container(&request.container).await?;
    let mut snapshot = ContainerSnapshot::from_inspect(&inspect);
    record_source_kinds(&mut snapshot);
    let pid = running_pid(&request.container, &inspect)?;
    // NOTE: the terminal's master end lives in the engine's shim, outside the
    // container, so CRIU stops with "Unable to find a master". Lifting this
    // takes an external `tty[rdev:dev]` on dump and a new console handed to
    // runc on restore.
    if snapshot.tty {
        return Err(ExecError::TerminalNotSupported { container: snapshot.name.clone() });
    }
    let root = merged_dir(&request.container, &inspect)?;
    let spec = read_runtime_spec(&snapshot.id);
    let mounts = linux::mountinfo(pid)
        .map_err(|source| ExecError::ContainerState { container: snapshot.name.clone(), what: "the mount table", source })?;
    let target = dump_target(pid, root, spec.as_ref(), &mounts);
    let descriptors = linux::stdio_targets(pid)
        .map_err(|source| ExecError::ContainerState { container: snapshot.name.clone(), what: "the standard descriptors", source })?;

    let files = FileCapture {
        upper: (!request.ignore_rootfs).then(|| overlay_dir(&inspect, "UpperDir")).flatten(),
        mount_points: mounts.iter().map(|mount| mount.mount_point.clone()).filter(|point| point != "/").collect(),
        volumes: if request.with_volumes {
            snapshot
                .mounts
                .iter()
                .filter(|mount| mount.kind == "volume")
                .filter_map(|mount| Some((mount.name.clone()?, PathBuf::from(&mount.source))))
                .collect()
        } else {
            Vec::new()
        },
    };

    let name = request.name.clone().unwrap_or_else(default_name);
    let dir = CheckpointDir::create(&request.output, &snapshot.name, &name)?;
    progress(&format!("dumping {} (pid {pid}) into {}", snapshot.name, dir.root().display()));

    let written = write_checkpoint(criu, &dir, &inspect, spec.as_ref(), &descriptors, &target, request.flags, &files, progress).await;
    match written {
        Ok((stats, files)) => {
            let manifest = Manifest {
                format: MANIFEST_FORMAT.to_string(),
                name: name.clone(),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                criu_version: criu_version.to_string(),
                kernel: kernel.to_string(),
                host: linux::hostname(),
                checkpointed_at: now_rfc3339(),
                options: request.flags,
                engine: EngineRecord {
                    version: engine_info.version,
                    api_version: engine.api_version(),
                    storage_driver: engine_info.storage_driver,
                    cgroup_version: engine_info.cgroup_version,
                },
                container: snapshot.clone(),
                dump: target,
                stats,
                files,
            };
            if let Err(error) = dir.write_manifest(&manifest) {
                dir.discard();
                return Err(error.into());
            }
            Ok(CheckpointReport {
                container: snapshot.name,
                container_id: snapshot.id,
                name,
                size_bytes: dir.size(),
                path: dir.root().to_path_buf(),
                frozen_time: stats.map(|stats| Duration::from_micros(stats.frozen_time_us)),
                duration: started.elapsed(),
                leave_running: request.flags.leave_running,
            })
        }
        Err(error) => {
            let error = keep_log_of_failure(&dir, &snapshot.name, &name, error);
            dir.discard();
            Err(error)
        }
    }
}

/// The files copied while CRIU keeps the tree frozen, so that they match
/// the dumped processes exactly.
struct FileCapture {
    /// The container's overlay upper folder; `None` leaves the layer out.
    upper: Option<PathBuf>,
    /// Every mount point of the container, whose contents are not the layer's.
    mount_points: Vec<String>,
    /// Named volumes to save, with their folders on the host.
    volumes: Vec<(String, PathBuf)>,
}

impl FileCapture {
    fn save(&self, dir: &CheckpointDir) -> Result<FilesRecord, ExecError> {
        let mut record = FilesRecord::default();
        if let Some(upper) = &self.upper {
            let changes = rootfs::export_layer(
                upper,
                &self.mount_points,
                &dir.path_of(rootfs::ROOTFS_DIFF),
                &dir.path_of(rootfs::DELETED_FILES),
            )?;
            record.rootfs_diff = true;
            record.changed = changes.changed;
            record.deleted = changes.deleted.len();
        }
        if !self.volumes.is_empty() {
            let volumes_dir = dir.path_of(rootfs::VOLUMES_DIR);
            std::fs::create_dir_all(&volumes_dir)
                .map_err(|source| checkpoint::CheckpointError::Io { action: "create", path: volumes_dir.clone(), source })?;
            for (name, folder) in &self.volumes {
                rootfs::export_folder(folder, &volumes_dir.join(format!("{name}.tar")))?;
                record.volumes.push(name.clone());
            }
        }
        Ok(record)
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_checkpoint(
    criu: &CriuClient,
    dir: &CheckpointDir,
    inspect: &ContainerInspectResponse,
    spec: Option<&serde_json::Value>,
    descriptors: &[String],
    target: &DumpTarget,
    flags: DumpFlags,
    files: &FileCapture,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Option<DumpStats>, FilesRecord), ExecError> {
    dir.write_file(checkpoint::CONFIG_DUMP, &to_json(inspect))?;
    if let Some(spec) = spec {
        dir.write_file(checkpoint::SPEC_DUMP, &to_json(spec))?;
    }
    let descriptors_path = dir.images_dir().join(checkpoint::DESCRIPTORS);
    std::fs::write(&descriptors_path, to_json(descriptors))
        .map_err(|source| checkpoint::CheckpointError::Io { action: "write", path: descriptors_path, source })?;

    // The CPU features let a restore on another host refuse early, before
    // CRIU fails half way. Older CRIU builds without the request still dump.
    let cpuinfo_dir = dir.path_of(checkpoint::CPUINFO_DIR);
    let cpuinfo = std::fs::create_dir(&cpuinfo_dir).is_ok()
        && blocking(|| criu.cpuinfo_dump(&cpuinfo_dir))
            .await
            .map_err(|error| tracing::warn!(%error, "CRIU could not record the CPU features"))
            .is_ok();

    let opts = dump_options(target, flags);
    let images_dir = dir.images_dir();
    let work_dir = dir.root().to_path_buf();
    let mut saved: Option<Result<FilesRecord, ExecError>> = None;
    let dumped = blocking(|| {
        criu.dump(opts, &images_dir, &work_dir, |stage| {
            if !stage.is_empty() {
                progress(&format!("criu: {stage}"));
            }
            if stage == POST_DUMP {
                progress("saving the writable layer and volumes while the container is frozen");
                let result = files.save(dir);
                let ok = result.is_ok();
                saved = Some(result);
                return ok;
            }
            true
        })
    })
    .await;
    // A failed file copy aborts the dump; its error is the one to report.
    let mut record = match (dumped, saved) {
        (_, Some(Err(error))) => return Err(error),
        (Err(error), _) => return Err(error.into()),
        (Ok(_), Some(Ok(record))) => record,
        (Ok(_), None) => files.save(dir)?,
    };
    record.cpuinfo = cpuinfo;

    dir.lift_stats()?;
    let stats = image::read_dump_stats(&dir.path_of(checkpoint::STATS_DUMP))
        .map_err(|error| tracing::warn!(%error, "CRIU's dump statistics could not be read"))
        .ok()
        .flatten()
        .map(|entry| DumpStats {
            freezing_time_us: entry.freezing_time.into(),
            frozen_time_us: entry.frozen_time.into(),
            memdump_time_us: entry.memdump_time.into(),
            memwrite_time_us: entry.memwrite_time.into(),
            pages_scanned: entry.pages_scanned,
            pages_written: entry.pages_written,
        });
    Ok((stats, record))
}

/// Notes whether each bind source is a file or a folder, so that a restore
/// can make a missing one again of the same kind.
fn record_source_kinds(snapshot: &mut ContainerSnapshot) {
    for mount in snapshot.mounts.iter_mut().filter(|mount| mount.kind == "bind") {
        mount.source_kind = std::fs::metadata(&mount.source).ok().map(|meta| {
            if meta.is_dir() {
                SourceKind::Directory
            } else {
                SourceKind::File
            }
        });
    }
}

/// Pretty JSON for the files written beside the images; these types
/// always serialise.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Copies CRIU's log out of a folder about to be removed and points the
/// error at the copy.
fn keep_log_of_failure(dir: &CheckpointDir, container: &str, name: &str, error: ExecError) -> ExecError {
    let log = dir.path_of(checkpoint::DUMP_LOG);
    if !log.is_file() {
        return error;
    }
    let kept_dir = std::env::temp_dir().join("docker-cr-logs");
    let kept = kept_dir.join(format!("{container}-{name}-dump.log"));
    if std::fs::create_dir_all(&kept_dir).and_then(|()| std::fs::copy(&log, &kept)).is_err() {
        return error;
    }
    match error {
        ExecError::Criu(CriuError::Failed { request, errno, message, log_excerpt, .. }) => {
            ExecError::Criu(CriuError::Failed { request, errno, message, log_path: Some(kept), log_excerpt })
        }
        ExecError::Criu(CriuError::Exited { request, status, .. }) => {
            ExecError::Criu(CriuError::Exited { request, status, log_path: Some(kept) })
        }
        other => other,
    }
}

fn running_pid(container: &str, inspect: &ContainerInspectResponse) -> Result<i32, ExecError> {
    let state = inspect.state.clone().unwrap_or_default();
    if state.paused == Some(true) {
        return Err(ExecError::ContainerPaused { container: container.to_string() });
    }
    let pid = state.pid.unwrap_or(0);
    if state.running != Some(true) || pid <= 0 {
        let status = state.status.map(|status| status.to_string()).unwrap_or_else(|| "stopped".to_string());
        return Err(ExecError::ContainerNotRunning { container: container.to_string(), state: status });
    }
    Ok(pid as i32)
}

fn merged_dir(container: &str, inspect: &ContainerInspectResponse) -> Result<String, ExecError> {
    overlay_dir(inspect, "MergedDir").map(|dir| dir.to_string_lossy().into_owned()).ok_or_else(|| {
        let driver = inspect.graph_driver.as_ref().map(|driver| driver.name.clone()).unwrap_or_default();
        ExecError::UnsupportedStorage { container: container.to_string(), driver }
    })
}

/// Reads the OCI runtime spec the container was started with, from the
/// runtime's bundle. `None` when no known bundle folder has it.
fn read_runtime_spec(container_id: &str) -> Option<serde_json::Value> {
    BUNDLE_ROOTS.iter().find_map(|root| {
        let path = Path::new(root).join(container_id).join("config.json");
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    })
}

/// Works out which mounts CRIU must treat as external, the way runc does:
/// bind mounts of the runtime spec, cgroup v1 controller mounts, and masked
/// paths that are files.
fn dump_target(pid: i32, root: String, spec: Option<&serde_json::Value>, mounts: &[linux::MountInfo]) -> DumpTarget {
    let mounted = |path: &str| mounts.iter().any(|mount| mount.mount_point == path);

    let bind_mounts: Vec<String> = match spec.and_then(|spec| spec.get("mounts")?.as_array().cloned()) {
        Some(spec_mounts) => spec_mounts
            .iter()
            .filter(|mount| {
                let is_bind_type = mount.get("type").and_then(|t| t.as_str()) == Some("bind");
                let has_bind_option = mount
                    .get("options")
                    .and_then(|o| o.as_array())
                    .is_some_and(|options| options.iter().any(|o| matches!(o.as_str(), Some("bind" | "rbind"))));
                is_bind_type || has_bind_option
            })
            .filter_map(|mount| mount.get("destination")?.as_str().map(str::to_string))
            .collect(),
        // Without the spec, mountinfo still shows binds: a mount whose root
        // is not "/" exposes part of another filesystem.
        None => mounts
            .iter()
            .filter(|mount| mount.root != "/" && mount.root != "/null" && !mount.mount_point.starts_with("/proc") && !mount.mount_point.starts_with("/sys"))
            .map(|mount| mount.mount_point.clone())
            .collect(),
    };

    let cgroup_mounts = mounts
        .iter()
        .filter(|mount| mount.fs_type == "cgroup" && mount.mount_point.starts_with("/sys/fs/cgroup/"))
        .map(|mount| mount.mount_point.clone())
        .collect();

    let masked_paths: Vec<String> = spec
        .and_then(|spec| spec.pointer("/linux/maskedPaths")?.as_array().cloned())
        .map(|paths| paths.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect());
    let masked_files = masked_paths
        .into_iter()
        .filter(|path| mounted(path) && !linux::is_dir_in_root(pid, path))
        .collect();

    DumpTarget { pid, root, bind_mounts, masked_files, cgroup_mounts }
}

fn default_name() -> String {
    let format = time::macros::format_description!("checkpoint-[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc().format(&format).unwrap_or_else(|_| "checkpoint".to_string())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
