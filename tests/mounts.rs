//! Mounts and filesystem state through a checkpoint and restore, on a real
//! engine and a real CRIU: bind mounts (with a file held open, and read
//! only), named volumes, tmpfs, the writable layer, and restores where the
//! host paths differ.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;

/// A named volume that is removed when the test ends. Declare it before
/// the `Containers` guard: locals drop in reverse order, and a volume can
/// only be removed once the containers using it are gone.
struct Volume(String);

impl Volume {
    fn new(stem: &str) -> Self {
        let name = unique_name(stem);
        docker_ok(&["volume", "create", &name]);
        Self(name)
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let removed = docker(&["volume", "rm", "-f", &self.0]);
        if !removed.status.success() {
            eprintln!("could not remove test volume {}: {}", self.0, stderr_of(&removed).trim());
        }
    }
}

fn checkpoint(container: &str, output: &Path, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["checkpoint", container, "--name", "cp", "--output", output.to_str().unwrap()];
    args.extend_from_slice(extra);
    let result = run_docker_cr(&args);
    assert!(result.status.success(), "checkpoint failed: {}", stderr_of(&result));
    output.join(container).join("cp")
}

fn restore(checkpoint: &Path, new_name: &str, extra: &[&str]) -> Output {
    let mut args = vec!["restore", "--from", checkpoint.to_str().unwrap(), "--new-name", new_name];
    args.extend_from_slice(extra);
    run_docker_cr(&args)
}

fn exec(container: &str, script: &str) -> String {
    let output = docker(&["exec", container, "sh", "-c", script]);
    format!("{}{}", stdout_of(&output), stderr_of(&output)).trim().to_string()
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|text| text.lines().count()).unwrap_or(0)
}

#[test]
fn all_mount_kinds_survive_restore() {
    if !host_ready() {
        return;
    }
    let volume = Volume::new("vol");
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    let data = host.path().join("data");
    let read_only = host.path().join("ro");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&read_only).unwrap();
    std::fs::write(data.join("greeting"), "hello\n").unwrap();
    std::fs::write(read_only.join("ro.txt"), "read only\n").unwrap();
    let data_mount = format!("{}:/data", data.display());
    let ro_mount = format!("{}:/ro:ro", read_only.display());
    let volume_mount = format!("{}:/cache", volume.0);

    // The process keeps /data/log open and appends to it, writes to a
    // tmpfs, a volume and its own layer, and deletes a file of the image.
    let source = containers.run(
        &unique_name("mounts"),
        &["-v", &data_mount, "-v", &ro_mount, "-v", &volume_mount, "--tmpfs", "/scratch"],
        "echo tmp > /scratch/note; echo shared > /dev/shm/segment; echo warm > /etc/app.conf; rm /bin/vi; echo vol > /cache/state; \
         exec 3>>/data/log; i=0; while true; do echo $i >&3; echo $i; i=$((i+1)); sleep 1; done",
    );
    assert!(wait_for(Duration::from_secs(10), || lines_in(&data.join("log")) >= 2));

    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--leave-running=false"]);
    for file in ["rootfs-diff.tar", "deleted.files"] {
        assert!(checkpoint.join(file).is_file(), "{file} is missing");
    }
    let deleted: Vec<String> = serde_json::from_slice(&std::fs::read(checkpoint.join("deleted.files")).unwrap()).unwrap();
    assert_eq!(deleted, vec!["/bin/vi".to_string()]);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint.join("manifest.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = manifest["container"]["mounts"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    for kind in ["bind", "volume", "tmpfs"] {
        assert!(kinds.contains(&kind), "the manifest records {kind} mounts: {kinds:?}");
    }

    // The original goes away entirely before the restore.
    docker_ok(&["rm", "-f", &source]);
    let lines_at_checkpoint = lines_in(&data.join("log"));

    let restored = containers.track(&unique_name("mounts-restored"));
    let result = restore(&checkpoint, &restored, &[]);
    assert!(result.status.success(), "restore failed: {}", stderr_of(&result));

    assert_eq!(exec(&restored, "cat /scratch/note"), "tmp", "tmpfs contents are restored");
    assert_eq!(exec(&restored, "cat /dev/shm/segment"), "shared", "/dev/shm contents are kept");
    assert_eq!(exec(&restored, "cat /etc/app.conf"), "warm", "a file written to the layer is back");
    assert_eq!(exec(&restored, "test -e /bin/vi && echo present || echo gone"), "gone", "a deleted file stays deleted");
    assert_eq!(exec(&restored, "cat /cache/state"), "vol", "the volume is mounted again");
    assert_eq!(exec(&restored, "cat /ro/ro.txt"), "read only");
    assert!(exec(&restored, "touch /ro/x 2>&1 || echo rejected").contains("rejected"), "the read-only mount stays read only");
    assert_eq!(exec(&restored, "cat /data/greeting"), "hello");
    assert_eq!(exec(&restored, "readlink /proc/1/fd/3"), "/data/log", "the open file is open again");
    assert!(
        wait_for(Duration::from_secs(10), || lines_in(&data.join("log")) >= lines_at_checkpoint + 2),
        "the restored process goes on appending to the bind-mounted file"
    );
}

#[test]
fn moved_bind_source_restores_with_mount_map() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    let old = host.path().join("old");
    let new = host.path().join("new");
    std::fs::create_dir_all(&old).unwrap();
    let mount = format!("{}:/data", old.display());
    let source = containers.run(
        &unique_name("moved"),
        &["-v", &mount],
        "exec 3>>/data/log; i=0; while true; do echo $i >&3; i=$((i+1)); sleep 1; done",
    );
    assert!(wait_for(Duration::from_secs(10), || lines_in(&old.join("log")) >= 1));
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--leave-running=false"]);
    std::fs::rename(&old, &new).unwrap();

    // Without the map and without auto-fix, the missing source is named
    // with both fixes, and nothing is created.
    let restored = containers.track(&unique_name("moved-restored"));
    let rejected = restore(&checkpoint, &restored, &["--auto-fix-mounts=false"]);
    assert_eq!(rejected.status.code(), Some(1));
    let message = diagnostic_of(&rejected);
    assert!(message.contains(&format!("the source {} of the bind mount at /data does not exist", old.display())), "{message}");
    assert!(message.contains("--auto-fix-mounts"), "{message}");
    assert!(message.contains("--mount-map"), "{message}");
    assert!(!old.exists(), "nothing is created");
    assert_eq!(docker(&["inspect", &restored]).status.code(), Some(1), "no container is created");

    let map = format!("{}={}", old.display(), new.display());
    let result = restore(&checkpoint, &restored, &["--mount-map", &map]);
    assert!(result.status.success(), "restore failed: {}", stderr_of(&result));
    assert_eq!(exec(&restored, "readlink /proc/1/fd/3"), "/data/log");
    let lines_before = lines_in(&new.join("log"));
    assert!(
        wait_for(Duration::from_secs(10), || lines_in(&new.join("log")) > lines_before),
        "the process appends to the file at its new host path"
    );
    let bound = docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Source}}{{end}}", &restored]);
    assert_eq!(bound, new.display().to_string());
}

#[test]
fn missing_bind_sources_are_created_of_their_kind() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    let folder = host.path().join("folder");
    let file = host.path().join("settings.conf");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(&file, "x=1\n").unwrap();
    let folder_mount = format!("{}:/srv/folder", folder.display());
    let file_mount = format!("{}:/etc/settings.conf", file.display());
    let source = containers.run(&unique_name("autofix"), &["-v", &folder_mount, "-v", &file_mount], COUNTER_SCRIPT);
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &[]);
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::remove_file(&file).unwrap();

    let restored = containers.track(&unique_name("autofix-restored"));
    let result = restore(&checkpoint, &restored, &[]);
    assert!(result.status.success(), "restore failed: {}", stderr_of(&result));
    assert!(folder.is_dir(), "a folder source is made again as a folder");
    assert!(file.is_file(), "a file source is made again as a file");
    let printed = stdout_of(&result) + &stderr_of(&result);
    assert!(printed.contains(&format!("{}", folder.display())), "each created path is named:\n{printed}");
    assert!(printed.contains(&format!("{}", file.display())), "each created path is named:\n{printed}");
    assert!(is_running(&restored));
}

#[test]
fn skipped_mount_is_left_out() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("unused"), "x").unwrap();
    let mount = format!("{}:/unused", host.path().display());
    let source = containers.run(&unique_name("skip"), &["-v", &mount], COUNTER_SCRIPT);
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &[]);

    let restored = containers.track(&unique_name("skip-restored"));
    let unknown = restore(&checkpoint, &restored, &["--skip-mounts", "/not-a-mount"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(diagnostic_of(&unknown).contains("--skip-mounts /not-a-mount names no bind mount"), "{}", stderr_of(&unknown));

    let result = restore(&checkpoint, &restored, &["--skip-mounts", "/unused"]);
    assert!(result.status.success(), "restore failed: {}", stderr_of(&result));
    let mounts = docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", &restored]);
    assert!(!mounts.contains("/unused"), "the new container has no mount at /unused: {mounts}");
    assert_eq!(exec(&restored, "ls /unused | wc -l"), "0", "an empty placeholder stands in for it");
    assert!(wait_for(Duration::from_secs(10), || counts(&restored).len() >= 2));
}

#[test]
fn saved_volume_is_recreated_on_restore() {
    if !host_ready() {
        return;
    }
    let volume = Volume::new("saved");
    let mut containers = Containers::new();
    let mount = format!("{}:/state", volume.0);
    let source = containers.run(&unique_name("volume"), &["-v", &mount], &format!("echo kept > /state/file; {COUNTER_SCRIPT}"));
    assert!(wait_for(Duration::from_secs(10), || !counts(&source).is_empty()));
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--with-volumes", "--leave-running=false"]);
    assert!(checkpoint.join(format!("volumes/{}.tar", volume.0)).is_file());
    let inspected = run_docker_cr(&["inspect", checkpoint.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let saved = report[0]["saved_volumes"].as_array().cloned().unwrap_or_default();
    assert_eq!(saved, vec![serde_json::Value::from(volume.0.clone())], "inspect names the saved volume");

    // Another host would not have the volume: remove it here.
    docker_ok(&["rm", "-f", &source]);
    docker_ok(&["volume", "rm", &volume.0]);

    let restored = containers.track(&unique_name("volume-restored"));
    let result = restore(&checkpoint, &restored, &[]);
    assert!(result.status.success(), "restore failed: {}", stderr_of(&result));
    assert_eq!(exec(&restored, "cat /state/file"), "kept");
}

#[test]
fn unsaved_missing_volume_is_rejected() {
    if !host_ready() {
        return;
    }
    let volume = Volume::new("unsaved");
    let mut containers = Containers::new();
    let mount = format!("{}:/state", volume.0);
    let source = containers.run(&unique_name("unsaved"), &["-v", &mount], COUNTER_SCRIPT);
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--leave-running=false"]);
    docker_ok(&["rm", "-f", &source]);
    docker_ok(&["volume", "rm", &volume.0]);

    let restored = containers.track(&unique_name("unsaved-restored"));
    let result = restore(&checkpoint, &restored, &[]);
    assert_eq!(result.status.code(), Some(1));
    let message = diagnostic_of(&result);
    assert!(message.contains(&format!("the volume {} does not exist on this host", volume.0)), "{message}");
    assert!(message.contains("--with-volumes"), "{message}");
    assert_eq!(docker(&["volume", "inspect", &volume.0]).status.code(), Some(1), "no volume is created");
}

#[test]
fn ignore_rootfs_leaves_layer_out() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run(&unique_name("ignore-rootfs"), &[], &format!("echo warm > /etc/app.conf; {COUNTER_SCRIPT}"));
    assert!(wait_for(Duration::from_secs(10), || !counts(&source).is_empty()));
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--ignore-rootfs"]);
    assert!(!checkpoint.join("rootfs-diff.tar").exists());
    assert!(!checkpoint.join("deleted.files").exists());
}

#[test]
fn failed_restore_keeps_log_cleans_up() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let host = tempfile::tempdir().unwrap();
    let data = host.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mount = format!("{}:/data", data.display());
    let source = containers.run(
        &unique_name("lost-file"),
        &["-v", &mount],
        "exec 3>>/data/log; i=0; while true; do echo $i >&3; i=$((i+1)); sleep 1; done",
    );
    assert!(wait_for(Duration::from_secs(10), || lines_in(&data.join("log")) >= 1));
    let output = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(&source, output.path(), &["--leave-running=false"]);
    let before = tree_listing(&checkpoint);
    // The folder comes back empty through --auto-fix-mounts, but the file
    // the process had open is gone, so CRIU's restore fails.
    std::fs::remove_dir_all(&data).unwrap();

    let restored = containers.track(&unique_name("lost-file-restored"));
    let result = restore(&checkpoint, &restored, &[]);
    assert_eq!(result.status.code(), Some(1), "the restore must fail: {}", stderr_of(&result));
    let message = diagnostic_of(&result);
    assert!(message.contains("Can't open file"), "CRIU's own error line is shown: {message}");
    assert!(message.contains("--mount-map"), "the hint names a fix: {message}");
    assert!(message.contains("restore log is kept at"), "{message}");
    let log = std::env::temp_dir().join("docker-cr-logs").join(format!("{restored}-restore.log"));
    assert!(log.is_file(), "the restore log survives the engine's cleanup");
    assert_eq!(docker(&["inspect", &restored]).status.code(), Some(1), "the half-made container is removed");
    assert!(!data.exists(), "the source the restore created is removed again");
    assert_eq!(tree_listing(&checkpoint), before, "the checkpoint is untouched");
    let _ = std::fs::remove_file(log);
}
