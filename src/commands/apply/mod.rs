//! `docker-cr apply PLAN`: runs a plan's steps, or with `--dry-run`
//! previews them through the same step loop without touching the engine,
//! CRIU or the journal.

mod preview;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{ApplyArgs, PlanOutput};
use crate::criu::CriuClient;
use crate::docker::Engine;
use crate::plan::effects::{DryRun, Host};
use crate::plan::execute::{execute, Event, ExecuteOptions, StepStatus};
use crate::plan::journal::{self, Journal};
use crate::plan::planner::{plan_steps, PlanGraph};
use crate::plan::selectors::{self, ExpandError};
use crate::plan::{self};

use super::print_json;
use progress::LiveProgress;

pub async fn run(criu: &CriuClient, args: ApplyArgs) -> miette::Result<ExitCode> {
    let Some(graph) = plan_graph(&args).await? else {
        return Ok(ExitCode::FAILURE);
    };
    if args.dry_run {
        return preview(&graph, args.output).await;
    }
    if args.output == PlanOutput::Dot {
        return Err(miette::miette!(
            help = "use `--dry-run --output dot` to draw the plan",
            "`--output dot` draws a preview and needs --dry-run"
        ));
    }
    apply(criu, &graph, &args).await
}

/// Loads, validates and plans the file, expanding label selectors. `None`
/// after printing the plan's diagnostics when it is invalid.
async fn plan_graph(args: &ApplyArgs) -> miette::Result<Option<PlanGraph>> {
    let (loaded, mut valid) = match plan::load_and_validate(&args.plan) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{:?}", errors.into_report());
            return Ok(None);
        }
    };

    // Listing containers by label only reads, so a dry run does it too.
    if selectors::has_selectors(&valid) {
        let engine = Engine::connect().await?;
        valid = match selectors::expand(&loaded, valid, &engine).await {
            Ok(valid) => valid,
            Err(ExpandError::Plan(errors)) => {
                eprintln!("{:?}", miette::Report::new(errors));
                return Ok(None);
            }
            Err(ExpandError::Docker(error)) => return Err(error.into()),
        };
    }
    Ok(Some(plan_steps(&valid)))
}

async fn preview(graph: &PlanGraph, output: PlanOutput) -> miette::Result<ExitCode> {
    let mut journal = Journal::load(&graph.journal, &graph.name)?;
    let options = ExecuteOptions { parallel: 1, save_journal: false };
    let outcome = execute(graph, Arc::new(DryRun::default()), &mut journal, options, &|_: &Event| {}).await;
    match output {
        PlanOutput::Tree => print!("{}", preview::render_preview(graph, &outcome)),
        PlanOutput::Json => print_json(&preview::preview_json(graph, &outcome))?,
        PlanOutput::Dot => print!("{}", graph.to_dot()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn apply(criu: &CriuClient, graph: &PlanGraph, args: &ApplyArgs) -> miette::Result<ExitCode> {
    let journal = Journal::load(&graph.journal, &graph.name)?;
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
    let mut outcome = if std::io::stderr().is_terminal() {
        let live = LiveProgress::start(graph.order.len());
        let outcome = execute(graph, host, &mut journal, options, &|event: &Event| live.update(event)).await;
        live.finish();
        outcome
    } else {
        execute(graph, host, &mut journal, options, &progress::log_event).await
    };

    for (_, error) in std::mem::take(&mut outcome.failures) {
        eprintln!("{:?}", miette::Report::new(error));
    }
    let all_done = outcome.results.iter().all(|result| matches!(result.status, StepStatus::Done | StepStatus::Skipped));
    match args.output {
        PlanOutput::Json => print_json(&serde_json::json!({
            "plan": graph.name,
            "revision": graph.revision,
            "journal": graph.journal,
            "succeeded": all_done && outcome.journal_error.is_none(),
            "steps": outcome.results,
        }))?,
        _ => print!("{}", progress::render_summary(&outcome)),
    }
    if let Some(error) = outcome.journal_error {
        eprintln!("{:?}", miette::Report::new(error));
        return Ok(ExitCode::FAILURE);
    }
    Ok(if all_done { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
