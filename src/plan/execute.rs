//! Running a plan's DAG of steps with tokio.
//!
//! At most `parallel` steps run at once, each as soon as every step before
//! it in the DAG is done. A failed step stops the steps that depend on it
//! and lets the others finish, and completed work is never undone. Steps
//! that the journal records as done with the same job definition are
//! skipped, which is how a second apply resumes after a failure or does
//! nothing at all. A dry run is this same loop over the `DryRun` effects
//! without saving the journal.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::graph::NodeIndex;
use petgraph::Direction;
use serde::Serialize;
use tokio::task::JoinSet;

use super::effects::{Effects, StepError};
use super::journal::{Journal, JournalEntry, JournalError};
use super::planner::{Check, PlanGraph, CheckpointRef, Step, StepAction, StepKind};
use crate::exec::checkpoint::CheckpointRequest;
use crate::exec::restore::{MountMap, RestoreRequest};

#[derive(Debug, Clone, Copy)]
pub struct ExecuteOptions {
    /// The maximum number of steps running at once; 0 counts as 1.
    pub parallel: usize,
    /// Whether finished steps are written to the journal; false for a dry run.
    pub save_journal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Ran in this apply (or would run, in a dry run).
    Done,
    /// Done in an earlier apply of the same job definition.
    Skipped,
    Failed,
    /// Not started because a step it depends on failed.
    NotRun,
}

/// The result of one step in an apply or a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub id: String,
    pub job: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub duration: Option<Duration>,
    /// The step's failure, or for a step not run the failed step it waited for.
    pub detail: Option<String>,
    pub checkpoint: Option<PathBuf>,
    pub container_id: Option<String>,
}

/// Every step's result in plan order, and the failures with their causes.
#[derive(Debug)]
pub struct Outcome {
    pub results: Vec<StepResult>,
    pub failures: Vec<(String, StepError)>,
    /// The error of the last failed journal save. The steps' work is done
    /// even so, but the next apply may repeat it.
    pub journal_error: Option<JournalError>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.journal_error.is_none()
    }

    pub fn count(&self, status: StepStatus) -> usize {
        self.results.iter().filter(|result| result.status == status).count()
    }
}

/// A progress event, for the live display or log lines.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Started { step: &'a str, position: usize, total: usize },
    Finished { step: &'a str, duration: Duration },
    Skipped { step: &'a str },
    Failed { step: &'a str, error: String },
}

/// A step's inputs with every run-time value filled in.
#[derive(Debug, Clone)]
enum Work {
    Checks(Vec<Check>),
    Checkpoint(CheckpointRequest),
    Restore(RestoreRequest),
    Verify(String),
    Stop(String),
    RemoveCheckpoint(PathBuf),
}

#[derive(Debug, Clone, Default)]
struct StepOutput {
    checkpoint: Option<PathBuf>,
    container_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

/// Runs the plan's steps. `journal` lists the steps already done and
/// receives the ones this run finishes.
pub async fn execute<E: Effects>(
    plan: &PlanGraph,
    effects: Arc<E>,
    journal: &mut Journal,
    options: ExecuteOptions,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Outcome {
    let parallel = options.parallel.max(1);
    let total = plan.order.len();
    let mut states = vec![State::Pending; plan.graph.node_count()];
    let mut outputs: HashMap<String, StepOutput> = HashMap::new();
    let mut durations: HashMap<NodeIndex, Duration> = HashMap::new();
    let mut failures: Vec<(String, StepError)> = Vec::new();
    let mut journal_error = None;
    let mut running = JoinSet::new();
    let mut running_nodes: HashMap<tokio::task::Id, NodeIndex> = HashMap::new();
    let mut started = 0;

    loop {
        // Start what is ready, in plan order; skipping a step can make its
        // successors ready, so scan until a pass changes nothing.
        let mut changed = true;
        while changed {
            changed = false;
            for &node in &plan.order {
                if states[node.index()] != State::Pending || !is_ready(plan, &states, node) {
                    continue;
                }
                let step = &plan.graph[node];
                if let Some(entry) = journal.finished(&step.id, &step.job_hash) {
                    states[node.index()] = State::Skipped;
                    outputs.insert(step.id.clone(), StepOutput { checkpoint: entry.checkpoint.clone(), container_id: entry.container_id.clone() });
                    on_event(&Event::Skipped { step: &step.id });
                    changed = true;
                    continue;
                }
                if running.len() >= parallel {
                    break;
                }
                match work_of(step, &outputs) {
                    Ok(work) => {
                        started += 1;
                        on_event(&Event::Started { step: &step.id, position: started, total });
                        states[node.index()] = State::Running;
                        let effects = Arc::clone(&effects);
                        let step_id = step.id.clone();
                        let timeout = step.timeout;
                        let handle = running.spawn(async move {
                            let begun = Instant::now();
                            let result = run_with_timeout(&*effects, work, &step_id, timeout).await;
                            (result, begun.elapsed())
                        });
                        running_nodes.insert(handle.id(), node);
                    }
                    Err(error) => {
                        states[node.index()] = State::Failed;
                        on_event(&Event::Failed { step: &step.id, error: error.to_string() });
                        failures.push((step.id.clone(), error));
                    }
                }
                changed = true;
            }
        }

        let Some(joined) = running.join_next_with_id().await else { break };
        let (node, result, elapsed) = match joined {
            Ok((id, (result, elapsed))) => (running_nodes.remove(&id), result, elapsed),
            Err(join_error) => {
                let node = running_nodes.remove(&join_error.id());
                let error = StepError::TaskFailed { message: join_error.to_string() };
                (node, Err(error), Duration::ZERO)
            }
        };
        let Some(node) = node else { continue };
        let step = &plan.graph[node];
        durations.insert(node, elapsed);
        match result {
            Ok(output) => {
                states[node.index()] = State::Done;
                on_event(&Event::Finished { step: &step.id, duration: elapsed });
                if options.save_journal {
                    journal.revision = plan.revision;
                    journal.steps.insert(
                        step.id.clone(),
                        JournalEntry {
                            job_hash: step.job_hash.clone(),
                            finished_at: now_rfc3339(),
                            duration_ms: elapsed.as_millis() as u64,
                            checkpoint: output.checkpoint.clone(),
                            container_id: output.container_id.clone(),
                        },
                    );
                    if let Err(error) = journal.save(&plan.journal) {
                        tracing::error!(step = %step.id, %error, "the journal could not be saved");
                        journal_error = Some(error);
                    }
                }
                outputs.insert(step.id.clone(), output);
            }
            Err(error) => {
                states[node.index()] = State::Failed;
                on_event(&Event::Failed { step: &step.id, error: error.to_string() });
                failures.push((step.id.clone(), error));
            }
        }
    }

    let results = plan
        .order
        .iter()
        .map(|&node| {
            let step = &plan.graph[node];
            let output = outputs.get(&step.id).cloned().unwrap_or_default();
            let (status, detail) = match states[node.index()] {
                State::Done => (StepStatus::Done, None),
                State::Skipped => (StepStatus::Skipped, None),
                State::Failed => {
                    let message = failures.iter().find(|(id, _)| id == &step.id).map(|(_, error)| error.to_string());
                    (StepStatus::Failed, message)
                }
                State::Pending | State::Running => {
                    (StepStatus::NotRun, failed_ancestor(plan, &states, node).map(|id| format!("after {id} failed")))
                }
            };
            StepResult {
                id: step.id.clone(),
                job: step.job.clone(),
                kind: step.kind,
                status,
                duration: durations.get(&node).copied(),
                detail,
                checkpoint: output.checkpoint,
                container_id: output.container_id,
            }
        })
        .collect();
    Outcome { results, failures, journal_error }
}

fn is_ready(plan: &PlanGraph, states: &[State], node: NodeIndex) -> bool {
    plan.graph
        .neighbors_directed(node, Direction::Incoming)
        .all(|before| matches!(states[before.index()], State::Done | State::Skipped))
}

/// Finds a failed step that `node` waits for, directly or not, to report
/// why it did not run.
fn failed_ancestor<'a>(plan: &'a PlanGraph, states: &[State], node: NodeIndex) -> Option<&'a str> {
    let mut stack = vec![node];
    let mut seen = vec![false; states.len()];
    while let Some(current) = stack.pop() {
        for before in plan.graph.neighbors_directed(current, Direction::Incoming) {
            if states[before.index()] == State::Failed {
                return Some(&plan.graph[before].id);
            }
            if !seen[before.index()] {
                seen[before.index()] = true;
                stack.push(before);
            }
        }
    }
    None
}

/// Fills in the values only earlier steps could tell, such as the folder a
/// checkpoint step wrote.
fn work_of(step: &Step, outputs: &HashMap<String, StepOutput>) -> Result<Work, StepError> {
    Ok(match &step.action {
        StepAction::Preflight { checks } => Work::Checks(checks.clone()),
        StepAction::Checkpoint { container, output, name, flags, ignore_rootfs, with_volumes, .. } => {
            Work::Checkpoint(CheckpointRequest {
                container: container.clone(),
                output: output.clone(),
                name: Some(name.clone()),
                flags: *flags,
                ignore_rootfs: *ignore_rootfs,
                with_volumes: *with_volumes,
            })
        }
        StepAction::Restore { from, new_name, validate_environment, mounts } => Work::Restore(RestoreRequest {
            from: checkpoint_path(step, from, outputs)?,
            new_name: new_name.clone(),
            validate_env: *validate_environment,
            auto_fix_mounts: mounts.auto_fix_mounts,
            skip_mounts: mounts.skip_mounts.clone(),
            mount_maps: mounts
                .mount_map
                .iter()
                .map(|(old, new)| MountMap { old: old.display().to_string(), new: new.display().to_string() })
                .collect(),
        }),
        StepAction::Verify { container } => Work::Verify(container.clone()),
        StepAction::StopSource { container } => Work::Stop(container.clone()),
        StepAction::RemoveCheckpoint { checkpoint } => Work::RemoveCheckpoint(checkpoint_path(step, checkpoint, outputs)?),
    })
}

fn checkpoint_path(step: &Step, checkpoint: &CheckpointRef, outputs: &HashMap<String, StepOutput>) -> Result<PathBuf, StepError> {
    match checkpoint {
        CheckpointRef::Path(path) => Ok(path.clone()),
        CheckpointRef::Step { step: source, .. } => outputs
            .get(source)
            .and_then(|output| output.checkpoint.clone())
            .ok_or_else(|| StepError::MissingInput { step: step.id.clone(), needs: source.clone() }),
    }
}

async fn run_with_timeout<E: Effects>(effects: &E, work: Work, step: &str, timeout: Option<Duration>) -> Result<StepOutput, StepError> {
    let run = run_work(effects, work, step);
    match timeout {
        // NOTE: CRIU requests block their thread, so a timeout takes effect
        // only when the request returns, not in the middle of a dump.
        Some(limit) => tokio::time::timeout(limit, run)
            .await
            .unwrap_or_else(|_| Err(StepError::TimedOut { step: step.to_string(), seconds: limit.as_secs() })),
        None => run.await,
    }
}

async fn run_work<E: Effects>(effects: &E, work: Work, step: &str) -> Result<StepOutput, StepError> {
    match work {
        Work::Checks(checks) => {
            for check in &checks {
                effects.check(check).await?;
            }
            Ok(StepOutput::default())
        }
        Work::Checkpoint(request) => {
            let path = effects.checkpoint(&request, step).await?;
            Ok(StepOutput { checkpoint: Some(path), container_id: None })
        }
        Work::Restore(request) => {
            let container_id = effects.restore(&request, step).await?;
            Ok(StepOutput { checkpoint: None, container_id })
        }
        Work::Verify(container) => {
            effects.verify(&container).await?;
            Ok(StepOutput::default())
        }
        Work::Stop(container) => {
            effects.stop(&container).await?;
            Ok(StepOutput::default())
        }
        Work::RemoveCheckpoint(path) => {
            effects.remove_checkpoint(&path).await?;
            Ok(StepOutput::default())
        }
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
