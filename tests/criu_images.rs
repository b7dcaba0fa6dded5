//! Field numbers of the project's .proto definitions, checked against
//! images that CRIU 4.2.1 dumped (tests/fixtures/criu-4.2.1). These run
//! without root, an engine or CRIU.

use std::path::{Path, PathBuf};

use docker_cr::image::{decode_entries, magic, proto};

fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criu-4.2.1").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (path, bytes)
}

fn entries<M: prost::Message + Default>(name: &str, magic: u32) -> Vec<M> {
    let (path, bytes) = fixture(name);
    decode_entries(&path, &bytes, magic).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn file_lock_fields_match() {
    let locks: Vec<proto::FileLockEntry> = entries("filelocks.img", magic::FILE_LOCKS);
    assert_eq!(locks.len(), 1);
    let lock = &locks[0];
    assert_eq!(lock.flag, 2, "FL_FLOCK");
    assert_eq!(lock.r#type, 1, "F_WRLCK");
    assert_eq!(lock.pid, 9);
    assert_eq!(lock.fd, 3);
    assert_eq!(lock.start, 0);
    assert_eq!(lock.len, 0);
}

#[test]
fn fs_fields_match() {
    let fs: Vec<proto::FsEntry> = entries("fs-1.img", magic::FS);
    assert_eq!(fs.len(), 1);
    // Ids in files.img of the entries for /tmp and /.
    assert_eq!(fs[0].cwd_id, 5);
    assert_eq!(fs[0].root_id, 6);
    assert_eq!(fs[0].umask, Some(0o22));
}

#[test]
fn thread_core_fields_match() {
    let cores: Vec<proto::CoreEntry> = entries("core-9.img", magic::CORE);
    let thread = cores[0].thread_core.expect("no thread_core");
    assert_eq!(cores[0].tc.as_ref().map(|tc| tc.comm.as_str()), Some("lockholder"));
    assert_eq!(thread.seccomp_mode, Some(2), "SECCOMP_MODE_FILTER under Docker's default profile");
    assert_eq!(thread.seccomp_filter, Some(1));
    // The set's id in cgroup.img, dumped from the same container.
    assert_eq!(thread.cg_set, Some(2));
}

#[test]
fn timens_fields_match() {
    let clocks: Vec<proto::TimensEntry> = entries("timens-0.img", magic::TIMENS);
    assert_eq!(clocks.len(), 1);
    // Read right after each other, the two clocks differ by far less than
    // a second on a host that has not been suspended.
    assert_eq!(clocks[0].monotonic.tv_sec, clocks[0].boottime.tv_sec);
    assert!(clocks[0].monotonic.tv_nsec < 1_000_000_000);
    assert!(clocks[0].boottime.tv_nsec >= clocks[0].monotonic.tv_nsec);
}

#[test]
fn cgroup_fields_match() {
    let cgroups: Vec<proto::CgroupEntry> = entries("cgroup.img", magic::CGROUP);
    assert_eq!(cgroups.len(), 1);
    let entry = &cgroups[0];
    assert_eq!(entry.sets.len(), 1);
    assert_eq!(entry.sets[0].id, 2);
    let names: Vec<&str> = entry.sets[0].ctls.iter().map(|member| member.name.as_str()).collect();
    assert!(names.contains(&"memory"), "{names:?}");
    assert!(names.contains(&"name=systemd"), "{names:?}");
    for member in &entry.sets[0].ctls {
        assert!(member.path.starts_with("/docker/"), "{member:?}");
    }
    let memory = entry.controllers.iter().find(|controller| controller.cnames == ["memory"]).expect("no memory controller");
    assert_eq!(memory.dirs.len(), 1);
    assert!(memory.dirs[0].dir_name.starts_with("docker/"), "{:?}", memory.dirs[0].dir_name);
}

#[test]
fn memfd_inode_fields_match() {
    let inodes: Vec<proto::MemfdInodeEntry> = entries("memfd.img", magic::MEMFD_INODE);
    assert_eq!(inodes.len(), 1);
    assert_eq!(inodes[0].name, "dcr-buffer");
    assert_eq!(inodes[0].size, 5);
    assert_eq!(inodes[0].inode_id, 1);
}

#[test]
fn tty_info_fields_match() {
    let ttys: Vec<proto::TtyInfoEntry> = entries("tty-info.img", magic::TTY_INFO);
    assert_eq!(ttys.len(), 1);
    assert_eq!(ttys[0].r#type, 1, "PTY");
    assert_eq!(ttys[0].rdev, 136 << 8, "/dev/pts/0");
    assert_eq!(ttys[0].pty.map(|pty| pty.index), Some(0));
}

#[test]
fn netdev_fields_match() {
    let devices: Vec<proto::NetDeviceEntry> = entries("netdev-9.img", magic::NETDEV);
    assert_eq!(devices.len(), 1);
    let lo = &devices[0];
    assert_eq!(lo.name, "lo");
    assert_eq!(lo.r#type, proto::NdType::Loopback as i32);
    assert_eq!(lo.ifindex, 1);
    assert_eq!(lo.mtu, 65536);
    // IFF_UP and IFF_LOOPBACK.
    assert_eq!(lo.flags & 0x9, 0x9);
}
