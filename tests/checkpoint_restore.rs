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
