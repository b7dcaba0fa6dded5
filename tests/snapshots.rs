//! What a user reads, pinned: `--help` of the checkpoint, restore, inspect
//! and list commands, and the diagnostics of common mistakes, compared as text with
//! the files in tests/snapshots/. Set UPDATE_SNAPSHOTS=1 to rewrite them
//! after an intended change, then review the diff.

mod common;

use std::path::PathBuf;

use common::*;

/// Compares `actual` with the named snapshot, or rewrites it when asked.
fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("snapshot {} is missing; run with UPDATE_SNAPSHOTS=1 to write it", path.display()));
    assert_eq!(actual, expected, "output differs from snapshot {}", path.display());
}

/// Runs docker-cr at a fixed terminal width, so clap wraps help the same way
/// everywhere.
fn run_fixed_width(args: &[&str]) -> std::process::Output {
    // A set DOCKER_CR_CRIU would show its value in the help text.
    docker_cr().args(args).env("COLUMNS", "100").env_remove("DOCKER_CR_CRIU").output().unwrap()
}

#[test]
fn checkpoint_help_is_pinned() {
    let output = run_fixed_width(&["checkpoint", "--help"]);
    assert!(output.status.success());
    assert_snapshot("checkpoint-help.txt", &stdout_of(&output));
}

#[test]
fn restore_help_is_pinned() {
    let output = run_fixed_width(&["restore", "--help"]);
    assert!(output.status.success());
    assert_snapshot("restore-help.txt", &stdout_of(&output));
}

#[test]
fn inspect_help_is_pinned() {
    let output = run_fixed_width(&["inspect", "--help"]);
    assert!(output.status.success());
    assert_snapshot("inspect-help.txt", &stdout_of(&output));
}

#[test]
fn list_help_is_pinned() {
    let output = run_fixed_width(&["list", "--help"]);
    assert!(output.status.success());
    assert_snapshot("list-help.txt", &stdout_of(&output));
}

#[test]
fn missing_checkpoint_diagnostic_is_pinned() {
    if !host_ready() {
        return;
    }
    let output = run_fixed_width(&["restore", "--from", "/nonexistent/dcr-test-checkpoint", "--new-name", "dcr-test-never"]);
    assert_eq!(output.status.code(), Some(1));
    assert_snapshot("restore-missing-checkpoint.txt", &stderr_of(&output));
}

#[test]
fn unknown_container_diagnostic_is_pinned() {
    if !host_ready() {
        return;
    }
    let output = run_fixed_width(&["checkpoint", "dcr-test-no-such-container", "--output", "/nonexistent/dcr-test-out"]);
    assert_eq!(output.status.code(), Some(1));
    assert_snapshot("checkpoint-unknown-container.txt", &stderr_of(&output));
}

#[test]
fn mount_preflight_diagnostic_is_pinned() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    let data = host.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let source = containers.run(&unique_name("snapshot"), &["-v", &format!("{}:/data", data.display())], COUNTER_SCRIPT);
    let output_dir = tempfile::tempdir().unwrap();
    let checkpoint = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output_dir.path().to_str().unwrap()]);
    assert!(checkpoint.status.success(), "{}", stderr_of(&checkpoint));
    std::fs::remove_dir(&data).unwrap();
    let from = output_dir.path().join(&source).join("cp");

    let output = run_fixed_width(&[
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--new-name",
        &source,
        "--auto-fix-mounts=false",
        "--skip-mounts",
        "/not-a-mount",
    ]);
    assert_eq!(output.status.code(), Some(1));
    // Paths and names change from run to run; the wording must not.
    let stable = stderr_of(&output)
        .replace(&from.display().to_string(), "<checkpoint>")
        .replace(&data.display().to_string(), "<data>")
        .replace(&source, "<container>");
    assert_snapshot("restore-mount-preflight.txt", &stable);
}
