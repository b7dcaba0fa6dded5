//! `docker-cr apply` as a user runs it: the example plans validate and
//! preview, a preview changes nothing, and a plan applied for real against
//! the engine is a no-op the second time.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const EXAMPLES: &[&str] = &["checkpoint.yaml", "checkpoint-restore.yaml", "migrate-three.yaml"];

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plans").join(name)
}

/// Copies an example plan into `dir`, writing its checkpoints under `dir`
/// and renaming its containers by `rename` (old, new) pairs.
fn example_in(dir: &Path, name: &str, rename: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(example(name)).expect("example plan");
    text = text.replace("/tmp/docker-checkpoints", &dir.join("checkpoints").display().to_string());
    for (old, new) in rename {
        text = text.replace(old, new);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("plan copy");
    path
}

#[test]
fn examples_validate() {
    for name in EXAMPLES {
        let output = run_docker_cr(&["plan", "validate", example(name).to_str().unwrap()]);
        assert!(output.status.success(), "{name}: {}", stderr_of(&output));
    }
}

#[test]
fn examples_start_with_schema_line() {
    for name in EXAMPLES {
        let text = std::fs::read_to_string(example(name)).unwrap();
        assert!(text.starts_with("# yaml-language-server: $schema=../schemas/plan.schema.json\n"), "{name}");
    }
}

#[test]
fn examples_preview_in_every_format() {
    for name in EXAMPLES {
        let dir = tempfile::tempdir().unwrap();
        let plan = example_in(dir.path(), name, &[]);
        let plan = plan.to_str().unwrap();

        let tree = run_docker_cr(&["apply", plan, "--dry-run"]);
        assert!(tree.status.success(), "{name}: {}", stderr_of(&tree));
        assert!(stdout_of(&tree).contains(" to run, 0 already done."), "{name}: {}", stdout_of(&tree));

        let json = run_docker_cr(&["apply", plan, "--dry-run", "--output", "json"]);
        assert!(json.status.success(), "{name}: {}", stderr_of(&json));
        let preview: serde_json::Value = serde_json::from_slice(&json.stdout).expect("the preview is JSON");
        assert_eq!(preview["skipped"], 0, "{name}");
        assert!(preview["steps"].as_array().is_some_and(|steps| !steps.is_empty()), "{name}");

        let dot = run_docker_cr(&["apply", plan, "--dry-run", "--output", "dot"]);
        assert!(dot.status.success(), "{name}: {}", stderr_of(&dot));
        assert!(stdout_of(&dot).starts_with("digraph "), "{name}");

        assert!(!dir.path().join("checkpoints").exists(), "{name}: the dry run wrote to the output folder");
    }
}

#[test]
fn checkpoint_preview_snapshot() {
    let output = run_docker_cr(&["apply", example("checkpoint.yaml").to_str().unwrap(), "--dry-run"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let expected = "\
Plan checkpoint-web revision 1: 2 steps
  + will run    = already done, skipped

+ web-before-upgrade/preflight
    check         container dcr-test-plan-web is running
    check         no checkpoint exists at /tmp/docker-checkpoints/dcr-test-plan-web/web-before-upgrade
    timeout       5m
+ web-before-upgrade/checkpoint  (after web-before-upgrade/preflight)
    container     dcr-test-plan-web
    criu          leave-running, tcp-established, file-locks, manage-cgroups
    path          /tmp/docker-checkpoints/dcr-test-plan-web/web-before-upgrade
    timeout       5m

Plan: 2 to run, 0 already done.
";
    assert_eq!(stdout_of(&output), expected);
}

#[test]
fn migrate_preview_orders_dependencies() {
    let output = run_docker_cr(&["apply", example("migrate-three.yaml").to_str().unwrap(), "--dry-run", "--output", "json"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let preview: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = preview["steps"].as_array().unwrap().iter().map(|step| step["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![
            "db/preflight", "db/checkpoint", "db/restore", "db/verify", "db/stop-source",
            "cache/preflight", "cache/checkpoint", "cache/restore", "cache/verify",
            "web/preflight", "web/checkpoint", "web/restore", "web/verify", "web/stop-source", "web/cleanup",
        ]
    );
    assert_eq!(preview["steps"][9]["after"], serde_json::json!(["cache/verify", "db/stop-source"]));
    assert_eq!(preview["steps"][2]["action"]["from"]["step"]["expected"], "/tmp/docker-checkpoints/dcr-test-plan-db/db");
}

#[test]
fn dot_output_needs_dry_run() {
    let output = run_docker_cr(&["apply", example("checkpoint.yaml").to_str().unwrap(), "--output", "dot"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("needs --dry-run"), "{}", stderr_of(&output));
}

#[test]
fn invalid_plan_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, "apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: x\nspec:\n  jobs:\n    - name: a\n      action: restore\n").unwrap();
    let output = run_docker_cr(&["apply", plan.to_str().unwrap(), "--dry-run"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("a restore needs a source checkpoint"), "{}", stderr_of(&output));
}

#[test]
fn apply_checkpoint_restore_for_real() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("plan-counter"));
    let copy = containers.track(&format!("{source}-copy"));
    let dir = tempfile::tempdir().unwrap();
    let plan = example_in(dir.path(), "checkpoint-restore.yaml", &[("dcr-test-plan-counter", &source)]);
    let plan = plan.to_str().unwrap();

    let first = run_docker_cr(&["apply", plan, "--parallel", "2"]);
    assert!(first.status.success(), "apply failed: {}\n{}", stdout_of(&first), stderr_of(&first));
    let summary = stdout_of(&first);
    assert!(summary.contains("Apply: 5 done, 0 skipped, 0 failed, 0 not run."), "{summary}");
    assert!(is_running(&source), "a checkpoint job leaves its container running");
    assert!(is_running(&copy), "the restored copy is not running");
    assert!(wait_for(Duration::from_secs(10), || counts(&copy).len() >= 2), "the restored counter does not count");
    let checkpoint = dir.path().join("checkpoints").join(&source).join("before-copy");
    assert!(checkpoint.join("manifest.json").is_file(), "no checkpoint at {}", checkpoint.display());
    let journal = dir.path().join("checkpoints/.docker-cr-journal/checkpoint-restore.json");
    assert!(journal.is_file(), "no journal at {}", journal.display());

    let second = run_docker_cr(&["apply", plan]);
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert!(stdout_of(&second).starts_with("Nothing to do: every step of plan checkpoint-restore is done"), "{}", stdout_of(&second));

    let preview = run_docker_cr(&["apply", plan, "--dry-run"]);
    assert!(stdout_of(&preview).contains("= copy-counter/restore"), "{}", stdout_of(&preview));
    assert!(stdout_of(&preview).ends_with("Plan: 0 to run, 5 already done.\n"), "{}", stdout_of(&preview));
}

#[test]
fn apply_reports_failed_preflight() {
    if !host_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = unique_name("plan-missing");
    let plan = example_in(dir.path(), "checkpoint.yaml", &[("dcr-test-plan-web", &missing)]);

    let output = run_docker_cr(&["apply", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    assert!(stderr_of(&output).contains(&format!("no container named {missing}")), "{}", stderr_of(&output));
    let summary = stdout_of(&output);
    assert!(summary.contains("Apply: 0 done, 0 skipped, 1 failed, 1 not run."), "{summary}");
    assert!(summary.contains("after web-before-upgrade/preflight failed"), "{summary}");
}

#[test]
fn selector_preview_lists_each_match() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let label = format!("dcr-test-plan-tier={}", std::process::id());
    let first = containers.run(&unique_name("plan-sel-a"), &["--label", &label], "while true; do sleep 1; done");
    let second = containers.run(&unique_name("plan-sel-b"), &["--label", &label], "while true; do sleep 1; done");
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    let (key, value) = label.split_once('=').unwrap();
    std::fs::write(
        &plan,
        format!(
            "apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: selector\nspec:\n  defaults:\n    output: {}\n  jobs:\n    - name: tier\n      action: migrate\n      selector:\n        {key}: \"{value}\"\n      restore:\n        new_name: \"{{container}}-moved\"\n",
            dir.path().display()
        ),
    )
    .unwrap();

    let output = run_docker_cr(&["apply", plan.to_str().unwrap(), "--dry-run"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let preview = stdout_of(&output);
    assert!(preview.contains(&format!("+ tier[{first}]/checkpoint")), "{preview}");
    assert!(preview.contains(&format!("+ tier[{second}]/stop-source")), "{preview}");
    assert!(preview.contains(&format!("new name      {second}-moved")), "{preview}");
    assert!(preview.ends_with("Plan: 10 to run, 0 already done.\n"), "{preview}");

    let unmatched = std::fs::read_to_string(&plan).unwrap().replace(value, "nothing-carries-this");
    std::fs::write(&plan, unmatched).unwrap();
    let output = run_docker_cr(&["apply", plan.to_str().unwrap(), "--dry-run"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("docker_cr::plan::no_match"), "{}", stderr_of(&output));
}

#[test]
fn apply_migrate_three_for_real() {
    if !host_ready() {
        return;
    }
    // sh as PID 1 ignores SIGTERM unless it traps it; the trap keeps each
    // stop-source step short instead of waiting for the engine's SIGKILL.
    let script = format!("trap 'exit 0' TERM; {COUNTER_SCRIPT}");
    let mut containers = Containers::new();
    let mut rename = Vec::new();
    for stem in ["db", "cache", "web"] {
        let source = containers.run(&unique_name(&format!("plan-m-{stem}")), &[], &script);
        containers.track(&format!("{source}-moved"));
        rename.push((format!("dcr-test-plan-{stem}-2"), format!("{source}-moved")));
        rename.push((format!("dcr-test-plan-{stem}"), source));
    }
    let rename: Vec<(&str, &str)> = rename.iter().map(|(old, new)| (old.as_str(), new.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let plan = example_in(dir.path(), "migrate-three.yaml", &rename);
    let plan = plan.to_str().unwrap();
    let [db, cache, web] = [rename[1].1, rename[3].1, rename[5].1];
    assert!(wait_for(Duration::from_secs(10), || [db, cache, web].iter().all(|name| last_count(name).is_some())));

    let output = run_docker_cr(&["apply", plan, "--parallel", "2"]);
    assert!(output.status.success(), "apply failed: {}\n{}", stdout_of(&output), stderr_of(&output));
    assert!(stdout_of(&output).contains("Apply: 15 done, 0 skipped, 0 failed, 0 not run."), "{}", stdout_of(&output));
    for moved in [rename[0].1, rename[2].1, rename[4].1] {
        assert!(is_running(moved), "{moved} is not running");
    }
    assert!(!is_running(db), "the migrated db source still runs");
    assert!(!is_running(web), "the migrated web source still runs");
    assert!(is_running(cache), "keep_source: true leaves the cache running");
    let checkpoints = dir.path().join("checkpoints");
    assert!(checkpoints.join(db).join("db").join("manifest.json").is_file(), "the db checkpoint is kept");
    assert!(!checkpoints.join(web).join("web").exists(), "keep_checkpoint: false removes the web checkpoint");

    let again = run_docker_cr(&["apply", plan]);
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert!(stdout_of(&again).starts_with("Nothing to do"), "{}", stdout_of(&again));
}

#[test]
fn apply_help_shows_examples() {
    let output = run_docker_cr(&["apply", "--help"]);
    assert!(output.status.success());
    let help = stdout_of(&output);
    assert!(help.contains("--parallel <N>"), "{help}");
    assert!(help.contains("--dry-run"), "{help}");
    assert!(help.contains("docker-cr apply plans/migrate-three.yaml --dry-run --output dot"), "{help}");
}
