//! `docker-cr list [DIR...]`: a table of the checkpoints found in folders.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{ListArgs, OutputFormat, DEFAULT_OUTPUT};
use crate::exec::list::find_checkpoints;

use super::render::{table, terminal_width};
use super::{human_size, print_json};

pub fn run(args: ListArgs) -> miette::Result<ExitCode> {
    let dirs = if args.dirs.is_empty() { vec![PathBuf::from(DEFAULT_OUTPUT)] } else { args.dirs };
    let checkpoints = find_checkpoints(&dirs);

    match args.format.format {
        OutputFormat::Json => print_json(&checkpoints)?,
        OutputFormat::Text => {
            if checkpoints.is_empty() {
                let searched: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
                println!("No checkpoints in {}", searched.join(", "));
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = checkpoints
                .iter()
                .map(|entry| {
                    vec![
                        entry.container.clone().unwrap_or_default(),
                        entry.image.clone().unwrap_or_default(),
                        entry.checkpointed_at.clone().unwrap_or_default(),
                        human_size(entry.size_bytes),
                        entry.engine.clone().unwrap_or_default(),
                        entry.path.display().to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&["CONTAINER", "IMAGE", "CHECKPOINTED", "SIZE", "ENGINE", "PATH"], &rows, terminal_width(), 0));
        }
    }
    Ok(ExitCode::SUCCESS)
}
