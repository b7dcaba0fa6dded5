//! Shared set-up for the tests that drive the `docker-cr` binary against a
//! real Docker engine and a real CRIU.
//!
//! Every container, image, network and volume a test makes is named with
//! the `dcr-test-` prefix and removed by a guard, even when the test fails.
//! When the engine or CRIU is missing, a test skips with a printed reason,
//! except under CI=true, where it fails instead: CI must never pass by
//! skipping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The prefix of everything the tests create in the engine.
pub const PREFIX: &str = "dcr-test-";

/// The locally built test image: static busybox with its applets.
pub const TEST_IMAGE: &str = "dcr-test-busybox:latest";

/// The shell loop of the counter container: one number a second on stdout.
pub const COUNTER_SCRIPT: &str = "i=0; while true; do echo $i; i=$((i+1)); sleep 1; done";

/// Returns the `docker-cr` binary under test, as a command.
pub fn docker_cr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docker-cr"));
    command.env("NO_COLOR", "1");
    command
}

/// Runs `docker-cr` with arguments and returns its output.
pub fn run_docker_cr(args: &[&str]) -> Output {
    docker_cr().args(args).output().expect("docker-cr could not be started")
}

/// Runs the docker CLI and returns its output.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("the docker CLI could not be started")
}

/// Runs the docker CLI and returns stdout, failing the test on an error.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Returns whether this run is CI, where missing requirements are failures.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Checks that root, the engine and a working CRIU are there. Returns false
/// (after printing why) when the test should skip; panics under CI=true.
pub fn host_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let output = run_docker_cr(&["check", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("`docker-cr check` printed no JSON: {error}"))?;
        let failed: Vec<String> = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|check| check["ok"] != true)
            .map(|check| format!("{}: {}", check["requirement"], check["detail"]))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    });
    match ready {
        Ok(()) => true,
        Err(reason) if in_ci() => panic!("CI=true and the host is not ready: {reason}"),
        Err(reason) => {
            eprintln!("skipped: the host is not ready for real checkpoints: {reason}");
            false
        }
    }
}

/// Builds the test image from the host's static busybox, once per process.
pub fn test_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if docker(&["image", "inspect", TEST_IMAGE]).status.success() {
            return;
        }
        let root = tempfile::tempdir().expect("temporary folder");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).expect("image root");
        std::fs::copy("/usr/bin/busybox", bin.join("busybox")).expect("/usr/bin/busybox (busybox-static) is missing");
        let applets = Command::new("/usr/bin/busybox").arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&applets.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
            }
        }
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -C '{}' -c . | docker import --change 'ENV PATH=/bin' - {TEST_IMAGE} >/dev/null",
                root.path().display()
            ))
            .status()
            .expect("tar | docker import");
        assert!(status.success(), "building {TEST_IMAGE} failed");
    });
    TEST_IMAGE
}

/// Removes the named containers when dropped, so that a failing test
/// leaves nothing behind.
#[derive(Default)]
pub struct Containers(Vec<String>);

impl Containers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a name for removal; it may not exist yet.
    pub fn track(&mut self, name: &str) -> String {
        assert!(name.starts_with(PREFIX), "test containers must start with {PREFIX}");
        self.0.push(name.to_string());
        name.to_string()
    }

    /// Starts a container of the test image running `script` under sh.
    pub fn run(&mut self, name: &str, extra_args: &[&str], script: &str) -> String {
        let name = self.track(name);
        let _ = docker(&["rm", "-f", &name]);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(extra_args);
        args.extend_from_slice(&[test_image(), "sh", "-c", script]);
        docker_ok(&args);
        name
    }

    /// Starts the counter container and waits until it has counted a bit.
    pub fn run_counter(&mut self, name: &str) -> String {
        let name = self.run(name, &[], COUNTER_SCRIPT);
        wait_for(Duration::from_secs(10), || last_count(&name).is_some_and(|count| count >= 1));
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "-f", name]);
        }
    }
}

/// Returns the numbers the counter container printed, in order.
pub fn counts(container: &str) -> Vec<u64> {
    let output = docker(&["logs", container]);
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| line.trim().parse().ok()).collect()
}

/// Returns the last number the counter container printed.
pub fn last_count(container: &str) -> Option<u64> {
    counts(container).last().copied()
}

/// Returns whether the container is running.
pub fn is_running(container: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Running}}", container]).stdout.starts_with(b"true")
}

/// Polls `condition` until it is true or `timeout` passes, and returns its
/// last value.
pub fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    condition()
}

/// Returns a container name unique to this test run.
pub fn unique_name(stem: &str) -> String {
    format!("{PREFIX}{stem}-{}", std::process::id())
}

/// Returns stderr as text, for diagnostics in assertions.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns stderr with miette's line wrapping undone: line breaks, frame
/// characters and indentation become single spaces, so that a message can
/// be searched for whatever the width it was wrapped at.
pub fn diagnostic_of(output: &Output) -> String {
    let text = stderr_of(output);
    let mut flat = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || "│├╰─▶×".contains(c)).filter(|word| !word.is_empty()) {
        if !flat.is_empty() {
            flat.push(' ');
        }
        flat.push_str(word);
    }
    flat
}

/// Returns stdout as text.
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns every file below `path`, relative to it, sorted, to compare
/// folders before and after an operation.
pub fn tree_listing(path: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
                if path.is_dir() {
                    walk(base, &path, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(path, path, &mut out);
    out.sort();
    out
}
