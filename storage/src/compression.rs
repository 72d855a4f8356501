//! Decompression of record batches, bounded so that a small compressed payload cannot expand
//! into unbounded memory. Used where the broker must look at records inside compressed
//! batches: compaction, and down-conversion for old clients.

use crate::batch::{self, BatchHeader};
use crate::records;
use std::io::Read;

/// Why a payload could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The bytes are not valid for the codec.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Decompressed, the data would exceed the limit.
    #[error("decompressed size exceeds {0} bytes")]
    TooLarge(usize),
}

/// The codecs of the Kafka batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy, raw or in the xerial framing Java clients use in message sets.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The codec of a batch from its attributes, or `None` for an unknown one.
    pub fn from_attributes(attributes: i16) -> Option<Codec> {
        Some(match attributes & batch::ATTR_COMPRESSION_MASK {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            _ => return None,
        })
    }
}

fn corrupt(e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt(e.to_string())
}

/// The xerial snappy framing Java clients put around snappy data in message sets.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

fn read_bounded(mut r: impl Read, limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    r.by_ref()
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    Ok(out)
}

fn snappy_raw(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecompressError> {
    let len = snap::raw::decompress_len(data).map_err(corrupt)?;
    if out.len() + len > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    snap::raw::Decoder::new()
        .decompress(data, dst)
        .map_err(corrupt)?;
    Ok(())
}

/// Decompresses `data` with `codec`, producing at most `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    Ok(match codec {
        Codec::None => data.to_vec(),
        Codec::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit)?,
        Codec::Lz4 => read_bounded(lz4::Decoder::new(data).map_err(corrupt)?, limit)?,
        Codec::Zstd => read_bounded(
            zstd::stream::read::Decoder::new(data).map_err(corrupt)?,
            limit,
        )?,
        Codec::Snappy => {
            let mut out = Vec::new();
            match data.strip_prefix(XERIAL_MAGIC) {
                Some(_) => {
                    let mut rest = data
                        .get(XERIAL_HEADER_BYTES..)
                        .ok_or_else(|| corrupt("short xerial header"))?;
                    while !rest.is_empty() {
                        let (len, tail) = rest
                            .split_first_chunk::<4>()
                            .ok_or_else(|| corrupt("short xerial chunk"))?;
                        let len = u32::from_be_bytes(*len) as usize;
                        let chunk = tail
                            .get(..len)
                            .ok_or_else(|| corrupt("short xerial chunk"))?;
                        snappy_raw(chunk, limit, &mut out)?;
                        rest = tail.get(len..).unwrap_or_default();
                    }
                }
                None => snappy_raw(data, limit, &mut out)?,
            }
            out
        }
    })
}

/// The header of a stored v2 batch and its records section, decompressed (bounded).
pub fn batch_records(
    batch: &[u8],
    limit: usize,
) -> Result<(BatchHeader, Vec<u8>), DecompressError> {
    let header = BatchHeader::parse(batch).map_err(corrupt)?;
    let codec =
        Codec::from_attributes(header.attributes).ok_or_else(|| corrupt("unknown codec"))?;
    Ok((
        header,
        decompress(codec, records::records_section(batch), limit)?,
    ))
}
