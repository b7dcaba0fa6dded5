//! A folder of CRIU images, read by CRIU's file names: images of a process
//! are named by its pid (core-<pid>.img, mm-<pid>.img, pagemap-<pid>.img),
//! images of shared objects by CRIU's id of the object (fdinfo-<files_id>,
//! mountpoints-<mnt_ns_id>, utsns-<uts_ns_id>).

use std::fs;
use std::path::{Path, PathBuf};

use super::framing::{read_entries, read_first};
use super::memory::Pagemap;
use super::{magic, proto, ImageError};

/// An opened folder of CRIU images. Nothing is read until asked for.
#[derive(Debug, Clone)]
pub struct ImageDir {
    path: PathBuf,
}

impl ImageDir {
    /// Opens a folder that CRIU dumped into; it must hold inventory.img.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        if !path.join("inventory.img").is_file() {
            return Err(ImageError::NotAnImageFolder { path: path.to_path_buf() });
        }
        Ok(Self { path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn inventory(&self) -> Result<proto::InventoryEntry, ImageError> {
        read_first(&self.required("inventory.img")?, magic::INVENTORY)
    }

    /// Reads the process tree, in CRIU's order: the root task first.
    pub fn pstree(&self) -> Result<Vec<proto::PstreeEntry>, ImageError> {
        let path = self.required("pstree.img")?;
        let entries: Vec<proto::PstreeEntry> = read_entries(&path, magic::PSTREE)?;
        if entries.is_empty() {
            return Err(ImageError::Empty { path });
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
        read_first(&self.required(&format!("core-{pid}.img"))?, magic::CORE)
    }

    /// Reads a task's object ids from ids-<pid>.img, or from its core
    /// image, where CRIU before 4.0 kept them.
    pub fn ids(&self, pid: u32, core: &proto::CoreEntry) -> Result<Option<proto::TaskKobjIdsEntry>, ImageError> {
        let path = self.path.join(format!("ids-{pid}.img"));
        if path.is_file() {
            return read_first(&path, magic::IDS).map(Some);
        }
        Ok(core.ids)
    }

    pub fn mm(&self, pid: u32) -> Result<Option<proto::MmEntry>, ImageError> {
        self.optional(&format!("mm-{pid}.img")).map(|path| read_first(&path, magic::MM)).transpose()
    }

    pub fn pagemap(&self, pid: u32) -> Result<Option<Pagemap>, ImageError> {
        self.optional(&format!("pagemap-{pid}.img")).map(|path| Pagemap::read(&path)).transpose()
    }

    pub fn fs(&self, pid: u32) -> Result<Option<proto::FsEntry>, ImageError> {
        self.optional(&format!("fs-{pid}.img")).map(|path| read_first(&path, magic::FS)).transpose()
    }

    /// Reads the descriptors of a files table; a task without open files
    /// has no fdinfo image.
    pub fn fdinfo(&self, files_id: u32) -> Result<Vec<proto::FdinfoEntry>, ImageError> {
        match self.optional(&format!("fdinfo-{files_id}.img")) {
            Some(path) => read_entries(&path, magic::FDINFO),
            None => Ok(Vec::new()),
        }
    }

    /// Reads every open file description of the dump from files.img.
    pub fn files(&self) -> Result<Vec<proto::FileEntry>, ImageError> {
        match self.optional("files.img") {
            Some(path) => read_entries(&path, magic::FILES),
            None => Ok(Vec::new()),
        }
    }

    /// Reads the mounts of a mount namespace; `None` when the namespace
    /// was not dumped.
    pub fn mountpoints(&self, mnt_ns_id: u32) -> Result<Option<Vec<proto::MntEntry>>, ImageError> {
        self.optional(&format!("mountpoints-{mnt_ns_id}.img")).map(|path| read_entries(&path, magic::MNTS)).transpose()
    }

    pub fn utsns(&self, uts_ns_id: u32) -> Result<Option<proto::UtsnsEntry>, ImageError> {
        self.optional(&format!("utsns-{uts_ns_id}.img")).map(|path| read_first(&path, magic::UTSNS)).transpose()
    }

    /// Reads CRIU's dump statistics from stats-dump in this folder, or in
    /// `fallback` (docker-cr moves the file up one level, where Podman
    /// keeps it).
    pub fn dump_stats(&self, fallback: Option<&Path>) -> Result<Option<proto::DumpStatsEntry>, ImageError> {
        let candidates = std::iter::once(self.path.join("stats-dump")).chain(fallback.map(Path::to_path_buf));
        for path in candidates {
            if path.is_file() {
                return super::read_dump_stats(&path);
            }
        }
        Ok(None)
    }

    /// Returns the bytes of every file in the folder, and of the pages
    /// images among them.
    pub fn sizes(&self) -> Result<(u64, u64), ImageError> {
        let io_error = |source| ImageError::Io { path: self.path.clone(), source };
        let mut total = 0;
        let mut pages = 0;
        for entry in fs::read_dir(&self.path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let Ok(metadata) = entry.metadata() else { continue };
            if !metadata.is_file() {
                continue;
            }
            total += metadata.len();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("pages-") && name.ends_with(".img") {
                pages += metadata.len();
            }
        }
        Ok((total, pages))
    }

    fn required(&self, name: &str) -> Result<PathBuf, ImageError> {
        let path = self.path.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(ImageError::Missing { path })
        }
    }

    fn optional(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.join(name);
        path.is_file().then_some(path)
    }
}
