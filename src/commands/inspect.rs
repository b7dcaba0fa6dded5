//! `docker-cr inspect PATH...`: the overview and the views of what a
//! checkpoint contains, as text or JSON.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::{InspectArgs, OutputFormat};
use crate::exec::inspect::{inspect, InspectOptions, InspectReport, Process};

use super::render::{table, terminal_width, tree, TreeNode};
use super::{human_duration, human_size, print_json};

/// The views the user asked for, after `--all` is applied.
struct Views {
    ps_tree: bool,
    files: bool,
    sockets: bool,
    mounts: bool,
    cgroups: bool,
    env: bool,
    stats: bool,
    memory: bool,
    command_lines: bool,
    environments: bool,
}

pub fn run(args: InspectArgs) -> miette::Result<ExitCode> {
    let all = args.all;
    let views = Views {
        ps_tree: all || args.ps_tree || args.ps_tree_cmd || args.ps_tree_env || args.pid.is_some(),
        files: all || args.files,
        sockets: all || args.sockets,
        mounts: all || args.mounts,
        cgroups: all || args.cgroups,
        env: all || args.env,
        stats: all || args.stats,
        memory: all || args.memory,
        command_lines: all || args.ps_tree_cmd,
        environments: all || args.ps_tree_env,
    };
    let options = InspectOptions {
        command_lines: views.command_lines,
        environments: views.environments,
        files: views.files || views.sockets,
        memory: views.memory,
        mounts: views.mounts,
        pid: args.pid,
    };

    let mut reports = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        reports.push(inspect(path, &options)?);
    }

    match args.format.format {
        OutputFormat::Json => print_json(&reports)?,
        OutputFormat::Text => {
            let width = terminal_width();
            for (index, report) in reports.iter().enumerate() {
                if index > 0 {
                    println!();
                }
                print!("{}", render_text(report, &views, width));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render_text(report: &InspectReport, views: &Views, width: Option<usize>) -> String {
    let mut out = overview(report, width);
    if views.ps_tree {
        let _ = write!(out, "\nProcess tree\n{}", process_tree(report, views, width));
    }
    if views.files {
        let _ = write!(out, "\nOpen files\n{}", files_table(report, width));
    }
    if views.sockets {
        let _ = write!(out, "\nSockets\n{}", sockets_table(report, width));
    }
    if views.mounts {
        let _ = write!(out, "\nMounts\n{}", mounts_table(report, width));
    }
    if views.cgroups {
        let _ = write!(out, "\nControl groups\n{}", cgroups_table(report, width));
    }
    if views.env {
        out.push_str("\nEnvironment\n");
        match &report.environment {
            Some(environment) => environment.iter().for_each(|variable| {
                let _ = writeln!(out, "  {variable}");
            }),
            None => out.push_str("  (not recorded: the checkpoint has no manifest or config.dump)\n"),
        }
    }
    if views.stats {
        out.push_str(&stats_block(report));
    }
    if views.memory {
        let _ = write!(out, "\nMemory\n{}", memory_tables(report, width));
    }
    out
}

fn overview(report: &InspectReport, width: Option<usize>) -> String {
    let unknown = || "unknown".to_string();
    let container = report.container.as_ref();
    let name = container.and_then(|info| info.name.clone()).unwrap_or_else(unknown);
    let id = container.and_then(|info| info.id.as_deref()).map(|id| format!(" ({})", &id[..12.min(id.len())])).unwrap_or_default();
    let layout = match report.layout {
        crate::exec::inspect::Layout::DockerCr => "docker-cr checkpoint",
        crate::exec::inspect::Layout::Podman => "Podman layout checkpoint",
        crate::exec::inspect::Layout::Criu => "CRIU image folder",
    };
    let sizes = &report.sizes;
    let rootfs = sizes.rootfs_diff_bytes.map(human_size).unwrap_or_else(|| "none".to_string());
    let leaf = |label: String| TreeNode { label, children: vec![] };
    let mut node = TreeNode {
        label: format!("{} ({layout})", report.path.display()),
        children: vec![
            leaf(format!("container:     {name}{id}")),
            leaf(format!("image:         {}", container.and_then(|info| info.image.clone()).unwrap_or_else(unknown))),
            leaf(format!("engine:        {}", report.engine.clone().unwrap_or_else(unknown))),
            leaf(format!("created:       {}", report.created.clone().unwrap_or_else(unknown))),
            leaf(format!("checkpointed:  {}", report.checkpointed_at.clone().unwrap_or_else(unknown))),
            leaf(format!(
                "CRIU:          {} (image format {})",
                report.criu_version.clone().unwrap_or_else(unknown),
                report.image_version
            )),
            leaf(format!("hostname:      {}", report.hostname.clone().unwrap_or_else(unknown))),
            leaf(format!("processes:     {}", report.process_count)),
            leaf(format!("cgroup:        {}", init_cgroup(report))),
            leaf(format!("seccomp:       {}", seccomp_summary(report))),
            leaf(format!("network:       {}", network_summary(report))),
            leaf(format!(
                "size:          {} total, {} memory pages, rootfs diff {rootfs}",
                human_size(sizes.total_bytes),
                human_size(sizes.memory_pages_bytes)
            )),
        ],
    };
    if !report.saved_volumes.is_empty() {
        node.children.push(leaf(format!("volumes saved: {}", report.saved_volumes.join(", "))));
    }
    tree(&[node], width)
}

/// Names the init process's control group: its one path when every
/// controller agrees, as under Docker, or a pointer to `--cgroups`.
fn init_cgroup(report: &InspectReport) -> String {
    let Some(cgroups) = &report.cgroups else {
        return "not in the dump".to_string();
    };
    let init_set = report.processes.first().and_then(|process| process.cgroup_set);
    let Some(set) = cgroups.sets.iter().find(|set| Some(set.id) == init_set) else {
        return "unknown".to_string();
    };
    let mut paths: Vec<&str> = set.members.iter().map(|member| member.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    match paths.as_slice() {
        [path] => (*path).to_string(),
        _ => format!("{} paths (see --cgroups)", paths.len()),
    }
}

fn seccomp_summary(report: &InspectReport) -> String {
    let filtered = report.processes.iter().filter(|process| process.seccomp_mode == Some("filter")).count();
    format!("filter mode in {filtered} of {} processes", report.processes.len())
}

fn network_summary(report: &InspectReport) -> String {
    match &report.network_devices {
        None => "namespace not in the dump (the engine keeps it)".to_string(),
        Some(devices) => {
            let names: Vec<&str> = devices.iter().map(|device| device.name.as_str()).collect();
            format!("devices {}", names.join(", "))
        }
    }
}

fn process_label(process: &Process, views: &Views) -> String {
    let command = match &process.command_line {
        Some(words) if views.command_lines && !words.is_empty() => words.join(" "),
        _ if views.command_lines => format!("{} (command line not in the dump)", process.comm),
        _ => process.comm.clone(),
    };
    let threads = if process.threads.len() > 1 { format!(" [{} threads]", process.threads.len()) } else { String::new() };
    format!("{:<6} {command}{threads}", process.pid)
}

fn process_tree(report: &InspectReport, views: &Views, width: Option<usize>) -> String {
    let pids: Vec<u32> = report.processes.iter().map(|process| process.pid).collect();
    let mut children: HashMap<u32, Vec<&Process>> = HashMap::new();
    for process in &report.processes {
        children.entry(process.ppid).or_default().push(process);
    }
    // A root is a process whose parent is outside the shown processes,
    // which is the container's init, or the pid that --pid named.
    let roots: Vec<&Process> = report.processes.iter().filter(|process| !pids.contains(&process.ppid)).collect();
    let nodes: Vec<TreeNode> = roots.iter().map(|root| build_node(root, &children, views)).collect();
    tree(&nodes, width)
}

fn build_node(process: &Process, children: &HashMap<u32, Vec<&Process>>, views: &Views) -> TreeNode {
    let mut nodes: Vec<TreeNode> = Vec::new();
    if views.environments {
        match &process.environment {
            Some(environment) => {
                nodes.extend(environment.iter().map(|variable| TreeNode { label: format!("env {variable}"), children: vec![] }))
            }
            None => nodes.push(TreeNode { label: "env (not in the dump)".into(), children: vec![] }),
        }
    }
    let kids = children.get(&process.pid).map(Vec::as_slice).unwrap_or_default();
    nodes.extend(kids.iter().map(|child| build_node(child, children, views)));
    TreeNode { label: process_label(process, views), children: nodes }
}

fn files_table(report: &InspectReport, width: Option<usize>) -> String {
    let mut rows = Vec::new();
    for process in &report.processes {
        // The working and root folders come first, named as lsof names them.
        for (name, folder) in [("cwd", &process.cwd), ("root", &process.root)] {
            if let Some(folder) = folder {
                let empty = String::new;
                rows.push(vec![process.pid.to_string(), name.to_string(), "dir".to_string(), empty(), empty(), empty(), folder.clone()]);
            }
        }
        for file in process.files.iter().flatten() {
            let description = &file.description;
            let path = match (&description.path, &description.socket) {
                (Some(path), _) => path.clone(),
                (None, Some(socket)) => socket.local.clone().unwrap_or_default(),
                (None, None) => String::new(),
            };
            rows.push(vec![
                process.pid.to_string(),
                file.fd.to_string(),
                description.kind.to_string(),
                description.flags.map(open_flags).unwrap_or_default(),
                description.position.map(|position| position.to_string()).unwrap_or_default(),
                lock_of(report, process.pid, file.fd),
                path,
            ]);
        }
    }
    table(&["PID", "FD", "KIND", "FLAGS", "POS", "LOCK", "PATH"], &rows, width, 2)
}

/// Names the locks that a process holds through a descriptor: "flock
/// write", or "posix read 0+100" for a byte range.
fn lock_of(report: &InspectReport, pid: u32, fd: u32) -> String {
    let held = report.file_locks.iter().flatten().filter(|lock| i64::from(lock.pid) == i64::from(pid) && i64::from(lock.fd) == i64::from(fd));
    let names: Vec<String> = held
        .map(|lock| match (lock.start, lock.length) {
            (0, 0) => format!("{} {}", lock.kind, lock.lock_type),
            (start, 0) => format!("{} {} {start}+", lock.kind, lock.lock_type),
            (start, length) => format!("{} {} {start}+{length}", lock.kind, lock.lock_type),
        })
        .collect();
    names.join(",")
}

fn cgroups_table(report: &InspectReport, width: Option<usize>) -> String {
    let Some(cgroups) = &report.cgroups else {
        return "  (not in the dump: no cgroup.img)\n".to_string();
    };
    let mut rows = Vec::new();
    for set in &cgroups.sets {
        let pids: Vec<String> =
            report.processes.iter().filter(|process| process.cgroup_set == Some(set.id)).map(|process| process.pid.to_string()).collect();
        for member in &set.members {
            // cgroup v2 has one unnamed hierarchy.
            let controller = if member.controller.is_empty() { "(v2)" } else { member.controller.as_str() };
            rows.push(vec![set.id.to_string(), pids.join(","), controller.to_string(), member.path.clone()]);
        }
    }
    table(&["SET", "PIDS", "CONTROLLER", "PATH"], &rows, width, 2)
}

/// Names the access mode and the common O_* flags of a file description.
fn open_flags(flags: u32) -> String {
    const O_ACCMODE: u32 = 0o3;
    const NAMED: &[(u32, &str)] = &[(0o100, "creat"), (0o1000, "trunc"), (0o2000, "append"), (0o4000, "nonblock")];
    let mut names = vec![match flags & O_ACCMODE {
        0 => "rdonly",
        1 => "wronly",
        _ => "rdwr",
    }];
    names.extend(NAMED.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, name)| *name));
    names.join(",")
}

fn sockets_table(report: &InspectReport, width: Option<usize>) -> String {
    let mut rows = Vec::new();
    for process in &report.processes {
        for file in process.files.iter().flatten() {
            let Some(socket) = &file.description.socket else { continue };
            // Only a connection-oriented socket is established; a datagram
            // socket that the kernel reports as connected has a default peer.
            let role = if socket.listening {
                "listening"
            } else if socket.state == "ESTABLISHED" && socket.socket_type != "dgram" {
                "established"
            } else {
                ""
            };
            rows.push(vec![
                process.pid.to_string(),
                file.fd.to_string(),
                socket.protocol.to_string(),
                socket.socket_type.to_string(),
                socket.state.to_string(),
                role.to_string(),
                socket.receive_queue_bytes.map(|bytes| bytes.to_string()).unwrap_or_default(),
                socket.send_queue_bytes.map(|bytes| bytes.to_string()).unwrap_or_default(),
                socket.local.clone().unwrap_or_default(),
                socket.remote.clone().unwrap_or_default(),
            ]);
        }
    }
    if rows.is_empty() {
        return "  (no sockets)\n".to_string();
    }
    table(&["PID", "FD", "PROTO", "TYPE", "STATE", "ROLE", "RECV-Q", "SEND-Q", "LOCAL", "REMOTE"], &rows, width, 2)
}

fn mounts_table(report: &InspectReport, width: Option<usize>) -> String {
    let Some(mounts) = &report.mounts else {
        return "  (no mount namespace in the dump)\n".to_string();
    };
    let rows: Vec<Vec<String>> = mounts
        .iter()
        .map(|mount| {
            vec![
                mount.mountpoint.clone(),
                mount.fstype.clone(),
                if mount.external { "yes".into() } else { "no".into() },
                mount.source.clone(),
                mount.root.clone(),
            ]
        })
        .collect();
    // ROOT is the folder of the source that is mounted: for a bind mount,
    // the host path, which SOURCE (the device) does not show.
    table(&["MOUNTPOINT", "TYPE", "EXTERNAL", "SOURCE", "ROOT"], &rows, width, 2)
}

fn stats_block(report: &InspectReport) -> String {
    let mut out = dump_statistics(report);
    if let Some(clocks) = report.clocks {
        let _ = writeln!(
            out,
            "  clocks at dump:  monotonic {}.{:09} s, boottime {}.{:09} s",
            clocks.monotonic.seconds, clocks.monotonic.nanoseconds, clocks.boottime.seconds, clocks.boottime.nanoseconds
        );
    }
    out
}

fn dump_statistics(report: &InspectReport) -> String {
    let Some(stats) = report.stats else {
        return "\nDump statistics\n  (not recorded: no stats-dump)\n".to_string();
    };
    let micros = |us: u32| human_duration(std::time::Duration::from_micros(u64::from(us)));
    format!(
        "\nDump statistics\n  freezing time:   {}\n  frozen time:     {}\n  memory dump:     {}\n  memory write:    {}\n  pages scanned:   {}\n  pages written:   {}\n  pages in parent: {}\n",
        micros(stats.freezing_time_us),
        micros(stats.frozen_time_us),
        micros(stats.memdump_time_us),
        micros(stats.memwrite_time_us),
        stats.pages_scanned,
        stats.pages_written,
        stats.pages_skipped_parent,
    )
}

fn memory_tables(report: &InspectReport, width: Option<usize>) -> String {
    let mut out = String::new();
    for process in &report.processes {
        let Some(memory) = &process.memory else {
            let _ = writeln!(out, "  {} {}: no memory images", process.pid, process.comm);
            continue;
        };
        let _ = writeln!(
            out,
            "  {} {}: {} mapped, {} dumped",
            process.pid,
            process.comm,
            human_size(memory.mapped_bytes),
            human_size(memory.dumped_bytes)
        );
        let rows: Vec<Vec<String>> = memory
            .mappings
            .iter()
            .map(|mapping| {
                vec![
                    format!("{:x}-{:x}", mapping.start, mapping.end),
                    mapping.protection.clone(),
                    mapping.kind.to_string(),
                    human_size(mapping.end.saturating_sub(mapping.start)),
                    human_size(mapping.dumped_bytes),
                    mapping.file.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(&["RANGE", "PROT", "KIND", "SIZE", "DUMPED", "FILE"], &rows, width, 4));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_name_access_mode() {
        assert_eq!(open_flags(0o1), "wronly");
        assert_eq!(open_flags(0o4002), "rdwr,nonblock");
    }
}
