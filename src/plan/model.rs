//! The plan file's types, exactly as users write them in YAML.
//!
//! These types are the single source of truth for the format: serde reads
//! plans with them, and schemars generates `schemas/plan.schema.json` from
//! them. Every struct rejects unknown fields, so a misspelt key is an error
//! rather than a silently ignored setting. Nothing here checks meaning
//! (duplicate names, cycles, contradictions); `validate` does that.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "docker-cr/v1";

/// A declarative plan of checkpoint, restore and migration jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "docker-cr plan")]
pub struct Plan {
    /// The plan format's version; `docker-cr/v1` is the only one.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// The document's kind; always `Plan`.
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "docker-cr/v1")]
    V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    Plan,
}

/// The plan's identity, recorded in the journal of finished steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The plan's name; it also names the journal file.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub name: String,
    /// Free-form labels for people and tools; docker-cr does not read them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The plan's revision, raised by its authors when they change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Settings for every job that does not set them itself.
    #[serde(default)]
    pub defaults: Defaults,
    /// The jobs, in any order; `depends_on` orders them.
    pub jobs: Vec<Job>,
}

/// Job settings that apply to every job that leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The folder under which checkpoints are written as
    /// `<output>/<container>/<checkpoint name>/` [default: /tmp/docker-checkpoints].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreOptions>,
    /// Keep a migrated job's source container running after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_source: Option<bool>,
    /// Keep a migration's checkpoint folder after the restore is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_checkpoint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
}

/// One checkpoint, restore or migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's name, unique in the plan; `depends_on` refers to it.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub name: String,
    pub action: Action,
    /// The container to checkpoint or migrate, by name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Labels that select the running containers carrying all of them, in
    /// place of `container`; the job runs once per matched container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// The folder under which the checkpoint is written [default: the plan's default].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// The checkpoint's name [default: the job's name].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_name: Option<String>,
    /// The source checkpoint of a `restore` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<CheckpointSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreOptions>,
    /// Keep the source container running after a migration [default: false].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_source: Option<bool>,
    /// Keep a migration's checkpoint folder after the restore is verified
    /// [default: true]; false removes it in a final cleanup step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_checkpoint: Option<bool>,
    /// Jobs that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
}

/// A job's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Dump the container into a checkpoint folder.
    Checkpoint,
    /// Start a new container from an existing checkpoint.
    Restore,
    /// Checkpoint, restore under a new name, verify, then stop the source.
    Migrate,
}

/// The checkpoint a `restore` job starts from: exactly one of `path` and `job`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSource {
    /// A checkpoint folder, as `docker-cr checkpoint` printed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A `checkpoint` job of this plan whose checkpoint to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// CRIU's dump settings; each defaults to true.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointOptions {
    /// Dump established TCP connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<bool>,
    /// Dump file locks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_locks: Option<bool>,
    /// Leave the container running after the dump; false stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave_running: Option<bool>,
    /// Let CRIU record and restore the container's cgroups (soft mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_cgroups: Option<bool>,
    /// Leave the writable layer's changes out of the checkpoint [default: false].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_rootfs: Option<bool>,
    /// Also save the contents of named volumes, for hosts without them [default: false].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_volumes: Option<bool>,
}

/// Settings of the new container a restore creates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreOptions {
    /// The new container's name; required for `restore` and `migrate`.
    /// `{container}` in it is replaced by the source container's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Check the engine, the image and the new name before restoring [default: true].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_environment: Option<bool>,
    /// Create missing bind-mount sources, empty and of the kind they were,
    /// before restoring [default: true].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_fix_mounts: Option<bool>,
    /// Container paths whose bind mounts or volumes the restored container
    /// leaves out. An empty placeholder is mounted in place of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_mounts: Vec<String>,
    /// Host paths to bind from in place of the checkpointed ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_map: Vec<MountMap>,
}

/// One bind-mount source to replace on restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MountMap {
    /// The source path on the checkpointed container.
    pub from: PathBuf,
    /// The source path to use instead.
    pub to: PathBuf,
}

/// The maximum time each of the job's steps may take: a number and a
/// unit, as `90s`, `5m` or `1h`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Timeout(#[schemars(regex(pattern = r"^[0-9]+(s|m|h)$"))] pub String);

impl Timeout {
    /// Parses the text; `None` when it is not a number followed by s, m or h.
    pub fn duration(&self) -> Option<std::time::Duration> {
        let text = self.0.trim();
        let unit_at = text.len().checked_sub(1)?;
        let (number, unit) = text.split_at(unit_at);
        let number: u64 = number.parse().ok()?;
        let seconds = match unit {
            "s" => number,
            "m" => number.checked_mul(60)?,
            "h" => number.checked_mul(3600)?,
            _ => return None,
        };
        Some(std::time::Duration::from_secs(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeout_units() {
        assert_eq!(Timeout("90s".into()).duration(), Some(Duration::from_secs(90)));
        assert_eq!(Timeout("5m".into()).duration(), Some(Duration::from_secs(300)));
        assert_eq!(Timeout("1h".into()).duration(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn timeout_without_unit_is_invalid() {
        assert_eq!(Timeout("90".into()).duration(), None);
        assert_eq!(Timeout("m".into()).duration(), None);
        assert_eq!(Timeout("5d".into()).duration(), None);
    }
}
