//! The dump options that make a CRIU image restorable by runc, and so by
//! Docker.
//!
//! runc restores only images dumped the way runc itself dumps, so these
//! options mirror runc's checkpoint code (runc 1.1). The root is the
//! container's rootfs. Every bind mount is an external mount named by its
//! destination, and masked files are external mounts named `/dev/null`.
//! Cgroups are managed in soft mode. The network namespace is dumped empty,
//! because the engine's network hooks set up the new one before CRIU
//! restores into it. Marking the namespace external instead makes runc's
//! restore fail with "Unable to find an external netns".

use serde::{Deserialize, Serialize};

use super::proto::{CgroupMode, Opts};

/// CLONE_NEWNET, the bit of `empty_ns` that leaves the network namespace out.
pub const CLONE_NEWNET: u32 = 0x4000_0000;

/// The external-mount name runc gives masked files, on dump and on restore.
pub const MASKED_FILE_SOURCE: &str = "/dev/null";

/// The name of CRIU's log inside the work folder.
pub const DUMP_LOG: &str = "dump.log";

/// The user's options for a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpFlags {
    /// Leave the processes running after the dump instead of killing them.
    pub leave_running: bool,
    /// Dump established TCP connections (CRIU's --tcp-established).
    pub tcp_established: bool,
    /// Dump file locks (CRIU's --file-locks).
    pub file_locks: bool,
    /// Let CRIU record and restore cgroups (soft mode), as runc does.
    pub manage_cgroups: bool,
    /// CRIU's log level, 0 (none) to 4 (debug).
    pub log_level: i32,
}

impl Default for DumpFlags {
    fn default() -> Self {
        Self { leave_running: true, tcp_established: true, file_locks: true, manage_cgroups: true, log_level: 4 }
    }
}

/// The process tree to dump and the mounts CRIU must not try to dump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpTarget {
    /// The PID, in the host's PID namespace, of the tree's root process.
    pub pid: i32,
    /// The host path of the tree's root filesystem.
    pub root: String,
    /// Destinations of bind mounts, each made an external mount of the same name.
    pub bind_mounts: Vec<String>,
    /// Paths hidden by bind-mounting /dev/null over a file.
    pub masked_files: Vec<String>,
    /// cgroup v1 controller mounts (/sys/fs/cgroup/<controller>).
    pub cgroup_mounts: Vec<String>,
}

impl DumpTarget {
    /// Returns every external mount as CRIU's `mnt[MOUNTPOINT]:NAME` spec.
    pub fn external_mounts(&self) -> Vec<String> {
        let named_by_destination = self.bind_mounts.iter().chain(&self.cgroup_mounts).map(|dest| (dest, dest.as_str()));
        let masked = self.masked_files.iter().map(|path| (path, MASKED_FILE_SOURCE));
        named_by_destination
            .chain(masked)
            .map(|(mount_point, name)| format!("mnt[{mount_point}]:{name}"))
            .collect()
    }
}

/// Builds the dump request's options; the descriptors are filled in by the
/// RPC client.
pub fn dump_options(target: &DumpTarget, flags: DumpFlags) -> Opts {
    let (manage_cgroups, cgroup_mode) = if flags.manage_cgroups {
        (true, CgroupMode::Soft)
    } else {
        (false, CgroupMode::Ignore)
    };
    Opts {
        pid: Some(target.pid),
        root: Some(target.root.clone()),
        leave_running: Some(flags.leave_running),
        tcp_established: Some(flags.tcp_established),
        file_locks: Some(flags.file_locks),
        manage_cgroups: Some(manage_cgroups),
        manage_cgroups_mode: Some(cgroup_mode as i32),
        empty_ns: Some(CLONE_NEWNET),
        external: target.external_mounts(),
        notify_scripts: Some(true),
        log_level: Some(flags.log_level),
        log_file: Some(DUMP_LOG.to_string()),
        shell_job: Some(false),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> DumpTarget {
        DumpTarget {
            pid: 4242,
            root: "/var/lib/docker/overlay2/abc/merged".into(),
            bind_mounts: vec!["/etc/resolv.conf".into(), "/data".into()],
            masked_files: vec!["/proc/keys".into()],
            cgroup_mounts: vec!["/sys/fs/cgroup/memory".into()],
        }
    }

    #[test]
    fn default_flags_leave_running() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert_eq!(opts.leave_running, Some(true));
        assert_eq!(opts.tcp_established, Some(true));
        assert_eq!(opts.file_locks, Some(true));
    }

    #[test]
    fn leave_running_off_is_sent() {
        let flags = DumpFlags { leave_running: false, ..DumpFlags::default() };
        assert_eq!(dump_options(&target(), flags).leave_running, Some(false));
    }

    #[test]
    fn root_and_pid_come_from_target() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert_eq!(opts.pid, Some(4242));
        assert_eq!(opts.root.as_deref(), Some("/var/lib/docker/overlay2/abc/merged"));
    }

    #[test]
    fn bind_mounts_are_named_by_destination() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert!(opts.external.contains(&"mnt[/etc/resolv.conf]:/etc/resolv.conf".to_string()));
        assert!(opts.external.contains(&"mnt[/data]:/data".to_string()));
        assert!(opts.external.contains(&"mnt[/sys/fs/cgroup/memory]:/sys/fs/cgroup/memory".to_string()));
    }

    #[test]
    fn masked_files_are_named_dev_null() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert!(opts.external.contains(&"mnt[/proc/keys]:/dev/null".to_string()));
    }

    #[test]
    fn network_namespace_is_dumped_empty() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert_eq!(opts.empty_ns, Some(CLONE_NEWNET));
    }

    #[test]
    fn cgroups_are_managed_in_soft_mode() {
        let opts = dump_options(&target(), DumpFlags::default());
        assert_eq!(opts.manage_cgroups, Some(true));
        assert_eq!(opts.manage_cgroups_mode, Some(CgroupMode::Soft as i32));
    }

    #[test]
    fn unmanaged_cgroups_are_ignored() {
        let flags = DumpFlags { manage_cgroups: false, ..DumpFlags::default() };
        let opts = dump_options(&target(), flags);
        assert_eq!(opts.manage_cgroups, Some(false));
        assert_eq!(opts.manage_cgroups_mode, Some(CgroupMode::Ignore as i32));
    }

    #[test]
    fn log_goes_to_dump_log() {
        let opts = dump_options(&target(), DumpFlags { log_level: 2, ..DumpFlags::default() });
        assert_eq!(opts.log_file.as_deref(), Some(DUMP_LOG));
        assert_eq!(opts.log_level, Some(2));
    }
}
