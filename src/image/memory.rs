//! A process's dumped memory: pagemap-<pid>.img lists runs of pages by
//! virtual address, and pages-<n>.img contains the data of the runs marked
//! present, one after another in pagemap order. Runs kept in a parent
//! pre-dump or left for lazy restore have no bytes here.
//!
//! A read seeks into the pages image for only the pages it covers, so
//! showing a command line costs a page or two, not the whole dump.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::archive::Archive;
use super::framing::split_entries;
use super::{magic, proto, ImageError};

/// The page size of the dumped process. CRIU writes pages in the size of
/// the dumping kernel, 4 KiB on x86_64 and on most aarch64 kernels.
// NOTE: a dump made on a kernel with 16 or 64 KiB pages would be misread.
// CRIU does not store the page size in its images, so supporting one needs
// a user option or a guess from the architecture in core images.
pub const PAGE_SIZE: u64 = 4096;

/// The pages of this run are in the parent pre-dump's images.
pub const PE_PARENT: u32 = 1 << 0;
/// The pages of this run are restored lazily, from a page server.
pub const PE_LAZY: u32 = 1 << 1;
/// The pages of this run are in this dump's pages image.
pub const PE_PRESENT: u32 = 1 << 2;

/// The maximum bytes one read of memory returns. Command lines and
/// environments are bounded by the kernel's ARG_MAX (2 MiB by default on
/// Linux), so a larger request means a corrupt mm image.
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

/// A run of pages from a pagemap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    pub vaddr: u64,
    pub nr_pages: u64,
    pub flags: u32,
    /// The offset of the run's data in the pages image, when it is present.
    pub offset: Option<u64>,
}

impl PageRun {
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.nr_pages.saturating_mul(PAGE_SIZE))
    }
}

/// The location of a pages image: a file, or a member of an archive.
#[derive(Debug, Clone)]
pub enum PagesSource {
    File(PathBuf),
    Archive { archive: Arc<Archive>, name: String },
}

impl PagesSource {
    fn path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Archive { archive, name } => archive.member_path(name),
        }
    }
}

/// A process's pagemap with the pages image it indexes.
#[derive(Debug, Clone)]
pub struct Pagemap {
    pub path: PathBuf,
    pub pages: PagesSource,
    pub runs: Vec<PageRun>,
}

impl Pagemap {
    /// Returns the number n of the pages-<n>.img that a pagemap indexes,
    /// from its head entry.
    pub fn pages_id(path: &Path, bytes: &[u8]) -> Result<u32, ImageError> {
        let entries = split_entries(path, bytes, magic::PAGEMAP)?;
        let Some(head) = entries.first() else {
            return Err(ImageError::Empty { path: path.to_path_buf() });
        };
        let head: proto::PagemapHead = head.decode(path)?;
        Ok(head.pages_id)
    }

    /// Decodes a pagemap image: a head, then runs of pages.
    pub fn decode(path: &Path, bytes: &[u8], pages: PagesSource) -> Result<Self, ImageError> {
        let entries = split_entries(path, bytes, magic::PAGEMAP)?;
        let Some((_head, runs)) = entries.split_first() else {
            return Err(ImageError::Empty { path: path.to_path_buf() });
        };

        let mut offset = 0u64;
        let mut decoded = Vec::with_capacity(runs.len());
        for raw in runs {
            let entry: proto::PagemapEntry = raw.decode(path)?;
            let run = page_run(&entry, offset);
            if run.offset.is_some() {
                offset = offset.saturating_add(run.nr_pages.saturating_mul(PAGE_SIZE));
            }
            decoded.push(run);
        }
        Ok(Self { path: path.to_path_buf(), pages, runs: decoded })
    }

    /// Returns the bytes of the pages this dump contains.
    pub fn dumped_bytes(&self) -> u64 {
        self.present().map(|run| run.nr_pages.saturating_mul(PAGE_SIZE)).sum()
    }

    /// Returns the bytes this dump contains of the range [start, end).
    pub fn dumped_bytes_in(&self, start: u64, end: u64) -> u64 {
        self.present()
            .map(|run| {
                let from = run.vaddr.max(start);
                let to = run.end().min(end);
                to.saturating_sub(from)
            })
            .sum()
    }

    /// Reads `length` bytes of the process's memory at `address`. Returns
    /// `None` when some of those pages are not in this dump (never touched,
    /// in a parent pre-dump, or lazy).
    pub fn read_memory(&self, address: u64, length: u64) -> Result<Option<Vec<u8>>, ImageError> {
        if length > MAX_READ_BYTES {
            return Err(ImageError::MemoryRange { path: self.path.clone(), address, requested: length, max: MAX_READ_BYTES });
        }
        let end = address.saturating_add(length);
        let mut chunks = Vec::new();
        let mut cursor = address;
        while cursor < end {
            let Some(run) = self.present().find(|run| run.vaddr <= cursor && cursor < run.end()) else {
                return Ok(None);
            };
            let Some(run_offset) = run.offset else { return Ok(None) };
            let chunk_end = run.end().min(end);
            chunks.push((run_offset + (cursor - run.vaddr), chunk_end - cursor));
            cursor = chunk_end;
        }

        let mut buffer = vec![0; length as usize];
        let mut filled = 0;
        match &self.pages {
            PagesSource::File(path) => {
                let io_error = |source| ImageError::Io { path: path.clone(), source };
                let mut file = File::open(path).map_err(io_error)?;
                let size = file.metadata().map_err(io_error)?.len();
                for (offset, chunk) in chunks {
                    self.check_range(offset + chunk, size)?;
                    file.seek(SeekFrom::Start(offset)).map_err(io_error)?;
                    file.read_exact(&mut buffer[filled..filled + chunk as usize]).map_err(io_error)?;
                    filled += chunk as usize;
                }
            }
            PagesSource::Archive { archive, name } => {
                let size = archive.size(name).ok_or_else(|| ImageError::Missing { path: archive.member_path(name) })?;
                for (offset, chunk) in chunks {
                    self.check_range(offset + chunk, size)?;
                    archive.read_at(name, offset, &mut buffer[filled..filled + chunk as usize])?;
                    filled += chunk as usize;
                }
            }
        }
        Ok(Some(buffer))
    }

    fn check_range(&self, end: u64, size: u64) -> Result<(), ImageError> {
        if end > size {
            return Err(ImageError::PagesOutOfRange { pagemap: self.path.clone(), pages: self.pages.path(), offset: end, size });
        }
        Ok(())
    }

    fn present(&self) -> impl Iterator<Item = &PageRun> {
        self.runs.iter().filter(|run| run.offset.is_some())
    }
}

/// Turns a pagemap entry into a run, reading the flags the way CRIU does
/// for images of every version.
fn page_run(entry: &proto::PagemapEntry, offset: u64) -> PageRun {
    let nr_pages = entry.nr_pages.unwrap_or(u64::from(entry.compat_nr_pages));
    // Images from before the flags field record only whether the run is
    // in the parent, and every other run was dumped.
    let flags = entry.flags.unwrap_or(if entry.in_parent.unwrap_or(false) { PE_PARENT } else { PE_PRESENT });
    let present = flags & PE_PRESENT != 0;
    PageRun { vaddr: entry.vaddr, nr_pages, flags, offset: present.then_some(offset) }
}

/// Splits NUL-separated strings, as the kernel lays out argv and envp.
pub fn split_nul_strings(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|byte| *byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_without_flags_count_as_dumped() {
        let entry = proto::PagemapEntry { vaddr: 0x1000, compat_nr_pages: 2, ..Default::default() };
        let run = page_run(&entry, 0);
        assert_eq!(run.nr_pages, 2);
        assert_eq!(run.offset, Some(0));
    }

    #[test]
    fn parent_runs_have_no_offset() {
        let entry = proto::PagemapEntry { vaddr: 0x1000, nr_pages: Some(3), flags: Some(PE_PARENT), ..Default::default() };
        assert_eq!(page_run(&entry, 0).offset, None);
    }

    #[test]
    fn nr_pages_wins_over_compat_count() {
        let entry = proto::PagemapEntry { vaddr: 0, compat_nr_pages: 0, nr_pages: Some(7), flags: Some(PE_PRESENT), ..Default::default() };
        assert_eq!(page_run(&entry, 0).nr_pages, 7);
    }

    #[test]
    fn dumped_bytes_in_clips_to_range() {
        let pagemap = Pagemap {
            path: "pagemap-1.img".into(),
            pages: PagesSource::File("pages-1.img".into()),
            runs: vec![PageRun { vaddr: 0x1000, nr_pages: 4, flags: PE_PRESENT, offset: Some(0) }],
        };
        assert_eq!(pagemap.dumped_bytes_in(0x2000, 0x3000), PAGE_SIZE);
        assert_eq!(pagemap.dumped_bytes(), 4 * PAGE_SIZE);
    }

    #[test]
    fn nul_strings_split_into_words() {
        assert_eq!(split_nul_strings(b"sh\0-c\0echo hi\0"), vec!["sh", "-c", "echo hi"]);
    }
}
