//! `docker-cr restore --from DIR --new-name NAME`

use std::process::ExitCode;

use crate::cli::{OutputFormat, RestoreArgs};
use crate::criu::CriuClient;
use crate::docker::Engine;
use crate::exec::restore::{restore, RestoreRequest};

use super::{human_duration, print_json, progress};

pub async fn run(criu: &CriuClient, args: RestoreArgs) -> miette::Result<ExitCode> {
    let request = RestoreRequest { from: args.from, new_name: args.new_name };
    // Root comes first: without it even the engine's socket is out of reach,
    // and "permission denied" on the socket would hide the real cause.
    crate::exec::require_root()?;
    let engine = Engine::connect().await?;
    let report = restore(&engine, criu, &request, &progress).await?;

    match args.format.format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => {
            println!("Restored {} ({})", report.container, &report.container_id[..12.min(report.container_id.len())]);
            println!("  from:   {}", report.checkpoint.display());
            println!("  image:  {}", report.image);
            println!("  pid:    {}", report.pid);
            println!("  took:   {}", human_duration(report.duration));
        }
    }
    Ok(ExitCode::SUCCESS)
}
