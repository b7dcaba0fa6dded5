//! The output of `apply` while and after it runs. While it runs, stderr
//! gets a live status line on a terminal and plain log lines elsewhere;
//! at the end, stdout gets the summary table.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::commands::human_duration;
use crate::plan::execute::{Event, Outcome, StepStatus};

/// Prints one progress line on stderr per start, end, skip and failure.
pub(super) fn log_event(event: &Event) {
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
pub(super) struct LiveProgress {
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
    pub(super) fn start(total: usize) -> Self {
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

    pub(super) fn update(&self, event: &Event) {
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

    pub(super) fn finish(self) {
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

pub(super) fn render_summary(outcome: &Outcome) -> String {
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
