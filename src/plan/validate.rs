//! Checking a parsed plan's meaning and resolving its defaults.
//!
//! A `ValidPlan` promises: job names are unique and well formed; every
//! `depends_on` and `from.job` names a job of the plan and the dependencies
//! form no cycle; each job has exactly the inputs its action needs (a
//! source container for `checkpoint` and `migrate`, a source checkpoint and
//! a new name for `restore` and `migrate`) and no settings that contradict
//! its action; defaults are applied; and no job requests a feature that the
//! execution layer cannot honour yet. Jobs with a label selector are still
//! one job each here: `selectors::expand` turns them into one job per
//! matched container, because only the engine can tell the matches. Every problem found is reported, not
//! only the first.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use miette::SourceSpan;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use super::error::{PlanError, PlanErrors};
use super::load::LoadedPlan;
use super::model::{Action, CheckpointOptions, Job, RestoreOptions, Timeout};
use crate::checkpoint::DEFAULT_OUTPUT;
use crate::criu::options::DumpFlags;

/// The text in `restore.new_name` that each matched container's name replaces.
pub const CONTAINER_PLACEHOLDER: &str = "{container}";

/// The folder, under the plan's default output, that contains the journals.
pub const JOURNAL_DIR: &str = ".docker-cr-journal";

/// A plan whose jobs can be turned into steps without further checks.
#[derive(Debug, Clone, Serialize)]
pub struct ValidPlan {
    pub name: String,
    pub revision: Option<u64>,
    /// The journal of finished steps: `<default output>/.docker-cr-journal/<name>.json`.
    pub journal: PathBuf,
    /// The jobs in the file's order.
    pub jobs: Vec<ValidJob>,
}

/// A job with the plan's defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct ValidJob {
    pub name: String,
    pub action: Action,
    /// The source container of a `checkpoint` or `migrate`.
    pub container: Option<String>,
    /// Labels that select the source containers in place of `container`;
    /// `selectors::expand` turns such a job into one job per match.
    pub selector: Option<BTreeMap<String, String>>,
    pub output: PathBuf,
    pub checkpoint_name: String,
    pub flags: DumpFlags,
    /// The checkpoint a `restore` starts from.
    pub from: Option<SourceCheckpoint>,
    /// The container a `restore` or `migrate` creates; with a selector, it
    /// contains `{container}`.
    pub new_name: Option<String>,
    pub validate_environment: bool,
    /// Mount handling of the restore.
    pub mounts: RestoreMounts,
    /// Leave the writable layer out of the checkpoint.
    pub ignore_rootfs: bool,
    /// Save named volumes' contents in the checkpoint.
    pub with_volumes: bool,
    pub keep_source: bool,
    pub keep_checkpoint: bool,
    /// Jobs to finish first, including the job named by `from.job`.
    pub depends_on: Vec<String>,
    pub timeout: Option<Duration>,
    /// A hash of everything above, so that the journal can tell a changed
    /// job from the one it recorded.
    #[serde(skip)]
    pub hash: String,
}

/// The restore's handling of the checkpoint's mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreMounts {
    pub auto_fix_mounts: bool,
    pub skip_mounts: Vec<String>,
    /// Pairs of an old bind-mount source and the new one.
    pub mount_map: Vec<(PathBuf, PathBuf)>,
}

impl Default for RestoreMounts {
    fn default() -> Self {
        Self { auto_fix_mounts: true, skip_mounts: Vec::new(), mount_map: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceCheckpoint {
    Path(PathBuf),
    Job(String),
}

/// Checks the plan and resolves its defaults.
pub fn validate(loaded: &LoadedPlan) -> Result<ValidPlan, PlanErrors> {
    let mut problems = Vec::new();
    let plan = &loaded.plan;
    let positions = &loaded.positions;
    let span = |path: &str| positions.nearest(path).unwrap_or_else(|| SourceSpan::new(0.into(), 0));

    if !is_valid_name(&plan.metadata.name) {
        problems.push(PlanError::InvalidValue {
            message: format!("plan name `{}` is not a valid name", plan.metadata.name),
            help: "use letters, digits, '.', '_' and '-', starting with a letter or digit; the name also names the journal file".into(),
            span: span("metadata.name"),
            label: "invalid name".into(),
        });
    }

    // Names first, because every later check refers to jobs by name.
    let mut first_by_name: HashMap<&str, usize> = HashMap::new();
    for (index, job) in plan.spec.jobs.iter().enumerate() {
        let name_span = span(&format!("spec.jobs[{index}].name"));
        if !is_valid_name(&job.name) {
            problems.push(PlanError::InvalidValue {
                message: format!("job name `{}` is not a valid name", job.name),
                help: "use letters, digits, '.', '_' and '-', starting with a letter or digit".into(),
                span: name_span,
                label: "invalid name".into(),
            });
        }
        match first_by_name.get(job.name.as_str()) {
            Some(&first) => problems.push(PlanError::DuplicateJob {
                name: job.name.clone(),
                span: name_span,
                first: span(&format!("spec.jobs[{first}].name")),
            }),
            None => {
                first_by_name.insert(&job.name, index);
            }
        }
    }

    let defaults = &plan.spec.defaults;
    check_restore_mounts(defaults.restore.as_ref(), "spec.defaults.restore", &span, &mut problems);
    if let Some(timeout) = &defaults.timeout {
        check_timeout(timeout, &span("spec.defaults.timeout"), &mut problems);
    }

    let mut jobs = Vec::new();
    for (index, job) in plan.spec.jobs.iter().enumerate() {
        let path = format!("spec.jobs[{index}]");
        check_job(job, &path, &plan.spec.jobs, &span, &mut problems);
        jobs.push(resolve(job, defaults));
    }

    problems.extend(cycles(&plan.spec.jobs, &first_by_name, &span));

    if !problems.is_empty() {
        problems.sort_by_key(PlanError::offset);
        return Err(loaded.errors(problems));
    }
    let root = defaults.output.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT));
    Ok(ValidPlan {
        name: plan.metadata.name.clone(),
        revision: plan.metadata.revision,
        journal: root.join(JOURNAL_DIR).join(format!("{}.json", plan.metadata.name)),
        jobs,
    })
}

fn check_job(job: &Job, path: &str, all: &[Job], span: &dyn Fn(&str) -> SourceSpan, problems: &mut Vec<PlanError>) {
    let contradiction = |key: &str, message: &str, help: &str, label: &str| PlanError::Contradiction {
        job: job.name.clone(),
        message: message.to_string(),
        help: help.to_string(),
        span: span(&format!("{path}.{key}")),
        label: label.to_string(),
    };
    let is_restore = job.action == Action::Restore;
    let makes_container = matches!(job.action, Action::Restore | Action::Migrate);

    // The source: a container for checkpoint and migrate, a checkpoint for restore.
    if is_restore {
        if job.container.is_some() || job.selector.is_some() {
            let key = if job.container.is_some() { "container" } else { "selector" };
            problems.push(contradiction(
                key,
                "a restore has no source container",
                "a restore starts a new container from `from`; name it with `restore.new_name`, or use `action: migrate` to move a running container",
                "not used by a restore",
            ));
        }
        match &job.from {
            None => problems.push(contradiction(
                "action",
                "a restore needs a source checkpoint",
                "add `from: {job: NAME}` naming a checkpoint job of this plan, or `from: {path: DIR}` naming a checkpoint folder",
                "restore without `from`",
            )),
            Some(from) => check_from(job, from, path, all, span, problems),
        }
        for (key, set) in [("output", job.output.is_some()), ("checkpoint_name", job.checkpoint_name.is_some())] {
            if set {
                problems.push(contradiction(
                    key,
                    &format!("a restore writes no checkpoint, so `{key}` has no effect"),
                    "remove it; `from` names the checkpoint to restore",
                    "not used by a restore",
                ));
            }
        }
        if job.checkpoint.is_some() {
            problems.push(contradiction("checkpoint", "a restore takes no checkpoint settings", "remove `checkpoint:`; the settings were fixed when the checkpoint was made", "not used by a restore"));
        }
    } else {
        match (&job.container, &job.selector) {
            (Some(_), Some(_)) => problems.push(contradiction(
                "selector",
                "`container` and `selector` both name the source",
                "keep one of them",
                "remove this or `container`",
            )),
            (None, None) => problems.push(contradiction(
                "action",
                "the job names no source container",
                "add `container: NAME` with the container's name or id",
                "needs `container`",
            )),
            (None, Some(labels)) if labels.is_empty() => problems.push(PlanError::InvalidValue {
                message: "an empty selector would match every running container".into(),
                help: "list the labels the containers must all carry, as `selector: {tier: web}`".into(),
                span: span(&format!("{path}.selector")),
                label: "no labels".into(),
            }),
            (None, Some(_)) => {}
            (Some(_), None) => {}
        }
        if job.from.is_some() {
            problems.push(contradiction("from", "only a restore takes `from`", "a checkpoint or migrate makes its own checkpoint: remove `from`", "not used here"));
        }
    }

    if makes_container {
        let new_name = job.restore.as_ref().and_then(|restore| restore.new_name.as_ref());
        match new_name {
            None => problems.push(contradiction(
                "action",
                "the job names no new container",
                "add `restore: {new_name: NAME}` with the name of the container to create",
                "needs `restore.new_name`",
            )),
            Some(new_name) if job.selector.is_some() && !new_name.contains(CONTAINER_PLACEHOLDER) => problems.push(contradiction(
                "restore.new_name",
                "a selector job creates one container per match, so one fixed name cannot do",
                "put `{container}` in `new_name`, as `{container}-2`; it stands for each matched container's name",
                "needs `{container}`",
            )),
            Some(new_name) if job.container.as_ref() == Some(new_name) || new_name == CONTAINER_PLACEHOLDER => problems.push(contradiction(
                "restore.new_name",
                "the new container would take the source's name",
                "the source still exists when the restore runs: choose another `new_name`",
                "same as `container`",
            )),
            Some(_) => {}
        }
    } else if job.restore.is_some() {
        problems.push(contradiction("restore", "a checkpoint job takes no restore settings", "use `action: migrate` to restore as well, or add a restore job with `from: {job: NAME}`", "not used by a checkpoint"));
    }

    if job.keep_source.is_some() && job.action != Action::Migrate {
        problems.push(contradiction("keep_source", "only a migration stops its source", "remove `keep_source`", "not used here"));
    }
    if job.keep_checkpoint.is_some() && job.action != Action::Migrate {
        problems.push(contradiction(
            "keep_checkpoint",
            "only a migration removes its checkpoint",
            "remove `keep_checkpoint`; a checkpoint job's checkpoint is what it is for, and a restore only reads one",
            "not used here",
        ));
    }
    let leave_running = job.checkpoint.as_ref().and_then(|checkpoint| checkpoint.leave_running);
    if job.action == Action::Migrate && leave_running == Some(false) {
        problems.push(contradiction(
            "checkpoint.leave_running",
            "a migration must leave its source running until the restore is verified",
            "remove `leave_running: false`; the migration stops the source itself after the verify step unless `keep_source` is true",
            "would stop the source before the restore",
        ));
    }

    for (position, dependency) in job.depends_on.iter().enumerate() {
        if !all.iter().any(|other| &other.name == dependency) {
            problems.push(PlanError::UnknownDependency {
                job: job.name.clone(),
                dependency: dependency.clone(),
                help: job_name_help(dependency, all),
                span: span(&format!("{path}.depends_on[{position}]")),
            });
        }
    }

    check_restore_mounts(job.restore.as_ref(), &format!("{path}.restore"), span, problems);
    if let Some(timeout) = &job.timeout {
        check_timeout(timeout, &span(&format!("{path}.timeout")), problems);
    }
}

fn check_from(job: &Job, from: &super::model::CheckpointSource, path: &str, all: &[Job], span: &dyn Fn(&str) -> SourceSpan, problems: &mut Vec<PlanError>) {
    let contradiction = |message: &str, help: &str| PlanError::Contradiction {
        job: job.name.clone(),
        message: message.to_string(),
        help: help.to_string(),
        span: span(&format!("{path}.from")),
        label: "here".into(),
    };
    match (&from.path, &from.job) {
        (Some(_), Some(_)) => problems.push(contradiction("`from` names both a path and a job", "keep one: `path` for an existing checkpoint folder, `job` for a checkpoint this plan makes")),
        (None, None) => problems.push(contradiction("`from` names no checkpoint", "add `job: NAME` or `path: DIR`")),
        (None, Some(source)) => match all.iter().find(|other| &other.name == source) {
            None => problems.push(PlanError::UnknownDependency {
                job: job.name.clone(),
                dependency: source.clone(),
                help: job_name_help(source, all),
                span: span(&format!("{path}.from.job")),
            }),
            Some(other) if other.selector.is_some() => problems.push(contradiction(
                &format!("`from.job` names `{source}`, which selects containers by label"),
                "a restore starts from one checkpoint: name a job with `container: NAME`, or use `action: migrate` on the selector job",
            )),
            Some(other) if other.action != Action::Checkpoint => problems.push(contradiction(
                &format!("`from.job` names `{source}`, which is not a checkpoint job"),
                "a restore can start from the checkpoint of an `action: checkpoint` job only",
            )),
            Some(_) => {}
        },
        (Some(_), None) => {}
    }
}

/// Rejects the restore settings the restore operation cannot apply yet,
/// rather than restoring without them.
/// Picks a list of restore settings: a list set on the job replaces the
/// defaults' list rather than adding to it.
fn restore_list<T: Clone>(
    job: Option<&RestoreOptions>,
    defaults: Option<&RestoreOptions>,
    pick: fn(&RestoreOptions) -> &Vec<T>,
) -> Vec<T> {
    job.map(pick)
        .filter(|list| !list.is_empty())
        .or_else(|| defaults.map(pick))
        .cloned()
        .unwrap_or_default()
}

/// Checks that mount paths are absolute, as container paths and host paths
/// must be.
fn check_restore_mounts(restore: Option<&RestoreOptions>, path: &str, span: &dyn Fn(&str) -> SourceSpan, problems: &mut Vec<PlanError>) {
    let Some(restore) = restore else { return };
    let relative = |value: &std::path::Path, key: &str, what: &str| PlanError::InvalidValue {
        message: format!("`{}` is not an absolute path", value.display()),
        help: format!("write the {what} from the root, as `/data`"),
        span: span(&format!("{path}.{key}")),
        label: "not absolute".into(),
    };
    for mount in &restore.skip_mounts {
        if !mount.starts_with('/') {
            problems.push(relative(std::path::Path::new(mount), "skip_mounts", "mount's path inside the container"));
        }
    }
    for map in &restore.mount_map {
        for side in [&map.from, &map.to] {
            if !side.is_absolute() {
                problems.push(relative(side, "mount_map", "host path"));
            }
        }
    }
}

fn check_timeout(timeout: &Timeout, span: &SourceSpan, problems: &mut Vec<PlanError>) {
    if timeout.duration().is_none_or(|duration| duration.is_zero()) {
        problems.push(PlanError::InvalidValue {
            message: format!("`{}` is not a valid timeout", timeout.0),
            help: "write a positive number followed by s, m or h, as `90s`, `5m` or `1h`".into(),
            span: *span,
            label: "invalid timeout".into(),
        });
    }
}

/// Finds every dependency cycle, naming its jobs in dependency order.
fn cycles(jobs: &[Job], index_of: &HashMap<&str, usize>, span: &dyn Fn(&str) -> SourceSpan) -> Vec<PlanError> {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<NodeIndex> = (0..jobs.len()).map(|index| graph.add_node(index)).collect();
    for (index, job) in jobs.iter().enumerate() {
        for dependency in dependencies_of(job) {
            if let Some(&dependency_index) = index_of.get(dependency) {
                graph.update_edge(nodes[dependency_index], nodes[index], ());
            }
        }
    }

    let mut problems = Vec::new();
    for component in petgraph::algo::tarjan_scc(&graph) {
        let is_cycle = component.len() > 1 || graph.contains_edge(component[0], component[0]);
        if !is_cycle {
            continue;
        }
        let mut members: Vec<usize> = component.iter().map(|node| graph[*node]).collect();
        members.sort_unstable();
        let mut names: Vec<&str> = members.iter().map(|&index| jobs[index].name.as_str()).collect();
        names.push(names[0]);
        problems.push(PlanError::DependencyCycle {
            cycle: names.join(" -> "),
            spans: members.iter().map(|index| span(&format!("spec.jobs[{index}].name"))).collect(),
        });
    }
    problems
}

/// The jobs that must finish before `job` starts.
fn dependencies_of(job: &Job) -> impl Iterator<Item = &str> {
    let from_job = job.from.as_ref().and_then(|from| from.job.as_deref());
    job.depends_on.iter().map(String::as_str).chain(from_job)
}

fn job_name_help(given: &str, all: &[Job]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for job in all {
        if !names.contains(&job.name.as_str()) {
            names.push(&job.name);
        }
    }
    let closest = names
        .iter()
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min_by_key(|(distance, _)| *distance);
    let listed = names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    match closest {
        Some((_, name)) => format!("did you mean `{name}`? The plan's jobs: {listed}"),
        None => format!("the plan's jobs: {listed}"),
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn resolve(job: &Job, defaults: &super::model::Defaults) -> ValidJob {
    let checkpoint = merge_checkpoint(job.checkpoint.as_ref(), defaults.checkpoint.as_ref());
    let restore_value = |pick: fn(&RestoreOptions) -> Option<bool>| {
        job.restore.as_ref().and_then(pick).or_else(|| defaults.restore.as_ref().and_then(pick))
    };
    let checkpoint_value = |pick: fn(&CheckpointOptions) -> Option<bool>| {
        job.checkpoint.as_ref().and_then(pick).or_else(|| defaults.checkpoint.as_ref().and_then(pick))
    };
    let from = job.from.as_ref().and_then(|from| match (&from.path, &from.job) {
        (Some(path), None) => Some(SourceCheckpoint::Path(path.clone())),
        (None, Some(name)) => Some(SourceCheckpoint::Job(name.clone())),
        _ => None,
    });
    let mut depends_on: Vec<String> = dependencies_of(job).map(str::to_string).collect();
    depends_on.dedup();

    let mut valid = ValidJob {
        name: job.name.clone(),
        action: job.action,
        container: job.container.clone(),
        selector: job.selector.clone(),
        output: job.output.clone().or_else(|| defaults.output.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT)),
        checkpoint_name: job.checkpoint_name.clone().unwrap_or_else(|| job.name.clone()),
        flags: checkpoint,
        from,
        new_name: job.restore.as_ref().and_then(|restore| restore.new_name.clone()).map(|new_name| match &job.container {
            Some(container) => new_name.replace(CONTAINER_PLACEHOLDER, container),
            None => new_name,
        }),
        validate_environment: restore_value(|restore| restore.validate_environment).unwrap_or(true),
        mounts: RestoreMounts {
            auto_fix_mounts: restore_value(|restore| restore.auto_fix_mounts).unwrap_or(true),
            skip_mounts: restore_list(job.restore.as_ref(), defaults.restore.as_ref(), |restore| &restore.skip_mounts),
            mount_map: restore_list(job.restore.as_ref(), defaults.restore.as_ref(), |restore| &restore.mount_map)
                .into_iter()
                .map(|map| (map.from, map.to))
                .collect(),
        },
        ignore_rootfs: checkpoint_value(|options| options.ignore_rootfs).unwrap_or(false),
        with_volumes: checkpoint_value(|options| options.with_volumes).unwrap_or(false),
        keep_source: job.keep_source.or(defaults.keep_source).unwrap_or(false),
        keep_checkpoint: job.keep_checkpoint.or(defaults.keep_checkpoint).unwrap_or(true),
        depends_on,
        timeout: job.timeout.as_ref().or(defaults.timeout.as_ref()).and_then(Timeout::duration),
        hash: String::new(),
    };
    valid.rehash();
    valid
}

impl ValidJob {
    /// Recomputes `hash` after a change to the job.
    pub fn rehash(&mut self) {
        self.hash = hash_of(self);
    }
}

fn merge_checkpoint(job: Option<&CheckpointOptions>, defaults: Option<&CheckpointOptions>) -> DumpFlags {
    let pick = |get: fn(&CheckpointOptions) -> Option<bool>| job.and_then(get).or_else(|| defaults.and_then(get));
    let base = DumpFlags::default();
    DumpFlags {
        leave_running: pick(|options| options.leave_running).unwrap_or(base.leave_running),
        tcp_established: pick(|options| options.tcp).unwrap_or(base.tcp_established),
        file_locks: pick(|options| options.file_locks).unwrap_or(base.file_locks),
        manage_cgroups: pick(|options| options.manage_cgroups).unwrap_or(base.manage_cgroups),
        log_level: base.log_level,
    }
}

/// FNV-1a over the job's JSON form: stable across builds and platforms,
/// which is all the journal needs; it guards against edits, not attacks.
fn hash_of(job: &ValidJob) -> String {
    use std::hash::Hasher;
    let bytes = serde_json::to_vec(job).unwrap_or_default();
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(&bytes);
    format!("{:016x}", hasher.finish())
}
