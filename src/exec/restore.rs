//! Restoring a checkpoint as a new container that the engine manages like
//! any other.
//!
//! The engine restores only from `<root dir>/containers/<id>/checkpoints/<name>/`
//! (Docker 20.10 rejects a custom checkpoint folder on start), so a restore
//! is: create the container from the manifest, copy the CRIU images into
//! that folder, and start the container with `checkpoint=<name>`. runc then
//! runs CRIU's restore inside the new container's namespaces.
//!
//! A failure after the container was created removes it; the checkpoint
//! itself is only read, never changed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{blocking, require_root, ExecError};
use crate::checkpoint::{self, CheckpointDir};
use crate::criu::{CriuClient, KernelVersion};
use crate::docker::{DockerError, Engine};
use crate::image::ImageDir;

/// How long a restored container must keep running before the restore
/// counts as done; a tree that CRIU restored wrongly usually dies at once.
const SETTLE_TIME: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The checkpoint folder.
    pub from: PathBuf,
    /// The new container's name.
    pub new_name: String,
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
}

pub async fn restore(
    engine: &Engine,
    criu: &CriuClient,
    request: &RestoreRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RestoreReport, ExecError> {
    let started = Instant::now();
    require_root()?;

    // Preflight: the checkpoint, the engine, CRIU, the name and the image,
    // all before anything is created.
    let dir = CheckpointDir::open(&request.from)?;
    let manifest = dir.read_manifest()?;
    ImageDir::open(&dir.images_dir())?.check()?;
    let engine_info = engine.info().await?;
    if !engine_info.experimental {
        return Err(ExecError::EngineNotExperimental);
    }
    let kernel = KernelVersion::running().ok_or(ExecError::KernelUnknown)?;
    blocking(|| criu.ensure_supports(kernel)).await?;
    if engine.container_exists(&request.new_name).await? {
        return Err(ExecError::NameTaken { name: request.new_name.clone() });
    }
    let image = manifest.container.image.clone();
    if !engine.image_exists(&image).await? {
        return Err(ExecError::ImageMissing { image });
    }

    progress(&format!("creating container {} from image {image}", request.new_name));
    let container_id = engine.create_container(&request.new_name, &manifest.container).await?;

    match start_restored(engine, &engine_info.root_dir, &container_id, &dir, &manifest.name, request, progress).await {
        Ok(pid) => Ok(RestoreReport {
            container: request.new_name.clone(),
            container_id,
            checkpoint: dir.root().to_path_buf(),
            image,
            pid,
            duration: started.elapsed(),
        }),
        Err(error) => {
            progress(&format!("restore failed; removing container {}", request.new_name));
            if let Err(cleanup) = engine.remove_container(&container_id).await {
                tracing::warn!(container = %request.new_name, error = %cleanup, "could not remove the container of a failed restore");
            }
            Err(error)
        }
    }
}

async fn start_restored(
    engine: &Engine,
    root_dir: &Path,
    container_id: &str,
    dir: &CheckpointDir,
    checkpoint_name: &str,
    request: &RestoreRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<i64, ExecError> {
    let staged = root_dir.join("containers").join(container_id).join("checkpoints").join(checkpoint_name);
    progress(&format!("staging the images in {}", staged.display()));
    blocking(|| stage_images(&dir.images_dir(), &staged)).await?;

    progress(&format!("starting {} from the checkpoint", request.new_name));
    let started = engine.start_from_checkpoint(container_id, checkpoint_name).await;
    // The engine has read the staged copy by now, whatever the outcome; it
    // would only double the checkpoint's footprint on disk.
    if let Err(error) = std::fs::remove_dir_all(&staged) {
        tracing::debug!(path = %staged.display(), %error, "staged images not removed");
    }
    started.map_err(|source| ExecError::RestoreFailed {
        name: request.new_name.clone(),
        hint: restore_hint(&source),
        source,
    })?;

    tokio::time::sleep(SETTLE_TIME).await;
    let inspect = engine.inspect_container(container_id).await?;
    let state = inspect.state.unwrap_or_default();
    if state.running != Some(true) {
        return Err(ExecError::RestoredContainerExited {
            name: request.new_name.clone(),
            exit_code: state.exit_code.unwrap_or(-1),
        });
    }
    Ok(state.pid.unwrap_or(0))
}

fn stage_images(images: &Path, staged: &Path) -> Result<(), ExecError> {
    let stage_error = |source| ExecError::Stage { path: staged.to_path_buf(), source };
    std::fs::create_dir_all(staged).map_err(stage_error)?;
    checkpoint::copy_files(images, staged).map_err(stage_error)?;
    Ok(())
}

/// A next step for the most common ways the engine's restore fails.
fn restore_hint(error: &DockerError) -> String {
    let message = match error {
        DockerError::Api { message, .. } => message.as_str(),
        _ => "",
    };
    if message.contains("No mapping for") || message.contains("external mount") {
        "a mount of the checkpointed container has no counterpart in the new one; check that every bind mount and volume exists on this host".to_string()
    } else if message.contains("criu") && message.contains("not found") {
        "runc could not find CRIU: start dockerd with CRIU 4.2 or newer first on its PATH (scripts/setup-host.sh does this)".to_string()
    } else if message.contains("custom checkpointdir") {
        "this engine restores only from its own checkpoint folder; this is a bug in docker-cr, please report it".to_string()
    } else {
        "runc's and CRIU's complaint is in the message above; the engine deletes CRIU's restore log with the failed task".to_string()
    }
}
