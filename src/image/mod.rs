//! The reader of CRIU's image files.
//!
//! A CRIU image starts with one or two 32-bit magic numbers: a family magic
//! (common or service) followed by the image's own magic. Then come entries,
//! each a 32-bit little-endian length followed by that many bytes of one
//! protobuf message. Lengths are checked against the file's size before
//! anything is allocated, so a corrupt length cannot exhaust memory.

use std::fs;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use prost::Message;
use thiserror::Error;

/// Messages of CRIU's image files, generated from proto/criu/*.proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/criu.images.rs"));
}

/// The family magic of images that describe the dumped processes.
pub const IMG_COMMON_MAGIC: u32 = 0x5456_4319;
/// The family magic of images that describe the dump itself (stats, irmap).
pub const IMG_SERVICE_MAGIC: u32 = 0x5510_5940;
/// The magic of the stats-dump and stats-restore images.
pub const STATS_MAGIC: u32 = 0x5709_3306;

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
    #[diagnostic(code(docker_cr::image::decode), help("the file is corrupt"))]
    Decode {
        path: PathBuf,
        offset: usize,
        #[source]
        source: prost::DecodeError,
    },
}

/// Reads every entry of an image whose own magic is `magic`.
pub fn read_entries<M: Message + Default>(path: &Path, magic: u32) -> Result<Vec<M>, ImageError> {
    let bytes = fs::read(path).map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
    decode_entries(path, &bytes, magic)
}

fn decode_entries<M: Message + Default>(path: &Path, bytes: &[u8], magic: u32) -> Result<Vec<M>, ImageError> {
    let read_u32 = |offset: usize| -> Result<u32, ImageError> {
        let end = offset + 4;
        let word = bytes.get(offset..end).ok_or(ImageError::Truncated {
            path: path.to_path_buf(),
            offset,
            needed: end - bytes.len().min(end),
        })?;
        Ok(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
    };

    let mut offset = 0;
    let mut found = read_u32(offset)?;
    if found == IMG_COMMON_MAGIC || found == IMG_SERVICE_MAGIC {
        offset += 4;
        found = read_u32(offset)?;
    }
    if found != magic {
        return Err(ImageError::Magic { path: path.to_path_buf(), offset, found, expected: magic });
    }
    offset += 4;

    let mut entries = Vec::new();
    while offset < bytes.len() {
        let length = read_u32(offset)? as usize;
        let start = offset + 4;
        let Some(body) = bytes.get(start..start.saturating_add(length)) else {
            return Err(ImageError::Truncated {
                path: path.to_path_buf(),
                offset: start,
                needed: length - (bytes.len() - start.min(bytes.len())),
            });
        };
        let entry = M::decode(body).map_err(|source| ImageError::Decode { path: path.to_path_buf(), offset, source })?;
        entries.push(entry);
        offset = start + length;
    }
    Ok(entries)
}

/// Reads the dump statistics from a stats-dump image.
pub fn read_dump_stats(path: &Path) -> Result<Option<proto::DumpStatsEntry>, ImageError> {
    let entries: Vec<proto::StatsEntry> = read_entries(path, STATS_MAGIC)?;
    Ok(entries.into_iter().find_map(|entry| entry.dump))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_truncated() {
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &[], STATS_MAGIC).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { offset: 0, .. }));
    }

    #[test]
    fn wrong_magic_is_named() {
        let bytes = 0x1234_5678u32.to_le_bytes();
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &bytes, STATS_MAGIC).unwrap_err();
        assert!(matches!(error, ImageError::Magic { found: 0x1234_5678, .. }));
    }

    #[test]
    fn oversized_length_is_truncation_not_allocation() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&IMG_SERVICE_MAGIC.to_le_bytes());
        bytes.extend_from_slice(&STATS_MAGIC.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &bytes, STATS_MAGIC).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { offset: 12, .. }));
    }
}
