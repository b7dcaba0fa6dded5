//! Checkpoint archives as Podman, CRI-O and the kubelet write them: a tar
//! of the checkpoint folder (checkpoint/ with CRIU's images, config.dump,
//! spec.dump, stats-dump, rootfs-diff.tar), plain or compressed with gzip
//! or zstd.
//!
//! A plain tar is indexed by seeking from header to header, so members are
//! read in place and never copied. A compressed archive cannot be sought
//! in, so it is decompressed once as a stream: metadata members are kept
//! in memory, pages images only when the caller will read pages, and every
//! other member is skipped as it streams past.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::framing::MAX_IMAGE_BYTES;
use super::ImageError;

/// The maximum bytes of pages images kept in memory from a compressed
/// archive. Reading pages past it fails with a diagnostic that suggests
/// unpacking the archive.
pub const MAX_KEPT_PAGES_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Returns the compression an archive's file name says it has, or
    /// `None` when the name is not an archive's.
    pub fn from_name(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        if name.ends_with(".tar") {
            Some(Self::None)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Self::Gzip)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tar.zstd") {
            Some(Self::Zstd)
        } else {
            None
        }
    }
}

#[derive(Debug)]
enum Data {
    /// The member's data starts at this offset of the plain tar file.
    At(u64),
    Kept(Vec<u8>),
    /// Streamed past without being kept.
    Skipped,
}

#[derive(Debug)]
struct Member {
    size: u64,
    data: Data,
}

/// An opened checkpoint archive: the index of its regular-file members.
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    members: HashMap<String, Member>,
}

impl Archive {
    /// Opens an archive; `keep_pages` keeps the pages images of a
    /// compressed archive for reading process memory.
    pub fn open(path: &Path, compression: Compression, keep_pages: bool) -> Result<Self, ImageError> {
        let io_error = |source| ImageError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io_error)?;
        let members = match compression {
            Compression::None => index_plain(path, file)?,
            Compression::Gzip => stream(path, flate2::read::GzDecoder::new(BufReader::new(file)), keep_pages)?,
            Compression::Zstd => {
                let decoder = ruzstd::decoding::StreamingDecoder::new(BufReader::new(file))
                    .map_err(|error| io_error(io::Error::new(io::ErrorKind::InvalidData, error)))?;
                stream(path, decoder, keep_pages)?
            }
        };
        Ok(Self { path: path.to_path_buf(), members })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns a member's path for diagnostics: the archive's path joined
    /// with the member's name.
    pub fn member_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        self.members.get(name).map(|member| member.size)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// Reads a whole metadata member, checking its size first.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.member_path(name);
        let Some(member) = self.members.get(name) else {
            return Err(ImageError::Missing { path });
        };
        if member.size > MAX_IMAGE_BYTES {
            return Err(ImageError::TooLarge { path, size: member.size, max: MAX_IMAGE_BYTES });
        }
        let mut buffer = vec![0; member.size as usize];
        self.read_at(name, 0, &mut buffer)?;
        Ok(buffer)
    }

    /// Fills `buffer` from a member's data at `offset`.
    pub fn read_at(&self, name: &str, offset: u64, buffer: &mut [u8]) -> Result<(), ImageError> {
        let path = self.member_path(name);
        let Some(member) = self.members.get(name) else {
            return Err(ImageError::Missing { path });
        };
        let end = offset.saturating_add(buffer.len() as u64);
        if end > member.size {
            return Err(ImageError::Truncated { path, offset: member.size as usize, needed: (end - member.size) as usize });
        }
        match &member.data {
            Data::At(start) => {
                let io_error = |source| ImageError::Io { path: self.path.clone(), source };
                let mut file = File::open(&self.path).map_err(io_error)?;
                file.seek(SeekFrom::Start(start + offset)).map_err(io_error)?;
                file.read_exact(buffer).map_err(io_error)
            }
            Data::Kept(bytes) => {
                buffer.copy_from_slice(&bytes[offset as usize..end as usize]);
                Ok(())
            }
            Data::Skipped => Err(ImageError::ArchiveMemberSkipped { path, archive: self.path.clone() }),
        }
    }
}

/// Normalises a member name: "./checkpoint/x" and "checkpoint/x" are one.
fn member_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    name.trim_start_matches("./").to_string()
}

fn is_pages(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.starts_with("pages-") && file.ends_with(".img")
}

fn index_plain(path: &Path, file: File) -> Result<HashMap<String, Member>, ImageError> {
    let io_error = |source| ImageError::Io { path: path.to_path_buf(), source };
    let file_size = file.metadata().map_err(io_error)?.len();
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    for entry in archive.entries_with_seek().map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = member_name(&entry.path_bytes());
        let (start, size) = (entry.raw_file_position(), entry.size());
        // A header may claim more data than the file has; reading such a
        // member must fail at its offset, not allocate what it claims.
        let end = start.saturating_add(size);
        if end > file_size {
            return Err(ImageError::Truncated {
                path: path.join(&name),
                offset: start as usize,
                needed: (end - file_size) as usize,
            });
        }
        members.insert(name, Member { size, data: Data::At(start) });
    }
    Ok(members)
}

// NOTE: a compressed archive is decompressed to its end even when the
// members that a view needs came early. The overview's sizes need every
// member's header, and which images a view needs depends on pstree.img, so
// stopping sooner needs a lazy reader and sizes left unknown.
fn stream(path: &Path, reader: impl Read, keep_pages: bool) -> Result<HashMap<String, Member>, ImageError> {
    let io_error = |source| ImageError::Io { path: path.to_path_buf(), source };
    let mut archive = tar::Archive::new(reader);
    let mut members = HashMap::new();
    let mut kept_pages = 0u64;
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = entry.map_err(io_error)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = member_name(&entry.path_bytes());
        let size = entry.size();
        let keep = if is_pages(&name) {
            keep_pages && kept_pages.saturating_add(size) <= MAX_KEPT_PAGES_BYTES
        } else {
            // The rootfs diff is an archive of its own that inspect only
            // measures.
            size <= MAX_IMAGE_BYTES && !name.ends_with(".tar")
        };
        let data = if keep {
            // The size comes from the header, so the buffer grows with the
            // data actually read rather than being sized up front.
            let mut bytes = Vec::new();
            entry.by_ref().take(size).read_to_end(&mut bytes).map_err(io_error)?;
            if is_pages(&name) {
                kept_pages += size;
            }
            Data::Kept(bytes)
        } else {
            Data::Skipped
        };
        members.insert(name, Member { size, data });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_file_name() {
        assert_eq!(Compression::from_name(Path::new("cp.tar")), Some(Compression::None));
        assert_eq!(Compression::from_name(Path::new("cp.tar.gz")), Some(Compression::Gzip));
        assert_eq!(Compression::from_name(Path::new("cp.TAR.ZST")), Some(Compression::Zstd));
        assert_eq!(Compression::from_name(Path::new("cp.img")), None);
    }

    #[test]
    fn member_larger_than_archive_is_truncation() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("cp.tar");
        let mut builder = tar::Builder::new(File::create(&path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_cksum();
        builder.append_data(&mut header, "checkpoint/inventory.img", &b"abcd"[..]).unwrap();
        builder.finish().unwrap();
        drop(builder);

        // Claim 1 GiB for the member: the header's size field is octal
        // text at bytes 124..136, and its checksum must be fixed up.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[124..136].copy_from_slice(b"10000000000\0");
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&bytes[..512]);
        header.set_cksum();
        bytes[..512].copy_from_slice(header.as_bytes());
        std::fs::write(&path, &bytes).unwrap();

        let error = Archive::open(&path, Compression::None, false).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { .. }), "{error:?}");
    }

    #[test]
    fn member_names_drop_leading_dot() {
        assert_eq!(member_name(b"./checkpoint/pstree.img"), "checkpoint/pstree.img");
    }

    #[test]
    fn pages_images_are_recognised() {
        assert!(is_pages("checkpoint/pages-3.img"));
        assert!(!is_pages("checkpoint/pagemap-3.img"));
    }
}
