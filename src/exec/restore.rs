//! Restoring a checkpoint as a new container that the engine manages like
//! any other.
//!
//! The engine restores only from `<root dir>/containers/<id>/checkpoints/<name>/`
//! (Docker 20.10 rejects a custom checkpoint folder on start), so a restore
//! is: create the container from the manifest, write the saved writable
//! layer into its upper folder, copy the CRIU images into that folder, and
//! start the container with `checkpoint=<name>`. runc then runs CRIU's
//! restore inside the new container's namespaces.
//!
//! Mounts are mended before anything is created: `mount_maps` move a bind
//! mount's source, `skip_mounts` leave a mount out (CRIU gets an empty
//! placeholder for it), and with `auto_fix_mounts` a missing source is
//! created of the kind it was. With `validate_env`, every problem is listed
//! at once before anything is created.
//!
//! A failure after that removes what the restore created (the container,
//! sources and volumes it made); the checkpoint itself is only read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use super::{blocking, require_root, ExecError};
use crate::checkpoint::{self, CheckpointDir, Manifest};
use crate::criu::runc_config::RuncConfig;
use crate::criu::{compat, hints, log_error_excerpt, CriuClient, KernelVersion};
use crate::docker::{overlay_dir, ContainerSnapshot, DockerError, Engine, SourceKind};
use crate::image::ImageDir;
use crate::rootfs;

/// How long a restored container must keep running before the restore
/// counts as done; a tree that CRIU restored wrongly usually dies at once.
const SETTLE_TIME: Duration = Duration::from_millis(500);

/// The folder of the placeholders for skipped mounts. They outlive the
/// restore because the restored processes keep them mounted.
const PLACEHOLDER_ROOT: &str = "/var/lib/docker-cr/skipped-mounts";

/// How many error lines of CRIU's restore log a failure shows.
const LOG_EXCERPT_LINES: usize = 6;

#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The checkpoint folder.
    pub from: PathBuf,
    /// The new container's name.
    pub new_name: String,
    /// Check everything before creating anything, and report all problems.
    pub validate_env: bool,
    /// Create missing bind-mount sources of the kind they were.
    pub auto_fix_mounts: bool,
    /// Mount destinations to leave out of the new container.
    pub skip_mounts: Vec<String>,
    /// Bind-mount sources to replace: an old host path and its new one.
    pub mount_maps: Vec<MountMap>,
}

/// `--mount-map OLD=NEW`: a bind mount whose source is OLD (or lies below
/// it) is restored from NEW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountMap {
    pub old: String,
    pub new: String,
}

impl std::str::FromStr for MountMap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((old, new)) if old.starts_with('/') && new.starts_with('/') => {
                Ok(Self { old: old.trim_end_matches('/').to_string(), new: new.trim_end_matches('/').to_string() })
            }
            _ => Err(format!("expected OLD=NEW with two absolute host paths, got {text:?}")),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub container: String,
    pub container_id: String,
    pub checkpoint: PathBuf,
    pub image: String,
    /// The restored tree's root process, in the host's PID namespace.
    pub pid: i64,
    pub duration: Duration,
    /// Mount sources that were missing and were created.
    pub created_sources: Vec<PathBuf>,
    /// Mount destinations left out.
    pub skipped_mounts: Vec<String>,
    /// The mount maps that moved a bind-mount source.
    pub mount_maps: Vec<MountMap>,
    /// Files of the writable layer written back, and paths deleted again.
    pub rootfs_changed: usize,
    pub rootfs_deleted: usize,
    /// Named volumes filled from the checkpoint.
    pub volumes_filled: Vec<String>,
}

/// One reason the restore cannot go ahead, found before anything was created.
#[derive(Debug, Error, Diagnostic)]
pub enum Problem {
    #[error("a container named {0} already exists")]
    #[diagnostic(code(docker_cr::restore::name_taken), help("choose another --new-name, or `docker rm -f {0}` if it is no longer needed"))]
    NameTaken(String),

    #[error("the image {0} is not on this host")]
    #[diagnostic(code(docker_cr::restore::image_missing), help("`docker pull {0}`, or `docker save` it on the source host and `docker load` it here"))]
    ImageMissing(String),

    #[error("the Docker engine is not in experimental mode")]
    #[diagnostic(code(docker_cr::restore::engine_not_experimental), help("start dockerd with --experimental, or set \"experimental\": true in /etc/docker/daemon.json"))]
    EngineNotExperimental,

    #[error("CRIU {found} is too old for kernel {kernel}: {reason}")]
    #[diagnostic(code(docker_cr::restore::criu_too_old), help("install CRIU {needed} or newer (scripts/setup-host.sh does this)"))]
    CriuTooOld { found: String, kernel: String, reason: String, needed: String },

    #[error("the source {source_path} of the bind mount at {destination} does not exist")]
    #[diagnostic(
        code(docker_cr::restore::mount_source_missing),
        help("create it, restore with --auto-fix-mounts=true (the default) to have it created empty, or point the mount elsewhere with --mount-map {source_path}=NEW_PATH")
    )]
    MountSourceMissing { destination: String, source_path: String },

    #[error("--mount-map {old}={new} matches no bind mount of the checkpoint")]
    #[diagnostic(code(docker_cr::restore::unknown_mount_map), help("the checkpoint's bind-mount sources are: {known}"))]
    UnknownMountMap { old: String, new: String, known: String },

    #[error("--skip-mounts {0} names no bind mount or volume of the checkpoint")]
    #[diagnostic(code(docker_cr::restore::unknown_skip_mount), help("the checkpoint's bind mounts and volumes are at: {1}"))]
    UnknownSkipMount(String, String),

    #[error("the volume {name} does not exist on this host and its contents are not in the checkpoint")]
    #[diagnostic(
        code(docker_cr::restore::volume_missing),
        help("copy the volume here, take the checkpoint again with --with-volumes, or leave it out with --skip-mounts {destination}")
    )]
    VolumeMissing { name: String, destination: String },

    #[error("this host's CPU lacks features recorded in the checkpoint")]
    #[diagnostic(code(docker_cr::restore::cpu_incompatible), help("restore on a host with the same or a newer CPU; CRIU said: {0}"))]
    CpuIncompatible(String),
}

/// All problems found before a restore, reported together.
#[derive(Debug, Error, Diagnostic)]
#[error("the checkpoint {} cannot be restored here: {}, nothing was created", checkpoint.display(), problem_count(problems.len()))]
#[diagnostic(code(docker_cr::restore::preflight), help("fix each problem below and run the restore again"))]
pub struct PreflightError {
    pub checkpoint: PathBuf,
    #[related]
    pub problems: Vec<Problem>,
}

fn problem_count(count: usize) -> String {
    if count == 1 {
        "1 problem found".to_string()
    } else {
        format!("{count} problems found")
    }
}

pub async fn restore(
    engine: &Engine,
    criu: &CriuClient,
    request: &RestoreRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RestoreReport, ExecError> {
    let started = Instant::now();
    require_root()?;

    let dir = CheckpointDir::open(&request.from)?;
    let manifest = dir.read_manifest()?;
    // The images are decoded before anything else, so a damaged checkpoint
    // fails here and not half way through the engine's restore.
    ImageDir::open(&dir.images_dir())?.check()?;
    let mut snapshot = manifest.container.clone();
    let mut problems = Vec::new();
    apply_mount_maps(&mut snapshot, &request.mount_maps, &mut problems);
    let skipped = remove_skipped_mounts(&mut snapshot, &request.skip_mounts, &mut problems);

    // Preflight: every check runs, and every problem is reported at once.
    let engine_info = engine.info().await?;
    let missing_sources = missing_bind_sources(&snapshot);
    if request.validate_env {
        preflight(engine, criu, &dir, &manifest, &snapshot, engine_info.experimental, request, &missing_sources, &mut problems).await?;
    } else if !engine_info.experimental {
        problems.push(Problem::EngineNotExperimental);
    }
    if !request.auto_fix_mounts && !request.validate_env {
        // The engine would create a missing source as a folder, which is
        // wrong for a file, so this one check runs even without validation.
        for (destination, source) in &missing_sources {
            problems.push(Problem::MountSourceMissing { destination: destination.clone(), source_path: source.clone() });
        }
    }
    if !problems.is_empty() {
        return Err(PreflightError { checkpoint: dir.root().to_path_buf(), problems }.into());
    }

    let mut created = Created::default();
    let result = create_and_start(engine, &engine_info.root_dir, &dir, &manifest, &snapshot, &skipped, request, &mut created, progress).await;
    match result {
        Ok((container_id, pid, rootfs_changes)) => Ok(RestoreReport {
            container: request.new_name.clone(),
            container_id,
            checkpoint: dir.root().to_path_buf(),
            image: snapshot.image,
            pid,
            duration: started.elapsed(),
            created_sources: created.sources,
            skipped_mounts: skipped.iter().map(|mount| mount.destination.clone()).collect(),
            mount_maps: request.mount_maps.clone(),
            rootfs_changed: rootfs_changes.changed,
            rootfs_deleted: rootfs_changes.deleted.len(),
            volumes_filled: created.filled_volumes,
        }),
        Err(error) => {
            progress(&format!("restore failed; removing what it created for {}", request.new_name));
            created.undo(engine).await;
            Err(error)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn preflight(
    engine: &Engine,
    criu: &CriuClient,
    dir: &CheckpointDir,
    manifest: &Manifest,
    snapshot: &ContainerSnapshot,
    experimental: bool,
    request: &RestoreRequest,
    missing_sources: &[(String, String)],
    problems: &mut Vec<Problem>,
) -> Result<(), ExecError> {
    if !experimental {
        problems.push(Problem::EngineNotExperimental);
    }
    let kernel = KernelVersion::running().ok_or(ExecError::KernelUnknown)?;
    let found = blocking(|| criu.version()).await?;
    if let Some(limit) = compat::unmet_kernel_limit(found, kernel) {
        problems.push(Problem::CriuTooOld {
            found: found.to_string(),
            kernel: kernel.to_string(),
            reason: limit.symptom.to_string(),
            needed: compat::minimum_criu_for(kernel).to_string(),
        });
    }
    if engine.container_exists(&request.new_name).await? {
        problems.push(Problem::NameTaken(request.new_name.clone()));
    }
    if !engine.image_exists(&snapshot.image).await? {
        problems.push(Problem::ImageMissing(snapshot.image.clone()));
    }
    if !request.auto_fix_mounts {
        for (destination, source) in missing_sources {
            problems.push(Problem::MountSourceMissing { destination: destination.clone(), source_path: source.clone() });
        }
    }
    for mount in snapshot.mounts.iter().filter(|mount| mount.kind == "volume") {
        let Some(name) = &mount.name else { continue };
        let saved = manifest.files.volumes.contains(name);
        if !saved && engine.volume_mountpoint(name).await?.is_none() {
            problems.push(Problem::VolumeMissing { name: name.clone(), destination: mount.destination.clone() });
        }
    }
    if manifest.files.cpuinfo {
        let cpuinfo_dir = dir.path_of(checkpoint::CPUINFO_DIR);
        if let Err(error) = blocking(|| criu.cpuinfo_check(&cpuinfo_dir)).await {
            problems.push(Problem::CpuIncompatible(error.to_string()));
        }
    }
    Ok(())
}

/// Replaces bind-mount sources by the maps. A map that matches nothing is a
/// problem, because it is most likely a typo.
fn apply_mount_maps(snapshot: &mut ContainerSnapshot, maps: &[MountMap], problems: &mut Vec<Problem>) {
    let known: Vec<String> = snapshot.mounts.iter().filter(|m| m.kind == "bind").map(|m| m.source.clone()).collect();
    for map in maps {
        let mut matched = false;
        for mount in snapshot.mounts.iter_mut().filter(|mount| mount.kind == "bind") {
            let below = mount.source.strip_prefix(&map.old).filter(|rest| rest.is_empty() || rest.starts_with('/'));
            if let Some(rest) = below {
                mount.source = format!("{}{rest}", map.new);
                matched = true;
            }
        }
        if !matched {
            problems.push(Problem::UnknownMountMap {
                old: map.old.clone(),
                new: map.new.clone(),
                known: if known.is_empty() { "none".to_string() } else { known.join(", ") },
            });
        }
    }
}

/// Takes the skipped mounts out of the snapshot and returns them.
fn remove_skipped_mounts(
    snapshot: &mut ContainerSnapshot,
    skip: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<crate::docker::MountRecord> {
    let skippable = |kind: &str| kind == "bind" || kind == "volume";
    let known: Vec<String> =
        snapshot.mounts.iter().filter(|m| skippable(&m.kind)).map(|m| m.destination.clone()).collect();
    let mut skipped = Vec::new();
    for destination in skip {
        let destination = destination.trim_end_matches('/');
        match snapshot.mounts.iter().position(|m| skippable(&m.kind) && m.destination == destination) {
            Some(index) => skipped.push(snapshot.mounts.remove(index)),
            None => problems.push(Problem::UnknownSkipMount(
                destination.to_string(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") },
            )),
        }
    }
    skipped
}

/// Bind mounts whose source is missing on this host, as (destination, source).
fn missing_bind_sources(snapshot: &ContainerSnapshot) -> Vec<(String, String)> {
    snapshot
        .mounts
        .iter()
        .filter(|mount| mount.kind == "bind" && !Path::new(&mount.source).exists())
        .map(|mount| (mount.destination.clone(), mount.source.clone()))
        .collect()
}

/// The containers, sources and volumes a restore made, so that a failure
/// can remove them again.
#[derive(Default)]
struct Created {
    container_id: Option<String>,
    sources: Vec<PathBuf>,
    volumes: Vec<String>,
    filled_volumes: Vec<String>,
    placeholders: Option<PathBuf>,
}

impl Created {
    async fn undo(self, engine: &Engine) {
        if let Some(id) = &self.container_id {
            if let Err(error) = engine.remove_container(id).await {
                tracing::warn!(container = %id, %error, "could not remove the container of a failed restore");
            }
        }
        for volume in &self.volumes {
            if let Err(error) = engine.remove_volume(volume).await {
                tracing::warn!(%volume, %error, "could not remove a volume the failed restore created");
            }
        }
        // Created sources were empty when made; anything else in them now is
        // not ours to delete, so only empty ones go.
        for source in self.sources.iter().rev() {
            let removed = if source.is_dir() { std::fs::remove_dir(source) } else { remove_empty_file(source) };
            if let Err(error) = removed {
                tracing::warn!(path = %source.display(), %error, "left a mount source the failed restore created");
            }
        }
        if let Some(placeholders) = &self.placeholders {
            let _ = std::fs::remove_dir_all(placeholders);
        }
    }
}

fn remove_empty_file(path: &Path) -> std::io::Result<()> {
    if std::fs::metadata(path)?.len() == 0 {
        std::fs::remove_file(path)
    } else {
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn create_and_start(
    engine: &Engine,
    root_dir: &Path,
    dir: &CheckpointDir,
    manifest: &Manifest,
    snapshot: &ContainerSnapshot,
    skipped: &[crate::docker::MountRecord],
    request: &RestoreRequest,
    created: &mut Created,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(String, i64, rootfs::LayerChanges), ExecError> {
    // Missing bind sources, made of the kind they were.
    for mount in snapshot.mounts.iter().filter(|mount| mount.kind == "bind") {
        let source = PathBuf::from(&mount.source);
        if source.exists() {
            continue;
        }
        let kind = mount.source_kind.unwrap_or(SourceKind::Directory);
        create_source(&source, kind, &mut created.sources)?;
        let what = if kind == SourceKind::File { "an empty file" } else { "an empty folder" };
        progress(&format!("created the missing mount source {} as {what}", source.display()));
    }

    // Saved volume contents, only into volumes that are new or empty, so
    // that no data on this host is overwritten.
    for mount in snapshot.mounts.iter().filter(|mount| mount.kind == "volume") {
        let Some(name) = &mount.name else { continue };
        if !manifest.files.volumes.contains(name) {
            continue;
        }
        let folder = match engine.volume_mountpoint(name).await? {
            Some(folder) => folder,
            None => {
                let folder = engine.create_volume(name).await?;
                created.volumes.push(name.clone());
                folder
            }
        };
        let empty = std::fs::read_dir(&folder).map(|mut entries| entries.next().is_none()).unwrap_or(false);
        if empty {
            let tar_path = dir.path_of(rootfs::VOLUMES_DIR).join(format!("{name}.tar"));
            blocking(|| rootfs::unpack(&tar_path, &folder)).await?;
            created.filled_volumes.push(name.clone());
            progress(&format!("filled volume {name} from the checkpoint"));
        } else {
            progress(&format!("volume {name} already has contents here; they are kept"));
        }
    }

    progress(&format!("creating container {} from image {}", request.new_name, snapshot.image));
    let container_id = engine.create_container(&request.new_name, snapshot).await?;
    created.container_id = Some(container_id.clone());

    let inspect = engine.inspect_container(&container_id).await?;
    let upper = overlay_dir(&inspect, "UpperDir").ok_or_else(|| ExecError::UnsupportedStorage {
        container: request.new_name.clone(),
        driver: inspect.graph_driver.as_ref().map(|driver| driver.name.clone()).unwrap_or_default(),
    })?;
    let changes = blocking(|| {
        rootfs::apply_layer(&upper, &dir.path_of(rootfs::ROOTFS_DIFF), &dir.path_of(rootfs::DELETED_FILES))
    })
    .await?;
    if changes.changed > 0 || !changes.deleted.is_empty() {
        progress(&format!(
            "wrote back the writable layer: {} changed, {} deleted",
            changes.changed,
            changes.deleted.len()
        ));
    }

    let staged = root_dir.join("containers").join(&container_id).join("checkpoints").join(&manifest.name);
    progress(&format!("staging the images in {}", staged.display()));
    blocking(|| stage_images(&dir.images_dir(), &staged)).await?;

    // CRIU options the engine does not pass: kept log, TCP and lock
    // handling as dumped, and placeholders for skipped mounts.
    let log_path = failure_log_path(&request.new_name);
    let mut lines = vec![format!("log-file {}", log_path.display())];
    if manifest.options.tcp_established {
        lines.push("tcp-established".to_string());
    }
    if manifest.options.file_locks {
        lines.push("file-locks".to_string());
    }
    if !skipped.is_empty() {
        let placeholders = Path::new(PLACEHOLDER_ROOT).join(&container_id);
        created.placeholders = Some(placeholders.clone());
        for (index, mount) in skipped.iter().enumerate() {
            let placeholder = placeholders.join(index.to_string());
            let kind = mount.source_kind.unwrap_or(SourceKind::Directory);
            create_source(&placeholder, kind, &mut Vec::new())?;
            // The engine makes mount points only for the mounts it configures, so
            // CRIU needs this one made in the new container's layer.
            let mount_point = upper.join(mount.destination.trim_start_matches('/'));
            if !mount_point.exists() {
                create_source(&mount_point, kind, &mut Vec::new())?;
            }
            lines.push(format!("external mnt[{}]:{}", mount.destination, placeholder.display()));
            progress(&format!("leaving out the mount at {} (an empty placeholder stands in for it)", mount.destination));
        }
    }
    let config = RuncConfig::apply(&lines).map_err(|source| ExecError::Stage { path: PathBuf::from(crate::criu::runc_config::RUNC_CONFIG), source })?;

    progress(&format!("starting {} from the checkpoint", request.new_name));
    let started = engine.start_from_checkpoint(&container_id, &manifest.name).await;
    drop(config);
    // The engine has read the staged copy by now, whatever the outcome; it
    // would only double the checkpoint's footprint on disk.
    if let Err(error) = std::fs::remove_dir_all(&staged) {
        tracing::debug!(path = %staged.display(), %error, "staged images not removed");
    }
    if let Err(source) = started {
        return Err(restore_failure(&request.new_name, &log_path, source));
    }
    let _ = std::fs::remove_file(&log_path);

    tokio::time::sleep(SETTLE_TIME).await;
    let inspect = engine.inspect_container(&container_id).await?;
    let state = inspect.state.unwrap_or_default();
    if state.running != Some(true) {
        return Err(ExecError::RestoredContainerExited {
            name: request.new_name.clone(),
            exit_code: state.exit_code.unwrap_or(-1),
        });
    }
    Ok((container_id, state.pid.unwrap_or(0), changes))
}

/// Makes a missing file or folder, with its parents, noting each path made.
fn create_source(path: &Path, kind: SourceKind, made: &mut Vec<PathBuf>) -> Result<(), ExecError> {
    let stage_error = |source| ExecError::Stage { path: path.to_path_buf(), source };
    let mut missing_parents: Vec<PathBuf> = path.ancestors().skip(1).take_while(|p| !p.exists()).map(Path::to_path_buf).collect();
    missing_parents.reverse();
    for parent in missing_parents {
        std::fs::create_dir(&parent).map_err(stage_error)?;
        made.push(parent);
    }
    match kind {
        SourceKind::Directory => std::fs::create_dir(path).map_err(stage_error)?,
        SourceKind::File => {
            std::fs::File::create(path).map_err(stage_error)?;
        }
    }
    made.push(path.to_path_buf());
    Ok(())
}

fn stage_images(images: &Path, staged: &Path) -> Result<(), ExecError> {
    let stage_error = |source| ExecError::Stage { path: staged.to_path_buf(), source };
    std::fs::create_dir_all(staged).map_err(stage_error)?;
    checkpoint::copy_files(images, staged).map_err(stage_error)?;
    Ok(())
}

/// Returns where CRIU's restore log is kept. The engine deletes its own
/// copy with the failed task.
fn failure_log_path(container: &str) -> PathBuf {
    let folder = std::env::temp_dir().join("docker-cr-logs");
    let _ = std::fs::create_dir_all(&folder);
    folder.join(format!("{container}-restore.log"))
}

fn restore_failure(name: &str, log_path: &Path, source: DockerError) -> ExecError {
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let excerpt = log_error_excerpt(&log, LOG_EXCERPT_LINES);
    let mut hint = String::new();
    if let Some(known) = hints::hint_for(&excerpt) {
        hint.push_str(known);
        hint.push('\n');
    }
    if !excerpt.is_empty() {
        hint.push_str("CRIU's restore log says:\n");
        for line in &excerpt {
            hint.push_str("  ");
            hint.push_str(line);
            hint.push('\n');
        }
    }
    if log.is_empty() {
        hint.push_str("CRIU wrote no restore log; the engine's message above is all there is");
    } else {
        hint.push_str(&format!("CRIU's restore log is kept at {}", log_path.display()));
    }
    ExecError::RestoreFailed { name: name.to_string(), hint, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::MountRecord;

    fn snapshot() -> ContainerSnapshot {
        ContainerSnapshot {
            mounts: vec![
                MountRecord { kind: "bind".into(), source: "/srv/app/data".into(), destination: "/data".into(), ..Default::default() },
                MountRecord { kind: "volume".into(), source: "/var/lib/docker/volumes/c/_data".into(), destination: "/cache".into(), name: Some("c".into()), ..Default::default() },
                MountRecord { kind: "tmpfs".into(), destination: "/scratch".into(), ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn mount_map_parses_two_absolute_paths() {
        let map: MountMap = "/srv/old=/mnt/new/".parse().unwrap();
        assert_eq!(map, MountMap { old: "/srv/old".into(), new: "/mnt/new".into() });
        assert!("relative=/x".parse::<MountMap>().is_err());
        assert!("/no-equals".parse::<MountMap>().is_err());
    }

    #[test]
    fn mount_map_moves_sources_below_old_path() {
        let mut snapshot = snapshot();
        let mut problems = Vec::new();
        apply_mount_maps(&mut snapshot, &["/srv/app=/mnt/app".parse().unwrap()], &mut problems);
        assert!(problems.is_empty());
        assert_eq!(snapshot.mounts[0].source, "/mnt/app/data");
    }

    #[test]
    fn mount_map_does_not_match_a_longer_name() {
        let mut snapshot = snapshot();
        let mut problems = Vec::new();
        apply_mount_maps(&mut snapshot, &["/srv/ap=/mnt/x".parse().unwrap()], &mut problems);
        assert_eq!(snapshot.mounts[0].source, "/srv/app/data");
        assert!(matches!(problems[0], Problem::UnknownMountMap { .. }));
    }

    #[test]
    fn skipped_mount_leaves_snapshot() {
        let mut snapshot = snapshot();
        let mut problems = Vec::new();
        let skipped = remove_skipped_mounts(&mut snapshot, &["/cache".to_string()], &mut problems);
        assert!(problems.is_empty());
        assert_eq!(skipped[0].destination, "/cache");
        assert!(snapshot.mounts.iter().all(|mount| mount.destination != "/cache"));
    }

    #[test]
    fn tmpfs_cannot_be_skipped() {
        let mut snapshot = snapshot();
        let mut problems = Vec::new();
        remove_skipped_mounts(&mut snapshot, &["/scratch".to_string()], &mut problems);
        let Problem::UnknownSkipMount(path, known) = &problems[0] else { panic!("expected UnknownSkipMount, got {:?}", problems[0]) };
        assert_eq!(path, "/scratch");
        assert!(known.contains("/data"), "the help lists the skippable mounts: {known}");
    }

    #[test]
    fn create_source_makes_parents_and_records_them() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("a/b/file.conf");
        let mut made = Vec::new();
        create_source(&path, SourceKind::File, &mut made).unwrap();
        assert!(path.is_file());
        assert_eq!(made, vec![folder.path().join("a"), folder.path().join("a/b"), path]);
    }
}
