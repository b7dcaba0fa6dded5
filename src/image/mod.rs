//! The reader of CRIU's image files, with no CRIU, crit or Python.
//!
//! A CRIU image starts with one or two 32-bit magic numbers: a family magic
//! (common or service) followed by the image's own magic. inventory.img
//! carries only its own magic, and pages-<n>.img has none: it is raw page
//! data that pagemap-<pid>.img indexes. Then come entries, each a 32-bit
//! little-endian length followed by that many bytes of one protobuf
//! message. Lengths are checked against the file before anything is
//! allocated, so a corrupt length cannot exhaust memory.
//!
//! `framing` splits files into entries, and `dir` opens a folder of images
//! and reads each kind by CRIU's file names. `memory` reads a process's
//! dumped pages through its pagemap, `files` describes open files and
//! sockets, `state` names the file locks, control groups and seccomp
//! filters of the dumped tasks, and `archive` reads the images inside Podman's and CRI-O's
//! archives.

pub mod archive;
pub mod dir;
pub mod files;
pub mod framing;
pub mod memory;
pub mod state;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

pub use dir::ImageDir;
pub use framing::{decode_entries, read_entries};

/// Messages of CRIU's image files, generated from proto/criu/*.proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/criu.images.rs"));
}

/// Magic numbers of CRIU's images, from criu/include/magic.h in CRIU 4.x.
pub mod magic {
    /// The family magic of images that describe the dumped processes.
    pub const IMG_COMMON: u32 = 0x5456_4319;
    /// The family magic of images that describe the dump itself (stats, irmap).
    pub const IMG_SERVICE: u32 = 0x5510_5940;
    pub const INVENTORY: u32 = 0x5831_3116;
    pub const PSTREE: u32 = 0x5027_3030;
    pub const FDINFO: u32 = 0x5621_3732;
    pub const PAGEMAP: u32 = 0x5608_4025;
    pub const CORE: u32 = 0x5505_3847;
    pub const IDS: u32 = 0x5443_2030;
    pub const MM: u32 = 0x5749_2820;
    pub const FS: u32 = 0x5140_3912;
    pub const UTSNS: u32 = 0x5447_3203;
    pub const MNTS: u32 = 0x5556_3928;
    pub const FILES: u32 = 0x5630_3138;
    pub const TCP_STREAM: u32 = 0x5146_5506;
    pub const SK_QUEUES: u32 = 0x5626_4026;
    pub const STATS: u32 = 0x5709_3306;
    pub const FILE_LOCKS: u32 = 0x5432_3616;
    pub const CGROUP: u32 = 0x5938_3330;
    pub const SECCOMP: u32 = 0x6441_3049;
    pub const TIMENS: u32 = 0x4311_4433;
    pub const NETDEV: u32 = 0x5737_3951;
    pub const MEMFD_INODE: u32 = 0x4845_3499;
    pub const TTY_INFO: u32 = 0x5945_3036;
}

pub const IMG_COMMON_MAGIC: u32 = magic::IMG_COMMON;
pub const IMG_SERVICE_MAGIC: u32 = magic::IMG_SERVICE;
pub const STATS_MAGIC: u32 = magic::STATS;

#[derive(Debug, Error, Diagnostic)]
pub enum ImageError {
    #[error("could not read the image {path}")]
    #[diagnostic(code(docker_cr::image::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a CRIU image of the expected kind (magic {found:#010x} at byte {offset}, expected {expected:#010x})")]
    #[diagnostic(code(docker_cr::image::magic), help("the file is of another kind, or corrupt"))]
    Magic { path: PathBuf, offset: usize, found: u32, expected: u32 },

    #[error("{path} is truncated at byte {offset}: {needed} more bytes expected")]
    #[diagnostic(code(docker_cr::image::truncated), help("the checkpoint was cut short; take a new one"))]
    Truncated { path: PathBuf, offset: usize, needed: usize },

    #[error("{path} has an entry at byte {offset} that does not decode")]
    #[diagnostic(code(docker_cr::image::decode), help("the file is corrupt; take a new checkpoint"))]
    Decode {
        path: PathBuf,
        offset: usize,
        #[source]
        source: prost::DecodeError,
    },

    #[error("{path} holds no entry, but at least one is required")]
    #[diagnostic(code(docker_cr::image::empty), help("the file is corrupt; take a new checkpoint"))]
    Empty { path: PathBuf },

    #[error("{path} is {size} bytes, more than the {max} bytes a CRIU metadata image may have")]
    #[diagnostic(code(docker_cr::image::too_large), help("the file is not a CRIU image, or corrupt"))]
    TooLarge { path: PathBuf, size: u64, max: u64 },

    #[error("{path} is missing")]
    #[diagnostic(
        code(docker_cr::image::missing),
        help("CRIU writes this image in every dump; the checkpoint is incomplete, so take a new one")
    )]
    Missing { path: PathBuf },

    #[error("{path} is not a folder of CRIU images (no inventory.img)")]
    #[diagnostic(
        code(docker_cr::image::not_an_image_folder),
        help("point at a docker-cr checkpoint folder, or at a folder that CRIU dumped into, such as one written by `docker checkpoint create`")
    )]
    NotAnImageFolder { path: PathBuf },

    #[error("{path} has no file with id {id}, which an fdinfo image refers to")]
    #[diagnostic(code(docker_cr::image::file_not_found), help("files.img is truncated or corrupt; take a new checkpoint"))]
    FileNotFound { path: PathBuf, id: u32 },

    #[error("{path} was not kept in memory while the compressed archive was read")]
    #[diagnostic(
        code(docker_cr::image::archive_member_skipped),
        help("the archive's pages are larger than docker-cr keeps in memory; unpack {} and inspect the folder", archive.display())
    )]
    ArchiveMemberSkipped { path: PathBuf, archive: PathBuf },

    #[error("{path} has no seccomp filter at index {index}; it has {count}")]
    #[diagnostic(code(docker_cr::image::seccomp_filter_not_found), help("seccomp.img or a core image is corrupt; take a new checkpoint"))]
    SeccompFilterNotFound { path: PathBuf, index: u32, count: usize },

    #[error("{pagemap} points at byte {offset} of {pages}, which has only {size} bytes")]
    #[diagnostic(code(docker_cr::image::pages_out_of_range), help("the pages image is truncated; take a new checkpoint"))]
    PagesOutOfRange { pagemap: PathBuf, pages: PathBuf, offset: u64, size: u64 },

    #[error("{path} asks for {requested} bytes of memory at {address:#x}, more than the {max} bytes read at once")]
    #[diagnostic(code(docker_cr::image::memory_range), help("the mm image is corrupt; take a new checkpoint"))]
    MemoryRange { path: PathBuf, address: u64, requested: u64, max: u64 },
}

/// Reads the dump statistics from a stats-dump image.
pub fn read_dump_stats(path: &Path) -> Result<Option<proto::DumpStatsEntry>, ImageError> {
    let entries: Vec<proto::StatsEntry> = read_entries(path, STATS_MAGIC)?;
    Ok(entries.into_iter().find_map(|entry| entry.dump))
}
