//! Declarative plans: YAML files of checkpoint, restore and migration jobs.
//!
//! Input is staged and never executed raw: `load` parses the text into the
//! `model` types while keeping where each key sits, `validate` checks the
//! meaning and resolves defaults into a `ValidPlan`, `selectors` queries the
//! engine for the containers a label selector matches, and `planner` turns
//! the result into a DAG of steps. The whole DAG exists before any side effect.

pub mod effects;
pub mod error;
pub mod execute;
pub mod journal;
pub mod load;
pub mod model;
pub mod planner;
pub mod positions;
pub mod selectors;
pub mod validate;

pub use error::{PlanError, PlanErrors};
pub use load::LoadedPlan;
pub use validate::{ValidJob, ValidPlan};

use std::path::Path;

/// Reads, parses and validates a plan file.
pub fn load_and_validate(path: &Path) -> Result<(LoadedPlan, ValidPlan), PlanErrors> {
    let loaded = load::read(path)?;
    let valid = validate::validate(&loaded)?;
    Ok((loaded, valid))
}

/// Generates the plan format's JSON Schema from the `model` types, as
/// pretty JSON with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(model::Plan);
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    json
}
