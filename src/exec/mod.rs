//! Execution: the checkpoint and restore operations and the host checks,
//! built from the CRIU and Docker adapters. The CLI and the plan executor
//! both call these; nothing here parses arguments or prints results.

pub mod checkpoint;
pub mod doctor;
pub mod inspect;
pub mod list;
pub mod restore;

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::criu::CriuError;
use crate::docker::DockerError;
use crate::image::ImageError;
use crate::rootfs::RootfsError;

#[derive(Debug, Error, Diagnostic)]
pub enum ExecError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Criu(#[from] CriuError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Checkpoint(#[from] CheckpointError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(#[from] ImageError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Rootfs(#[from] RootfsError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Preflight(#[from] restore::PreflightError),

    #[error("docker-cr must run as root")]
    #[diagnostic(
        code(docker_cr::not_root),
        help("CRIU needs root to dump and restore processes, and the engine's folders belong to root: run it with sudo")
    )]
    NotRoot,

    #[error("the running kernel's release could not be read")]
    #[diagnostic(code(docker_cr::kernel_unknown))]
    KernelUnknown,

    #[error("container {container} is not running (it is {state})")]
    #[diagnostic(
        code(docker_cr::container_not_running),
        help("only a running container can be checkpointed: `docker start {container}` first")
    )]
    ContainerNotRunning { container: String, state: String },

    #[error("container {container} is paused")]
    #[diagnostic(code(docker_cr::container_paused), help("`docker unpause {container}` first; CRIU freezes the processes itself"))]
    ContainerPaused { container: String },

    #[error("container {container} uses the {driver} storage driver, which docker-cr does not support")]
    #[diagnostic(
        code(docker_cr::unsupported_storage),
        help("docker-cr dumps from the overlay2 merged folder; run the engine with the overlay2 storage driver")
    )]
    UnsupportedStorage { container: String, driver: String },

    #[error("container {container} has a terminal (docker run -t), which docker-cr cannot checkpoint yet")]
    #[diagnostic(
        code(docker_cr::terminal_not_supported),
        help("run the container without -t; its output still reaches `docker logs`")
    )]
    TerminalNotSupported { container: String },

    #[error("could not read {what} of container {container}")]
    #[diagnostic(code(docker_cr::container_state))]
    ContainerState {
        container: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("could not stage the checkpoint images in {path}")]
    #[diagnostic(code(docker_cr::stage_failed), help("check free space and permissions under the engine's root folder"))]
    Stage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the engine could not restore container {name} from the checkpoint")]
    #[diagnostic(code(docker_cr::restore_failed), help("{hint}"))]
    RestoreFailed {
        name: String,
        hint: String,
        #[source]
        source: DockerError,
    },

    #[error("the restored container {name} stopped right after its start (exit code {exit_code})")]
    #[diagnostic(code(docker_cr::restored_container_exited), help("CRIU restored the processes but they exited at once, and the container was removed; `docker-cr inspect --ps-tree --files` on the checkpoint shows what they expected to find"))]
    RestoredContainerExited { name: String, exit_code: i64 },
}

/// Fails unless docker-cr runs as root.
pub fn require_root() -> Result<(), ExecError> {
    if crate::linux::is_root() {
        Ok(())
    } else {
        Err(ExecError::NotRoot)
    }
}

/// Runs blocking work (CRIU requests, large copies) without stalling the
/// runtime's other tasks.
pub(crate) async fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}
