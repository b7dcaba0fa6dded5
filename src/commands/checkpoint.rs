//! `docker-cr checkpoint CONTAINER`

use std::process::ExitCode;

use crate::cli::{CheckpointArgs, OutputFormat};
use crate::criu::options::DumpFlags;
use crate::criu::CriuClient;
use crate::docker::Engine;
use crate::exec::checkpoint::{checkpoint, CheckpointRequest};

use super::{human_duration, human_size, print_json, progress};

pub async fn run(criu: &CriuClient, args: CheckpointArgs) -> miette::Result<ExitCode> {
    let request = CheckpointRequest {
        container: args.container,
        output: args.output,
        name: args.name,
        flags: DumpFlags {
            leave_running: args.leave_running,
            tcp_established: args.tcp,
            file_locks: args.file_locks,
            manage_cgroups: args.manage_cgroups,
            log_level: args.log_level,
        },
        ignore_rootfs: args.ignore_rootfs,
        with_volumes: args.with_volumes,
    };
    // Root comes first: without it even the engine's socket is out of reach,
    // and "permission denied" on the socket would hide the real cause.
    crate::exec::require_root()?;
    let engine = Engine::connect().await?;
    let report = checkpoint(&engine, criu, &request, &progress).await?;

    match args.format.format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => {
            println!("Checkpointed {} ({})", report.container, &report.container_id[..12.min(report.container_id.len())]);
            println!("  checkpoint:  {}", report.path.display());
            println!("  size:        {}", human_size(report.size_bytes));
            if let Some(frozen) = report.frozen_time {
                println!("  frozen for:  {}", human_duration(frozen));
            }
            println!("  took:        {}", human_duration(report.duration));
            println!(
                "  container:   {}",
                if report.leave_running { "left running" } else { "stopped after the dump" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
