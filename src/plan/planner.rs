//! Turning a valid plan into a DAG of steps.
//!
//! Each job becomes a chain of steps (preflight checks, checkpoint,
//! restore, verify, stop source), and each `depends_on` an edge from the
//! last step of the job depended on to the first step of the dependent
//! one. Steps with no path between them may run side by side. Every value a
//! step needs is fixed here, except the ones only a run can tell, such as
//! the new container's id, which previews mark as known after apply.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::Serialize;

use super::model::Action;
use super::validate::{RestoreMounts, SourceCheckpoint, ValidJob, ValidPlan};
use crate::criu::options::DumpFlags;

/// The steps of a plan and the order they run in.
#[derive(Debug, Clone)]
pub struct PlanGraph {
    pub name: String,
    pub revision: Option<u64>,
    pub journal: PathBuf,
    pub graph: DiGraph<Step, ()>,
    /// A topological order, earliest job and step first among the steps
    /// that are ready together; a dry run and `--parallel 1` run in it.
    pub order: Vec<NodeIndex>,
}

/// One unit of work in the DAG.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `<job>/<kind>`, unique in the plan.
    pub id: String,
    pub job: String,
    #[serde(skip)]
    pub job_hash: String,
    pub kind: StepKind,
    pub action: StepAction,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Preflight,
    Checkpoint,
    Restore,
    Verify,
    StopSource,
    Cleanup,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Preflight => "preflight",
            StepKind::Checkpoint => "checkpoint",
            StepKind::Restore => "restore",
            StepKind::Verify => "verify",
            StepKind::StopSource => "stop-source",
            StepKind::Cleanup => "cleanup",
        }
    }
}

/// A step's operation with every input it needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepAction {
    Preflight { checks: Vec<Check> },
    Checkpoint {
        container: String,
        output: PathBuf,
        name: String,
        path: PathBuf,
        flags: DumpFlags,
        ignore_rootfs: bool,
        with_volumes: bool,
    },
    Restore { from: CheckpointRef, new_name: String, validate_environment: bool, mounts: RestoreMounts },
    Verify { container: String },
    StopSource { container: String },
    /// Removes the checkpoint folder an earlier step of the job wrote.
    RemoveCheckpoint { checkpoint: CheckpointRef },
}

/// A read-only check made before a job changes anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// The source container exists and runs.
    ContainerRunning { container: String },
    /// No container has the new container's name.
    NameFree { name: String },
    /// No checkpoint exists where the dump will write.
    CheckpointAbsent { path: PathBuf },
    /// A complete checkpoint exists at the path.
    CheckpointReadable { path: PathBuf },
    /// The engine runs in experimental mode, which restoring needs.
    EngineExperimental,
}

/// A checkpoint folder that a restore or cleanup step uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointRef {
    /// An existing checkpoint folder.
    Path(PathBuf),
    /// The folder an earlier checkpoint step of this plan writes, and where
    /// it is expected to be.
    Step { step: String, expected: PathBuf },
}

/// Builds the DAG of a valid plan; a valid plan always has one.
pub fn plan_steps(plan: &ValidPlan) -> PlanGraph {
    let mut graph = DiGraph::new();
    let mut ends: HashMap<&str, (NodeIndex, NodeIndex)> = HashMap::new();

    for job in &plan.jobs {
        let steps = job_steps(job, plan);
        let mut previous: Option<NodeIndex> = None;
        let mut first = None;
        for step in steps {
            let node = graph.add_node(step);
            if let Some(previous) = previous {
                graph.add_edge(previous, node, ());
            }
            first.get_or_insert(node);
            previous = Some(node);
        }
        if let (Some(first), Some(last)) = (first, previous) {
            ends.insert(&job.name, (first, last));
        }
    }

    for job in &plan.jobs {
        let Some(&(first, _)) = ends.get(job.name.as_str()) else { continue };
        for dependency in &job.depends_on {
            if let Some(&(_, last)) = ends.get(dependency.as_str()) {
                graph.update_edge(last, first, ());
            }
        }
    }

    let order = stable_topological_order(&graph);
    PlanGraph { name: plan.name.clone(), revision: plan.revision, journal: plan.journal.clone(), graph, order }
}

fn job_steps(job: &ValidJob, plan: &ValidPlan) -> Vec<Step> {
    let step = |kind: StepKind, action: StepAction| Step {
        id: format!("{}/{}", job.name, kind.as_str()),
        job: job.name.clone(),
        job_hash: job.hash.clone(),
        kind,
        action,
        timeout: job.timeout,
    };
    let container = job.container.clone().unwrap_or_default();
    let new_name = job.new_name.clone().unwrap_or_default();
    let checkpoint_path = job.output.join(&container).join(&job.checkpoint_name);
    let checkpoint = || StepAction::Checkpoint {
        container: container.clone(),
        output: job.output.clone(),
        name: job.checkpoint_name.clone(),
        path: checkpoint_path.clone(),
        flags: job.flags,
        ignore_rootfs: job.ignore_rootfs,
        with_volumes: job.with_volumes,
    };
    let restore = |from: CheckpointRef, new_name: &String| StepAction::Restore {
        from,
        new_name: new_name.clone(),
        validate_environment: job.validate_environment,
        mounts: job.mounts.clone(),
    };

    match job.action {
        Action::Checkpoint => vec![
            step(
                StepKind::Preflight,
                StepAction::Preflight {
                    checks: vec![
                        Check::ContainerRunning { container: container.clone() },
                        Check::CheckpointAbsent { path: checkpoint_path.clone() },
                    ],
                },
            ),
            step(StepKind::Checkpoint, checkpoint()),
        ],
        Action::Restore => {
            let from = match &job.from {
                Some(SourceCheckpoint::Job(source)) => {
                    let expected = plan
                        .jobs
                        .iter()
                        .find(|other| &other.name == source)
                        .map(|other| other.output.join(other.container.as_deref().unwrap_or_default()).join(&other.checkpoint_name))
                        .unwrap_or_default();
                    CheckpointRef::Step { step: format!("{source}/{}", StepKind::Checkpoint.as_str()), expected }
                }
                Some(SourceCheckpoint::Path(path)) => CheckpointRef::Path(path.clone()),
                None => CheckpointRef::Path(PathBuf::new()),
            };
            let mut steps = Vec::new();
            if job.validate_environment {
                let mut checks = vec![Check::EngineExperimental, Check::NameFree { name: new_name.clone() }];
                if let CheckpointRef::Path(path) = &from {
                    checks.push(Check::CheckpointReadable { path: path.clone() });
                }
                steps.push(step(StepKind::Preflight, StepAction::Preflight { checks }));
            }
            steps.push(step(StepKind::Restore, restore(from, &new_name)));
            steps.push(step(StepKind::Verify, StepAction::Verify { container: new_name }));
            steps
        }
        Action::Migrate => {
            let mut checks = vec![
                Check::ContainerRunning { container: container.clone() },
                Check::CheckpointAbsent { path: checkpoint_path.clone() },
            ];
            if job.validate_environment {
                checks.push(Check::EngineExperimental);
                checks.push(Check::NameFree { name: new_name.clone() });
            }
            let from = CheckpointRef::Step { step: format!("{}/{}", job.name, StepKind::Checkpoint.as_str()), expected: checkpoint_path.clone() };
            let mut steps = vec![
                step(StepKind::Preflight, StepAction::Preflight { checks }),
                step(StepKind::Checkpoint, checkpoint()),
                step(StepKind::Restore, restore(from, &new_name)),
                step(StepKind::Verify, StepAction::Verify { container: new_name }),
            ];
            if !job.keep_source {
                steps.push(step(StepKind::StopSource, StepAction::StopSource { container: container.clone() }));
            }
            if !job.keep_checkpoint {
                let checkpoint = CheckpointRef::Step { step: format!("{}/{}", job.name, StepKind::Checkpoint.as_str()), expected: checkpoint_path };
                steps.push(step(StepKind::Cleanup, StepAction::RemoveCheckpoint { checkpoint }));
            }
            steps
        }
    }
}

/// Kahn's algorithm, taking the lowest node index among the ready steps so
/// that the order follows the file wherever the dependencies allow.
fn stable_topological_order(graph: &DiGraph<Step, ()>) -> Vec<NodeIndex> {
    let mut waiting: Vec<usize> = graph.node_indices().map(|node| graph.neighbors_directed(node, Direction::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<NodeIndex>> =
        graph.node_indices().filter(|node| waiting[node.index()] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for next in graph.neighbors_directed(node, Direction::Outgoing) {
            waiting[next.index()] -= 1;
            if waiting[next.index()] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    order
}

impl PlanGraph {
    /// Returns the steps in run order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.order.iter().map(|node| &self.graph[*node])
    }

    /// Returns the sorted ids of the steps that `node` waits for.
    pub fn after(&self, node: NodeIndex) -> Vec<&str> {
        let mut ids: Vec<&str> =
            self.graph.neighbors_directed(node, Direction::Incoming).map(|before| self.graph[before].id.as_str()).collect();
        ids.sort_unstable();
        ids
    }

    /// Renders the steps and their edges as a Graphviz digraph.
    pub fn to_dot(&self) -> String {
        let mut dot = format!("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n", self.name);
        for &node in &self.order {
            let step = &self.graph[node];
            dot.push_str(&format!("  \"{}\" [label=\"{}\\n{}\"];\n", step.id, step.job, step.kind.as_str()));
        }
        for &node in &self.order {
            let mut targets: Vec<&str> =
                self.graph.neighbors_directed(node, Direction::Outgoing).map(|next| self.graph[next].id.as_str()).collect();
            targets.sort_unstable();
            for target in targets {
                dot.push_str(&format!("  \"{}\" -> \"{target}\";\n", self.graph[node].id));
            }
        }
        dot.push_str("}\n");
        dot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{load, validate};
    use std::path::Path;

    fn graph_of(jobs: &str) -> PlanGraph {
        let text = format!("apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: test\nspec:\n  defaults:\n    output: /cp\n  jobs:\n{jobs}");
        let loaded = load::parse(Path::new("plan.yaml"), text).expect("plan parses");
        let valid = validate::validate(&loaded).expect("plan is valid");
        plan_steps(&valid)
    }

    fn order(graph: &PlanGraph) -> Vec<&str> {
        graph.steps().map(|step| step.id.as_str()).collect()
    }

    #[test]
    fn migrate_runs_its_steps_in_sequence() {
        let graph = graph_of("    - name: web\n      action: migrate\n      container: web\n      restore: {new_name: web-2}\n");
        assert_eq!(order(&graph), vec!["web/preflight", "web/checkpoint", "web/restore", "web/verify", "web/stop-source"]);
    }

    #[test]
    fn keep_source_leaves_out_the_stop() {
        let graph = graph_of("    - name: web\n      action: migrate\n      container: web\n      keep_source: true\n      restore: {new_name: web-2}\n");
        assert_eq!(order(&graph), vec!["web/preflight", "web/checkpoint", "web/restore", "web/verify"]);
    }

    #[test]
    fn cleanup_comes_last() {
        let graph = graph_of("    - name: web\n      action: migrate\n      container: web\n      keep_checkpoint: false\n      restore: {new_name: web-2}\n");
        assert_eq!(
            order(&graph),
            vec!["web/preflight", "web/checkpoint", "web/restore", "web/verify", "web/stop-source", "web/cleanup"]
        );
    }

    #[test]
    fn dependencies_come_first() {
        let graph = graph_of(
            "    - name: web\n      action: checkpoint\n      container: web\n      depends_on: [db]\n    - name: db\n      action: checkpoint\n      container: db\n",
        );
        assert_eq!(order(&graph), vec!["db/preflight", "db/checkpoint", "web/preflight", "web/checkpoint"]);
    }

    #[test]
    fn restore_waits_for_its_checkpoint_job() {
        let graph = graph_of(
            "    - name: back\n      action: restore\n      from: {job: save}\n      restore: {new_name: web-2}\n    - name: save\n      action: checkpoint\n      container: web\n",
        );
        assert_eq!(order(&graph), vec!["save/preflight", "save/checkpoint", "back/preflight", "back/restore", "back/verify"]);
        let restore = graph.steps().find(|step| step.id == "back/restore").unwrap();
        assert_eq!(
            restore.action,
            StepAction::Restore {
                from: CheckpointRef::Step { step: "save/checkpoint".into(), expected: PathBuf::from("/cp/web/save") },
                new_name: "web-2".into(),
                validate_environment: true,
                mounts: RestoreMounts::default(),
            }
        );
    }

    #[test]
    fn independent_jobs_have_no_edge() {
        let graph = graph_of(
            "    - name: a\n      action: checkpoint\n      container: a\n    - name: b\n      action: checkpoint\n      container: b\n",
        );
        assert_eq!(graph.graph.edge_count(), 2);
        assert_eq!(order(&graph), vec!["a/preflight", "a/checkpoint", "b/preflight", "b/checkpoint"]);
    }

    #[test]
    fn checkpoint_flags_come_from_defaults() {
        let graph = graph_of("    - name: a\n      action: checkpoint\n      container: a\n      checkpoint: {tcp: false}\n");
        let step = graph.steps().find(|step| step.kind == StepKind::Checkpoint).unwrap();
        let StepAction::Checkpoint { flags, path, .. } = &step.action else { panic!("not a checkpoint step") };
        assert!(!flags.tcp_established);
        assert!(flags.leave_running);
        assert_eq!(path, &PathBuf::from("/cp/a/a"));
    }
}
