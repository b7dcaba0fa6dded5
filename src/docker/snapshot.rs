//! A container's configuration as the engine reported it at checkpoint time,
//! in a form that survives being written to a manifest and read back on
//! another host, and that turns back into a create request.
//!
//! The readable fields (image, command, mounts, ...) are what users and
//! tools look at. `host_config` keeps the engine's whole HostConfig as JSON
//! so that settings docker-cr does not model (capabilities, devices,
//! ulimits, security options) still reach the restored container.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings, HostConfig, Mount,
    MountType, NetworkingConfig,
};
use serde::{Deserialize, Serialize};

/// Network modes that name no user-defined network.
const BUILTIN_NETWORK_MODES: &[&str] = &["default", "bridge", "host", "none"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSnapshot {
    pub id: String,
    pub name: String,
    /// The image reference the container was created from.
    pub image: String,
    /// The image's content id (sha256:...), to tell a retagged image apart.
    pub image_id: String,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stop_signal: Option<String>,
    pub exposed_ports: Vec<String>,
    pub mounts: Vec<MountRecord>,
    pub network_mode: String,
    pub networks: Vec<NetworkRecord>,
    /// Port bindings, "80/tcp" to ["0.0.0.0:8080"].
    pub ports: HashMap<String, Vec<String>>,
    pub restart_policy: String,
    /// Memory limit in bytes, 0 when unlimited.
    pub memory: i64,
    /// CPU limit in billionths of a CPU, 0 when unlimited.
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    /// The engine's HostConfig, unchanged.
    pub host_config: serde_json::Value,
}

/// A bind mount, named volume or tmpfs mount of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// "bind", "volume" or "tmpfs".
    pub kind: String,
    /// The host path (bind), the volume's folder on the host (volume), or
    /// empty (tmpfs).
    pub source: String,
    pub destination: String,
    /// The volume's name, for volumes.
    pub name: Option<String>,
    pub read_only: bool,
    pub propagation: Option<String>,
    /// Mount options as the engine reports them (tmpfs size and mode).
    #[serde(default)]
    pub options: Option<String>,
    /// Whether the bind source was a file or a folder when checkpointed, so
    /// that a missing source can be made again of the right kind.
    #[serde(default)]
    pub source_kind: Option<SourceKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    File,
    Directory,
}

/// One network the container was attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    pub ip_address: Option<String>,
    /// The address the user fixed at creation (IPAMConfig), if any.
    pub fixed_ip_address: Option<String>,
    pub mac_address: Option<String>,
    pub aliases: Vec<String>,
}

impl ContainerSnapshot {
    /// Takes the snapshot from an engine's inspect response.
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> Self {
        let config = inspect.config.clone().unwrap_or_default();
        let host = inspect.host_config.clone().unwrap_or_default();

        let mounts = inspect
            .mounts
            .iter()
            .flatten()
            .map(|mount| MountRecord {
                kind: mount.typ.as_ref().map(|typ| typ.to_string()).unwrap_or_default(),
                source: mount.source.clone().unwrap_or_default(),
                destination: mount.destination.clone().unwrap_or_default(),
                name: mount.name.clone().filter(|name| !name.is_empty()),
                read_only: !mount.rw.unwrap_or(true),
                propagation: mount.propagation.clone().filter(|p| !p.is_empty()),
                options: None,
                source_kind: None,
            })
            .chain(tmpfs_mounts(&host))
            .collect();

        let mut networks: Vec<NetworkRecord> = inspect
            .network_settings
            .as_ref()
            .and_then(|settings| settings.networks.as_ref())
            .into_iter()
            .flatten()
            .map(|(name, endpoint)| NetworkRecord {
                name: name.clone(),
                ip_address: endpoint.ip_address.clone().filter(|ip| !ip.is_empty()),
                fixed_ip_address: endpoint
                    .ipam_config
                    .as_ref()
                    .and_then(|ipam| ipam.ipv4_address.clone())
                    .filter(|ip| !ip.is_empty()),
                mac_address: endpoint.mac_address.clone().filter(|mac| !mac.is_empty()),
                aliases: endpoint.aliases.clone().unwrap_or_default(),
            })
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));

        let ports = host
            .port_bindings
            .iter()
            .flatten()
            .map(|(port, bindings)| {
                let bindings = bindings
                    .iter()
                    .flatten()
                    .map(|binding| {
                        format!(
                            "{}:{}",
                            binding.host_ip.clone().unwrap_or_default(),
                            binding.host_port.clone().unwrap_or_default()
                        )
                    })
                    .collect();
                (port.clone(), bindings)
            })
            .collect();

        Self {
            id: inspect.id.clone().unwrap_or_default(),
            name: inspect.name.clone().unwrap_or_default().trim_start_matches('/').to_string(),
            image: config.image.clone().unwrap_or_default(),
            image_id: inspect.image.clone().unwrap_or_default(),
            cmd: config.cmd.clone().unwrap_or_default(),
            entrypoint: config.entrypoint.clone().unwrap_or_default(),
            env: config.env.clone().unwrap_or_default(),
            labels: config.labels.clone().unwrap_or_default(),
            working_dir: config.working_dir.clone().unwrap_or_default(),
            user: config.user.clone().unwrap_or_default(),
            hostname: config.hostname.clone().unwrap_or_default(),
            tty: config.tty.unwrap_or(false),
            open_stdin: config.open_stdin.unwrap_or(false),
            stop_signal: config.stop_signal.clone(),
            exposed_ports: config.exposed_ports.clone().unwrap_or_default(),
            mounts,
            network_mode: host.network_mode.clone().unwrap_or_default(),
            networks,
            ports,
            restart_policy: host
                .restart_policy
                .as_ref()
                .and_then(|policy| policy.name)
                .map(|name| name.to_string())
                .unwrap_or_default(),
            memory: host.memory.unwrap_or(0),
            nano_cpus: host.nano_cpus.unwrap_or(0),
            pids_limit: host.pids_limit.filter(|limit| *limit > 0),
            host_config: serde_json::to_value(&host).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Builds the create request for a new container that the checkpoint
    /// can be restored into: same image, command, environment, mounts and
    /// limits. Binds and volumes come from `mounts`, so a caller that moved
    /// a mount's source edits `mounts` before calling this.
    pub fn to_create_body(&self) -> ContainerCreateBody {
        let mut host: HostConfig = serde_json::from_value(self.host_config.clone()).unwrap_or_default();
        host.binds = None;
        let mut mounts: Vec<Mount> = host
            .mounts
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|mount| !matches!(mount.typ, Some(MountType::BIND) | Some(MountType::VOLUME)))
            .collect();
        mounts.extend(self.mounts.iter().filter_map(MountRecord::to_mount));
        host.mounts = Some(mounts);

        let endpoints: HashMap<String, EndpointSettings> = self
            .networks
            .iter()
            .filter(|network| !BUILTIN_NETWORK_MODES.contains(&network.name.as_str()))
            .map(|network| {
                let endpoint = EndpointSettings {
                    ipam_config: network.fixed_ip_address.clone().map(|ip| EndpointIpamConfig {
                        ipv4_address: Some(ip),
                        ..Default::default()
                    }),
                    aliases: Some(network.aliases.clone()).filter(|aliases| !aliases.is_empty()),
                    ..Default::default()
                };
                (network.name.clone(), endpoint)
            })
            .collect();

        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(self.cmd.clone()).filter(|cmd| !cmd.is_empty()),
            entrypoint: Some(self.entrypoint.clone()).filter(|entrypoint| !entrypoint.is_empty()),
            env: Some(self.env.clone()),
            labels: Some(self.labels.clone()),
            working_dir: Some(self.working_dir.clone()).filter(|dir| !dir.is_empty()),
            user: Some(self.user.clone()).filter(|user| !user.is_empty()),
            hostname: Some(self.hostname.clone()).filter(|hostname| !hostname.is_empty()),
            tty: Some(self.tty),
            open_stdin: Some(self.open_stdin),
            stop_signal: self.stop_signal.clone(),
            exposed_ports: Some(self.exposed_ports.clone()).filter(|ports| !ports.is_empty()),
            host_config: Some(host),
            networking_config: Some(NetworkingConfig { endpoints_config: Some(endpoints) })
                .filter(|config| config.endpoints_config.as_ref().is_some_and(|e| !e.is_empty())),
            ..Default::default()
        }
    }
}

/// Collects the tmpfs mounts of a HostConfig, given with `--tmpfs` or `--mount type=tmpfs`;
/// the engine leaves them out of the inspect output's Mounts.
fn tmpfs_mounts(host: &HostConfig) -> Vec<MountRecord> {
    let from_flag = host.tmpfs.iter().flatten().map(|(destination, options)| MountRecord {
        kind: "tmpfs".to_string(),
        destination: destination.clone(),
        options: Some(options.clone()).filter(|options| !options.is_empty()),
        ..Default::default()
    });
    let from_mounts = host
        .mounts
        .iter()
        .flatten()
        .filter(|mount| mount.typ == Some(MountType::TMPFS))
        .map(|mount| MountRecord {
            kind: "tmpfs".to_string(),
            destination: mount.target.clone().unwrap_or_default(),
            read_only: mount.read_only.unwrap_or(false),
            ..Default::default()
        });
    let mut mounts: Vec<MountRecord> = from_flag.chain(from_mounts).collect();
    mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
    mounts
}

impl MountRecord {
    fn to_mount(&self) -> Option<Mount> {
        let typ = match self.kind.as_str() {
            "bind" => MountType::BIND,
            "volume" => MountType::VOLUME,
            _ => return None,
        };
        let source = match typ {
            MountType::VOLUME => self.name.clone()?,
            _ => self.source.clone(),
        };
        Some(Mount {
            target: Some(self.destination.clone()),
            source: Some(source),
            typ: Some(typ),
            read_only: Some(self.read_only),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> ContainerSnapshot {
        ContainerSnapshot {
            image: "dcr-demo:latest".into(),
            cmd: vec!["sh".into(), "-c".into(), "sleep 1".into()],
            env: vec!["PATH=/bin".into()],
            mounts: vec![
                MountRecord {
                    kind: "bind".into(),
                    source: "/srv/data".into(),
                    destination: "/data".into(),
                    read_only: true,
                    ..Default::default()
                },
                MountRecord {
                    kind: "volume".into(),
                    source: "/var/lib/docker/volumes/cache/_data".into(),
                    destination: "/cache".into(),
                    name: Some("cache".into()),
                    ..Default::default()
                },
            ],
            host_config: serde_json::json!({"Binds": ["/srv/data:/data:ro"], "Memory": 1048576, "NetworkMode": "bridge"}),
            ..Default::default()
        }
    }

    #[test]
    fn create_body_keeps_image_and_command() {
        let body = snapshot().to_create_body();
        assert_eq!(body.image.as_deref(), Some("dcr-demo:latest"));
        assert_eq!(body.cmd.as_ref().map(Vec::len), Some(3));
        assert_eq!(body.env, Some(vec!["PATH=/bin".to_string()]));
    }

    #[test]
    fn create_body_replaces_binds_with_mounts() {
        let host = snapshot().to_create_body().host_config.unwrap();
        assert!(host.binds.is_none());
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].source.as_deref(), Some("/srv/data"));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].source.as_deref(), Some("cache"), "volumes are mounted by name");
    }

    #[test]
    fn create_body_keeps_unmodelled_host_settings() {
        let host = snapshot().to_create_body().host_config.unwrap();
        assert_eq!(host.memory, Some(1048576));
    }

    #[test]
    fn builtin_networks_get_no_endpoint() {
        let mut snapshot = snapshot();
        snapshot.networks.push(NetworkRecord { name: "bridge".into(), ..Default::default() });
        assert!(snapshot.to_create_body().networking_config.is_none());
    }

    #[test]
    fn user_network_keeps_fixed_address() {
        let mut snapshot = snapshot();
        snapshot.networks.push(NetworkRecord {
            name: "dcr-net".into(),
            fixed_ip_address: Some("172.30.0.5".into()),
            ..Default::default()
        });
        let endpoints = snapshot.to_create_body().networking_config.unwrap().endpoints_config.unwrap();
        let ipam = endpoints["dcr-net"].ipam_config.clone().unwrap();
        assert_eq!(ipam.ipv4_address.as_deref(), Some("172.30.0.5"));
    }

    #[test]
    fn snapshot_survives_json_round_trip() {
        let snapshot = snapshot();
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: ContainerSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }
}
