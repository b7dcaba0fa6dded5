//! `docker-cr plan validate PLAN`: checks a plan without touching anything.

use std::process::ExitCode;

use crate::cli::{PlanArgs, PlanCommand};
use crate::plan;

pub fn run(args: PlanArgs) -> miette::Result<ExitCode> {
    match args.command {
        PlanCommand::Validate { plan: path } => match plan::load_and_validate(&path) {
            Ok((_, valid)) => {
                let jobs = valid.jobs.len();
                println!("{} is valid: plan {} with {jobs} job{}", path.display(), valid.name, if jobs == 1 { "" } else { "s" });
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{:?}", errors.into_report());
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
