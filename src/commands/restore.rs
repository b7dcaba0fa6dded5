//! `docker-cr restore --from DIR --new-name NAME`

use std::process::ExitCode;

use crate::cli::{OutputFormat, RestoreArgs};
use crate::criu::CriuClient;
use crate::docker::Engine;
use crate::exec::restore::{restore, RestoreRequest};

use super::{human_duration, print_json, progress};

pub async fn run(criu: &CriuClient, args: RestoreArgs) -> miette::Result<ExitCode> {
    let request = RestoreRequest {
        from: args.from,
        new_name: args.new_name,
        validate_env: args.validate_env,
        auto_fix_mounts: args.auto_fix_mounts,
        skip_mounts: args.skip_mounts,
        mount_maps: args.mount_maps,
    };
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
            if report.rootfs_changed > 0 || report.rootfs_deleted > 0 {
                println!("  files:  {} changed, {} deleted since the image", report.rootfs_changed, report.rootfs_deleted);
            }
            for source in &report.created_sources {
                println!("  created missing mount source {}", source.display());
            }
            for map in &report.mount_maps {
                println!("  bound from {} in place of {}", map.new, map.old);
            }
            for destination in &report.skipped_mounts {
                println!("  left out the mount at {destination}");
            }
            for volume in &report.volumes_filled {
                println!("  filled volume {volume} from the checkpoint");
            }
            println!("  took:   {}", human_duration(report.duration));
        }
    }
    Ok(ExitCode::SUCCESS)
}
