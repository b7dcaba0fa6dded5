//! A folder of CRIU images, read by CRIU's file names: images of a process
//! are named by its pid (core-<pid>.img, mm-<pid>.img, pagemap-<pid>.img),
//! images of shared objects by CRIU's id of the object (fdinfo-<files_id>,
//! mountpoints-<mnt_ns_id>, utsns-<uts_ns_id>). The folder is either on
//! disk or inside a checkpoint archive.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;

use super::archive::Archive;
use super::framing::{decode_entries, decode_first, read_image, split_entries_with_payload, RawEntry};
use super::memory::{Pagemap, PagesSource};
use super::{magic, proto, ImageError};

/// The location of the images: a folder on disk, or part of an archive.
#[derive(Debug, Clone)]
enum Store {
    Folder(PathBuf),
    /// A folder inside an archive, by the prefix of its members' names
    /// ("checkpoint/" or "").
    Archive { archive: Arc<Archive>, prefix: String },
}

/// An opened folder of CRIU images. Nothing is read until asked for.
#[derive(Debug, Clone)]
pub struct ImageDir {
    store: Store,
}

impl ImageDir {
    /// Opens a folder that CRIU dumped into; it must contain inventory.img.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        if !path.join("inventory.img").is_file() {
            return Err(ImageError::NotAnImageFolder { path: path.to_path_buf() });
        }
        Ok(Self { store: Store::Folder(path.to_path_buf()) })
    }

    /// Opens the images under `prefix` in an archive.
    pub fn in_archive(archive: Arc<Archive>, prefix: &str) -> Result<Self, ImageError> {
        if !archive.contains(&format!("{prefix}inventory.img")) {
            return Err(ImageError::NotAnImageFolder { path: archive.member_path(prefix) });
        }
        Ok(Self { store: Store::Archive { archive, prefix: prefix.to_string() } })
    }

    /// Returns the folder's path; for an archive, the archive's path joined
    /// with the folder's name in it.
    pub fn path(&self) -> PathBuf {
        match &self.store {
            Store::Folder(path) => path.clone(),
            Store::Archive { archive, prefix } => archive.member_path(prefix.trim_end_matches('/')),
        }
    }

    pub fn inventory(&self) -> Result<proto::InventoryEntry, ImageError> {
        self.read_first("inventory.img", magic::INVENTORY)
    }

    /// Reads the process tree, in CRIU's order: the root task first.
    pub fn pstree(&self) -> Result<Vec<proto::PstreeEntry>, ImageError> {
        let entries: Vec<proto::PstreeEntry> = self.read_entries("pstree.img", magic::PSTREE)?;
        if entries.is_empty() {
            return Err(ImageError::Empty { path: self.file_path("pstree.img") });
        }
        Ok(entries)
    }

    /// Decodes the images every restore needs (inventory, pstree and each
    /// task's core) and returns the number of processes, so that a corrupt
    /// checkpoint is found before anything is created from it.
    pub fn check(&self) -> Result<usize, ImageError> {
        self.inventory()?;
        let pstree = self.pstree()?;
        for task in &pstree {
            self.core(task.pid)?;
        }
        Ok(pstree.len())
    }

    pub fn core(&self, pid: u32) -> Result<proto::CoreEntry, ImageError> {
        self.read_first(&format!("core-{pid}.img"), magic::CORE)
    }

    /// Reads a task's object ids from ids-<pid>.img, or from its core
    /// image, where CRIU before 4.0 kept them.
    pub fn ids(&self, pid: u32, core: &proto::CoreEntry) -> Result<Option<proto::TaskKobjIdsEntry>, ImageError> {
        let name = format!("ids-{pid}.img");
        if self.exists(&name) {
            return self.read_first(&name, magic::IDS).map(Some);
        }
        Ok(core.ids)
    }

    pub fn mm(&self, pid: u32) -> Result<Option<proto::MmEntry>, ImageError> {
        self.read_optional(&format!("mm-{pid}.img"), magic::MM)
    }

    pub fn pagemap(&self, pid: u32) -> Result<Option<Pagemap>, ImageError> {
        let name = format!("pagemap-{pid}.img");
        if !self.exists(&name) {
            return Ok(None);
        }
        let path = self.file_path(&name);
        let bytes = self.read_bytes(&name)?;
        let pages_id = Pagemap::pages_id(&path, &bytes)?;
        let pages_name = format!("pages-{pages_id}.img");
        let pages = match &self.store {
            Store::Folder(folder) => PagesSource::File(folder.join(&pages_name)),
            Store::Archive { archive, prefix } => PagesSource::Archive { archive: archive.clone(), name: format!("{prefix}{pages_name}") },
        };
        Pagemap::decode(&path, &bytes, pages).map(Some)
    }

    pub fn fs(&self, pid: u32) -> Result<Option<proto::FsEntry>, ImageError> {
        self.read_optional(&format!("fs-{pid}.img"), magic::FS)
    }

    /// Reads the descriptors of a files table; a task without open files
    /// has no fdinfo image.
    pub fn fdinfo(&self, files_id: u32) -> Result<Vec<proto::FdinfoEntry>, ImageError> {
        let name = format!("fdinfo-{files_id}.img");
        if !self.exists(&name) {
            return Ok(Vec::new());
        }
        self.read_entries(&name, magic::FDINFO)
    }

    /// Reads every open file description of the dump from files.img.
    pub fn files(&self) -> Result<Vec<proto::FileEntry>, ImageError> {
        if !self.exists("files.img") {
            return Ok(Vec::new());
        }
        self.read_entries("files.img", magic::FILES)
    }

    /// Reads the mounts of a mount namespace; `None` when the namespace
    /// was not dumped.
    pub fn mountpoints(&self, mnt_ns_id: u32) -> Result<Option<Vec<proto::MntEntry>>, ImageError> {
        let name = format!("mountpoints-{mnt_ns_id}.img");
        if !self.exists(&name) {
            return Ok(None);
        }
        self.read_entries(&name, magic::MNTS).map(Some)
    }

    pub fn utsns(&self, uts_ns_id: u32) -> Result<Option<proto::UtsnsEntry>, ImageError> {
        self.read_optional(&format!("utsns-{uts_ns_id}.img"), magic::UTSNS)
    }

    /// Reads the memfd inodes that memfd descriptions refer to.
    pub fn memfd_inodes(&self) -> Result<Vec<proto::MemfdInodeEntry>, ImageError> {
        if !self.exists("memfd.img") {
            return Ok(Vec::new());
        }
        self.read_entries("memfd.img", magic::MEMFD_INODE)
    }

    /// Reads the terminals that tty descriptions refer to.
    pub fn tty_infos(&self) -> Result<Vec<proto::TtyInfoEntry>, ImageError> {
        if !self.exists("tty-info.img") {
            return Ok(Vec::new());
        }
        self.read_entries("tty-info.img", magic::TTY_INFO)
    }

    /// Reads the file locks that the dumped tasks held. The list is empty
    /// when CRIU found none or dumped without file locks allowed.
    pub fn file_locks(&self) -> Result<Vec<proto::FileLockEntry>, ImageError> {
        // CRIU's image name is filelocks.img, though its .proto file is
        // file-lock.proto.
        if !self.exists("filelocks.img") {
            return Ok(Vec::new());
        }
        self.read_entries("filelocks.img", magic::FILE_LOCKS)
    }

    /// Reads the control groups of the dumped tasks, or `None` when CRIU
    /// did not dump them.
    pub fn cgroup(&self) -> Result<Option<proto::CgroupEntry>, ImageError> {
        self.read_optional("cgroup.img", magic::CGROUP)
    }

    /// Reads every seccomp filter of the dump, or `None` when no task had
    /// one.
    pub fn seccomp(&self) -> Result<Option<proto::SeccompEntry>, ImageError> {
        self.read_optional("seccomp.img", magic::SECCOMP)
    }

    /// Reads the clocks of a time namespace. CRIU writes timens-0.img for
    /// tasks in the host's time namespace, so that is read when the
    /// namespace's own image is absent.
    pub fn timens(&self, time_ns_id: Option<u32>) -> Result<Option<(u32, proto::TimensEntry)>, ImageError> {
        for id in time_ns_id.into_iter().chain([0]) {
            if let Some(entry) = self.read_optional(&format!("timens-{id}.img"), magic::TIMENS)? {
                return Ok(Some((id, entry)));
            }
        }
        Ok(None)
    }

    /// Reads the devices of a network namespace, or `None` when the
    /// namespace was not dumped. Docker hands CRIU the container's network
    /// namespace as external, so its checkpoints have no netdev image.
    pub fn netdev(&self, net_ns_id: u32) -> Result<Option<Vec<proto::NetDeviceEntry>>, ImageError> {
        let name = format!("netdev-{net_ns_id}.img");
        if !self.exists(&name) {
            return Ok(None);
        }
        self.read_entries(&name, magic::NETDEV).map(Some)
    }

    /// Reads the queue lengths of an established TCP socket from
    /// tcp-stream-<inode in hex>.img; `None` for a socket without one.
    pub fn tcp_stream(&self, inode: u32) -> Result<Option<proto::TcpStreamEntry>, ImageError> {
        self.read_optional(&format!("tcp-stream-{inode:x}.img"), magic::TCP_STREAM)
    }

    /// Sums the bytes queued on each unix socket, by its id in files.img,
    /// from sk-queues.img.
    pub fn socket_queues(&self) -> Result<HashMap<u32, u64>, ImageError> {
        let name = "sk-queues.img";
        if !self.exists(name) {
            return Ok(HashMap::new());
        }
        let path = self.file_path(name);
        let bytes = self.read_bytes(name)?;
        let length_of = |entry: &RawEntry| entry.decode::<proto::SkPacketEntry>(&path).map(|packet| packet.length as usize);
        let mut queued = HashMap::new();
        for entry in split_entries_with_payload(&path, &bytes, magic::SK_QUEUES, length_of)? {
            let packet: proto::SkPacketEntry = entry.decode(&path)?;
            *queued.entry(packet.id_for).or_insert(0) += u64::from(packet.length);
        }
        Ok(queued)
    }

    /// Reads CRIU's dump statistics from stats-dump in this folder, or
    /// from `fallback` (docker-cr and Podman keep it one level up).
    pub fn dump_stats(&self, fallback: Option<&[u8]>) -> Result<Option<proto::DumpStatsEntry>, ImageError> {
        let (path, bytes) = if self.exists("stats-dump") {
            (self.file_path("stats-dump"), self.read_bytes("stats-dump")?)
        } else if let Some(bytes) = fallback {
            (self.file_path("../stats-dump"), bytes.to_vec())
        } else {
            return Ok(None);
        };
        let entries: Vec<proto::StatsEntry> = decode_entries(&path, &bytes, magic::STATS)?;
        Ok(entries.into_iter().find_map(|entry| entry.dump))
    }

    /// Returns the bytes of every image in the folder, and of the pages
    /// images among them.
    pub fn sizes(&self) -> Result<(u64, u64), ImageError> {
        let files: Vec<(String, u64)> = match &self.store {
            Store::Folder(folder) => {
                let io_error = |source| ImageError::Io { path: folder.clone(), source };
                let mut files = Vec::new();
                for entry in fs::read_dir(folder).map_err(io_error)? {
                    let entry = entry.map_err(io_error)?;
                    let Ok(metadata) = entry.metadata() else { continue };
                    if metadata.is_file() {
                        files.push((entry.file_name().to_string_lossy().into_owned(), metadata.len()));
                    }
                }
                files
            }
            Store::Archive { archive, prefix } => archive
                .names()
                .filter_map(|name| name.strip_prefix(prefix.as_str()))
                .filter(|name| !name.contains('/'))
                .map(|name| (name.to_string(), archive.size(&format!("{prefix}{name}")).unwrap_or(0)))
                .collect(),
        };
        let total = files.iter().map(|(_, size)| size).sum();
        let pages = files.iter().filter(|(name, _)| name.starts_with("pages-") && name.ends_with(".img")).map(|(_, size)| size).sum();
        Ok((total, pages))
    }

    fn file_path(&self, name: &str) -> PathBuf {
        match &self.store {
            Store::Folder(folder) => folder.join(name),
            Store::Archive { archive, prefix } => archive.member_path(&format!("{prefix}{name}")),
        }
    }

    fn exists(&self, name: &str) -> bool {
        match &self.store {
            Store::Folder(folder) => folder.join(name).is_file(),
            Store::Archive { archive, prefix } => archive.contains(&format!("{prefix}{name}")),
        }
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        if !self.exists(name) {
            return Err(ImageError::Missing { path: self.file_path(name) });
        }
        match &self.store {
            Store::Folder(folder) => read_image(&folder.join(name)),
            Store::Archive { archive, prefix } => archive.read(&format!("{prefix}{name}")),
        }
    }

    fn read_entries<M: Message + Default>(&self, name: &str, magic: u32) -> Result<Vec<M>, ImageError> {
        decode_entries(&self.file_path(name), &self.read_bytes(name)?, magic)
    }

    fn read_first<M: Message + Default>(&self, name: &str, magic: u32) -> Result<M, ImageError> {
        decode_first(&self.file_path(name), &self.read_bytes(name)?, magic)
    }

    fn read_optional<M: Message + Default>(&self, name: &str, magic: u32) -> Result<Option<M>, ImageError> {
        if !self.exists(name) {
            return Ok(None);
        }
        self.read_first(name, magic).map(Some)
    }
}
