//! The side effects of plan steps behind one narrow trait: `Host` calls
//! the engine and CRIU for real, `DryRun` only records what it would do.
//! The executor runs the same loop over either, so a dry run follows
//! exactly the path an apply takes up to the calls into the engine, CRIU
//! and the kernel.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use miette::Diagnostic;
use thiserror::Error;

use super::planner::Check;
use crate::checkpoint::CheckpointDir;
use crate::criu::CriuClient;
use crate::docker::{DockerError, Engine};
use crate::exec::checkpoint::{checkpoint, CheckpointRequest};
use crate::exec::restore::{restore, RestoreRequest};
use crate::exec::ExecError;

/// How long a stopped source may take to exit after SIGTERM before the
/// engine kills it, in seconds (the `docker stop` default).
const STOP_GRACE_SECS: i32 = 10;

/// The failure of one step.
#[derive(Debug, Error, Diagnostic)]
pub enum StepError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Exec(#[from] ExecError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    #[error("preflight failed: {check}")]
    #[diagnostic(code(docker_cr::plan::preflight_failed), help("{help}"))]
    Preflight { check: String, help: String },

    #[error("container {container} is not running after the restore (it is {state})")]
    #[diagnostic(code(docker_cr::plan::verify_failed), help("`docker logs {container}` may tell why the restored processes stopped"))]
    VerifyFailed { container: String, state: String },

    #[error("could not remove the checkpoint {}", path.display())]
    #[diagnostic(code(docker_cr::plan::remove_checkpoint), help("remove the folder by hand; the migration itself succeeded"))]
    RemoveCheckpoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the step's task ended abnormally: {message}")]
    #[diagnostic(code(docker_cr::plan::task_failed), help("this is a bug in docker-cr; please report it with the output of `docker-cr -vv apply`"))]
    TaskFailed { message: String },

    #[error("step {step} timed out after {seconds} s")]
    #[diagnostic(code(docker_cr::plan::step_timed_out), help("raise the job's `timeout`, or look at the step's progress lines for where it hung"))]
    TimedOut { step: String, seconds: u64 },

    #[error("step {step} needs the output of {needs}, which the journal does not have")]
    #[diagnostic(code(docker_cr::plan::missing_input), help("move the plan's journal away to run the plan from its start"))]
    MissingInput { step: String, needs: String },
}

/// The calls into the engine, CRIU and the kernel that plan steps make.
pub trait Effects: Send + Sync + 'static {
    /// Makes one read-only preflight check.
    fn check(&self, check: &Check) -> impl Future<Output = Result<(), StepError>> + Send;

    /// Dumps a container; returns the checkpoint folder.
    fn checkpoint(&self, request: &CheckpointRequest, step: &str) -> impl Future<Output = Result<PathBuf, StepError>> + Send;

    /// Restores a checkpoint as a new container; returns its id, or `None`
    /// when only a run can tell it.
    fn restore(&self, request: &RestoreRequest, step: &str) -> impl Future<Output = Result<Option<String>, StepError>> + Send;

    /// Fails unless the container runs.
    fn verify(&self, container: &str) -> impl Future<Output = Result<(), StepError>> + Send;

    fn stop(&self, container: &str) -> impl Future<Output = Result<(), StepError>> + Send;

    /// Removes a checkpoint folder that a checkpoint step of the plan wrote.
    fn remove_checkpoint(&self, path: &Path) -> impl Future<Output = Result<(), StepError>> + Send;
}

/// The real engine and CRIU.
pub struct Host {
    pub engine: Engine,
    pub criu: CriuClient,
}

impl Effects for Host {
    async fn check(&self, check: &Check) -> Result<(), StepError> {
        let failed = |check: String, help: &str| Err(StepError::Preflight { check, help: help.to_string() });
        match check {
            Check::ContainerRunning { container } => {
                let inspect = self.engine.inspect_container(container).await?;
                let state = inspect.state.unwrap_or_default();
                if state.running == Some(true) && state.paused != Some(true) {
                    return Ok(());
                }
                let status = state.status.map(|status| status.to_string()).unwrap_or_else(|| "stopped".into());
                failed(format!("container {container} is not running (it is {status})"), "start or unpause the container, or remove the job")
            }
            Check::NameFree { name } => {
                if self.engine.container_exists(name).await? {
                    return failed(format!("a container named {name} already exists"), "choose another `restore.new_name`, or remove the old container");
                }
                Ok(())
            }
            Check::CheckpointAbsent { path } => {
                if path.exists() {
                    return failed(
                        format!("a checkpoint already exists at {}", path.display()),
                        "set another `checkpoint_name`, or remove the old checkpoint folder",
                    );
                }
                Ok(())
            }
            Check::CheckpointReadable { path } => {
                CheckpointDir::open(path).map_err(ExecError::from)?;
                Ok(())
            }
            Check::EngineExperimental => {
                if !self.engine.info().await?.experimental {
                    return failed(
                        "the Docker engine is not in experimental mode".to_string(),
                        "start dockerd with --experimental, or set \"experimental\": true in /etc/docker/daemon.json",
                    );
                }
                Ok(())
            }
        }
    }

    async fn checkpoint(&self, request: &CheckpointRequest, step: &str) -> Result<PathBuf, StepError> {
        let progress = |line: &str| tracing::info!(step, "{line}");
        let report = checkpoint(&self.engine, &self.criu, request, &progress).await?;
        Ok(report.path)
    }

    async fn restore(&self, request: &RestoreRequest, step: &str) -> Result<Option<String>, StepError> {
        let progress = |line: &str| tracing::info!(step, "{line}");
        let report = restore(&self.engine, &self.criu, request, &progress).await?;
        Ok(Some(report.container_id))
    }

    async fn verify(&self, container: &str) -> Result<(), StepError> {
        let state = self.engine.inspect_container(container).await?.state.unwrap_or_default();
        if state.running == Some(true) {
            return Ok(());
        }
        let status = state.status.map(|status| status.to_string()).unwrap_or_else(|| "stopped".into());
        Err(StepError::VerifyFailed { container: container.to_string(), state: status })
    }

    async fn stop(&self, container: &str) -> Result<(), StepError> {
        self.engine.stop_container(container, STOP_GRACE_SECS).await?;
        Ok(())
    }

    async fn remove_checkpoint(&self, path: &Path) -> Result<(), StepError> {
        // Only a folder with a checkpoint's manifest is removed, so a wrong
        // path in a journal can never delete anything else.
        CheckpointDir::open(path).map_err(ExecError::from)?;
        std::fs::remove_dir_all(path).map_err(|source| StepError::RemoveCheckpoint { path: path.to_path_buf(), source })
    }
}

/// One call a dry run would have made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Check(Check),
    Checkpoint { container: String, path: PathBuf, leave_running: bool },
    Restore { from: PathBuf, new_name: String },
    Verify { container: String },
    Stop { container: String },
    RemoveCheckpoint { path: PathBuf },
}

/// Records each call and changes nothing; every check passes, because the
/// preview shows what the plan would do, not whether the host is ready.
#[derive(Debug, Default)]
pub struct DryRun {
    pub calls: Mutex<Vec<Call>>,
}

impl DryRun {
    fn record(&self, call: Call) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

impl Effects for DryRun {
    async fn check(&self, check: &Check) -> Result<(), StepError> {
        self.record(Call::Check(check.clone()));
        Ok(())
    }

    async fn checkpoint(&self, request: &CheckpointRequest, _step: &str) -> Result<PathBuf, StepError> {
        let name = request.name.clone().unwrap_or_default();
        let path = request.output.join(&request.container).join(name);
        self.record(Call::Checkpoint { container: request.container.clone(), path: path.clone(), leave_running: request.flags.leave_running });
        Ok(path)
    }

    async fn restore(&self, request: &RestoreRequest, _step: &str) -> Result<Option<String>, StepError> {
        self.record(Call::Restore { from: request.from.clone(), new_name: request.new_name.clone() });
        Ok(None)
    }

    async fn verify(&self, container: &str) -> Result<(), StepError> {
        self.record(Call::Verify { container: container.to_string() });
        Ok(())
    }

    async fn stop(&self, container: &str) -> Result<(), StepError> {
        self.record(Call::Stop { container: container.to_string() });
        Ok(())
    }

    async fn remove_checkpoint(&self, path: &Path) -> Result<(), StepError> {
        self.record(Call::RemoveCheckpoint { path: path.to_path_buf() });
        Ok(())
    }
}
