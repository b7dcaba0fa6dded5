//! `docker-cr list` over folders holding real checkpoints.

mod common;

use common::*;

#[test]
fn list_finds_checkpoint_by_container() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let name = containers.run_counter(&unique_name("list"));
    let output_dir = tempfile::tempdir().unwrap();
    let output = output_dir.path().to_str().unwrap();
    let checkpoint = run_docker_cr(&["checkpoint", &name, "--name", "first", "--output", output]);
    assert!(checkpoint.status.success(), "checkpoint failed: {}", stderr_of(&checkpoint));

    let listed = run_docker_cr(&["list", output, "--format", "json"]);
    assert!(listed.status.success(), "{}", stderr_of(&listed));
    let entries: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["container"], name.as_str());
    assert_eq!(entries[0]["image"], TEST_IMAGE);
    assert_eq!(entries[0]["layout"], "docker-cr");
    assert!(entries[0]["size_bytes"].as_u64().unwrap() > 0);

    let text = stdout_of(&run_docker_cr(&["list", output]));
    assert!(text.contains(&name), "{text}");
    assert!(text.contains("CHECKPOINTED"), "{text}");

    // An archive laid out as Podman's, beside the folder, is listed too.
    let folder = entries[0]["path"].as_str().unwrap().to_string();
    let archive = output_dir.path().join("exported.tar.zst");
    let packed = std::process::Command::new("tar")
        .args(["-C", &folder, "--zstd", "-cf", archive.to_str().unwrap(), "checkpoint", "config.dump"])
        .status()
        .unwrap();
    assert!(packed.success());
    let listed = run_docker_cr(&["list", output, "--format", "json"]);
    let entries: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let exported = entries.as_array().unwrap().iter().find(|entry| entry["path"] == archive.to_str().unwrap());
    let exported = exported.unwrap_or_else(|| panic!("the archive is not listed: {entries:#}"));
    assert_eq!(exported["layout"], "podman");
    assert_eq!(exported["container"], name.as_str());
}

#[test]
fn list_of_empty_folder_says_none() {
    let folder = tempfile::tempdir().unwrap();
    let output = run_docker_cr(&["list", folder.path().to_str().unwrap()]);
    assert!(output.status.success());
    assert!(stdout_of(&output).starts_with("No checkpoints in"));
}
