//! Snapshots of what a user reads from `inspect` and `list`: the text
//! views of a real checkpoint and the `--help` of both commands. Values
//! that change from run to run or host to host (names, ids, pids, times,
//! sizes, versions, paths) are masked before the text is compared as a
//! plain string, so any other change to the output fails here.

mod common;

use std::path::Path;

use common::*;

/// A process tree that stays the same at every dump: a shell waiting on
/// two sleeps.
const TREE_SCRIPT: &str = "sleep 1000 & sleep 1001 & wait";

/// Overview labels whose values depend on the run or the host.
const VOLATILE_LABELS: &[&str] = &["engine:", "created:", "checkpointed:", "CRIU:", "cgroup:", "size:"];

/// Checkpoints a container named after `stem` and running [`TREE_SCRIPT`]
/// into `output_dir`, and returns the container's name, its id and the
/// checkpoint's path.
fn tree_checkpoint(containers: &mut Containers, stem: &str, output_dir: &Path) -> (String, String, String) {
    let name = containers.run(&unique_name(stem), &[], TREE_SCRIPT);
    let both_running = || {
        let top = String::from_utf8_lossy(&docker(&["top", &name]).stdout).into_owned();
        top.lines().filter(|line| line.ends_with("sleep 1000") || line.ends_with("sleep 1001")).count() == 2
    };
    assert!(wait_for(std::time::Duration::from_secs(10), both_running), "the two sleeps never started");
    let id = docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let output = run_docker_cr(&["checkpoint", &name, "--name", "snapshot", "--output", output_dir.to_str().unwrap(), "--format", "json"]);
    assert!(output.status.success(), "checkpoint failed: {}", stderr_of(&output));
    let path = serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["path"].as_str().unwrap().to_string();
    (name, id, path)
}

/// Replaces each `(value, placeholder)` pair, longest value first so that
/// a path is masked before the name inside it.
fn mask_values(text: &str, values: &[(&str, &str)]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    let mut masked = text.to_string();
    for (value, placeholder) in sorted {
        masked = masked.replace(value, placeholder);
    }
    masked
}

/// Masks the value of each overview line with a volatile label, and the
/// pid that opens each line of the process tree.
fn mask_inspect(text: &str) -> String {
    let mut out = String::new();
    let mut in_tree = false;
    for line in text.lines() {
        if line == "Process tree" {
            in_tree = true;
        }
        let label = VOLATILE_LABELS.iter().find_map(|label| line.find(label).map(|at| at + label.len()));
        let masked = match label {
            Some(end) if !in_tree => format!("{} <volatile>", &line[..end]),
            _ if in_tree => mask_pid(line),
            _ => line.to_string(),
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

/// Replaces the first number of a tree line, and the padding after it,
/// with `<pid> `.
fn mask_pid(line: &str) -> String {
    let Some(start) = line.find(|c: char| c.is_ascii_digit()) else {
        return line.to_string();
    };
    let rest = line[start..].trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
    format!("{}<pid> {rest}", &line[..start])
}

/// Collapses the padding between table columns, which follows the width
/// of masked values.
fn collapse_columns(text: &str) -> String {
    text.lines()
        .map(|line| line.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect::<Vec<_>>().join("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn inspect_ps_tree_snapshot() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output_dir = tempfile::tempdir().unwrap();
    let (name, id, path) = tree_checkpoint(&mut containers, "insp2-tree", output_dir.path());

    let output = run_docker_cr(&["inspect", "--ps-tree", &path]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let text = mask_values(&stdout_of(&output), &[(&path, "<path>"), (&name, "<container>"), (&id, "<id>"), (&id[..12], "<id12>")]);
    let expected = "\
└─ <path> (docker-cr checkpoint)
   ├─ container:     <container> (<id12>)
   ├─ image:         dcr-test-busybox:latest
   ├─ engine: <volatile>
   ├─ created: <volatile>
   ├─ checkpointed: <volatile>
   ├─ CRIU: <volatile>
   ├─ hostname:      <id12>
   ├─ processes:     3
   ├─ cgroup: <volatile>
   ├─ seccomp:       filter mode in 3 of 3 processes
   ├─ network:       namespace not in the dump (the engine keeps it)
   └─ size: <volatile>

Process tree
└─ <pid> sh
   ├─ <pid> sleep
   └─ <pid> sleep
";
    assert_eq!(mask_inspect(&text), expected);
}

#[test]
fn list_snapshot() {
    if !host_ready() {
        return;
    }
    let mut containers = Containers::new();
    let output_dir = tempfile::tempdir().unwrap();
    let (name, _, path) = tree_checkpoint(&mut containers, "insp2-list", output_dir.path());
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(Path::new(&path).join("manifest.json")).unwrap()).unwrap();
    let checkpointed = manifest["checkpointed_at"].as_str().unwrap().to_string();
    let engine = format!("docker {}", manifest["engine"]["version"].as_str().unwrap());
    let json: serde_json::Value = serde_json::from_slice(&run_docker_cr(&["list", output_dir.path().to_str().unwrap(), "--format", "json"]).stdout).unwrap();
    let size = json[0]["size_bytes"].as_u64().unwrap();

    let output = run_docker_cr(&["list", output_dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let text = stdout_of(&output);
    // The size column shows the size in a unit, so its text is taken
    // from the row rather than computed here.
    let row = text.lines().nth(1).unwrap_or_else(|| panic!("no checkpoint row: {text}"));
    let size_text = row.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).nth(3).unwrap().to_string();
    assert!(size > 0);
    let masked = mask_values(
        &text,
        &[(&path, "<path>"), (&name, "<container>"), (&checkpointed, "<time>"), (&engine, "<engine>"), (&size_text, "<size>")],
    );
    let expected = "\
CONTAINER  IMAGE  CHECKPOINTED  SIZE  ENGINE  PATH
<container>  dcr-test-busybox:latest  <time>  <size>  <engine>  <path>";
    assert_eq!(collapse_columns(&masked), expected);
}
