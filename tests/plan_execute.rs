//! The executor over a fake engine: step order, `--parallel`, a failure in
//! the middle, the journal's skip and resume, and timeouts. The fake
//! records every call, so the tests read as "would checkpoint this" without
//! root, an engine or CRIU.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docker_cr::exec::checkpoint::CheckpointRequest;
use docker_cr::exec::restore::RestoreRequest;
use docker_cr::plan::effects::{Effects, StepError};
use docker_cr::plan::execute::{execute, ExecuteOptions, Outcome, StepStatus};
use docker_cr::plan::journal::Journal;
use docker_cr::plan::planner::{plan_steps, Check, PlanGraph};
use docker_cr::plan::{load, validate};

/// A fake host: every call takes `delay`, succeeds unless its container is
/// in `failing`, and is logged.
#[derive(Default)]
struct Fake {
    delay: Duration,
    failing: HashSet<String>,
    calls: Mutex<Vec<String>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Fake {
    fn new(delay_ms: u64, failing: &[&str]) -> Self {
        Fake { delay: Duration::from_millis(delay_ms), failing: failing.iter().map(|name| name.to_string()).collect(), ..Default::default() }
    }

    async fn call(&self, call: String, container: &str) -> Result<(), StepError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().unwrap().push(call.clone());
        if self.failing.contains(container) {
            return Err(StepError::VerifyFailed { container: container.to_string(), state: "exited".into() });
        }
        Ok(())
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Effects for Fake {
    async fn check(&self, check: &Check) -> Result<(), StepError> {
        match check {
            Check::ContainerRunning { container } => self.call(format!("check running {container}"), "").await,
            other => self.call(format!("check {other:?}"), "").await,
        }
    }

    async fn checkpoint(&self, request: &CheckpointRequest, _step: &str) -> Result<PathBuf, StepError> {
        self.call(format!("checkpoint {}", request.container), &request.container).await?;
        Ok(PathBuf::from("/fake").join(&request.container))
    }

    async fn restore(&self, request: &RestoreRequest, _step: &str) -> Result<Option<String>, StepError> {
        self.call(format!("restore {} from {}", request.new_name, request.from.display()), "").await?;
        Ok(Some(format!("id-of-{}", request.new_name)))
    }

    async fn verify(&self, container: &str) -> Result<(), StepError> {
        self.call(format!("verify {container}"), container).await
    }

    async fn stop(&self, container: &str) -> Result<(), StepError> {
        self.call(format!("stop {container}"), container).await
    }

    async fn remove_checkpoint(&self, path: &Path) -> Result<(), StepError> {
        self.call(format!("remove {}", path.display()), "").await
    }
}

const MIGRATE_THREE: &str = "
    - name: db
      action: migrate
      container: db
      restore: {new_name: db-2}
    - name: cache
      action: migrate
      container: cache
      keep_source: true
      restore: {new_name: cache-2}
    - name: web
      action: migrate
      container: web
      depends_on: [db, cache]
      keep_checkpoint: false
      restore: {new_name: web-2}
";

fn graph_of(output: &Path, jobs: &str) -> PlanGraph {
    let text = format!(
        "apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: test\n  revision: 1\nspec:\n  defaults:\n    output: {}\n  jobs:{jobs}",
        output.display()
    );
    let loaded = load::parse(Path::new("plan.yaml"), text).expect("plan parses");
    plan_steps(&validate::validate(&loaded).expect("plan is valid"))
}

async fn apply(graph: &PlanGraph, fake: Arc<Fake>, parallel: usize) -> Outcome {
    let mut journal = Journal::load(&graph.journal, &graph.name).expect("journal");
    execute(graph, fake, &mut journal, ExecuteOptions { parallel, save_journal: true }, &|_| {}).await
}

fn statuses(outcome: &Outcome) -> Vec<(String, StepStatus)> {
    outcome.results.iter().map(|result| (result.id.clone(), result.status)).collect()
}

fn status_of(outcome: &Outcome, step: &str) -> StepStatus {
    outcome.results.iter().find(|result| result.id == step).map(|result| result.status).expect("no such step")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_apply_follows_plan_order() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    let fake = Arc::new(Fake::new(0, &[]));
    let outcome = apply(&graph, fake.clone(), 1).await;

    assert!(outcome.succeeded());
    let calls = fake.calls();
    let position = |call: &str| calls.iter().position(|made| made == call).unwrap_or_else(|| panic!("no call {call}: {calls:?}"));
    assert!(position("stop db") < position("check running web"), "web starts after db is done");
    assert!(position("verify cache-2") < position("check running web"), "web starts after cache is done");
    assert!(position("checkpoint web") < position("restore web-2 from /fake/web"));
    assert!(!calls.contains(&"stop cache".to_string()), "keep_source leaves the cache running");
    assert!(position("stop web") < position("remove /fake/web"), "the checkpoint is removed last");
    assert!(!calls.iter().any(|call| call == "remove /fake/db"), "db keeps its checkpoint");
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_uses_the_checkpoint_step_output() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(
        dir.path(),
        "
    - name: save
      action: checkpoint
      container: app
    - name: copy
      action: restore
      from: {job: save}
      restore: {new_name: app-2}
",
    );
    let fake = Arc::new(Fake::new(0, &[]));
    let outcome = apply(&graph, fake.clone(), 4).await;
    assert!(outcome.succeeded());
    assert!(fake.calls().contains(&"restore app-2 from /fake/app".to_string()), "{:?}", fake.calls());
    let restore = outcome.results.iter().find(|result| result.id == "copy/restore").unwrap();
    assert_eq!(restore.container_id.as_deref(), Some("id-of-app-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_limits_running_steps() {
    let jobs: String = (0..4).map(|index| format!("\n    - name: job{index}\n      action: checkpoint\n      container: c{index}\n")).collect();
    for parallel in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let graph = graph_of(dir.path(), &jobs);
        let fake = Arc::new(Fake::new(40, &[]));
        let outcome = apply(&graph, fake.clone(), parallel).await;
        assert!(outcome.succeeded());
        assert_eq!(fake.max_running.load(Ordering::SeqCst), parallel, "with --parallel {parallel}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_stops_only_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    let fake = Arc::new(Fake::new(0, &["db-2"]));
    let outcome = apply(&graph, fake.clone(), 2).await;

    assert!(!outcome.succeeded());
    assert_eq!(status_of(&outcome, "db/checkpoint"), StepStatus::Done, "completed work stays done");
    assert_eq!(status_of(&outcome, "db/verify"), StepStatus::Failed);
    assert_eq!(status_of(&outcome, "db/stop-source"), StepStatus::NotRun);
    assert_eq!(status_of(&outcome, "cache/verify"), StepStatus::Done, "independent jobs finish");
    assert_eq!(status_of(&outcome, "web/preflight"), StepStatus::NotRun);
    let web = outcome.results.iter().find(|result| result.id == "web/checkpoint").unwrap();
    assert_eq!(web.detail.as_deref(), Some("after db/verify failed"));
    assert!(!fake.calls().contains(&"stop db".to_string()), "the source is not stopped after a failed verify");
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].0, "db/verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_apply_resumes_after_failure() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    let failed = apply(&graph, Arc::new(Fake::new(0, &["db-2"])), 2).await;
    assert!(!failed.succeeded());

    let fake = Arc::new(Fake::new(0, &[]));
    let resumed = apply(&graph, fake.clone(), 2).await;
    assert!(resumed.succeeded(), "{:?}", statuses(&resumed));
    assert_eq!(status_of(&resumed, "db/checkpoint"), StepStatus::Skipped);
    assert_eq!(status_of(&resumed, "db/restore"), StepStatus::Skipped);
    assert_eq!(status_of(&resumed, "db/verify"), StepStatus::Done);
    assert_eq!(status_of(&resumed, "cache/verify"), StepStatus::Skipped);
    assert_eq!(status_of(&resumed, "web/stop-source"), StepStatus::Done);
    let calls = fake.calls();
    assert!(!calls.contains(&"checkpoint db".to_string()), "db is not dumped twice: {calls:?}");
    assert!(!calls.contains(&"restore db-2 from /fake/db".to_string()), "db-2 is not restored twice: {calls:?}");
    assert!(calls.contains(&"verify db-2".to_string()), "the failed verify runs again: {calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_plan_applies_as_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    assert!(apply(&graph, Arc::new(Fake::new(0, &[])), 2).await.succeeded());

    let fake = Arc::new(Fake::new(0, &[]));
    let again = apply(&graph, fake.clone(), 2).await;
    assert!(again.succeeded());
    assert_eq!(again.count(StepStatus::Skipped), graph.order.len());
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    assert!(apply(&graph, Arc::new(Fake::new(0, &[])), 2).await.succeeded());

    let changed = graph_of(dir.path(), &MIGRATE_THREE.replace("web-2", "web-3"));
    let fake = Arc::new(Fake::new(0, &[]));
    let outcome = apply(&changed, fake.clone(), 2).await;
    assert!(outcome.succeeded());
    assert_eq!(status_of(&outcome, "db/checkpoint"), StepStatus::Skipped);
    assert_eq!(status_of(&outcome, "web/restore"), StepStatus::Done);
    assert!(fake.calls().contains(&"restore web-3 from /fake/web".to_string()), "{:?}", fake.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_saves_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), MIGRATE_THREE);
    let mut journal = Journal::load(&graph.journal, &graph.name).unwrap();
    let options = ExecuteOptions { parallel: 1, save_journal: false };
    let outcome = execute(&graph, Arc::new(Fake::new(0, &[])), &mut journal, options, &|_| {}).await;
    assert!(outcome.succeeded());
    assert!(!graph.journal.exists(), "{} was written", graph.journal.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_step_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_of(dir.path(), "\n    - name: slow\n      action: checkpoint\n      container: slow\n      timeout: 1s\n");
    let outcome = apply(&graph, Arc::new(Fake::new(1500, &[])), 1).await;
    assert_eq!(status_of(&outcome, "slow/preflight"), StepStatus::Failed);
    assert_eq!(outcome.failures[0].1.to_string(), "step slow/preflight timed out after 1 s");
    assert_eq!(status_of(&outcome, "slow/checkpoint"), StepStatus::NotRun);
}
