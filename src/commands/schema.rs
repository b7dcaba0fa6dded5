//! `docker-cr schema`: prints the plan format's JSON Schema.

use std::process::ExitCode;

pub fn run() -> miette::Result<ExitCode> {
    print!("{}", crate::plan::schema_json());
    Ok(ExitCode::SUCCESS)
}
