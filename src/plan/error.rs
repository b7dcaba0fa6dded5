//! The problems a plan file can have, each pointing at the YAML.
//!
//! Loading and validation collect every problem they find into one
//! `PlanErrors`, which carries the plan's text so that each related
//! diagnostic renders with its label on the right line.

use std::path::PathBuf;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// Every problem found in one plan file.
#[derive(Debug, Error, Diagnostic)]
#[error("{} has {} problem{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
#[diagnostic(code(docker_cr::plan::invalid), help("fix the problems listed below; `docker-cr schema` prints the plan format"))]
pub struct PlanErrors {
    pub path: PathBuf,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[related]
    pub problems: Vec<PlanError>,
}

#[derive(Debug, Error, Diagnostic)]
pub enum PlanError {
    #[error("could not read the plan {}", path.display())]
    #[diagnostic(code(docker_cr::plan::read), help("check the path; example plans are in the plans/ folder of docker-cr's repository"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid YAML: {message}")]
    #[diagnostic(
        code(docker_cr::plan::syntax),
        help("check the indentation, the quotes and the brackets on this line and the one before it")
    )]
    Syntax {
        message: String,
        #[label("here")]
        span: SourceSpan,
    },

    #[error("unknown field `{field}`")]
    #[diagnostic(code(docker_cr::plan::unknown_field), help("{help}"))]
    UnknownField {
        field: String,
        help: String,
        #[label("not a field here")]
        span: SourceSpan,
    },

    #[error("{message}")]
    #[diagnostic(code(docker_cr::plan::invalid_value), help("{help}"))]
    InvalidValue {
        message: String,
        help: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
    },

    #[error("job name `{name}` is used twice")]
    #[diagnostic(code(docker_cr::plan::duplicate_job), help("give each job a name of its own; `depends_on` refers to jobs by name"))]
    DuplicateJob {
        name: String,
        #[label("used again here")]
        span: SourceSpan,
        #[label("first used here")]
        first: SourceSpan,
    },

    #[error("job `{job}` depends on `{dependency}`, which is not a job of this plan")]
    #[diagnostic(code(docker_cr::plan::unknown_dependency), help("{help}"))]
    UnknownDependency {
        job: String,
        dependency: String,
        help: String,
        #[label("no such job")]
        span: SourceSpan,
    },

    #[error("jobs depend on each other in a cycle: {cycle}")]
    #[diagnostic(code(docker_cr::plan::dependency_cycle), help("remove one of these `depends_on` entries so that some job can start first"))]
    DependencyCycle {
        cycle: String,
        #[label(collection, "part of the cycle")]
        spans: Vec<SourceSpan>,
    },

    #[error("job `{job}`: {message}")]
    #[diagnostic(code(docker_cr::plan::contradiction), help("{help}"))]
    Contradiction {
        job: String,
        message: String,
        help: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
    },

    #[error("job `{job}`: the selector {labels} matches no running container")]
    #[diagnostic(code(docker_cr::plan::no_match), help("`docker ps --filter label=KEY=VALUE` lists the containers a label matches; start them or fix the labels"))]
    NoMatch {
        job: String,
        labels: String,
        #[label("matches nothing")]
        span: SourceSpan,
    },
}

impl PlanErrors {
    /// Turns the problems into one report for the user. A file that could
    /// not be read has no lines to point at, so its error is reported on its
    /// own rather than under a "has 1 problem" heading about the file's text.
    pub fn into_report(mut self) -> miette::Report {
        if matches!(self.problems.as_slice(), [PlanError::Read { .. }]) {
            if let Some(read) = self.problems.pop() {
                return miette::Report::new(read);
            }
        }
        miette::Report::new(self)
    }
}

impl PlanError {
    /// Returns the problem's byte offset, to sort problems by their place in the file.
    pub fn offset(&self) -> usize {
        match self {
            PlanError::Read { .. } => 0,
            PlanError::Syntax { span, .. }
            | PlanError::UnknownField { span, .. }
            | PlanError::InvalidValue { span, .. }
            | PlanError::DuplicateJob { span, .. }
            | PlanError::UnknownDependency { span, .. }
            | PlanError::Contradiction { span, .. }
            | PlanError::NoMatch { span, .. } => span.offset(),
            PlanError::DependencyCycle { spans, .. } => spans.first().map(|span| span.offset()).unwrap_or(0),
        }
    }
}
