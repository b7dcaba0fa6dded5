//! One module per verb: each turns parsed arguments into a call of the
//! execution layer and prints the result, as text for people or JSON for
//! scripts, on stdout. Progress and logs go to stderr.

mod apply;
mod check;
mod checkpoint;
mod inspect;
mod list;
mod plan;
mod render;
mod restore;
mod schema;
mod version;

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Cli, Command};
use crate::criu::CriuClient;

/// Runs the command the user asked for. An `Err` is reported by `main` and
/// exits with 1. A command whose findings are negative (as `check` can be)
/// exits with 1 through its `ExitCode`.
pub async fn run(cli: Cli) -> miette::Result<ExitCode> {
    let criu = CriuClient::new(&cli.criu);
    match cli.command {
        Command::Checkpoint(args) => checkpoint::run(&criu, args).await,
        Command::Restore(args) => restore::run(&criu, args).await,
        Command::Inspect(args) => inspect::run(args),
        Command::List(args) => list::run(args),
        Command::Check(args) => check::run(&criu, args).await,
        Command::Apply(args) => apply::run(&criu, args).await,
        Command::Plan(args) => plan::run(args),
        Command::Schema => schema::run(),
        Command::Version(args) => version::run(&criu, args).await,
    }
}

/// Prints a progress line on stderr.
fn progress(line: &str) {
    eprintln!("  {line}");
}

/// Formats a byte count as people read it: "3.4 MiB".
fn human_size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a duration in microseconds, milliseconds or seconds, whichever
/// reads better.
fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_millis(1) {
        format!("{} µs", duration.as_micros())
    } else if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) -> miette::Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|error| miette::miette!("could not encode the result as JSON: {error}"))?;
    println!("{json}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 * 1024 * 1024 + 400 * 1024), "3.4 MiB");
    }

    #[test]
    fn durations_switch_to_seconds() {
        assert_eq!(human_duration(Duration::from_micros(198)), "198 µs");
        assert_eq!(human_duration(Duration::from_millis(51)), "51 ms");
        assert_eq!(human_duration(Duration::from_millis(1700)), "1.70 s");
    }
}
