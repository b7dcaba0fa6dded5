//! The main job, end to end on a real engine and a real CRIU: checkpoint a
//! counter container, restore it under a new name, and see it go on
//! counting from where it was frozen.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn restored_counter_keeps_counting() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("counter"));
    let output_dir = tempfile::tempdir().unwrap();
    let output = output_dir.path().to_str().unwrap();

    let before = last_count(&source).expect("the counter printed nothing");
    let checkpoint = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output, "--format", "json"]);
    assert!(checkpoint.status.success(), "checkpoint failed: {}", stderr_of(&checkpoint));
    let report: serde_json::Value = serde_json::from_slice(&checkpoint.stdout).unwrap();
    let path = report["path"].as_str().unwrap().to_string();
    assert!(is_running(&source), "--leave-running is the default, so the source keeps running");

    let restored = containers.track(&unique_name("counter-restored"));
    let restore = run_docker_cr(&["restore", "--from", &path, "--new-name", &restored]);
    assert!(restore.status.success(), "restore failed: {}", stderr_of(&restore));
    assert!(is_running(&restored));

    let counted_on = wait_for(Duration::from_secs(10), || counts(&restored).len() >= 2);
    assert!(counted_on, "the restored counter printed fewer than two numbers");
    let first = counts(&restored)[0];
    assert!(first >= before, "the restored counter started at {first}, below the checkpointed {before}");

    // An ordinary container: exec, stop and rm work on it.
    assert_eq!(docker_ok(&["exec", &restored, "echo", "alive"]), "alive");
    docker_ok(&["stop", "-t", "1", &restored]);
    docker_ok(&["rm", &restored]);
}

#[test]
fn checkpoint_without_leave_running_stops_source() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("stopping"));
    let output_dir = tempfile::tempdir().unwrap();
    let output = output_dir.path().to_str().unwrap();

    let before = last_count(&source).expect("the counter printed nothing");
    let checkpoint = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output, "--leave-running=false"]);
    assert!(checkpoint.status.success(), "checkpoint failed: {}", stderr_of(&checkpoint));
    assert!(
        wait_for(Duration::from_secs(10), || !is_running(&source)),
        "with --leave-running=false the source stops after the dump"
    );

    let path = output_dir.path().join(&source).join("cp");
    let restored = containers.track(&unique_name("stopping-restored"));
    let restore = run_docker_cr(&["restore", "--from", path.to_str().unwrap(), "--new-name", &restored]);
    assert!(restore.status.success(), "restore failed: {}", stderr_of(&restore));
    assert!(wait_for(Duration::from_secs(10), || counts(&restored).len() >= 2));
    assert!(counts(&restored)[0] >= before);
}

#[test]
fn checkpoint_writes_podman_layout_and_manifest() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("layout"));
    let output_dir = tempfile::tempdir().unwrap();

    let checkpoint = run_docker_cr(&["checkpoint", &source, "--name", "cp", "--output", output_dir.path().to_str().unwrap()]);
    assert!(checkpoint.status.success(), "checkpoint failed: {}", stderr_of(&checkpoint));
    let text = stdout_of(&checkpoint);
    assert!(text.contains("frozen for"), "the report says how long the container was frozen:\n{text}");

    let dir = output_dir.path().join(&source).join("cp");
    for file in ["config.dump", "spec.dump", "stats-dump", "dump.log", "manifest.json", "checkpoint/inventory.img", "checkpoint/pstree.img", "checkpoint/descriptors.json"] {
        assert!(dir.join(file).is_file(), "{file} is missing from the checkpoint");
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "docker-cr.checkpoint/v1");
    assert_eq!(manifest["container"]["name"], source.as_str());
    assert_eq!(manifest["container"]["image"], TEST_IMAGE);
    assert_eq!(manifest["options"]["leave_running"], true);
    assert!(manifest["criu_version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(manifest["kernel"].as_str().is_some_and(|v| !v.is_empty()));
    let external = manifest["dump"]["bind_mounts"].as_array().unwrap();
    assert!(external.iter().any(|m| m == "/etc/hosts"), "runc's bind mounts are external: {external:?}");
    assert_eq!(manifest["files"]["cpuinfo"], true, "the CPU features are recorded for restores elsewhere");
    assert!(dir.join("cpuinfo/cpuinfo.img").is_file());
    assert_eq!(manifest["files"]["rootfs_diff"], true, "the writable layer is saved by default");
    let descriptors: Vec<String> = serde_json::from_slice(&std::fs::read(dir.join("checkpoint/descriptors.json")).unwrap()).unwrap();
    assert_eq!(descriptors.len(), 3);
}
