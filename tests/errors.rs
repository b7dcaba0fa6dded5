//! Bad input and broken hosts: each gets a diagnostic that names the cause
//! and the fix, and leaves containers and checkpoints as they were.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn assert_fails_with(output: &Output, expected: &str) {
    let stderr = stderr_of(output);
    assert_eq!(output.status.code(), Some(1), "expected exit code 1, stderr:\n{stderr}");
    assert!(diagnostic_of(output).contains(expected), "expected {expected:?} in:\n{stderr}");
}

/// Makes a real checkpoint of a fresh counter container for the error
/// cases that need one.
fn real_checkpoint(containers: &mut Containers, stem: &str, output: &Path) -> std::path::PathBuf {
    let source = containers.run_counter(&unique_name(stem));
    let result = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output.to_str().unwrap()]);
    assert!(result.status.success(), "checkpoint failed: {}", stderr_of(&result));
    output.join(&source).join("cp")
}

#[test]
fn unknown_container_is_named() {
    if !host_ready() {
        return;
    }
    let output = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["checkpoint", "dcr-test-no-such-container", "--output", output.path().to_str().unwrap()]);
    assert_fails_with(&result, "no container named dcr-test-no-such-container");
    assert!(tree_listing(output.path()).is_empty(), "nothing is written for a missing container");
}

#[test]
fn stopped_container_is_refused() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let name = containers.track(&unique_name("stopped"));
    docker_ok(&["create", "--name", &name, test_image(), "sleep", "60"]);
    let output = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["checkpoint", &name, "--output", output.path().to_str().unwrap()]);
    assert_fails_with(&result, "is not running");
    assert!(diagnostic_of(&result).contains("docker start"));
    assert!(tree_listing(output.path()).is_empty());
}

#[test]
fn unwritable_output_is_refused_and_source_runs_on() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("unwritable"));
    let folder = tempfile::tempdir().unwrap();
    let blocker = folder.path().join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let output = blocker.join("below");
    let result = run_docker_cr(&["checkpoint", &source, "--output", output.to_str().unwrap()]);
    assert_fails_with(&result, "is not writable");
    assert!(is_running(&source));
}

#[test]
fn existing_checkpoint_name_is_kept() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output = tempfile::tempdir().unwrap();
    let checkpoint = real_checkpoint(&mut containers, "twice", output.path());
    let before = tree_listing(&checkpoint);
    let source = checkpoint.parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();

    let result = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output.path().to_str().unwrap()]);
    assert_fails_with(&result, "already exists");
    assert!(diagnostic_of(&result).contains("--name"));
    assert_eq!(tree_listing(&checkpoint), before, "the existing checkpoint is untouched");
    assert!(is_running(&source));
}

#[test]
fn failed_dump_leaves_source_running_and_nothing_behind() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("nospace"));
    // A tmpfs too small for the images makes CRIU's dump fail part way.
    let folder = tempfile::tempdir().unwrap();
    let tiny = folder.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48k", "dcr-test-tiny", tiny.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success(), "could not mount a small tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&tiny);

    let before = last_count(&source).unwrap();
    let result = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", tiny.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1), "the dump must fail: {}", stderr_of(&result));
    assert!(diagnostic_of(&result).contains("CRIU"), "the diagnostic names CRIU:\n{}", stderr_of(&result));
    assert!(!tiny.join(&source).join("cp").exists(), "the half-made checkpoint is removed");
    assert!(is_running(&source), "a failed dump leaves the container running");
    assert!(wait_for(std::time::Duration::from_secs(5), || last_count(&source).unwrap_or(0) > before), "and counting");
}

#[test]
fn folder_without_manifest_is_not_a_checkpoint() {
    if !host_ready() {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["restore", "--from", folder.path().to_str().unwrap(), "--new-name", "dcr-test-never"]);
    assert_fails_with(&result, "is not a checkpoint");
    assert_eq!(docker(&["inspect", "dcr-test-never"]).status.code(), Some(1), "no container is created");
}

#[test]
fn incomplete_checkpoint_names_missing_files() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output = tempfile::tempdir().unwrap();
    let checkpoint = real_checkpoint(&mut containers, "incomplete", output.path());
    std::fs::remove_file(checkpoint.join("checkpoint/pstree.img")).unwrap();

    let name = containers.track(&unique_name("incomplete-restored"));
    let result = run_docker_cr(&["restore", "--from", checkpoint.to_str().unwrap(), "--new-name", &name]);
    assert_fails_with(&result, "incomplete");
    assert!(diagnostic_of(&result).contains("checkpoint/pstree.img"));
    assert_eq!(docker(&["inspect", &name]).status.code(), Some(1), "no container is created");
}

#[test]
fn taken_new_name_is_refused() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output = tempfile::tempdir().unwrap();
    let checkpoint = real_checkpoint(&mut containers, "taken", output.path());
    let before = tree_listing(&checkpoint);
    let occupant = containers.run(&unique_name("occupant"), &[], "sleep 600");
    let occupant_id = docker_ok(&["inspect", "-f", "{{.Id}}", &occupant]);

    let result = run_docker_cr(&["restore", "--from", checkpoint.to_str().unwrap(), "--new-name", &occupant]);
    assert_fails_with(&result, "already exists");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.Id}}", &occupant]), occupant_id, "the existing container is untouched");
    assert!(is_running(&occupant));
    assert_eq!(tree_listing(&checkpoint), before, "the checkpoint is untouched");
}

#[test]
fn non_root_user_is_refused() {
    if !host_ready() {
        return;
    }
    let result = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_docker-cr"), "checkpoint", "dcr-test-any"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_fails_with(&result, "must run as root");
    assert!(diagnostic_of(&result).contains("sudo"));
}

#[test]
fn missing_criu_is_named() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("nocriu"));
    let output = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["--criu", "/nonexistent/criu", "checkpoint", &source, "--output", output.path().to_str().unwrap()]);
    assert_fails_with(&result, "could not start CRIU");
    assert!(diagnostic_of(&result).contains("--criu"));
    assert!(tree_listing(output.path()).is_empty());
    assert!(is_running(&source));
}

#[test]
fn unreachable_engine_is_named() {
    let output = tempfile::tempdir().unwrap();
    let result = docker_cr()
        .args(["checkpoint", "dcr-test-any", "--output", output.path().to_str().unwrap()])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_fails_with(&result, "could not reach the Docker engine");
    assert!(tree_listing(output.path()).is_empty());
}
