//! The framing shared by CRIU's protobuf images: magic numbers, then
//! entries of a 32-bit little-endian length and that many protobuf bytes.
//!
//! Decoding never trusts a length: an entry that claims more bytes than the
//! file contains is reported as truncation at its offset, and whole files are
//! checked against [`MAX_IMAGE_BYTES`] before they are read.

use std::fs;
use std::path::Path;

use prost::Message;

use super::{magic, ImageError};

/// The largest metadata image read into memory. CRIU's metadata images of
/// a container run to kilobytes or a few megabytes (seccomp filters, large
/// files tables); pages images are never read whole.
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;

/// One entry of an image: its offset in the file (of the length word) and
/// its protobuf bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry<'a> {
    pub offset: usize,
    pub bytes: &'a [u8],
}

impl RawEntry<'_> {
    /// Decodes the entry as `M`, naming the file and offset on failure.
    pub fn decode<M: Message + Default>(&self, path: &Path) -> Result<M, ImageError> {
        M::decode(self.bytes).map_err(|source| ImageError::Decode { path: path.to_path_buf(), offset: self.offset, source })
    }
}

/// Reads an image file whole, after checking its size.
pub fn read_image(path: &Path) -> Result<Vec<u8>, ImageError> {
    let io_error = |source| ImageError::Io { path: path.to_path_buf(), source };
    let size = fs::metadata(path).map_err(io_error)?.len();
    if size > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge { path: path.to_path_buf(), size, max: MAX_IMAGE_BYTES });
    }
    fs::read(path).map_err(io_error)
}

/// Reads every entry of an image whose own magic is `magic`.
pub fn read_entries<M: Message + Default>(path: &Path, magic: u32) -> Result<Vec<M>, ImageError> {
    let bytes = read_image(path)?;
    decode_entries(path, &bytes, magic)
}

/// Reads the first entry of an image that must have one.
pub fn read_first<M: Message + Default>(path: &Path, magic: u32) -> Result<M, ImageError> {
    let bytes = read_image(path)?;
    decode_first(path, &bytes, magic)
}

/// Decodes only the first entry of an image, for images whose entry is
/// followed by raw data (tcp-stream queues, ghost files).
pub fn decode_first<M: Message + Default>(path: &Path, bytes: &[u8], magic: u32) -> Result<M, ImageError> {
    let offset = skip_magic(path, bytes, magic)?;
    if offset >= bytes.len() {
        return Err(ImageError::Empty { path: path.to_path_buf() });
    }
    next_entry(path, bytes, offset)?.0.decode(path)
}

/// Splits an image whose entries are each followed by raw data, as in
/// sk-queues.img; `payload` returns the data's length from the entry.
pub fn split_entries_with_payload<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    payload: impl Fn(&RawEntry<'a>) -> Result<usize, ImageError>,
) -> Result<Vec<RawEntry<'a>>, ImageError> {
    let mut offset = skip_magic(path, bytes, magic)?;
    let mut entries = Vec::new();
    while offset < bytes.len() {
        let (entry, end) = next_entry(path, bytes, offset)?;
        let length = payload(&entry)?;
        let available = bytes.len() - end;
        if length > available {
            return Err(ImageError::Truncated { path: path.to_path_buf(), offset: end, needed: length - available });
        }
        entries.push(entry);
        offset = end + length;
    }
    Ok(entries)
}

/// Decodes every entry of an image held in memory as `M`.
pub fn decode_entries<M: Message + Default>(path: &Path, bytes: &[u8], magic: u32) -> Result<Vec<M>, ImageError> {
    split_entries(path, bytes, magic)?.iter().map(|entry| entry.decode(path)).collect()
}

/// Checks the magic numbers and splits the rest into entries, without
/// decoding them, for images whose entries are of several messages (a
/// pagemap is a head, then page runs).
pub fn split_entries<'a>(path: &Path, bytes: &'a [u8], expected: u32) -> Result<Vec<RawEntry<'a>>, ImageError> {
    let mut offset = skip_magic(path, bytes, expected)?;
    let mut entries = Vec::new();
    while offset < bytes.len() {
        let (entry, end) = next_entry(path, bytes, offset)?;
        entries.push(entry);
        offset = end;
    }
    Ok(entries)
}

/// Checks the magic numbers and returns the offset of the first entry.
fn skip_magic(path: &Path, bytes: &[u8], expected: u32) -> Result<usize, ImageError> {
    let mut offset = 0;
    let mut found = read_u32(path, bytes, offset)?;
    if found == magic::IMG_COMMON || found == magic::IMG_SERVICE {
        offset += 4;
        found = read_u32(path, bytes, offset)?;
    }
    if found != expected {
        return Err(ImageError::Magic { path: path.to_path_buf(), offset, found, expected });
    }
    Ok(offset + 4)
}

/// Reads the entry at `offset` and returns it with the offset after it.
fn next_entry<'a>(path: &Path, bytes: &'a [u8], offset: usize) -> Result<(RawEntry<'a>, usize), ImageError> {
    let length = read_u32(path, bytes, offset)? as usize;
    let start = offset + 4;
    let available = bytes.len() - start.min(bytes.len());
    if length > available {
        return Err(ImageError::Truncated { path: path.to_path_buf(), offset: start, needed: length - available });
    }
    Ok((RawEntry { offset, bytes: &bytes[start..start + length] }, start + length))
}

fn read_u32(path: &Path, bytes: &[u8], offset: usize) -> Result<u32, ImageError> {
    match bytes.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(ImageError::Truncated {
            path: path.to_path_buf(),
            offset,
            needed: offset + 4 - bytes.len().min(offset + 4),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::proto;

    #[test]
    fn empty_file_is_truncated() {
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &[], magic::STATS).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { offset: 0, needed: 4, .. }));
    }

    #[test]
    fn wrong_magic_is_named() {
        let bytes = 0x1234_5678u32.to_le_bytes();
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &bytes, magic::STATS).unwrap_err();
        assert!(matches!(error, ImageError::Magic { found: 0x1234_5678, offset: 0, .. }));
    }

    #[test]
    fn oversized_length_is_truncation_not_allocation() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&magic::IMG_SERVICE.to_le_bytes());
        bytes.extend_from_slice(&magic::STATS.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let error = decode_entries::<proto::StatsEntry>(Path::new("x"), &bytes, magic::STATS).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { offset: 12, .. }));
    }

    #[test]
    fn inventory_has_only_its_own_magic() {
        let mut bytes = magic::INVENTORY.to_le_bytes().to_vec();
        let entry = proto::InventoryEntry { img_version: 2, ..Default::default() };
        let body = entry.encode_to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        let entries: Vec<proto::InventoryEntry> = decode_entries(Path::new("x"), &bytes, magic::INVENTORY).unwrap();
        assert_eq!(entries, vec![entry]);
    }

    #[test]
    fn first_entry_ignores_trailing_data() {
        let mut bytes = magic::IMG_COMMON.to_le_bytes().to_vec();
        bytes.extend_from_slice(&magic::TCP_STREAM.to_le_bytes());
        let entry = proto::TcpStreamEntry { inq_len: 5, ..Default::default() };
        let body = entry.encode_to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b"hello");
        let first: proto::TcpStreamEntry = decode_first(Path::new("x"), &bytes, magic::TCP_STREAM).unwrap();
        assert_eq!(first.inq_len, 5);
    }

    #[test]
    fn payload_longer_than_file_is_truncation() {
        let mut bytes = magic::IMG_COMMON.to_le_bytes().to_vec();
        bytes.extend_from_slice(&magic::SK_QUEUES.to_le_bytes());
        let body = proto::SkPacketEntry { id_for: 3, length: 100 }.encode_to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b"short");
        let length_of = |entry: &RawEntry| entry.decode::<proto::SkPacketEntry>(Path::new("x")).map(|packet| packet.length as usize);
        let error = split_entries_with_payload(Path::new("x"), &bytes, magic::SK_QUEUES, length_of).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { needed: 95, .. }), "{error:?}");
    }

    #[test]
    fn partial_length_word_is_truncation() {
        let mut bytes = magic::IMG_COMMON.to_le_bytes().to_vec();
        bytes.extend_from_slice(&magic::PSTREE.to_le_bytes());
        bytes.extend_from_slice(&[3, 0]);
        let error = decode_entries::<proto::PstreeEntry>(Path::new("x"), &bytes, magic::PSTREE).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { offset: 8, needed: 2, .. }));
    }
}
