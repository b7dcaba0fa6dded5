//! `docker-cr inspect` against checkpoints of real containers: what it
//! shows must match what is known of the checkpointed processes, and a
//! damaged image must give a diagnostic, never a panic.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use docker_cr::exec::inspect::{inspect, InspectOptions};

/// The script of the fixture container: a file open on fd 3, a listening
/// nc and httpd, and a shell loop.
const SERVER_SCRIPT: &str = "mkdir -p /tmp; exec 3>/tmp/kept-open; nc -l -p 8080 & httpd -p 8081; while true; do sleep 1; done";

/// Checkpoints one server container per test process and returns the
/// checkpoint folder; the container is removed once it is dumped.
fn server_checkpoint() -> Option<&'static Path> {
    static CHECKPOINT: OnceLock<PathBuf> = OnceLock::new();
    if !host_ready() {
        return None;
    }
    let path = CHECKPOINT.get_or_init(|| {
        let mut containers = Containers::new();
        let name = containers.run(&unique_name("inspect-server"), &["-e", "DCR_COLOR=blue", "-e", "DCR_MODE=test"], SERVER_SCRIPT);
        assert!(wait_for(std::time::Duration::from_secs(10), || docker(&["exec", &name, "sh", "-c", "netstat -ltn | grep -q 8081"]).status.success()));
        // A static is never dropped, so the checkpoint goes under Cargo's
        // folder for test files rather than into a temporary folder that
        // would be left behind in /tmp.
        let output_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("inspect-server-{}", std::process::id()));
        let _ = fs::remove_dir_all(&output_dir);
        let output = run_docker_cr(&["checkpoint", &name, "--name", "cp", "--output", output_dir.to_str().unwrap(), "--format", "json"]);
        assert!(output.status.success(), "checkpoint failed: {}", stderr_of(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        PathBuf::from(report["path"].as_str().unwrap())
    });
    Some(path.as_path())
}

fn inspect_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["inspect", "--format", "json"];
    all.extend_from_slice(args);
    let output = run_docker_cr(&all);
    assert!(output.status.success(), "inspect failed: {}", stderr_of(&output));
    serde_json::from_slice(&output.stdout).expect("inspect printed no JSON")
}

fn process_with_command<'a>(report: &'a serde_json::Value, command: &[&str]) -> &'a serde_json::Value {
    report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|process| process["command_line"] == serde_json::json!(command))
        .unwrap_or_else(|| panic!("no process runs {command:?}: {:#}", report["processes"]))
}

#[test]
fn command_lines_match_processes() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let reports = inspect_json(&["--ps-tree-cmd", checkpoint.to_str().unwrap()]);
    let report = &reports[0];

    assert_eq!(report["layout"], "docker-cr");
    let init = &report["processes"][0];
    assert_eq!(init["pid"], 1);
    assert_eq!(init["command_line"], serde_json::json!(["sh", "-c", SERVER_SCRIPT]));
    let nc = process_with_command(report, &["nc", "-l", "-p", "8080"]);
    assert_eq!(nc["ppid"], 1);
    assert_eq!(nc["comm"], "nc");
    process_with_command(report, &["httpd", "-p", "8081"]);
    assert_eq!(report["process_count"].as_u64().unwrap() as usize, report["processes"].as_array().unwrap().len());
}

#[test]
fn environment_comes_from_memory() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let reports = inspect_json(&["--ps-tree-env", "--env", checkpoint.to_str().unwrap()]);
    let init_env = reports[0]["processes"][0]["environment"].as_array().unwrap();
    assert!(init_env.contains(&serde_json::json!("DCR_COLOR=blue")), "{init_env:?}");
    assert!(init_env.contains(&serde_json::json!("DCR_MODE=test")), "{init_env:?}");
    let configured = reports[0]["environment"].as_array().unwrap();
    assert!(configured.contains(&serde_json::json!("DCR_COLOR=blue")));
}

#[test]
fn files_and_sockets_are_listed() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let reports = inspect_json(&["--files", "--sockets", checkpoint.to_str().unwrap()]);
    let report = &reports[0];

    let init_files = report["processes"][0]["files"].as_array().unwrap();
    let kept_open = init_files.iter().find(|file| file["fd"] == 3).expect("init has no fd 3");
    assert_eq!(kept_open["kind"], "reg");
    assert_eq!(kept_open["path"], "/tmp/kept-open");
    assert_eq!(kept_open["position"], 0);

    let sockets: Vec<&serde_json::Value> =
        report["processes"].as_array().unwrap().iter().flat_map(|process| process["files"].as_array().unwrap()).filter_map(|file| file.get("socket").filter(|socket| !socket.is_null())).collect();
    for port in [8080, 8081] {
        let listening = sockets.iter().find(|socket| socket["local"].as_str().unwrap_or_default().ends_with(&format!(":{port}")));
        let listening = listening.unwrap_or_else(|| panic!("no socket on port {port}: {sockets:?}"));
        assert_eq!(listening["protocol"], "tcp");
        assert_eq!(listening["state"], "LISTEN");
        assert_eq!(listening["listening"], true);
    }
}

#[test]
fn text_views_show_tree_and_sockets() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let output = run_docker_cr(&["inspect", "--ps-tree-cmd", "--sockets", "--mounts", "--stats", checkpoint.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let text = stdout_of(&output);
    assert!(text.contains("nc -l -p 8080"), "{text}");
    assert!(text.contains("listening"), "{text}");
    assert!(text.contains("/etc/hostname"), "{text}");
    assert!(text.contains("frozen time"), "{text}");
}

#[test]
fn memory_maps_busybox_and_counts_pages() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let reports = inspect_json(&["--memory", checkpoint.to_str().unwrap()]);
    let report = &reports[0];
    let mut dumped_total = 0;
    for process in report["processes"].as_array().unwrap() {
        let memory = &process["memory"];
        let mappings = memory["mappings"].as_array().unwrap();
        assert!(mappings.iter().any(|mapping| mapping["file"] == "/bin/busybox" && mapping["protection"] == "r-xp"), "{mappings:?}");
        assert!(mappings.iter().any(|mapping| mapping["kind"] == "heap"), "{mappings:?}");
        let per_mapping: u64 = mappings.iter().map(|mapping| mapping["dumped_bytes"].as_u64().unwrap()).sum();
        assert_eq!(per_mapping, memory["dumped_bytes"].as_u64().unwrap());
        dumped_total += per_mapping;
    }
    // Every dumped page belongs to one process's pages image here, since
    // the test container shares no memory between processes.
    assert_eq!(dumped_total, report["sizes"]["memory_pages_bytes"].as_u64().unwrap());
}

#[test]
fn pid_limits_tree_to_subtree() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let all = inspect_json(&["--ps-tree", checkpoint.to_str().unwrap()]);
    let nc_pid = all[0]["processes"].as_array().unwrap().iter().find(|process| process["comm"] == "nc").unwrap()["pid"].as_u64().unwrap();
    let subtree = inspect_json(&["--pid", &nc_pid.to_string(), checkpoint.to_str().unwrap()]);
    let pids: Vec<u64> = subtree[0]["processes"].as_array().unwrap().iter().map(|process| process["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids, vec![nc_pid]);
}

#[test]
fn unknown_pid_is_rejected() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let output = run_docker_cr(&["inspect", "--pid", "99999", checkpoint.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("docker_cr::inspect::no_such_pid"), "{stderr}");
    assert!(stderr.contains("99999"), "{stderr}");
}

#[test]
fn several_paths_give_one_report_each() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let path = checkpoint.to_str().unwrap();
    let reports = inspect_json(&[path, &format!("{path}/checkpoint")]);
    assert_eq!(reports.as_array().unwrap().len(), 2);
    assert_eq!(reports[0]["layout"], "docker-cr");
    assert_eq!(reports[1]["layout"], "criu");
    assert_eq!(reports[0]["process_count"], reports[1]["process_count"]);
}

#[test]
fn bare_criu_folder_from_docker_checkpoint() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let name = containers.run(&unique_name("inspect-bare"), &[], "while true; do sleep 1; done");
    let id = docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let created = docker(&["checkpoint", "create", "--leave-running", &name, "dcr-test-inspect-cp"]);
    assert!(created.status.success(), "docker checkpoint create failed: {}", stderr_of(&created));
    let source = PathBuf::from(format!("/var/lib/docker/containers/{id}/checkpoints/dcr-test-inspect-cp"));
    let copy = tempfile::tempdir().unwrap();
    docker_cr::checkpoint::copy_files(&source, copy.path()).unwrap();
    let _ = docker(&["checkpoint", "rm", &name, "dcr-test-inspect-cp"]);

    let reports = inspect_json(&["--ps-tree-cmd", copy.path().to_str().unwrap()]);
    assert_eq!(reports[0]["layout"], "criu");
    assert_eq!(reports[0]["processes"][0]["command_line"], serde_json::json!(["sh", "-c", "while true; do sleep 1; done"]));
}

#[test]
fn archives_read_like_folders() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let folder = tempfile::tempdir().unwrap();
    let tar = folder.path().join("cp.tar");
    // Podman and CRI-O archive the checkpoint folder's contents, with
    // CRIU's images under checkpoint/ and config.dump beside them.
    let packed = std::process::Command::new("tar")
        .args(["-C", checkpoint.to_str().unwrap(), "-cf", tar.to_str().unwrap(), "checkpoint", "config.dump", "spec.dump", "stats-dump"])
        .status()
        .unwrap();
    assert!(packed.success());
    assert!(std::process::Command::new("gzip").args(["-kf", tar.to_str().unwrap()]).status().unwrap().success());
    assert!(std::process::Command::new("zstd").args(["-qf", tar.to_str().unwrap()]).status().unwrap().success());

    for name in ["cp.tar", "cp.tar.gz", "cp.tar.zst"] {
        let archive = folder.path().join(name);
        let reports = inspect_json(&["--ps-tree-cmd", "--ps-tree-env", "--files", archive.to_str().unwrap()]);
        let report = &reports[0];
        assert_eq!(report["layout"], "podman", "{name}");
        assert_eq!(report["processes"][0]["command_line"], serde_json::json!(["sh", "-c", SERVER_SCRIPT]), "{name}");
        let environment = report["processes"][0]["environment"].as_array().unwrap();
        assert!(environment.contains(&serde_json::json!("DCR_COLOR=blue")), "{name}");
        process_with_command(report, &["nc", "-l", "-p", "8080"]);
        assert!(report["stats"].is_object(), "{name}: stats-dump was not read");
        assert!(report["container"]["name"].as_str().unwrap().starts_with(PREFIX), "{name}");
    }
}

#[test]
fn archive_without_checkpoint_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    fs::write(folder.path().join("config.dump"), b"{}").unwrap();
    let archive = folder.path().join("web.tar.gz");
    let packed = std::process::Command::new("tar")
        .args(["-C", folder.path().to_str().unwrap(), "-czf", archive.to_str().unwrap(), "config.dump"])
        .status()
        .unwrap();
    assert!(packed.success());
    let output = run_docker_cr(&["inspect", archive.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("docker_cr::inspect::archive_without_checkpoint"), "{stderr}");
    assert!(stderr.contains("web.tar.gz"), "{stderr}");
}

#[test]
fn corrupt_archive_gives_diagnostic() {
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("broken.tar.zst");
    fs::write(&archive, b"this is not zstd").unwrap();
    let output = run_docker_cr(&["inspect", archive.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("broken.tar.zst"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Copies a checkpoint's images into a fresh folder to damage.
fn images_copy(checkpoint: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    docker_cr::checkpoint::copy_files(&checkpoint.join("checkpoint"), copy.path()).unwrap();
    copy
}

fn everything() -> InspectOptions {
    InspectOptions { command_lines: true, environments: true, files: true, memory: true, mounts: true, pid: None }
}

#[test]
fn missing_pstree_is_named() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let copy = images_copy(checkpoint);
    fs::remove_file(copy.path().join("pstree.img")).unwrap();
    let error = inspect(copy.path(), &everything()).unwrap_err();
    assert!(error.to_string().contains("pstree.img is missing"), "{error}");
}

#[test]
fn image_of_another_kind_names_magic() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let copy = images_copy(checkpoint);
    fs::copy(copy.path().join("files.img"), copy.path().join("pstree.img")).unwrap();
    let error = inspect(copy.path(), &everything()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("pstree.img"), "{message}");
    assert!(message.contains("at byte 4"), "{message}");
}

/// The images every view reads, damaged one at a time.
const DAMAGED_IMAGES: &[&str] = &[
    "inventory.img", "pstree.img", "core-1.img", "ids-1.img", "mm-1.img", "pagemap-1.img", "files.img", "fdinfo-2.img",
    "fs-1.img", "cgroup.img", "seccomp.img", "timens-0.img",
];

#[test]
fn truncated_images_give_diagnostics() {
    let Some(checkpoint) = server_checkpoint() else { return };
    for image in DAMAGED_IMAGES {
        let original = fs::read(checkpoint.join("checkpoint").join(image)).unwrap();
        for cut in [0, 1, 4, 7, 8, 11, original.len() / 2, original.len() - 1] {
            let copy = images_copy(checkpoint);
            fs::write(copy.path().join(image), &original[..cut]).unwrap();
            let result = std::panic::catch_unwind(|| inspect(copy.path(), &everything()));
            let result = result.unwrap_or_else(|_| panic!("inspect panicked on {image} cut at {cut}"));
            // A cut right after the magic leaves a valid image with no
            // entries, which an fdinfo image of a task without files is.
            // An empty files.img is caught by the fdinfo entries that
            // refer to it, a case the bit-flip runs first found.
            let empty_but_valid = cut == 8 && image.starts_with("fdinfo");
            if cut < original.len() && cut > 0 && *image != "inventory.img" && !empty_but_valid {
                // A cut inside an entry or its length is always detected.
                let error = result.expect_err(&format!("{image} cut at {cut} was accepted"));
                assert!(error.to_string().contains(image), "{image} cut at {cut}: {error}");
            }
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    let Some(checkpoint) = server_checkpoint() else { return };
    for image in DAMAGED_IMAGES {
        let original = fs::read(checkpoint.join("checkpoint").join(image)).unwrap();
        // Every byte of small images, a spread of bytes of larger ones.
        let step = (original.len() / 64).max(1);
        for position in (0..original.len()).step_by(step) {
            for bit in [0, 3, 7] {
                let mut damaged = original.clone();
                damaged[position] ^= 1 << bit;
                let copy = images_copy(checkpoint);
                fs::write(copy.path().join(image), &damaged).unwrap();
                let result = std::panic::catch_unwind(|| inspect(copy.path(), &everything()));
                assert!(result.is_ok(), "inspect panicked on {image} with bit {bit} of byte {position} flipped");
            }
        }
    }
}

#[test]
fn restore_rejects_corrupt_pstree_first() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let copy = tempfile::tempdir().unwrap();
    let root = copy.path().join("cp");
    fs::create_dir_all(root.join("checkpoint")).unwrap();
    docker_cr::checkpoint::copy_files(checkpoint, &root).unwrap();
    docker_cr::checkpoint::copy_files(&checkpoint.join("checkpoint"), &root.join("checkpoint")).unwrap();
    let pstree = root.join("checkpoint/pstree.img");
    let bytes = fs::read(&pstree).unwrap();
    fs::write(&pstree, &bytes[..bytes.len() - 3]).unwrap();

    let name = unique_name("inspect-never-created");
    let output = run_docker_cr(&["restore", "--from", root.to_str().unwrap(), "--new-name", &name]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("docker_cr::image::truncated"), "{stderr}");
    assert!(!docker(&["inspect", &name]).status.success(), "a container was created from a corrupt checkpoint");
}

#[test]
fn established_tcp_shows_queued_bytes() {
    if !host_ready() {
        return;
    }
    // The server end hands its socket to a sleep that never reads, so the
    // client's 12 bytes ("queued-data\n") stay in its receive queue.
    let script = "nc -l -p 9000 -e sleep 1000 & sleep 1; (echo queued-data; sleep 1000) | nc 127.0.0.1 9000 & while true; do sleep 1; done";
    let mut containers = Containers::new();
    let name = containers.run(&unique_name("inspect-tcp"), &[], script);
    let queued = wait_for(std::time::Duration::from_secs(10), || {
        docker(&["exec", &name, "netstat", "-tn"]).stdout.windows(2).any(|pair| pair == b"12")
    });
    assert!(queued, "the receive queue never filled");
    let output_dir = tempfile::tempdir().unwrap();
    let output = run_docker_cr(&["checkpoint", &name, "--output", output_dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(output.status.success(), "checkpoint failed: {}", stderr_of(&output));
    let path = serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["path"].as_str().unwrap().to_string();

    let reports = inspect_json(&["--sockets", &path]);
    let sockets: Vec<&serde_json::Value> = reports[0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|process| process["files"].as_array().unwrap())
        .filter_map(|file| file.get("socket").filter(|socket| !socket.is_null()))
        .collect();
    let server = sockets.iter().find(|socket| socket["local"].as_str().unwrap_or_default().ends_with(":9000")).expect("no socket on local port 9000");
    assert_eq!(server["state"], "ESTABLISHED");
    assert_eq!(server["receive_queue_bytes"], 12);
    assert_eq!(server["send_queue_bytes"], 0);
    let client = sockets.iter().find(|socket| socket["remote"] == "127.0.0.1:9000").expect("no socket connected to 127.0.0.1:9000");
    assert_eq!(client["receive_queue_bytes"], 0);
    assert!(client["local"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn unix_socket_shows_bound_path() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let name = containers.run(&unique_name("inspect-unix"), &[], "syslogd -n -O /tmp/messages & while true; do sleep 1; done");
    assert!(wait_for(std::time::Duration::from_secs(10), || docker(&["exec", &name, "test", "-S", "/dev/log"]).status.success()));
    let output_dir = tempfile::tempdir().unwrap();
    let output = run_docker_cr(&["checkpoint", &name, "--output", output_dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(output.status.success(), "checkpoint failed: {}", stderr_of(&output));
    let path = serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["path"].as_str().unwrap().to_string();

    let reports = inspect_json(&["--sockets", "--ps-tree-cmd", &path]);
    let syslogd = process_with_command(&reports[0], &["syslogd", "-n", "-O", "/tmp/messages"]);
    let socket = syslogd["files"].as_array().unwrap().iter().find(|file| file["kind"] == "unix").expect("syslogd has no unix socket");
    assert_eq!(socket["socket"]["local"], "/dev/log");
    assert_eq!(socket["socket"]["socket_type"], "dgram");
    assert_eq!(socket["socket"]["receive_queue_bytes"], 0);
}

/// A program that takes an exclusive flock on its argument and sleeps.
/// Debian's busybox-static has no `flock` applet, so the test builds this
/// one statically for the busybox image.
const LOCK_HOLDER_SOURCE: &str = r#"
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_CREAT | O_RDWR, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0)
        return 1;
    for (;;)
        pause();
}
"#;

/// A program that writes to a memfd named dcr-buffer and sleeps.
const MEMFD_HOLDER_SOURCE: &str = r#"
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
    int fd = memfd_create("dcr-buffer", 0);
    if (fd < 0 || write(fd, "hello", 5) != 5)
        return 1;
    for (;;)
        pause();
}
"#;

/// Builds a static program named `name` from C `source` with the host's
/// compiler into `folder`, for the busybox image, which has no C library.
/// Returns `None` (after printing why) when there is no compiler with a
/// static C library; panics under CI=true.
fn build_static_program(folder: &Path, name: &str, source_text: &str) -> Option<PathBuf> {
    let source = folder.join(format!("{name}.c"));
    let binary = folder.join(name);
    fs::write(&source, source_text).unwrap();
    let built = std::process::Command::new("cc").arg("-static").arg("-o").arg(&binary).arg(&source).output();
    match built {
        Ok(output) if output.status.success() => Some(binary),
        Ok(output) if !in_ci() => {
            eprintln!("skipped: `cc -static` failed: {}", stderr_of(&output));
            None
        }
        Err(error) if !in_ci() => {
            eprintln!("skipped: no C compiler to build {name}: {error}");
            None
        }
        result => panic!("CI=true and {name} could not be built: {result:?}"),
    }
}

/// Checkpoints a container and returns the checkpoint's folder.
fn checkpoint_of(name: &str, output_dir: &Path) -> String {
    let output = run_docker_cr(&["checkpoint", name, "--output", output_dir.to_str().unwrap(), "--format", "json"]);
    assert!(output.status.success(), "checkpoint failed: {}", stderr_of(&output));
    serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["path"].as_str().unwrap().to_string()
}

#[test]
fn file_lock_is_shown() {
    if !host_ready() {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let Some(lock_holder) = build_static_program(folder.path(), "lock-holder", LOCK_HOLDER_SOURCE) else { return };
    let mut containers = Containers::new();
    let name = containers.track(&unique_name("insp2-lock"));
    let _ = docker(&["rm", "-f", &name]);
    docker_ok(&["create", "--name", &name, test_image(), "sh", "-c", "mkdir -p /tmp; exec lock-holder /tmp/lockfile"]);
    docker_ok(&["cp", lock_holder.to_str().unwrap(), &format!("{name}:/bin/lock-holder")]);
    docker_ok(&["start", &name]);
    let locked = wait_for(std::time::Duration::from_secs(10), || {
        String::from_utf8_lossy(&docker(&["exec", &name, "cat", "/proc/locks"]).stdout).contains("FLOCK")
    });
    assert!(locked, "the lock holder never took its lock");
    let path = checkpoint_of(&name, folder.path());

    let reports = inspect_json(&["--files", &path]);
    let locks = reports[0]["file_locks"].as_array().expect("file_locks is null with --files");
    let lock = locks.iter().find(|lock| lock["path"] == "/tmp/lockfile").unwrap_or_else(|| panic!("no lock on /tmp/lockfile: {locks:?}"));
    assert_eq!(lock["kind"], "flock");
    assert_eq!(lock["type"], "write");
    assert_eq!(lock["pid"], 1);
    assert_eq!(lock["start"], 0);
    assert_eq!(lock["length"], 0);

    let text = stdout_of(&run_docker_cr(&["inspect", "--files", &path]));
    let row = text.lines().find(|line| line.ends_with("/tmp/lockfile")).unwrap_or_else(|| panic!("no row for the lock file: {text}"));
    assert!(row.contains("flock write"), "{row}");
}

#[test]
fn working_folder_is_shown() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let name = containers.run(&unique_name("insp2-cwd"), &[], "mkdir -p /tmp && cd /tmp && exec sleep 1000");
    assert!(wait_for(std::time::Duration::from_secs(10), || docker(&["top", &name]).stdout.windows(5).any(|window| window == b"sleep")));
    let folder = tempfile::tempdir().unwrap();
    let path = checkpoint_of(&name, folder.path());

    let reports = inspect_json(&["--files", &path]);
    let init = &reports[0]["processes"][0];
    assert_eq!(init["comm"], "sleep");
    assert_eq!(init["cwd"], "/tmp");
    assert_eq!(init["root"], "/");

    let text = stdout_of(&run_docker_cr(&["inspect", "--files", &path]));
    let cwd_row: Vec<&str> = text.lines().find(|line| line.split_whitespace().nth(1) == Some("cwd")).expect("no cwd row").split_whitespace().collect();
    assert_eq!(cwd_row, vec!["1", "cwd", "dir", "/tmp"]);
}

#[test]
fn cgroup_paths_are_shown() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(checkpoint.join("manifest.json")).unwrap()).unwrap();
    let id = manifest["container"]["id"].as_str().unwrap().to_string();
    let reports = inspect_json(&[checkpoint.to_str().unwrap()]);
    let report = &reports[0];

    let init_set = report["processes"][0]["cgroup_set"].as_u64().expect("init has no cgroup set");
    let sets = report["cgroups"]["sets"].as_array().expect("no cgroup sets");
    let set = sets.iter().find(|set| set["id"] == init_set).unwrap_or_else(|| panic!("set {init_set} is not in {sets:?}"));
    let members = set["members"].as_array().unwrap();
    assert!(!members.is_empty());
    for member in members {
        assert!(member["path"].as_str().unwrap().contains(&id), "{member}");
    }
    let controllers = report["cgroups"]["controllers"].as_array().unwrap();
    assert!(controllers.iter().any(|controller| controller["dirs"].as_array().unwrap().iter().any(|dir| dir.as_str().unwrap().contains(&id))));

    let overview = stdout_of(&run_docker_cr(&["inspect", checkpoint.to_str().unwrap()]));
    let line = overview.lines().find(|line| line.contains("cgroup:")).unwrap_or_else(|| panic!("no cgroup line: {overview}"));
    assert!(line.contains(&id), "{line}");
    let table = stdout_of(&run_docker_cr(&["inspect", "--cgroups", checkpoint.to_str().unwrap()]));
    assert!(table.contains("CONTROLLER"), "{table}");
    assert!(table.lines().filter(|line| line.contains(&id)).count() >= members.len(), "{table}");
}

#[test]
fn seccomp_and_clocks_are_read() {
    let Some(checkpoint) = server_checkpoint() else { return };
    let reports = inspect_json(&[checkpoint.to_str().unwrap()]);
    let report = &reports[0];
    // Docker's default profile puts every container process under one
    // seccomp filter.
    for process in report["processes"].as_array().unwrap() {
        assert_eq!(process["seccomp_mode"], "filter", "{process}");
        assert_eq!(process["seccomp_filters"], 1, "{process}");
    }
    assert_eq!(report["clocks"]["time_namespace_id"], 0);
    assert!(report["clocks"]["monotonic"]["seconds"].as_u64().unwrap() > 0);
    assert!(report["network_devices"].is_null());
}

#[test]
fn memfd_and_tty_are_named() {
    if !host_ready() {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let Some(memfd_holder) = build_static_program(folder.path(), "memfd-holder", MEMFD_HOLDER_SOURCE) else { return };
    let mut containers = Containers::new();
    let name = containers.track(&unique_name("insp2-tty"));
    let _ = docker(&["rm", "-f", &name]);
    docker_ok(&["create", "-t", "--name", &name, test_image(), "sh", "-c", "memfd-holder & exec sleep 1000"]);
    docker_ok(&["cp", memfd_holder.to_str().unwrap(), &format!("{name}:/bin/memfd-holder")]);
    docker_ok(&["start", &name]);
    assert!(wait_for(std::time::Duration::from_secs(10), || String::from_utf8_lossy(&docker(&["top", &name]).stdout).contains("memfd-holder")));

    // NOTE: `docker-cr checkpoint` fails on a container with a terminal
    // (CRIU finds no master for the pty, which runc hands CRIU as an
    // external tty), so this checkpoint is taken by the engine.
    let id = docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let created = docker(&["checkpoint", "create", "--leave-running", &name, "dcr-test-insp2-tty"]);
    assert!(created.status.success(), "docker checkpoint create failed: {}", stderr_of(&created));
    let source = PathBuf::from(format!("/var/lib/docker/containers/{id}/checkpoints/dcr-test-insp2-tty"));
    let copy = tempfile::tempdir().unwrap();
    docker_cr::checkpoint::copy_files(&source, copy.path()).unwrap();
    let _ = docker(&["checkpoint", "rm", &name, "dcr-test-insp2-tty"]);

    let reports = inspect_json(&["--files", copy.path().to_str().unwrap()]);
    let files: Vec<&serde_json::Value> =
        reports[0]["processes"].as_array().unwrap().iter().flat_map(|process| process["files"].as_array().unwrap()).collect();
    let memfd = files.iter().find(|file| file["kind"] == "memfd").unwrap_or_else(|| panic!("no memfd: {files:?}"));
    assert_eq!(memfd["path"], "/memfd:dcr-buffer");
    assert_eq!(memfd["position"], 5);
    let init_stdin = &reports[0]["processes"][0]["files"][0];
    assert_eq!(init_stdin["kind"], "tty");
    assert!(init_stdin["path"].as_str().unwrap().starts_with("/dev/pts/"), "{init_stdin}");
}

#[test]
fn packet_and_netlink_sockets_show_details() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    // udhcpc listens on a packet socket and uevent on a netlink socket.
    // Without a network, udhcpc's requests stay on the loopback device.
    let script = "uevent true & udhcpc -f -i lo -t 100000 -T 60 -s /bin/true & exec sleep 1000";
    let name = containers.run(&unique_name("insp2-netlink"), &["--network", "none"], script);
    let both_open = || {
        let packet = docker(&["exec", &name, "cat", "/proc/net/packet"]);
        let netlink = docker(&["exec", &name, "cat", "/proc/net/netlink"]);
        String::from_utf8_lossy(&packet.stdout).lines().count() > 1
            && String::from_utf8_lossy(&netlink.stdout).lines().any(|line| line.split_whitespace().nth(1) == Some("15"))
    };
    assert!(wait_for(std::time::Duration::from_secs(10), both_open), "the packet and netlink sockets never opened");
    let folder = tempfile::tempdir().unwrap();
    let path = checkpoint_of(&name, folder.path());

    let reports = inspect_json(&["--sockets", &path]);
    let sockets: Vec<&serde_json::Value> = reports[0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|process| process["files"].as_array().into_iter().flatten())
        .filter_map(|file| file.get("socket").filter(|socket| !socket.is_null()))
        .collect();
    let packet = sockets.iter().find(|socket| socket["protocol"] == "packet").unwrap_or_else(|| panic!("no packet socket: {sockets:?}"));
    assert_eq!(packet["packet"]["ethertype"], 0x0800);
    assert_eq!(packet["packet"]["ifindex"], 1);
    assert_eq!(packet["packet"]["tpacket_version"], 1);
    assert_eq!(packet["local"], "ifindex 1 ip");
    let netlink = sockets.iter().find(|socket| socket["protocol"] == "netlink").unwrap_or_else(|| panic!("no netlink socket: {sockets:?}"));
    assert_eq!(netlink["netlink"]["family"], "kobject_uevent");
    assert_eq!(netlink["netlink"]["groups"], serde_json::json!([1]));
    assert!(netlink["netlink"]["portid"].as_u64().unwrap() > 0);
}
