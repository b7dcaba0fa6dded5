//! `docker-cr check`: the host doctor.

use std::process::ExitCode;

use crate::cli::{FormatArgs, OutputFormat};
use crate::criu::CriuClient;
use crate::exec::doctor::check_host;

use super::print_json;

pub async fn run(criu: &CriuClient, args: FormatArgs) -> miette::Result<ExitCode> {
    let findings = check_host(criu).await;
    let all_ok = findings.iter().all(|finding| finding.ok);

    match args.format {
        OutputFormat::Json => print_json(&serde_json::json!({ "ok": all_ok, "checks": findings }))?,
        OutputFormat::Text => {
            let width = findings.iter().map(|finding| finding.requirement.len()).max().unwrap_or(0);
            for finding in &findings {
                let mark = if finding.ok { "ok    " } else { "FAILED" };
                println!("{mark}  {:width$}  {}", finding.requirement, finding.detail);
                if let Some(fix) = &finding.fix {
                    println!("        {:width$}  fix: {fix}", "");
                }
            }
        }
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
