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

/// Writes a stand-in for `criu` that replies to any one RPC request with a
/// VERSION response for CRIU `major.minor.sublevel`, encoded as CRIU encodes
/// it. The response is type VERSION (10) and success, then the version
/// message (field 10) with major (1), minor (2) and sublevel (4).
fn fake_criu(folder: &Path, (major, minor, sublevel): (u8, u8, u8)) -> std::path::PathBuf {
    let script = folder.join("criu");
    let response = format!("080a10015206 08{major:02x} 10{minor:02x} 20{sublevel:02x}").replace(' ', "");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env python3\n\
             import socket, sys\n\
             assert sys.argv[1] == 'swrk'\n\
             sock = socket.socket(fileno=int(sys.argv[2]))\n\
             sock.recv(65536)\n\
             sock.send(bytes.fromhex('{response}'))\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

#[test]
fn too_old_criu_names_kernel_limit() {
    if !host_ready() {
        return;
    }
    // The newest limit of the running kernel decides which old CRIU to fake
    // and which text the diagnostic must contain.
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let numbers: Vec<u32> = kernel.split(|c: char| !c.is_ascii_digit()).take(2).filter_map(|n| n.parse().ok()).collect();
    let (old, shown, symptom, needed) = if numbers >= vec![6, 16] {
        ((4, 1, 1), "CRIU 4.1.1", "before 4.2, CRIU cannot dump a process holding an inet socket", "4.2")
    } else if numbers >= vec![6, 13] {
        ((3, 17, 1), "CRIU 3.17.1", "before 4.1, CRIU cannot start at all", "4.1")
    } else {
        eprintln!("skipped: kernel {} has no limit that an old CRIU falls short of", kernel.trim());
        return;
    };
    let mut containers = Containers::new();
    let source = containers.run_counter(&unique_name("oldcriu"));
    let folder = tempfile::tempdir().unwrap();
    let criu = fake_criu(folder.path(), old);
    let output = folder.path().join("out");

    let result = run_docker_cr(&["--criu", criu.to_str().unwrap(), "checkpoint", &source, "--output", output.to_str().unwrap()]);
    assert_fails_with(&result, &format!("{shown} is too old for kernel"));
    assert!(diagnostic_of(&result).contains(symptom), "{}", stderr_of(&result));
    assert!(diagnostic_of(&result).contains(&format!("install CRIU {needed} or newer")), "{}", stderr_of(&result));
    assert!(!output.exists(), "nothing is written");
    assert!(is_running(&source));

    let check = run_docker_cr(&["--criu", criu.to_str().unwrap(), "check"]);
    assert_eq!(check.status.code(), Some(1), "check fails with a CRIU that is too old");
    assert!(stdout_of(&check).contains("FAILED  CRIU new enough for the kernel"), "{}", stdout_of(&check));
}

/// Serves just enough of the engine's API on a unix socket to look like an
/// engine that is not in experimental mode. Killed on drop.
struct FakeEngine {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl FakeEngine {
    fn start(folder: &Path) -> Self {
        let socket = folder.join("engine.sock");
        let script = folder.join("engine.py");
        std::fs::write(
            &script,
            r#"import json, os, socketserver, sys
from http.server import BaseHTTPRequestHandler

class Engine(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        path = self.path.split("?")[0]
        if path.endswith("/version"):
            body = {"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12"}
        elif path.endswith("/info"):
            body = {"ExperimentalBuild": False, "DockerRootDir": "/var/lib/docker", "Driver": "overlay2"}
        else:
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            data = b'{"message": "not here"}'
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)

Server(sys.argv[1], Engine).serve_forever()
"#,
        )
        .unwrap();
        let child = std::process::Command::new("python3").arg(&script).arg(&socket).spawn().expect("python3 is needed for the fake engine");
        assert!(wait_for(std::time::Duration::from_secs(10), || socket.exists()), "the fake engine did not start");
        Self { child, socket }
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn engine_without_experimental_mode_is_refused() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output = tempfile::tempdir().unwrap();
    let checkpoint = real_checkpoint(&mut containers, "notexperimental", output.path());
    let before = tree_listing(&checkpoint);
    let folder = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(folder.path());

    let result = docker_cr()
        .args(["restore", "--from", checkpoint.to_str().unwrap(), "--new-name", "dcr-test-never-made"])
        .env("DOCKER_HOST", format!("unix://{}", engine.socket.display()))
        .output()
        .unwrap();
    assert_fails_with(&result, "the Docker engine is not in experimental mode");
    assert!(diagnostic_of(&result).contains("--experimental"));
    assert_eq!(tree_listing(&checkpoint), before, "the checkpoint is untouched");

    let check = docker_cr()
        .args(["check"])
        .env("DOCKER_HOST", format!("unix://{}", engine.socket.display()))
        .output()
        .unwrap();
    assert!(stdout_of(&check).contains("FAILED  engine in experimental mode"), "{}", stdout_of(&check));
}

/// Checkpoints `source` with one CRIU option turned off and returns the
/// failed run's output, checking that nothing was left behind.
fn dump_without(source: &str, option: &str) -> Output {
    let output = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["checkpoint", source, "--name", "cp", "--output", output.path().to_str().unwrap(), option]);
    assert_eq!(result.status.code(), Some(1), "the dump must fail without {option}: {}", stderr_of(&result));
    assert!(!output.path().join(source).join("cp").exists(), "the half-made checkpoint is removed");
    assert!(is_running(source), "a failed dump leaves the container running");
    result
}

#[test]
fn established_tcp_without_tcp_option_gets_hint() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    // A connection over the container's own loopback, server and client both inside.
    let source = containers.run(
        &unique_name("tcp"),
        &[],
        "sleep 100000 | nc -l -p 9000 >/dev/null & sleep 1; (while true; do echo ping; sleep 1; done) | nc 127.0.0.1 9000 & \
         while true; do sleep 1; done",
    );
    assert!(wait_for(std::time::Duration::from_secs(10), || {
        docker_ok(&["exec", &source, "netstat", "-tn"]).contains("ESTABLISHED")
    }));
    let result = dump_without(&source, "--tcp=false");
    let message = diagnostic_of(&result);
    assert!(message.contains("established TCP connection"), "the hint names the cause: {message}");
    assert!(message.contains("--tcp"), "the hint names the option: {message}");
}

#[test]
fn container_with_terminal_is_refused() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let source = containers.run(&unique_name("tty"), &["-t"], COUNTER_SCRIPT);
    let output = tempfile::tempdir().unwrap();
    let result = run_docker_cr(&["checkpoint", &source, "--output", output.path().to_str().unwrap()]);
    assert_fails_with(&result, "has a terminal (docker run -t)");
    assert!(diagnostic_of(&result).contains("without -t"));
    assert!(tree_listing(output.path()).is_empty(), "nothing is written");
    assert!(is_running(&source));
}
