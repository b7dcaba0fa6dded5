//! `docker-cr version`

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{FormatArgs, OutputFormat};
use crate::criu::CriuClient;
use crate::docker::Engine;

use super::print_json;

#[derive(Debug, Serialize)]
struct Versions {
    docker_cr: String,
    /// None when CRIU could not be run, with the reason in `criu_error`.
    criu: Option<String>,
    criu_error: Option<String>,
    engine: Option<String>,
    engine_api: Option<String>,
    engine_error: Option<String>,
}

/// Prints every version it can find. A missing CRIU or engine is reported
/// in place of its version, not as a failure, because people run `version`
/// to find out what is missing.
pub async fn run(criu: &CriuClient, args: FormatArgs) -> miette::Result<ExitCode> {
    let (criu_version, criu_error) = match tokio::task::block_in_place(|| criu.version()) {
        Ok(version) => (Some(version.to_string()), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let (engine, engine_api, engine_error) = match Engine::connect().await {
        Ok(engine) => match engine.info().await {
            Ok(info) => (Some(info.version), Some(engine.api_version()), None),
            Err(error) => (None, None, Some(error.to_string())),
        },
        Err(error) => (None, None, Some(error.to_string())),
    };
    let versions = Versions {
        docker_cr: env!("CARGO_PKG_VERSION").to_string(),
        criu: criu_version,
        criu_error,
        engine,
        engine_api,
        engine_error,
    };

    match args.format {
        OutputFormat::Json => print_json(&versions)?,
        OutputFormat::Text => {
            println!("docker-cr  {}", versions.docker_cr);
            match (&versions.criu, &versions.criu_error) {
                (Some(version), _) => println!("CRIU       {version} ({})", criu.resolved_binary().display()),
                (None, error) => println!("CRIU       not available: {}", error.as_deref().unwrap_or("unknown error")),
            }
            match (&versions.engine, &versions.engine_error) {
                (Some(version), _) => println!("engine     {version} (API {})", versions.engine_api.as_deref().unwrap_or("?")),
                (None, error) => println!("engine     not available: {}", error.as_deref().unwrap_or("unknown error")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
