//! Inspection of a checkpoint offline: what it contains, read from its
//! manifest (when docker-cr wrote it) and from CRIU's images through the
//! image reader, with no CRIU, engine or root needed.
//!
//! Reading is proportional to what is asked: the overview reads the
//! inventory, pstree and core images, and a process's pages are read only
//! for command lines, environments and memory sizes.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use crate::checkpoint::{self, CheckpointError, Manifest};
use crate::image::files::{describe, index_files, FileDescription, NameTables, Socket};
use crate::image::archive::{Archive, Compression};
use crate::image::memory::{split_nul_strings, Pagemap};
use crate::image::state::{cgroup_dirs, lock_kind, lock_type, seccomp_filter_count, seccomp_mode};
use crate::image::{proto, ImageDir, ImageError};

/// The schema version of [`InspectReport`] in JSON; it changes only when a
/// field is removed or changes meaning.
pub const REPORT_SCHEMA: &str = "docker-cr.inspect/v1";

/// The archive docker-cr itself writes beside the images for changes to
/// the container's file system, as Podman names it.
const ROOTFS_DIFF: &str = "rootfs-diff.tar";

#[derive(Debug, Error, Diagnostic)]
pub enum InspectError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(#[from] ImageError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Checkpoint(#[from] CheckpointError),

    #[error("the archive {path} has no checkpoint/ folder of CRIU images")]
    #[diagnostic(
        code(docker_cr::inspect::archive_without_checkpoint),
        help("`tar -tf {}` lists its members; a checkpoint archive has checkpoint/inventory.img", path.display())
    )]
    ArchiveWithoutCheckpoint { path: PathBuf },

    #[error("{path} does not exist")]
    #[diagnostic(code(docker_cr::inspect::not_found), help("check the path; `docker-cr list` shows the checkpoints in the default folder"))]
    NotFound { path: PathBuf },

    #[error("no process with pid {pid} in the checkpoint {path}")]
    #[diagnostic(code(docker_cr::inspect::no_such_pid), help("`docker-cr inspect --ps-tree {}` lists the pids", path.display()))]
    NoSuchPid { path: PathBuf, pid: u32 },
}

/// The parts of a checkpoint to read beyond the overview.
#[derive(Debug, Clone, Copy, Default)]
pub struct InspectOptions {
    pub command_lines: bool,
    pub environments: bool,
    pub files: bool,
    pub memory: bool,
    pub mounts: bool,
    /// Limits the processes to the subtree of this pid.
    pub pid: Option<u32>,
}

/// The layout of a checkpoint folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Written by `docker-cr checkpoint`: a manifest and checkpoint/.
    DockerCr,
    /// Podman's or CRI-O's layout: checkpoint/ and config.dump, no manifest.
    Podman,
    /// A folder CRIU dumped into, such as `docker checkpoint create` writes.
    Criu,
}

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: &'static str,
    pub path: PathBuf,
    pub layout: Layout,
    pub images_path: PathBuf,
    pub container: Option<ContainerInfo>,
    pub engine: Option<String>,
    /// When the container was created, in RFC 3339, from config.dump.
    pub created: Option<String>,
    /// When the dump finished, in RFC 3339, from the manifest.
    pub checkpointed_at: Option<String>,
    pub criu_version: Option<String>,
    /// CRIU's image format version from inventory.img.
    pub image_version: u32,
    /// The container's host name, from the dumped UTS namespace.
    pub hostname: Option<String>,
    pub sizes: Sizes,
    pub process_count: usize,
    pub processes: Vec<Process>,
    /// The container's configured environment, from the manifest or
    /// config.dump.
    pub environment: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub stats: Option<Stats>,
    /// The file locks the processes held, read with the open files.
    pub file_locks: Option<Vec<FileLock>>,
    /// The control groups of the processes, from cgroup.img.
    pub cgroups: Option<Cgroups>,
    /// The clocks CRIU read at dump time, from timens-<id>.img.
    pub clocks: Option<Clocks>,
    /// The devices of the container's network namespace, or `null` when
    /// the namespace was not dumped, as with Docker.
    pub network_devices: Option<Vec<NetworkDevice>>,
    /// Named volumes whose contents the checkpoint carries
    /// (volumes/<name>.tar), from the manifest.
    pub saved_volumes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Every file of the checkpoint, in bytes.
    pub total_bytes: u64,
    /// CRIU's images, in bytes.
    pub images_bytes: u64,
    /// The pages-<n>.img files, in bytes.
    pub memory_pages_bytes: u64,
    /// The archive of file-system changes, when the checkpoint has one.
    pub rootfs_diff_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    pub threads: Vec<u32>,
    /// The kernel's task name, at most 15 bytes.
    pub comm: String,
    /// The full command line, from the process's memory pages; `null` when
    /// not requested or when those pages are not in the dump.
    pub command_line: Option<Vec<String>>,
    pub environment: Option<Vec<String>>,
    pub files: Option<Vec<OpenFile>>,
    pub memory: Option<Memory>,
    /// The working folder, read with the open files.
    pub cwd: Option<String>,
    /// The root folder (as chroot set it), read with the open files.
    pub root: Option<String>,
    /// The id of the process's set in `cgroups.sets`.
    pub cgroup_set: Option<u32>,
    /// disabled, strict or filter, from the main thread's state.
    pub seccomp_mode: Option<&'static str>,
    /// The seccomp filters the main thread runs under.
    pub seccomp_filters: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileLock {
    pub pid: i32,
    pub fd: i32,
    /// posix, flock or ofd.
    pub kind: &'static str,
    /// read, write or mandatory.
    #[serde(rename = "type")]
    pub lock_type: &'static str,
    pub start: i64,
    /// The locked bytes, where 0 locks to the end of the file.
    pub length: i64,
    /// The locked file's path, from the process's descriptor.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cgroups {
    pub sets: Vec<CgroupSet>,
    pub controllers: Vec<CgroupController>,
}

/// A combination of control groups that one or more processes are in.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupSet {
    pub id: u32,
    pub members: Vec<CgroupMember>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CgroupMember {
    /// The hierarchy's controllers, such as "cpu" or "name=systemd";
    /// empty for the cgroup v2 hierarchy.
    pub controller: String,
    pub path: String,
}

/// A hierarchy and the folders of it that CRIU dumped.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupController {
    pub names: Vec<String>,
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Clocks {
    /// CRIU's id of the time namespace, where 0 is the host's.
    pub time_namespace_id: u32,
    pub monotonic: Timespec,
    pub boottime: Timespec,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timespec {
    pub seconds: u64,
    pub nanoseconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkDevice {
    pub name: String,
    pub ifindex: u32,
    /// loopback, veth, tun, extlink, venet or bridge.
    pub kind: &'static str,
    pub mtu: u32,
    /// The IFF_* flags.
    pub flags: u32,
    /// The hardware address, as colon-separated hex bytes.
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenFile {
    pub fd: u32,
    /// Whether the descriptor is closed on exec (FD_CLOEXEC).
    pub cloexec: bool,
    #[serde(flatten)]
    pub description: FileDescription,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// The bytes of all mappings.
    pub mapped_bytes: u64,
    /// The bytes of pages the dump contains for this process.
    pub dumped_bytes: u64,
    pub mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// As /proc/<pid>/maps shows it: "r-xp".
    pub protection: String,
    /// heap, stack, vdso, vvar, vsyscall, file, anon or shared.
    pub kind: &'static str,
    pub file: Option<String>,
    pub dumped_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub mount_id: u32,
    pub parent_mount_id: u32,
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
    pub root: String,
    pub options: String,
    /// A bind mount from outside the container that a restore must supply.
    pub external: bool,
}

/// CRIU's dump statistics; times in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    pub freezing_time_us: u32,
    pub frozen_time_us: u32,
    pub memdump_time_us: u32,
    pub memwrite_time_us: u32,
    pub pages_scanned: u64,
    pub pages_skipped_parent: u64,
    pub pages_written: u64,
}

/// A checkpoint found on disk, before any image is read.
#[derive(Debug, Clone)]
pub struct Located {
    pub root: PathBuf,
    pub layout: Layout,
    /// The images folder: a path on disk, or for an archive the archive's
    /// path joined with the folder's name in it.
    pub images: PathBuf,
    /// The opened archive, when the checkpoint is one.
    archive: Option<Arc<Archive>>,
}

impl Located {
    pub fn is_archive(&self) -> bool {
        self.archive.is_some()
    }

    /// Opens the images.
    pub fn image_dir(&self) -> Result<ImageDir, ImageError> {
        match &self.archive {
            Some(archive) => ImageDir::in_archive(archive.clone(), images_prefix(self.layout)),
            None => ImageDir::open(&self.images),
        }
    }

    /// Reads a file at the top of the checkpoint, when it is there.
    fn read_top(&self, name: &str) -> Option<Vec<u8>> {
        match &self.archive {
            Some(archive) => archive.read(name).ok(),
            None => fs::read(self.root.join(name)).ok(),
        }
    }

    fn top_size(&self, name: &str) -> Option<u64> {
        match &self.archive {
            Some(archive) => archive.size(name),
            None => fs::metadata(self.root.join(name)).ok().map(|meta| meta.len()),
        }
    }

    /// Returns the checkpoint's size on disk; for a bare image folder that
    /// is `images_bytes`, computed by the caller.
    pub(crate) fn total_bytes(&self, images_bytes: u64) -> u64 {
        match (&self.archive, self.layout) {
            (Some(_), _) => fs::metadata(&self.root).map(|meta| meta.len()).unwrap_or(0),
            (None, Layout::Criu) => images_bytes,
            (None, _) => checkpoint::tree_size(&self.root),
        }
    }
}

fn images_prefix(layout: Layout) -> &'static str {
    match layout {
        Layout::Criu => "",
        Layout::DockerCr | Layout::Podman => "checkpoint/",
    }
}

/// Finds the images of a checkpoint folder of any supported layout.
/// Archives are left to [`open_archive`], which must read them.
pub fn locate(path: &Path) -> Result<Located, InspectError> {
    if !path.exists() {
        return Err(InspectError::NotFound { path: path.to_path_buf() });
    }
    if path.is_file() {
        return Err(ImageError::NotAnImageFolder { path: path.to_path_buf() }.into());
    }
    let nested = path.join(checkpoint::IMAGES_DIR);
    if nested.join("inventory.img").is_file() {
        let layout = if path.join(checkpoint::MANIFEST).is_file() { Layout::DockerCr } else { Layout::Podman };
        return Ok(Located { root: path.to_path_buf(), layout, images: nested, archive: None });
    }
    if path.join("inventory.img").is_file() {
        return Ok(Located { root: path.to_path_buf(), layout: Layout::Criu, images: path.to_path_buf(), archive: None });
    }
    Err(ImageError::NotAnImageFolder { path: path.to_path_buf() }.into())
}

/// Opens a checkpoint archive; `keep_pages` keeps the pages of a
/// compressed one in memory for reading process memory.
pub fn open_archive(path: &Path, compression: Compression, keep_pages: bool) -> Result<Located, InspectError> {
    let archive = Archive::open(path, compression, keep_pages)?;
    let layout = if archive.contains("checkpoint/inventory.img") {
        if archive.contains(checkpoint::MANIFEST) {
            Layout::DockerCr
        } else {
            Layout::Podman
        }
    } else if archive.contains("inventory.img") {
        Layout::Criu
    } else {
        return Err(InspectError::ArchiveWithoutCheckpoint { path: path.to_path_buf() });
    };
    let images = archive.member_path(images_prefix(layout).trim_end_matches('/'));
    Ok(Located { root: path.to_path_buf(), layout, images, archive: Some(Arc::new(archive)) })
}

/// Reads what a checkpoint contains.
pub fn inspect(path: &Path, options: &InspectOptions) -> Result<InspectReport, InspectError> {
    let located = match Compression::from_name(path) {
        Some(compression) if path.is_file() => {
            let keep_pages = options.command_lines || options.environments || options.memory;
            open_archive(path, compression, keep_pages)?
        }
        _ => locate(path)?,
    };
    let images = located.image_dir()?;
    let manifest = read_manifest(&located)?;
    let config = read_config_dump(&located);

    let inventory = images.inventory()?;
    let pstree = images.pstree()?;
    let selected = select_subtree(&pstree, options.pid).ok_or(InspectError::NoSuchPid {
        path: path.to_path_buf(),
        pid: options.pid.unwrap_or_default(),
    })?;

    // Open files are shared between tasks by id, so files.img is read once.
    // Memory mappings name their files through it as well.
    let files = if options.files || options.memory { images.files()? } else { Vec::new() };
    let file_index = index_files(&files);
    let unix_queues = if options.files { images.socket_queues()? } else { HashMap::new() };
    let (memfd_inodes, ttys) = if options.files { (images.memfd_inodes()?, images.tty_infos()?) } else { (Vec::new(), Vec::new()) };
    let names = NameTables::new(&memfd_inodes, &ttys);
    let seccomp = images.seccomp()?;
    let context = ProcessContext {
        files: &file_index,
        names: &names,
        unix_queues: &unix_queues,
        seccomp: seccomp.as_ref(),
        root_cg_set: inventory.root_cg_set,
    };
    let mut processes = Vec::with_capacity(selected.len());
    for entry in selected {
        processes.push(read_process(&images, entry, options, &context)?);
    }
    let file_locks = if options.files { Some(read_file_locks(&images, &processes)?) } else { None };

    // The container's namespaces are those of its init task; the
    // inventory's root_ids are of the namespaces CRIU itself ran in.
    let init = &pstree[0];
    let root_ids = images.ids(init.pid, &images.core(init.pid)?)?;
    let hostname = match root_ids.and_then(|ids| ids.uts_ns_id) {
        Some(id) => images.utsns(id)?.map(|uts| uts.nodename),
        None => None,
    };
    let mounts = if options.mounts { read_mounts(&images, root_ids.and_then(|ids| ids.mnt_ns_id))? } else { None };
    let cgroups = images.cgroup()?.map(cgroups_of);
    let clocks = images.timens(root_ids.and_then(|ids| ids.time_ns_id))?.map(|(id, entry)| Clocks {
        time_namespace_id: id,
        monotonic: timespec(entry.monotonic),
        boottime: timespec(entry.boottime),
    });
    let network_devices = match root_ids.and_then(|ids| ids.net_ns_id) {
        Some(id) => images.netdev(id)?.map(|devices| devices.iter().map(network_device).collect()),
        None => None,
    };
    let top_stats = located.read_top(checkpoint::STATS_DUMP);
    let stats = images.dump_stats(top_stats.as_deref())?.map(|dump| Stats {
        freezing_time_us: dump.freezing_time,
        frozen_time_us: dump.frozen_time,
        memdump_time_us: dump.memdump_time,
        memwrite_time_us: dump.memwrite_time,
        pages_scanned: dump.pages_scanned,
        pages_skipped_parent: dump.pages_skipped_parent,
        pages_written: dump.pages_written,
    });

    let (images_bytes, memory_pages_bytes) = images.sizes()?;
    let sizes = Sizes {
        total_bytes: located.total_bytes(images_bytes),
        images_bytes,
        memory_pages_bytes,
        rootfs_diff_bytes: located.top_size(ROOTFS_DIFF),
    };

    Ok(InspectReport {
        schema: REPORT_SCHEMA,
        path: path.to_path_buf(),
        layout: located.layout,
        images_path: located.images.clone(),
        container: container_info(manifest.as_ref(), config.as_ref()),
        engine: manifest.as_ref().map(|manifest| format!("docker {}", manifest.engine.version)),
        created: config.as_ref().and_then(|config| config["Created"].as_str()).map(str::to_string),
        checkpointed_at: manifest.as_ref().map(|manifest| manifest.checkpointed_at.clone()),
        criu_version: manifest.as_ref().map(|manifest| manifest.criu_version.clone()),
        image_version: inventory.img_version,
        hostname,
        sizes,
        process_count: pstree.len(),
        processes,
        environment: configured_environment(manifest.as_ref(), config.as_ref()),
        mounts,
        stats,
        file_locks,
        cgroups,
        clocks,
        network_devices,
        saved_volumes: manifest.as_ref().map(|manifest| manifest.files.volumes.clone()).unwrap_or_default(),
    })
}

pub(crate) fn read_manifest(located: &Located) -> Result<Option<Manifest>, InspectError> {
    if located.layout != Layout::DockerCr {
        return Ok(None);
    }
    if located.archive.is_none() {
        return Ok(Some(checkpoint::CheckpointDir::at(&located.root).read_manifest()?));
    }
    let path = located.root.join(checkpoint::MANIFEST);
    let bytes = located.read_top(checkpoint::MANIFEST).unwrap_or_default();
    let manifest = serde_json::from_slice(&bytes).map_err(|source| CheckpointError::InvalidManifest { path, source })?;
    Ok(Some(manifest))
}

/// Reads the engine's inspect output that docker-cr and Podman keep as
/// config.dump. A missing or unreadable file only leaves fields empty.
pub(crate) fn read_config_dump(located: &Located) -> Option<serde_json::Value> {
    let path = located.root.join(checkpoint::CONFIG_DUMP);
    let bytes = located.read_top(checkpoint::CONFIG_DUMP)?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "config.dump is not valid JSON; container details are left out");
            None
        }
    }
}

pub(crate) fn container_info(manifest: Option<&Manifest>, config: Option<&serde_json::Value>) -> Option<ContainerInfo> {
    if let Some(manifest) = manifest {
        return Some(ContainerInfo {
            id: Some(manifest.container.id.clone()),
            name: Some(manifest.container.name.clone()),
            image: Some(manifest.container.image.clone()),
        });
    }
    let config = config?;
    let text = |value: &serde_json::Value| value.as_str().map(|text| text.trim_start_matches('/').to_string());
    Some(ContainerInfo {
        id: text(&config["Id"]).or_else(|| text(&config["id"])),
        name: text(&config["Name"]).or_else(|| text(&config["name"])),
        image: text(&config["Config"]["Image"]).or_else(|| text(&config["rootfsImageName"])),
    })
}

fn configured_environment(manifest: Option<&Manifest>, config: Option<&serde_json::Value>) -> Option<Vec<String>> {
    if let Some(manifest) = manifest {
        return Some(manifest.container.env.clone());
    }
    let env = config?["Config"]["Env"].as_array()?;
    Some(env.iter().filter_map(|value| value.as_str().map(str::to_string)).collect())
}

/// Returns the pstree entries of `pid`'s subtree in CRIU's order, or all
/// of them; `None` when `pid` is not in the tree.
fn select_subtree(pstree: &[proto::PstreeEntry], pid: Option<u32>) -> Option<Vec<&proto::PstreeEntry>> {
    let Some(pid) = pid else {
        return Some(pstree.iter().collect());
    };
    if !pstree.iter().any(|entry| entry.pid == pid) {
        return None;
    }
    let mut included = vec![pid];
    // CRIU writes a parent before its children, so one pass finds them all.
    for entry in pstree {
        if included.contains(&entry.ppid) && !included.contains(&entry.pid) {
            included.push(entry.pid);
        }
    }
    Some(pstree.iter().filter(|entry| included.contains(&entry.pid)).collect())
}

/// The dump-wide images that the reading of every process shares.
struct ProcessContext<'a> {
    files: &'a HashMap<u32, &'a proto::FileEntry>,
    names: &'a NameTables<'a>,
    unix_queues: &'a HashMap<u32, u64>,
    seccomp: Option<&'a proto::SeccompEntry>,
    /// The set of a task whose core image names none.
    root_cg_set: Option<u32>,
}

fn read_process(images: &ImageDir, entry: &proto::PstreeEntry, options: &InspectOptions, context: &ProcessContext) -> Result<Process, InspectError> {
    let files = context.files;
    let core = images.core(entry.pid)?;
    let thread = core.thread_core.as_ref();
    let cgroup_set = thread.and_then(|thread| thread.cg_set).or(core.tc.as_ref().and_then(|tc| tc.cg_set)).or(context.root_cg_set);
    let mode = thread.and_then(|thread| thread.seccomp_mode).unwrap_or(0);
    let seccomp_filters = match (thread.and_then(|thread| thread.seccomp_filter), context.seccomp) {
        (Some(last), Some(seccomp)) if mode == SECCOMP_MODE_FILTER => {
            Some(seccomp_filter_count(&images.path().join("seccomp.img"), seccomp, last)?)
        }
        _ => Some(0),
    };
    let mut process = Process {
        pid: entry.pid,
        ppid: entry.ppid,
        pgid: entry.pgid,
        sid: entry.sid,
        threads: entry.threads.clone(),
        comm: core.tc.as_ref().map(|tc| tc.comm.clone()).unwrap_or_default(),
        command_line: None,
        environment: None,
        files: None,
        memory: None,
        cwd: None,
        root: None,
        cgroup_set,
        seccomp_mode: Some(seccomp_mode(mode)),
        seccomp_filters,
    };

    if options.files {
        if let Some(fs) = images.fs(entry.pid)? {
            process.cwd = folder_name(images, files, fs.cwd_id)?;
            process.root = folder_name(images, files, fs.root_id)?;
        }
        let ids = images.ids(entry.pid, &core)?;
        if let Some(ids) = ids {
            let mut open = Vec::new();
            for fdinfo in images.fdinfo(ids.files_id)? {
                if !files.contains_key(&fdinfo.id) {
                    return Err(ImageError::FileNotFound { path: images.path().join("files.img"), id: fdinfo.id }.into());
                }
                let mut description = describe(fdinfo.id, files, context.names);
                if let Some(socket) = &mut description.socket {
                    add_queues(images, socket, fdinfo.id, context.unix_queues)?;
                }
                open.push(OpenFile { fd: fdinfo.fd, cloexec: fdinfo.flags & 1 != 0, description });
            }
            open.sort_by_key(|file| file.fd);
            process.files = Some(open);
        }
    }

    if options.command_lines || options.environments || options.memory {
        let Some(mm) = images.mm(entry.pid)? else { return Ok(process) };
        let Some(pagemap) = images.pagemap(entry.pid)? else { return Ok(process) };
        if options.command_lines {
            process.command_line = read_strings(&pagemap, mm.mm_arg_start, mm.mm_arg_end)?;
        }
        if options.environments {
            process.environment = read_strings(&pagemap, mm.mm_env_start, mm.mm_env_end)?;
        }
        if options.memory {
            process.memory = Some(memory_of(&mm, &pagemap, files));
        }
    }
    Ok(process)
}

/// The kernel's SECCOMP_MODE_FILTER.
const SECCOMP_MODE_FILTER: u32 = 2;

/// Resolves a folder that fs-<pid>.img names by its id in files.img.
fn folder_name(images: &ImageDir, files: &HashMap<u32, &proto::FileEntry>, id: u32) -> Result<Option<String>, InspectError> {
    let Some(file) = files.get(&id) else {
        return Err(ImageError::FileNotFound { path: images.path().join("files.img"), id }.into());
    };
    Ok(file.reg.as_ref().map(|reg| reg.name.clone()))
}

/// Reads filelocks.img for the locks of the shown processes, naming
/// each locked file by the holder's descriptor.
fn read_file_locks(images: &ImageDir, processes: &[Process]) -> Result<Vec<FileLock>, InspectError> {
    let mut locks = Vec::new();
    for lock in images.file_locks()? {
        // CRIU stores pids and descriptors signed; a negative one matches
        // no process.
        let (Ok(pid), Ok(fd)) = (u32::try_from(lock.pid), u32::try_from(lock.fd)) else { continue };
        let Some(holder) = processes.iter().find(|process| process.pid == pid) else { continue };
        let path = holder.files.iter().flatten().find(|file| file.fd == fd).and_then(|file| file.description.path.clone());
        locks.push(FileLock {
            pid: lock.pid,
            fd: lock.fd,
            kind: lock_kind(lock.flag),
            lock_type: lock_type(lock.r#type),
            start: lock.start,
            length: lock.len,
            path,
        });
    }
    Ok(locks)
}

fn cgroups_of(entry: proto::CgroupEntry) -> Cgroups {
    let sets = entry
        .sets
        .into_iter()
        .map(|set| CgroupSet {
            id: set.id,
            members: set.ctls.into_iter().map(|member| CgroupMember { controller: member.name, path: member.path }).collect(),
        })
        .collect();
    let controllers = entry
        .controllers
        .iter()
        .map(|controller| CgroupController { names: controller.cnames.clone(), dirs: cgroup_dirs(controller) })
        .collect();
    Cgroups { sets, controllers }
}

fn timespec(value: proto::Timespec) -> Timespec {
    Timespec { seconds: value.tv_sec, nanoseconds: value.tv_nsec }
}

fn network_device(device: &proto::NetDeviceEntry) -> NetworkDevice {
    let kind = match proto::NdType::try_from(device.r#type) {
        Ok(proto::NdType::Loopback) => "loopback",
        Ok(proto::NdType::Veth) => "veth",
        Ok(proto::NdType::Tun) => "tun",
        Ok(proto::NdType::Extlink) => "extlink",
        Ok(proto::NdType::Venet) => "venet",
        Ok(proto::NdType::Bridge) => "bridge",
        _ => "unknown",
    };
    let address = device.address.as_ref().map(|bytes| bytes.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(":"));
    NetworkDevice { name: device.name.clone(), ifindex: device.ifindex, kind, mtu: device.mtu, flags: device.flags, address }
}

/// Fills in the queued bytes CRIU dumped for a socket: tcp-stream images
/// for established TCP sockets, sk-queues.img for unix sockets.
fn add_queues(images: &ImageDir, socket: &mut Socket, file_id: u32, unix_queues: &HashMap<u32, u64>) -> Result<(), ImageError> {
    match socket.protocol {
        "tcp" => {
            if let Some(stream) = images.tcp_stream(socket.inode)? {
                socket.receive_queue_bytes = Some(u64::from(stream.inq_len));
                socket.send_queue_bytes = Some(u64::from(stream.outq_len));
            }
        }
        "unix" => socket.receive_queue_bytes = Some(unix_queues.get(&file_id).copied().unwrap_or(0)),
        _ => {}
    }
    Ok(())
}

fn read_strings(pagemap: &Pagemap, start: u64, end: u64) -> Result<Option<Vec<String>>, InspectError> {
    if end <= start {
        return Ok(Some(Vec::new()));
    }
    Ok(pagemap.read_memory(start, end - start)?.map(|bytes| split_nul_strings(&bytes)))
}

/// CRIU's VMA_* status bits that `--memory` shows, from CRIU's
/// criu/include/image.h.
mod vma_status {
    pub const STACK: u32 = 1 << 1;
    pub const VSYSCALL: u32 = 1 << 2;
    pub const VDSO: u32 = 1 << 3;
    pub const HEAP: u32 = 1 << 5;
    pub const FILE_PRIVATE: u32 = 1 << 6;
    pub const FILE_SHARED: u32 = 1 << 7;
    pub const ANON_SHARED: u32 = 1 << 8;
    pub const VVAR: u32 = 1 << 12;
}

fn memory_of(mm: &proto::MmEntry, pagemap: &Pagemap, files: &HashMap<u32, &proto::FileEntry>) -> Memory {
    let mappings: Vec<Mapping> = mm
        .vmas
        .iter()
        .map(|vma| {
            let kind = mapping_kind(vma.status);
            // For a file mapping CRIU stores the file's id in files.img in
            // the shmid field.
            let file = if vma.status & (vma_status::FILE_PRIVATE | vma_status::FILE_SHARED) != 0 {
                u32::try_from(vma.shmid).ok().and_then(|id| files.get(&id)).and_then(|file| file.reg.as_ref()).map(|reg| reg.name.clone())
            } else {
                None
            };
            Mapping {
                start: vma.start,
                end: vma.end,
                protection: protection(vma.prot, vma.flags),
                kind,
                file,
                dumped_bytes: pagemap.dumped_bytes_in(vma.start, vma.end),
            }
        })
        .collect();
    Memory {
        mapped_bytes: mappings.iter().map(|mapping| mapping.end.saturating_sub(mapping.start)).sum(),
        dumped_bytes: pagemap.dumped_bytes(),
        mappings,
    }
}

fn mapping_kind(status: u32) -> &'static str {
    match status {
        s if s & vma_status::HEAP != 0 => "heap",
        s if s & vma_status::STACK != 0 => "stack",
        s if s & vma_status::VDSO != 0 => "vdso",
        s if s & vma_status::VVAR != 0 => "vvar",
        s if s & vma_status::VSYSCALL != 0 => "vsyscall",
        s if s & (vma_status::FILE_PRIVATE | vma_status::FILE_SHARED) != 0 => "file",
        s if s & vma_status::ANON_SHARED != 0 => "shared",
        _ => "anon",
    }
}

/// Formats PROT_* and MAP_SHARED the way /proc/<pid>/maps does.
fn protection(prot: u32, flags: u32) -> String {
    const PROT_READ: u32 = 1;
    const PROT_WRITE: u32 = 2;
    const PROT_EXEC: u32 = 4;
    const MAP_SHARED: u32 = 1;
    let bit = |mask: u32, letter: char| if prot & mask != 0 { letter } else { '-' };
    let shared = if flags & MAP_SHARED != 0 { 's' } else { 'p' };
    [bit(PROT_READ, 'r'), bit(PROT_WRITE, 'w'), bit(PROT_EXEC, 'x'), shared].iter().collect()
}

fn read_mounts(images: &ImageDir, mnt_ns_id: Option<u32>) -> Result<Option<Vec<Mount>>, InspectError> {
    let Some(id) = mnt_ns_id else { return Ok(None) };
    let Some(entries) = images.mountpoints(id)? else { return Ok(None) };
    Ok(Some(
        entries
            .into_iter()
            .map(|entry| Mount {
                mount_id: entry.mnt_id,
                parent_mount_id: entry.parent_mnt_id,
                mountpoint: entry.mountpoint,
                fstype: entry.fsname.unwrap_or_else(|| fstype_name(entry.fstype)),
                source: entry.source,
                root: entry.root,
                options: entry.options,
                external: entry.ext_mount.unwrap_or(false) || entry.ext_key.is_some(),
            })
            .collect(),
    ))
}

/// Names CRIU's fstype codes (the fstype enum of CRIU's mnt.proto). CRIU
/// writes `fsname` only for some file systems, so this is the usual name.
fn fstype_name(code: u32) -> String {
    const NAMES: &[&str] = &[
        "other", "proc", "sysfs", "devtmpfs", "binfmt_misc", "tmpfs", "devpts", "simfs", "pstore", "securityfs",
        "fusectl", "debugfs", "cgroup", "aufs", "mqueue", "fuse", "auto", "overlay", "autofs", "tracefs",
    ];
    const CGROUP2: u32 = 23;
    match NAMES.get(code as usize) {
        Some(name) => (*name).to_string(),
        None if code == CGROUP2 => "cgroup2".to_string(),
        None => format!("fstype {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: u32, ppid: u32) -> proto::PstreeEntry {
        proto::PstreeEntry { pid, ppid, pgid: 1, sid: 1, threads: vec![pid] }
    }

    #[test]
    fn subtree_keeps_descendants_only() {
        let pstree = vec![task(1, 0), task(9, 1), task(11, 1), task(14, 11)];
        let pids: Vec<u32> = select_subtree(&pstree, Some(11)).unwrap().iter().map(|entry| entry.pid).collect();
        assert_eq!(pids, vec![11, 14]);
    }

    #[test]
    fn subtree_of_unknown_pid_is_none() {
        assert!(select_subtree(&[task(1, 0)], Some(5)).is_none());
    }

    #[test]
    fn report_fields_match_documented_schema() {
        let report = InspectReport {
            schema: REPORT_SCHEMA,
            path: "cp".into(),
            layout: Layout::Criu,
            images_path: "cp".into(),
            container: None,
            engine: None,
            created: None,
            checkpointed_at: None,
            criu_version: None,
            image_version: 2,
            hostname: None,
            sizes: Sizes { total_bytes: 0, images_bytes: 0, memory_pages_bytes: 0, rootfs_diff_bytes: None },
            process_count: 0,
            processes: Vec::new(),
            environment: None,
            mounts: None,
            stats: None,
            file_locks: None,
            cgroups: None,
            clocks: None,
            network_devices: None,
            saved_volumes: Vec::new(),
        };
        let json = serde_json::to_value(&report).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        // docs/inspect.md lists these fields; removing or renaming one
        // breaks scripts and needs a new schema version.
        let documented = [
            "cgroups", "checkpointed_at", "clocks", "container", "created", "criu_version", "engine", "environment",
            "file_locks", "hostname", "image_version", "images_path", "layout", "mounts", "network_devices", "path",
            "process_count", "processes", "saved_volumes", "schema", "sizes", "stats",
        ];
        assert_eq!(keys, documented);
        assert_eq!(json["layout"], "criu");
    }

    #[test]
    fn protection_reads_like_proc_maps() {
        assert_eq!(protection(5, 2), "r-xp");
        assert_eq!(protection(3, 1), "rw-s");
    }

    #[test]
    fn archive_without_checkpoint_is_named() {
        let folder = tempfile::tempdir().unwrap();
        let archive = folder.path().join("web.tar");
        let mut builder = tar::Builder::new(fs::File::create(&archive).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_cksum();
        builder.append_data(&mut header, "config.dump", &b"{}"[..]).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let error = inspect(&archive, &InspectOptions::default()).unwrap_err();
        assert!(matches!(error, InspectError::ArchiveWithoutCheckpoint { .. }), "{error:?}");
    }
}
