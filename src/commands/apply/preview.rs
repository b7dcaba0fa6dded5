//! The `--dry-run` preview, which reads like Terraform's plan: one block
//! per step in run order, values only a run can produce marked as such, and
//! a count at the end. The JSON form carries the same facts.

use std::time::Duration;

use crate::criu::options::DumpFlags;
use crate::plan::execute::{Outcome, StepStatus};
use crate::plan::planner::{Check, CheckpointRef, PlanGraph, Step, StepAction};

/// The placeholder for a value only a real run can produce.
const KNOWN_AFTER_APPLY: &str = "(known after apply)";

pub(super) fn render_preview(graph: &PlanGraph, outcome: &Outcome) -> String {
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
        StepAction::Checkpoint { container, path, flags, ignore_rootfs, with_volumes, .. } => {
            let mut lines = vec![
                ("container", container.clone()),
                ("criu", describe_flags(flags)),
                ("path", path.display().to_string()),
            ];
            // Only settings that differ from the defaults get a line.
            if *ignore_rootfs {
                lines.push(("rootfs", "left out".to_string()));
            }
            if *with_volumes {
                lines.push(("volumes", "saved in the checkpoint".to_string()));
            }
            lines
        }
        StepAction::Restore { from, new_name, mounts, .. } => {
            let from = match from {
                CheckpointRef::Path(path) => path.display().to_string(),
                CheckpointRef::Step { step, expected } => format!("{} (written by {step})", expected.display()),
            };
            let mut lines = vec![("from", from), ("new name", new_name.clone())];
            if !mounts.auto_fix_mounts {
                lines.push(("mount fixes", "off: a missing source fails the restore".to_string()));
            }
            for skipped in &mounts.skip_mounts {
                lines.push(("skip mount", skipped.clone()));
            }
            for (old, new) in &mounts.mount_map {
                lines.push(("mount map", format!("{} -> {}", old.display(), new.display())));
            }
            lines.push(("container id", KNOWN_AFTER_APPLY.to_string()));
            lines
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

pub(super) fn preview_json(graph: &PlanGraph, outcome: &Outcome) -> serde_json::Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_in_plan_units() {
        assert_eq!(format_timeout(Duration::from_secs(7200)), "2h");
        assert_eq!(format_timeout(Duration::from_secs(300)), "5m");
        assert_eq!(format_timeout(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn flags_turned_off_read_as_no() {
        let flags = DumpFlags { tcp_established: false, ..DumpFlags::default() };
        assert_eq!(describe_flags(&flags), "leave-running, no-tcp-established, file-locks, manage-cgroups");
    }
}
