//! Loading and validating plans: every problem is reported with its code,
//! its message and the line it points at, and all of a file's problems come
//! out of one run.

mod common;

use std::path::Path;

use common::*;
use docker_cr::plan::{load, validate, PlanErrors};
use miette::Diagnostic;

const HEADER: &str = "apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: test\nspec:\n  jobs:\n";

/// One reported problem: its code, its message and the 1-based lines of
/// its labels.
#[derive(Debug, PartialEq)]
struct Problem {
    code: String,
    message: String,
    lines: Vec<usize>,
}

fn check(text: &str) -> Result<docker_cr::plan::ValidPlan, PlanErrors> {
    let loaded = load::parse(Path::new("plan.yaml"), text.to_string())?;
    validate::validate(&loaded)
}

fn problems(text: &str) -> Vec<Problem> {
    let errors = check(text).expect_err("the plan should be invalid");
    errors
        .problems
        .iter()
        .map(|problem| Problem {
            code: problem.code().map(|code| code.to_string()).unwrap_or_default(),
            message: problem.to_string(),
            lines: problem
                .labels()
                .into_iter()
                .flatten()
                .map(|label| text[..label.offset()].matches('\n').count() + 1)
                .collect(),
        })
        .collect()
}

fn problem(code: &str, message: &str, lines: &[usize]) -> Problem {
    Problem { code: format!("docker_cr::plan::{code}"), message: message.to_string(), lines: lines.to_vec() }
}

fn render(errors: &PlanErrors) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, errors)
        .expect("rendering a diagnostic");
    out
}

#[test]
fn unknown_field_names_the_closest() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      contianer: web\n");
    assert_eq!(problems(&text), vec![problem("unknown_field", "unknown field `contianer`", &[9])]);
    let rendered = render(&check(&text).unwrap_err());
    assert!(rendered.contains("did you mean `container`?"), "{rendered}");
}

#[test]
fn unknown_action_lists_the_valid_ones() {
    let text = format!("{HEADER}    - name: web\n      action: chekpoint\n      container: web\n");
    assert_eq!(problems(&text), vec![problem("invalid_value", "`chekpoint` is not a valid value here", &[8])]);
    let rendered = render(&check(&text).unwrap_err());
    assert!(rendered.contains("did you mean `checkpoint`? Valid values: `checkpoint`, `restore`, `migrate`"), "{rendered}");
}

#[test]
fn wrong_type_points_at_the_value() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      container: web\n      depends_on: yes-please\n");
    assert_eq!(
        problems(&text),
        vec![problem("invalid_value", "invalid type: string \"yes-please\", expected a sequence", &[10])]
    );
}

#[test]
fn non_ascii_text_before_a_problem() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      container: café\n      depends_on: [\"é\", {{a: 1}}]\n");
    let errors = check(&text).unwrap_err();
    assert_eq!(errors.problems.len(), 1, "{errors:?}");
    let label = errors.problems[0].labels().into_iter().flatten().next().expect("a label");
    assert_eq!(&text[label.offset()..label.offset() + 1], "{", "the label starts at the map after the é");
}

#[test]
fn missing_field_points_at_the_job() {
    let text = format!("{HEADER}    - name: web\n      container: web\n");
    assert_eq!(problems(&text), vec![problem("invalid_value", "missing field `action`", &[7])]);
}

#[test]
fn missing_metadata_name() {
    let text = "apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  revision: 2\nspec:\n  jobs: []\n";
    assert_eq!(problems(text), vec![problem("invalid_value", "missing field `name`", &[4])]);
}

#[test]
fn syntax_error_is_reported_alone() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n     container: web\n    - name: db\n");
    assert_eq!(
        problems(&text),
        vec![problem(
            "syntax",
            "invalid YAML: did not find expected '-' indicator, while parsing a block collection",
            &[9]
        )]
    );
}

#[test]
fn unclosed_bracket_is_a_syntax_error() {
    let text = format!("{HEADER}    - name: web\n      action: [checkpoint\n");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].code, "docker_cr::plan::syntax");
    assert!(found[0].message.starts_with("invalid YAML: "), "{}", found[0].message);
}

#[test]
fn duplicate_job_names_label_both() {
    let text = format!(
        "{HEADER}    - name: web\n      action: checkpoint\n      container: web\n    - name: web\n      action: checkpoint\n      container: web-b\n"
    );
    assert_eq!(problems(&text), vec![problem("duplicate_job", "job name `web` is used twice", &[10, 7])]);
}

#[test]
fn unknown_dependency_suggests_a_job() {
    let text = format!(
        "{HEADER}    - name: web\n      action: checkpoint\n      container: web\n      depends_on:\n        - dbb\n    - name: db\n      action: checkpoint\n      container: db\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem("unknown_dependency", "job `web` depends on `dbb`, which is not a job of this plan", &[11])]
    );
    let rendered = render(&check(&text).unwrap_err());
    assert!(rendered.contains("did you mean `db`?"), "{rendered}");
}

#[test]
fn dependency_cycle_names_its_jobs() {
    let text = format!(
        "{HEADER}    - name: a\n      action: checkpoint\n      container: a\n      depends_on: [c]\n    - name: b\n      action: checkpoint\n      container: b\n      depends_on: [a]\n    - name: c\n      action: checkpoint\n      container: c\n      depends_on: [b]\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem("dependency_cycle", "jobs depend on each other in a cycle: a -> b -> c -> a", &[7, 11, 15])]
    );
}

#[test]
fn job_depending_on_itself_is_a_cycle() {
    let text = format!("{HEADER}    - name: a\n      action: checkpoint\n      container: a\n      depends_on: [a]\n");
    assert_eq!(problems(&text), vec![problem("dependency_cycle", "jobs depend on each other in a cycle: a -> a", &[7])]);
}

#[test]
fn restore_without_source_checkpoint() {
    let text = format!("{HEADER}    - name: web\n      action: restore\n      restore:\n        new_name: web-2\n");
    assert_eq!(
        problems(&text),
        vec![problem("contradiction", "job `web`: a restore needs a source checkpoint", &[8])]
    );
}

#[test]
fn restore_with_checkpoint_output_settings() {
    let text = format!(
        "{HEADER}    - name: web\n      action: restore\n      from: {{path: /tmp/cp}}\n      checkpoint_name: again\n      restore: {{new_name: web-2}}\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem("contradiction", "job `web`: a restore writes no checkpoint, so `checkpoint_name` has no effect", &[10])]
    );
}

#[test]
fn restore_from_a_job_that_is_no_checkpoint() {
    let text = format!(
        "{HEADER}    - name: move\n      action: migrate\n      container: web\n      restore: {{new_name: web-2}}\n    - name: back\n      action: restore\n      from: {{job: move}}\n      restore: {{new_name: web-3}}\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem("contradiction", "job `back`: `from.job` names `move`, which is not a checkpoint job", &[13])]
    );
}

#[test]
fn migrate_that_stops_its_source_early() {
    let text = format!(
        "{HEADER}    - name: move\n      action: migrate\n      container: web\n      checkpoint:\n        leave_running: false\n      restore:\n        new_name: web-2\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem(
            "contradiction",
            "job `move`: a migration must leave its source running until the restore is verified",
            &[11]
        )]
    );
}

#[test]
fn relative_mount_paths_are_invalid() {
    let text = format!(
        "{HEADER}    - name: web\n      action: restore\n      from:\n        path: /tmp/cp\n      restore:\n        new_name: web-2\n        auto_fix_mounts: false\n        skip_mounts: [data]\n        mount_map:\n          - from: a\n            to: /b\n"
    );
    assert_eq!(
        problems(&text),
        vec![
            problem("invalid_value", "`data` is not an absolute path", &[14]),
            problem("invalid_value", "`a` is not an absolute path", &[15]),
        ]
    );
}

#[test]
fn absolute_mount_settings_are_valid() {
    let text = format!(
        "{HEADER}    - name: web\n      action: restore\n      from:\n        path: /tmp/cp\n      restore:\n        new_name: web-2\n        auto_fix_mounts: false\n        skip_mounts: [/data]\n        mount_map:\n          - from: /a\n            to: /b\n"
    );
    let plan = check(&text).expect("absolute mount paths are valid");
    let mounts = &plan.jobs[0].mounts;
    assert!(!mounts.auto_fix_mounts);
    assert_eq!(mounts.skip_mounts, vec!["/data".to_string()]);
    assert_eq!(mounts.mount_map, vec![("/a".into(), "/b".into())]);
}

#[test]
fn empty_selector_is_invalid() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      selector: {{}}\n");
    assert_eq!(
        problems(&text),
        vec![problem("invalid_value", "an empty selector would match every running container", &[9])]
    );
}

#[test]
fn selector_migrate_needs_name_template() {
    let text = format!(
        "{HEADER}    - name: web\n      action: migrate\n      selector:\n        tier: web\n      restore:\n        new_name: web-2\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem(
            "contradiction",
            "job `web`: a selector job creates one container per match, so one fixed name cannot do",
            &[12]
        )]
    );
}

#[test]
fn restore_from_a_selector_job() {
    let text = format!(
        "{HEADER}    - name: save\n      action: checkpoint\n      selector: {{tier: web}}\n    - name: back\n      action: restore\n      from: {{job: save}}\n      restore: {{new_name: web-3}}\n"
    );
    assert_eq!(
        problems(&text),
        vec![problem("contradiction", "job `back`: `from.job` names `save`, which selects containers by label", &[12])]
    );
}

#[test]
fn invalid_timeout() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      container: web\n      timeout: 5 minutes\n");
    assert_eq!(problems(&text), vec![problem("invalid_value", "`5 minutes` is not a valid timeout", &[10])]);
}

#[test]
fn every_parse_problem_in_one_run() {
    let text = format!(
        "{HEADER}    - name: web\n      action: checkpoint\n      contianer: web\n    - name: db\n      action: chekpoint\n      container: db\n  extra: 1\n"
    );
    let codes: Vec<(String, Vec<usize>)> = problems(&text).into_iter().map(|problem| (problem.code, problem.lines)).collect();
    assert_eq!(
        codes,
        vec![
            ("docker_cr::plan::unknown_field".to_string(), vec![9]),
            ("docker_cr::plan::invalid_value".to_string(), vec![11]),
            ("docker_cr::plan::unknown_field".to_string(), vec![13]),
        ]
    );
}

#[test]
fn every_semantic_problem_in_one_run() {
    let text = format!(
        "{HEADER}    - name: web\n      action: checkpoint\n      container: web\n      depends_on: [nothing]\n    - name: web\n      action: restore\n      restore: {{new_name: web-2}}\n"
    );
    let codes: Vec<String> = problems(&text).into_iter().map(|problem| problem.code).collect();
    assert_eq!(
        codes,
        vec!["docker_cr::plan::unknown_dependency", "docker_cr::plan::duplicate_job", "docker_cr::plan::contradiction"]
    );
}

#[test]
fn rendered_diagnostic_snapshot() {
    let text = format!("{HEADER}    - name: web\n      action: checkpoint\n      container: web\n      depends_on: [dbb]\n    - name: db\n      action: checkpoint\n      container: db\n");
    let rendered = render(&check(&text).unwrap_err());
    let expected = "\
docker_cr::plan::invalid

  × plan.yaml has 1 problem
  help: fix the problems listed below; `docker-cr schema` prints the plan format

Error: docker_cr::plan::unknown_dependency

  × job `web` depends on `dbb`, which is not a job of this plan
    ╭─[plan.yaml:10:20]
  9 │       container: web
 10 │       depends_on: [dbb]
    ·                    ─┬─
    ·                     ╰── no such job
 11 │     - name: db
    ╰────
  help: did you mean `db`? The plan's jobs: `web`, `db`
";
    assert_eq!(rendered.trim_end(), expected.trim_end());
}

#[test]
fn committed_schema_matches_the_types() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/plan.schema.json"))
        .expect("schemas/plan.schema.json");
    assert!(
        committed == docker_cr::plan::schema_json(),
        "schemas/plan.schema.json is out of date: run `cargo run -- schema > schemas/plan.schema.json`"
    );
}

#[test]
fn validate_command_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, format!("{HEADER}    - name: web\n      action: checkpoint\n      container: web\n")).unwrap();
    std::fs::write(&bad, format!("{HEADER}    - name: web\n      action: checkpoint\n")).unwrap();

    let output = run_docker_cr(&["plan", "validate", good.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("is valid: plan test with 1 job"));

    let output = run_docker_cr(&["plan", "validate", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("the job names no source container"), "{}", stderr_of(&output));
}

#[test]
fn missing_plan_file_is_reported() {
    let output = run_docker_cr(&["plan", "validate", "/nonexistent/plan.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("could not read the plan /nonexistent/plan.yaml"), "{}", stderr_of(&output));
    assert!(!stderr_of(&output).contains("has 1 problem"), "a missing file is reported once, on its own: {}", stderr_of(&output));
}

#[test]
fn flow_mapping_problem_lands_on_its_line() {
    let text = format!(
        "{HEADER}    - name: web\n      action: restore\n      from: {{path: /tmp/cp}}\n      restore: {{new_name: web-2, skip_mounts: [data]}}\n"
    );
    assert_eq!(problems(&text), vec![problem("invalid_value", "`data` is not an absolute path", &[10])]);
}
