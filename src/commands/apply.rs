//! `docker-cr apply PLAN`: runs a plan's steps, or with `--dry-run`
//! previews them, as Terraform previews a plan: one block per step in run
//! order, values only a run can tell marked as such, a count at the end.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::{ApplyArgs, PlanOutput};
use crate::criu::options::DumpFlags;
use crate::criu::CriuClient;
use crate::docker::Engine;
use crate::plan::effects::{DryRun, Host};
use crate::plan::execute::{execute, Event, ExecuteOptions, Outcome, StepStatus};
use crate::plan::journal::{self, Journal};
use crate::plan::planner::{plan_steps, Check, PlanGraph, CheckpointRef, Step, StepAction};
use crate::plan::selectors::{self, ExpandError};
use crate::plan::{self};

use super::{human_duration, print_json};

/// The placeholder for a value only a real run can produce.
const KNOWN_AFTER_APPLY: &str = "(known after apply)";

pub async fn run(criu: &CriuClient, args: ApplyArgs) -> miette::Result<ExitCode> {
    let (loaded, mut valid) = match plan::load_and_validate(&args.plan) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{:?}", miette::Report::new(errors));
            return Ok(ExitCode::FAILURE);
        }
    };
    // Listing containers by label only reads, so a dry run does it too.
    if selectors::has_selectors(&valid) {
        let engine = Engine::connect().await?;
        valid = match selectors::expand(&loaded, valid, &engine).await {
            Ok(valid) => valid,
            Err(ExpandError::Plan(errors)) => {
                eprintln!("{:?}", miette::Report::new(errors));
                return Ok(ExitCode::FAILURE);
            }
            Err(ExpandError::Docker(error)) => return Err(error.into()),
        };
    }
    let graph = plan_steps(&valid);
    let mut journal = Journal::load(&graph.journal, &graph.name)?;

    if args.dry_run {
        let options = ExecuteOptions { parallel: 1, save_journal: false };
        let outcome = execute(&graph, Arc::new(DryRun::default()), &mut journal, options, &|_: &Event| {}).await;
        match args.output {
            PlanOutput::Tree => print!("{}", render_preview(&graph, &outcome)),
            PlanOutput::Json => print_json(&preview_json(&graph, &outcome))?,
            PlanOutput::Dot => print!("{}", graph.to_dot()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.output == PlanOutput::Dot {
        return Err(miette::miette!(
            help = "use `--dry-run --output dot` to draw the plan",
            "`--output dot` draws a preview and needs --dry-run"
        ));
    }

    let pending = graph.steps().filter(|step| journal.finished(&step.id, &step.job_hash).is_none()).count();
    if pending == 0 {
        println!("Nothing to do: every step of plan {} is done according to {}.", graph.name, graph.journal.display());
        return Ok(ExitCode::SUCCESS);
    }

    crate::exec::require_root()?;
    let _lock = journal::lock(&graph.journal)?;
    // Another apply may have finished steps between the first read and the lock.
    let mut journal = Journal::load(&graph.journal, &graph.name)?;
    let engine = Engine::connect().await?;
    let host = Arc::new(Host { engine, criu: criu.clone() });
    let options = ExecuteOptions { parallel: usize::from(args.parallel), save_journal: true };
    let outcome = if std::io::stderr().is_terminal() {
        let live = LiveProgress::start(graph.order.len());
        let outcome = execute(&graph, host, &mut journal, options, &|event: &Event| live.update(event)).await;
        live.finish();
        outcome
    } else {
        execute(&graph, host, &mut journal, options, &log_event).await
    };

    for (_, error) in outcome.failures {
        eprintln!("{:?}", miette::Report::new(error));
    }
    let outcome = Outcome { failures: Vec::new(), ..outcome };
    match args.output {
        PlanOutput::Json => print_json(&serde_json::json!({
            "plan": graph.name,
            "revision": graph.revision,
            "journal": graph.journal,
            "succeeded": outcome.results.iter().all(|result| matches!(result.status, StepStatus::Done | StepStatus::Skipped)),
            "steps": outcome.results,
        }))?,
        _ => print!("{}", render_summary(&outcome)),
    }
    if let Some(error) = outcome.journal_error {
        eprintln!("{:?}", miette::Report::new(error));
        return Ok(ExitCode::FAILURE);
    }
    let all_done = outcome.results.iter().all(|result| matches!(result.status, StepStatus::Done | StepStatus::Skipped));
    Ok(if all_done { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prints one progress line on stderr per start, end, skip and failure.
fn log_event(event: &Event) {
    match event {
        Event::Started { step, position, total } => eprintln!("[{position}/{total}] {step}: started"),
        Event::Finished { step, duration } => eprintln!("{step}: done in {}", human_duration(*duration)),
        Event::Skipped { step } => eprintln!("{step}: skipped, done in an earlier apply"),
        Event::Failed { step, error } => eprintln!("{step}: FAILED: {error}"),
    }
}

/// A status line at the bottom of the terminal that lists the running
/// steps with their elapsed time, redrawn several times a second, with one
/// permanent line above it per finished, skipped or failed step.
struct LiveProgress {
    state: Arc<Mutex<LiveState>>,
    ticker: tokio::task::JoinHandle<()>,
}

struct LiveState {
    running: BTreeMap<String, Instant>,
    finished: usize,
    total: usize,
}

/// How often the status line is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(200);

impl LiveProgress {
    fn start(total: usize) -> Self {
        let state = Arc::new(Mutex::new(LiveState { running: BTreeMap::new(), finished: 0, total }));
        let shared = Arc::clone(&state);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(REDRAW_INTERVAL).await;
                if let Ok(state) = shared.lock() {
                    draw_status(&state, None);
                }
            }
        });
        LiveProgress { state, ticker }
    }

    fn update(&self, event: &Event) {
        let Ok(mut state) = self.state.lock() else { return };
        let line = match event {
            Event::Started { step, .. } => {
                state.running.insert(step.to_string(), Instant::now());
                None
            }
            Event::Finished { step, duration } => {
                state.running.remove(*step);
                state.finished += 1;
                Some(format!("{step}: done in {}", human_duration(*duration)))
            }
            Event::Skipped { step } => {
                state.finished += 1;
                Some(format!("{step}: skipped, done in an earlier apply"))
            }
            Event::Failed { step, error } => {
                state.running.remove(*step);
                state.finished += 1;
                Some(format!("{step}: FAILED: {error}"))
            }
        };
        draw_status(&state, line.as_deref());
    }

    fn finish(self) {
        self.ticker.abort();
        eprint!("\r\x1b[2K");
    }
}

/// Clears the status line, prints `line` above it when there is one, and
/// draws the status line again.
fn draw_status(state: &LiveState, line: Option<&str>) {
    let running: Vec<String> = state
        .running
        .iter()
        .map(|(step, started)| format!("{step} {}", human_duration(started.elapsed())))
        .collect();
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K");
    if let Some(line) = line {
        let _ = writeln!(stderr, "{line}");
    }
    let _ = write!(stderr, "[{}/{}] running: {}", state.finished, state.total, running.join(", "));
    let _ = stderr.flush();
}

fn render_preview(graph: &PlanGraph, outcome: &Outcome) -> String {
    let revision = graph.revision.map(|revision| format!(" revision {revision}")).unwrap_or_default();
    let mut out = format!("Plan {}{revision}: {} steps\n", graph.name, graph.order.len());
    out.push_str("  + will run    = already done, skipped\n\n");

    for (&node, result) in graph.order.iter().zip(&outcome.results) {
        let step = &graph.graph[node];
        let skipped = result.status == StepStatus::Skipped;
        let marker = if skipped { "=" } else { "+" };
        let after = graph.after(node);
        let after = if after.is_empty() { String::new() } else { format!("  (after {})", after.join(", ")) };
        out.push_str(&format!("{marker} {}{after}\n", step.id));
        if skipped {
            out.push_str("    done in an earlier apply of this job\n");
            continue;
        }
        for (key, value) in step_details(step) {
            out.push_str(&format!("    {key:<13} {value}\n"));
        }
        if let Some(timeout) = step.timeout {
            out.push_str(&format!("    {:<13} {}\n", "timeout", format_timeout(timeout)));
        }
    }

    let to_run = outcome.count(StepStatus::Done);
    let skipped = outcome.count(StepStatus::Skipped);
    out.push_str(&format!("\nPlan: {to_run} to run, {skipped} already done.\n"));
    out
}

/// Lists the key and value lines of one step's preview block.
fn step_details(step: &Step) -> Vec<(&'static str, String)> {
    match &step.action {
        StepAction::Preflight { checks } => checks.iter().map(|check| ("check", describe_check(check))).collect(),
        StepAction::Checkpoint { container, path, flags, .. } => vec![
            ("container", container.clone()),
            ("criu", describe_flags(flags)),
            ("path", path.display().to_string()),
        ],
        StepAction::Restore { from, new_name } => {
            let from = match from {
                CheckpointRef::Path(path) => path.display().to_string(),
                CheckpointRef::Step { step, expected } => format!("{} (written by {step})", expected.display()),
            };
            vec![("from", from), ("new name", new_name.clone()), ("container id", KNOWN_AFTER_APPLY.to_string())]
        }
        StepAction::Verify { container } => vec![("container", format!("{container} must be running"))],
        StepAction::StopSource { container } => vec![("container", format!("{container} is stopped"))],
        StepAction::RemoveCheckpoint { checkpoint } => {
            let path = match checkpoint {
                CheckpointRef::Path(path) => path.display().to_string(),
                CheckpointRef::Step { step, expected } => format!("{} (written by {step})", expected.display()),
            };
            vec![("remove", path)]
        }
    }
}

/// Formats a timeout in the unit a plan would write it in.
fn format_timeout(timeout: Duration) -> String {
    let seconds = timeout.as_secs();
    if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

fn describe_check(check: &Check) -> String {
    match check {
        Check::ContainerRunning { container } => format!("container {container} is running"),
        Check::NameFree { name } => format!("no container is named {name}"),
        Check::CheckpointAbsent { path } => format!("no checkpoint exists at {}", path.display()),
        Check::CheckpointReadable { path } => format!("a complete checkpoint exists at {}", path.display()),
        Check::EngineExperimental => "the engine runs in experimental mode".to_string(),
    }
}

fn describe_flags(flags: &DumpFlags) -> String {
    let flag = |on: bool, name: &str| if on { name.to_string() } else { format!("no-{name}") };
    [
        flag(flags.leave_running, "leave-running"),
        flag(flags.tcp_established, "tcp-established"),
        flag(flags.file_locks, "file-locks"),
        flag(flags.manage_cgroups, "manage-cgroups"),
    ]
    .join(", ")
}

fn preview_json(graph: &PlanGraph, outcome: &Outcome) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = graph
        .order
        .iter()
        .zip(&outcome.results)
        .map(|(&node, result)| {
            let step = &graph.graph[node];
            serde_json::json!({
                "id": step.id,
                "job": step.job,
                "kind": step.kind,
                "status": if result.status == StepStatus::Skipped { "skipped" } else { "will_run" },
                "after": graph.after(node),
                "action": step.action,
                "timeout_secs": step.timeout.map(|timeout| timeout.as_secs()),
            })
        })
        .collect();
    serde_json::json!({
        "plan": graph.name,
        "revision": graph.revision,
        "journal": graph.journal,
        "steps": steps,
        "to_run": outcome.count(StepStatus::Done),
        "skipped": outcome.count(StepStatus::Skipped),
    })
}

fn render_summary(outcome: &Outcome) -> String {
    let width = outcome.results.iter().map(|result| result.id.len()).max().unwrap_or(4).max(4);
    let mut out = format!("\n{:<width$}  {:<8}  {:>9}  DETAIL\n", "STEP", "STATUS", "DURATION");
    for result in &outcome.results {
        let status = match result.status {
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "FAILED",
            StepStatus::NotRun => "not run",
        };
        let duration = result.duration.map(human_duration).unwrap_or_default();
        let detail = result
            .detail
            .clone()
            .or_else(|| result.checkpoint.as_ref().map(|path| path.display().to_string()))
            .or_else(|| result.container_id.as_ref().map(|id| format!("container {}", &id[..12.min(id.len())])))
            .unwrap_or_default();
        out.push_str(&format!("{:<width$}  {status:<8}  {duration:>9}  {detail}\n", result.id));
    }
    out.push_str(&format!(
        "\nApply: {} done, {} skipped, {} failed, {} not run.\n",
        outcome.count(StepStatus::Done),
        outcome.count(StepStatus::Skipped),
        outcome.count(StepStatus::Failed),
        outcome.count(StepStatus::NotRun),
    ));
    out
}
