//! Reading a plan file into the `model` types, with every parse problem
//! pointing at its line.
//!
//! serde stops at the first problem it meets. So when the whole file does
//! not parse, each job is parsed again on its own from its lines of the
//! text, and the rest of the file is parsed with the jobs left as plain
//! YAML values. That finds one problem per job plus one outside the jobs
//! in a single run, each with serde_yaml's own location.

use std::path::{Path, PathBuf};

use miette::{NamedSource, SourceSpan};
use serde::Deserialize;

use super::error::{PlanError, PlanErrors};
use super::model::{ApiVersion, Defaults, Job, Kind, Metadata, Plan};
use super::positions::Positions;

/// A plan that parsed, with its text and the positions of its keys for the
/// diagnostics of later stages.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    pub path: PathBuf,
    pub text: String,
    pub plan: Plan,
    pub positions: Positions,
}

impl LoadedPlan {
    /// Wraps problems found in this plan with its text.
    pub fn errors(&self, problems: Vec<PlanError>) -> PlanErrors {
        errors_of(&self.path, &self.text, problems)
    }
}

/// The plan with its jobs left unparsed, to find problems outside the jobs
/// when a job does not parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PlanOutline {
    #[serde(rename = "apiVersion")]
    api_version: ApiVersion,
    kind: Kind,
    metadata: Metadata,
    spec: SpecOutline,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SpecOutline {
    #[serde(default)]
    defaults: Defaults,
    jobs: Vec<serde_yaml::Value>,
}

/// Reads and parses the plan file at `path`.
pub fn read(path: &Path) -> Result<LoadedPlan, PlanErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, text),
        Err(source) => Err(errors_of(path, "", vec![PlanError::Read { path: path.to_path_buf(), source }])),
    }
}

/// Parses a plan's text; `path` names it in diagnostics.
pub fn parse(path: &Path, text: String) -> Result<LoadedPlan, PlanErrors> {
    let positions = Positions::scan(&text);
    let first_error = match serde_yaml::from_str::<Plan>(&text) {
        Ok(plan) => return Ok(LoadedPlan { path: path.to_path_buf(), text, plan, positions }),
        Err(error) => error,
    };

    // A syntax error leaves nothing else to look at.
    if let Err(error) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
        let span = span_of(&error, &text, 0, 0).unwrap_or_else(|| SourceSpan::new(0.into(), 0));
        let problem = PlanError::Syntax { message: message_of(&error), span };
        return Err(errors_of(path, &text, vec![problem]));
    }

    let mut problems = Vec::new();
    if let Err(error) = serde_yaml::from_str::<PlanOutline>(&text) {
        problems.push(problem_of(&error, &text, 0, 0));
    }
    let mut index = 0;
    while let Some(item) = positions.item(&format!("spec.jobs[{index}]")) {
        let job_text = item_text(&text, item.first, item.end, item.dash_column);
        if let Err(error) = serde_yaml::from_str::<Job>(&job_text) {
            let line_offset = item.first;
            problems.push(problem_of(&error, &text, line_offset, item.dash_column));
        }
        index += 1;
    }
    if problems.is_empty() {
        problems.push(problem_of(&first_error, &text, 0, 0));
    }

    problems.sort_by_key(PlanError::offset);
    problems.dedup_by(|a, b| a.offset() == b.offset() && a.to_string() == b.to_string());
    Err(errors_of(path, &text, problems))
}

fn errors_of(path: &Path, text: &str, problems: Vec<PlanError>) -> PlanErrors {
    PlanErrors {
        path: path.to_path_buf(),
        source_code: NamedSource::new(path.display().to_string(), text.to_string()).with_language("yaml"),
        problems,
    }
}

/// Cuts out the lines of one sequence item, shifted left so that its keys
/// start a document of their own.
fn item_text(text: &str, first: usize, end: usize, dash_column: usize) -> String {
    let mut lines = Vec::new();
    for (number, line) in text.split('\n').enumerate().skip(first).take(end.saturating_sub(first)) {
        let line = line.trim_end_matches('\r');
        let shifted = match line.get(..dash_column) {
            Some(prefix) if prefix.chars().all(|c| c == ' ') => &line[dash_column..],
            _ => line.trim_start(),
        };
        if number == first {
            lines.push(format!(" {}", shifted.get(1..).unwrap_or("")));
        } else {
            lines.push(shifted.to_string());
        }
    }
    lines.join("\n")
}

/// Turns a serde_yaml error into a problem at its place in the whole text.
/// `line_offset` and `column_offset` place a part of the text parsed alone.
fn problem_of(error: &serde_yaml::Error, text: &str, line_offset: usize, column_offset: usize) -> PlanError {
    let message = message_of(error);
    let span = span_of(error, text, line_offset, column_offset).unwrap_or_else(|| SourceSpan::new(0.into(), 0));
    let names = backticked(&message);

    if message.starts_with("unknown field") {
        let field = names.first().cloned().unwrap_or_default();
        let valid = names.get(1..).unwrap_or(&[]);
        return PlanError::UnknownField { help: closest_help(&field, valid, "fields"), field, span };
    }
    if message.starts_with("unknown variant") {
        let value = names.first().cloned().unwrap_or_default();
        let valid = names.get(1..).unwrap_or(&[]);
        return PlanError::InvalidValue {
            message: format!("`{value}` is not a valid value here"),
            help: closest_help(&value, valid, "values"),
            span,
            label: "invalid value".into(),
        };
    }
    if message.starts_with("missing field") {
        let field = names.first().cloned().unwrap_or_default();
        return PlanError::InvalidValue {
            message: format!("missing field `{field}`"),
            help: format!("add `{field}:` to this mapping; `docker-cr schema` describes it"),
            span,
            label: format!("`{field}` is missing here"),
        };
    }
    PlanError::InvalidValue {
        message,
        help: "`docker-cr schema` prints the type each field takes".into(),
        span,
        label: "invalid here".into(),
    }
}

/// serde_yaml's message without its path prefix and location suffix, which
/// the diagnostic shows in its own way.
fn message_of(error: &serde_yaml::Error) -> String {
    let message = without_locations(&error.to_string());
    match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') => rest.to_string(),
        _ => message,
    }
}

/// Removes every " at line N column M" from a message. libyaml's syntax
/// errors carry two, the problem's and its context's, and the problem's
/// sits mid-sentence.
fn without_locations(message: &str) -> String {
    const MARKER: &str = " at line ";
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARKER) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARKER.len()..];
        let digits = |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let line_digits = digits(after);
        let column = after[line_digits..].strip_prefix(" column ");
        match column {
            Some(column) if line_digits > 0 && digits(column) > 0 => rest = &column[digits(column)..],
            _ => {
                out.push_str(MARKER);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn span_of(error: &serde_yaml::Error, text: &str, line_offset: usize, column_offset: usize) -> Option<SourceSpan> {
    let location = error.location()?;
    let line_number = line_offset + location.line().saturating_sub(1);
    let line_start: usize = text.split('\n').take(line_number).map(|line| line.len() + 1).sum();
    let line = text.get(line_start..).unwrap_or("").split('\n').next().unwrap_or("");

    // serde_yaml counts columns in characters; spans are byte offsets. The
    // shifted job text lost `column_offset` leading spaces, one byte each.
    let column_chars = location.column().saturating_sub(1) + column_offset;
    let column_bytes = line.char_indices().nth(column_chars).map(|(at, _)| at).unwrap_or(line.len());
    let offset = line_start + column_bytes;

    let rest = text.get(offset..).unwrap_or("");
    let token = rest.split(|c: char| c.is_whitespace() || c == ':' || c == ',').next().unwrap_or("");
    Some(SourceSpan::new(offset.into(), token.len().max(1).min(rest.len())))
}

fn backticked(message: &str) -> Vec<String> {
    message.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// "did you mean ...?" when a valid name is close, then the valid names.
fn closest_help(given: &str, valid: &[String], what: &str) -> String {
    let listed = valid.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    let closest = valid
        .iter()
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min_by_key(|(distance, _)| *distance);
    match (closest, listed.is_empty()) {
        (Some((_, name)), _) => format!("did you mean `{name}`? Valid {what}: {listed}"),
        (None, false) => format!("valid {what}: {listed}"),
        (None, true) => format!("no {what} are allowed here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_removed_from_messages() {
        assert_eq!(
            without_locations("did not find expected '-' indicator at line 9 column 6, while parsing a block collection at line 7 column 5"),
            "did not find expected '-' indicator, while parsing a block collection"
        );
        assert_eq!(without_locations("unknown field `x` at line 3"), "unknown field `x` at line 3");
    }

    #[test]
    fn item_text_starts_a_document() {
        let text = "jobs:\n  - name: a\n    action: checkpoint\n  - name: b\n";
        assert_eq!(item_text(text, 1, 3, 2), "  name: a\n  action: checkpoint");
    }
}
