//! The one place where our rkyv archives are written and read back: a format byte in front,
//! then the archive, then a CRC-32C of both (little-endian), validated on the way in.
//!
//! The checksum is there because rkyv reads an archive from its end: a truncated or spliced
//! buffer can still hold a well-formed (but different) archive, which validation alone would
//! accept.
//!
//! Bytes from the network or the disk go through [`decode`], which copies them into an aligned
//! buffer and runs rkyv's validation, so a corrupt or hostile input is an error, never a panic
//! or undefined behaviour. An unknown format byte is an error too: a newer writer must bump it.

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty input")]
    Empty,
    /// The format byte is one this build does not know.
    #[error("unknown format version {found} (this build reads {expected})")]
    UnknownVersion {
        /// The byte found.
        found: u8,
        /// The one this build reads.
        expected: u8,
    },
    /// The checksum does not match: truncated or corrupt bytes.
    #[error("checksum mismatch")]
    Checksum,
    /// The archive failed validation.
    #[error("invalid archive: {0}")]
    Invalid(String),
}

/// Bytes of the checksum trailer.
const CRC_BYTES: usize = 4;

/// `version`, the rkyv archive of `value`, and the CRC-32C of both.
pub fn encode<T>(version: u8, value: &T) -> Vec<u8>
where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    // Serializing plain owned data into a growable buffer cannot fail: rkyv only errors on
    // allocation limits or pointer-width overflow, which a bounded record cannot reach.
    let archive = match rkyv::to_bytes::<rancor::Error>(value) {
        Ok(a) => a,
        Err(e) => panic!("rkyv serialization of owned data failed: {e}"),
    };
    let mut out = Vec::with_capacity(archive.len() + 1 + CRC_BYTES);
    out.push(version);
    out.extend_from_slice(&archive);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes what [`encode`] wrote with the same `version`, validating the archive.
pub fn decode<T>(version: u8, bytes: &[u8]) -> Result<T, CodecError>
where
    T: Archive,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    let split = bytes
        .len()
        .checked_sub(CRC_BYTES)
        .ok_or(CodecError::Checksum)?;
    let (checked, trailer) = bytes.split_at(split);
    let mut crc = [0u8; CRC_BYTES];
    crc.copy_from_slice(trailer);
    if crc32c::crc32c(checked) != u32::from_le_bytes(crc) {
        return Err(CodecError::Checksum);
    }
    let (&found, body) = checked.split_first().ok_or(CodecError::Empty)?;
    if found != version {
        return Err(CodecError::UnknownVersion {
            found,
            expected: version,
        });
    }
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(|e| CodecError::Invalid(e.to_string()))
}
