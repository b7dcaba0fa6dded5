//! The Docker engine adapter: the few engine calls docker-cr needs, through
//! bollard, plus the one bollard lacks (starting a container from a
//! checkpoint), sent as a plain HTTP request over the engine's socket.
//!
//! The API version is negotiated with the engine, because users run engines
//! from 20.10 (API 1.41) to current ones and a client that asks for a newer
//! version than the engine speaks is refused.

mod snapshot;
mod start;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use miette::Diagnostic;
use thiserror::Error;

pub use snapshot::{ContainerSnapshot, MountRecord, NetworkRecord, SourceKind};

/// The engine's socket when DOCKER_HOST does not name another.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How long a single engine request may take, in seconds. Starting from a
/// checkpoint copies the whole image set through containerd, which takes
/// tens of seconds for a container with gigabytes of memory.
const REQUEST_TIMEOUT_SECS: u64 = 600;

#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    #[error("could not reach the Docker engine at {socket}")]
    #[diagnostic(
        code(docker_cr::docker::unreachable),
        help("start the engine (scripts/setup-host.sh starts one in experimental mode), or set DOCKER_HOST to its unix socket")
    )]
    Unreachable {
        socket: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("the Docker engine rejected {action}: {message} (HTTP {status})")]
    #[diagnostic(code(docker_cr::docker::api))]
    Api { action: String, status: u16, message: String },

    #[error("no container named {container}")]
    #[diagnostic(code(docker_cr::docker::no_such_container), help("`docker ps -a` lists the containers this engine has"))]
    NoSuchContainer { container: String },

    #[error("the Docker engine's answer to {action} lacks {field}")]
    #[diagnostic(code(docker_cr::docker::incomplete_answer))]
    MissingField { action: String, field: &'static str },

    #[error("the Docker engine's socket {socket} failed during {action}")]
    #[diagnostic(code(docker_cr::docker::socket))]
    Socket {
        socket: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
}

/// The engine's version, root folder and modes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub root_dir: PathBuf,
    pub experimental: bool,
    pub cgroup_version: String,
    pub storage_driver: String,
}

/// A connection to one Docker engine.
#[derive(Debug, Clone)]
pub struct Engine {
    client: Docker,
    socket: String,
}

impl Engine {
    /// Connects to the engine named by DOCKER_HOST, or the default socket,
    /// and agrees on an API version with it.
    pub async fn connect() -> Result<Self, DockerError> {
        let socket = socket_path();
        let unreachable = |source: BollardError| DockerError::Unreachable {
            socket: socket.clone(),
            source: Box::new(source),
        };
        let client = Docker::connect_with_unix(&socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(unreachable)?
            .negotiate_version()
            .await
            .map_err(unreachable)?;
        Ok(Self { client, socket })
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// The API version agreed with the engine, as "1.41".
    pub fn api_version(&self) -> String {
        let version = self.client.client_version();
        format!("{}.{}", version.major_version, version.minor_version)
    }

    pub async fn info(&self) -> Result<EngineInfo, DockerError> {
        let info = self.client.info().await.map_err(|error| self.api_error("the info request", error))?;
        let version = self.client.version().await.map_err(|error| self.api_error("the version request", error))?;
        let root_dir = info.docker_root_dir.ok_or(DockerError::MissingField {
            action: "the info request".into(),
            field: "DockerRootDir",
        })?;
        Ok(EngineInfo {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            root_dir: PathBuf::from(root_dir),
            experimental: info.experimental_build.unwrap_or(false),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()).unwrap_or_default(),
            storage_driver: info.driver.unwrap_or_default(),
        })
    }

    /// Inspects a container by name or id.
    pub async fn inspect_container(&self, container: &str) -> Result<ContainerInspectResponse, DockerError> {
        self.client.inspect_container(container, None).await.map_err(|error| match error {
            BollardError::DockerResponseServerError { status_code: 404, .. } => {
                DockerError::NoSuchContainer { container: container.to_string() }
            }
            error => self.api_error(&format!("inspecting container {container}"), error),
        })
    }

    /// Returns whether a container of this name or id exists.
    pub async fn container_exists(&self, container: &str) -> Result<bool, DockerError> {
        match self.inspect_container(container).await {
            Ok(_) => Ok(true),
            Err(DockerError::NoSuchContainer { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Returns whether the engine has this image, by reference or id.
    pub async fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        match self.client.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(error) => Err(self.api_error(&format!("inspecting image {image}"), error)),
        }
    }

    /// Returns a named volume's folder on the host, or `None` when the engine
    /// has no volume of that name.
    pub async fn volume_mountpoint(&self, name: &str) -> Result<Option<PathBuf>, DockerError> {
        match self.client.inspect_volume(name).await {
            Ok(volume) => Ok(Some(PathBuf::from(volume.mountpoint))),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(error) => Err(self.api_error(&format!("inspecting volume {name}"), error)),
        }
    }

    /// Creates a named volume with the local driver and returns its folder.
    pub async fn create_volume(&self, name: &str) -> Result<PathBuf, DockerError> {
        let request = bollard::models::VolumeCreateRequest { name: Some(name.to_string()), ..Default::default() };
        let volume = self
            .client
            .create_volume(request)
            .await
            .map_err(|error| self.api_error(&format!("creating volume {name}"), error))?;
        Ok(PathBuf::from(volume.mountpoint))
    }

    /// Removes a named volume.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        self.client
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
            .map_err(|error| self.api_error(&format!("removing volume {name}"), error))
    }

    /// Creates (without starting) a container named `name` from a snapshot
    /// of another container's configuration. Returns the new container's id.
    pub async fn create_container(&self, name: &str, snapshot: &ContainerSnapshot) -> Result<String, DockerError> {
        let body: ContainerCreateBody = snapshot.to_create_body();
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = self
            .client
            .create_container(Some(options), body)
            .await
            .map_err(|error| self.api_error(&format!("creating container {name}"), error))?;
        Ok(created.id)
    }

    /// Removes a container, stopping it first if it runs.
    pub async fn remove_container(&self, container: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        self.client
            .remove_container(container, Some(options))
            .await
            .map_err(|error| self.api_error(&format!("removing container {container}"), error))
    }

    /// Lists the names of the running containers that carry every one of
    /// `labels`, sorted.
    pub async fn running_containers_with_labels(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, DockerError> {
        let label_filters: Vec<String> = labels.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let filters = HashMap::from([("label", label_filters), ("status", vec!["running".to_string()])]);
        let options = ListContainersOptionsBuilder::new().all(false).filters(&filters).build();
        let containers = self
            .client
            .list_containers(Some(options))
            .await
            .map_err(|error| self.api_error("listing containers by label", error))?;
        let mut names: Vec<String> = containers
            .into_iter()
            .filter_map(|container| container.names?.into_iter().next())
            .map(|name| name.trim_start_matches('/').to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Stops a running container, giving its processes `grace_secs` seconds
    /// after the stop signal before the engine kills them.
    pub async fn stop_container(&self, container: &str, grace_secs: i32) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::new().t(grace_secs).build();
        match self.client.stop_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: the container was already stopped.
            Err(BollardError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {
                Err(DockerError::NoSuchContainer { container: container.to_string() })
            }
            Err(error) => Err(self.api_error(&format!("stopping container {container}"), error)),
        }
    }

    /// Starts a created container from a checkpoint that has been placed in
    /// its checkpoints folder (`<root dir>/containers/<id>/checkpoints/<name>`).
    pub async fn start_from_checkpoint(&self, container_id: &str, checkpoint: &str) -> Result<(), DockerError> {
        start::start_from_checkpoint(&self.socket, &self.api_version(), container_id, checkpoint).await
    }

    fn api_error(&self, action: &str, error: BollardError) -> DockerError {
        match error {
            BollardError::DockerResponseServerError { status_code, message } => {
                DockerError::Api { action: action.to_string(), status: status_code, message }
            }
            other => DockerError::Unreachable { socket: self.socket.clone(), source: Box::new(other) },
        }
    }
}

/// Returns an overlay2 folder of a container ("MergedDir", "UpperDir")
/// from its inspect output.
pub fn overlay_dir(inspect: &ContainerInspectResponse, key: &str) -> Option<PathBuf> {
    let driver = inspect.graph_driver.as_ref()?;
    driver.data.get(key).filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

/// Returns the engine's unix socket: DOCKER_HOST when it names one, else the
/// default.
pub fn socket_path() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host.trim_start_matches("unix://").to_string(),
        _ => DEFAULT_SOCKET.to_string(),
    }
}
