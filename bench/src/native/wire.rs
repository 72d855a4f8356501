//! Kafka request framing and version negotiation for the native client. Codecs only: the
//! socket side is in `conn.rs`.
//!
//! A request frame is `length: i32` then the request header (version from the API's
//! `header_version`) then the body; a response frame is `length: i32`, the response header
//! (its correlation id) and the body. Responses on one connection come back in request order.

use crate::limits::{CLIENT_ID, READ_CHUNK_BYTES, RESPONSE_BYTES_MAX};
use anyhow::{bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, CreateTopicsRequest, FetchRequest, ListOffsetsRequest,
    MetadataRequest, ProduceRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// The API versions this client speaks to one broker: for each API the highest version both
/// sides support, capped where a newer version would need something the client does not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Produce (v3+ carries v2 record batches; capped at 9, the last before topic ids).
    pub produce: i16,
    /// Fetch (capped at 12: v13+ names topics by id).
    pub fetch: i16,
    /// Metadata.
    pub metadata: i16,
    /// ListOffsets.
    pub list_offsets: i16,
    /// CreateTopics.
    pub create_topics: i16,
}

/// Our version ranges: (API, lowest we accept, highest we send).
const OURS: [(ApiKey, i16, i16); 5] = [
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::CreateTopics, 0, 7),
];

/// The ApiVersions request version sent first (v3 is flexible and what current clients send).
pub const API_VERSIONS_VERSION: i16 = 3;

/// Picks a version for each API from the broker's ApiVersions answer.
pub fn negotiate(resp: &ApiVersionsResponse) -> anyhow::Result<Versions> {
    if resp.error_code != 0 {
        bail!("ApiVersions failed with error code {}", resp.error_code);
    }
    let mut picked = [0i16; OURS.len()];
    for (slot, (key, lo, hi)) in picked.iter_mut().zip(OURS) {
        let theirs = resp
            .api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .with_context(|| format!("broker does not support {key:?}"))?;
        let v = hi.min(theirs.max_version);
        if v < lo.max(theirs.min_version) {
            bail!(
                "no common {key:?} version: ours {lo}..={hi}, broker's {}..={}",
                theirs.min_version,
                theirs.max_version
            );
        }
        *slot = v;
    }
    let [produce, fetch, metadata, list_offsets, create_topics] = picked;
    Ok(Versions {
        produce,
        fetch,
        metadata,
        list_offsets,
        create_topics,
    })
}

/// The API key of each request type this client sends.
pub trait Api: Request {
    /// The key.
    const API_KEY: ApiKey;
}
impl Api for ProduceRequest {
    const API_KEY: ApiKey = ApiKey::Produce;
}
impl Api for FetchRequest {
    const API_KEY: ApiKey = ApiKey::Fetch;
}
impl Api for MetadataRequest {
    const API_KEY: ApiKey = ApiKey::Metadata;
}
impl Api for ListOffsetsRequest {
    const API_KEY: ApiKey = ApiKey::ListOffsets;
}
impl Api for CreateTopicsRequest {
    const API_KEY: ApiKey = ApiKey::CreateTopics;
}
impl Api for kafka_protocol::messages::ApiVersionsRequest {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
}

/// Appends one length-prefixed request frame to `buf`.
pub fn encode_request<R: Api>(
    buf: &mut BytesMut,
    req: &R,
    version: i16,
    correlation_id: i32,
) -> anyhow::Result<()> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::API_KEY as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str(CLIENT_ID));
    let header_version = R::header_version(version);
    let len = header.compute_size(header_version)? + req.compute_size(version)?;
    buf.reserve(4 + len);
    buf.put_i32(i32::try_from(len).context("request too large")?);
    header.encode(buf, header_version)?;
    req.encode(buf, version)?;
    Ok(())
}

/// Decodes a response frame (without its length prefix): its correlation id and body.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
) -> anyhow::Result<(i32, R::Response)> {
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))?;
    let body = R::Response::decode(&mut frame, version)?;
    Ok((header.correlation_id, body))
}

/// Splits a byte stream into response frames. The socket side fills [`FrameReader::space`] and
/// calls [`FrameReader::filled`]; frames come out of [`FrameReader::next_frame`].
///
/// The buffer is zeroed once as it grows and kept, so a large frame costs one allocation and
/// reads land directly in it.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
    len: usize,
}

impl FrameReader {
    /// The next complete frame (without its length prefix), if one has arrived.
    pub fn next_frame(&mut self) -> anyhow::Result<Option<Bytes>> {
        let Some(size) = self.frame_size()? else {
            return Ok(None);
        };
        if self.len < 4 + size {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(4 + size);
        self.len -= 4 + size;
        frame.advance(4);
        Ok(Some(frame.freeze()))
    }

    fn frame_size(&self) -> anyhow::Result<Option<usize>> {
        let Some(head) = self.buf.get(..4).filter(|_| self.len >= 4) else {
            return Ok(None);
        };
        let mut b = [0u8; 4];
        b.copy_from_slice(head);
        let size = usize::try_from(i32::from_be_bytes(b)).context("negative frame length")?;
        if size > RESPONSE_BYTES_MAX {
            bail!("response frame of {size} bytes is over the {RESPONSE_BYTES_MAX} limit");
        }
        Ok(Some(size))
    }

    /// Free space to read into: at least the rest of the current frame, else a chunk.
    pub fn space(&mut self) -> anyhow::Result<&mut [u8]> {
        let want = match self.frame_size()? {
            Some(size) if self.len < 4 + size => 4 + size,
            _ => self.len + READ_CHUNK_BYTES,
        };
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        Ok(self.buf.get_mut(self.len..).unwrap_or_default())
    }

    /// Marks `n` bytes of [`FrameReader::space`] as read.
    pub fn filled(&mut self, n: usize) {
        assert!(self.len + n <= self.buf.len());
        self.len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataResponse};

    fn versions_response(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        let mut r = ApiVersionsResponse::default();
        r.api_keys = ranges
            .iter()
            .map(|&(k, lo, hi)| {
                let mut v = ApiVersion::default();
                v.api_key = k as i16;
                v.min_version = lo;
                v.max_version = hi;
                v
            })
            .collect();
        r
    }

    #[test]
    fn negotiation_takes_the_highest_common_version() {
        let r = versions_response(&[
            (ApiKey::Produce, 0, 11),
            (ApiKey::Fetch, 0, 16),
            (ApiKey::Metadata, 0, 9),
            (ApiKey::ListOffsets, 0, 8),
            (ApiKey::CreateTopics, 2, 7),
        ]);
        let v = negotiate(&r).unwrap();
        assert_eq!(
            v,
            Versions {
                produce: 9,
                fetch: 12,
                metadata: 9,
                list_offsets: 7,
                create_topics: 7
            }
        );
    }

    #[test]
    fn negotiation_fails_without_overlap_or_api() {
        let r = versions_response(&[(ApiKey::Produce, 0, 2)]);
        assert!(negotiate(&r).is_err());
        let mut r = versions_response(&[]);
        assert!(negotiate(&r).is_err());
        r.error_code = 35;
        assert!(negotiate(&r).is_err());
    }

    /// The exact bytes of an ApiVersions v3 request, as Kafka's own client frames it.
    #[test]
    fn request_framing_matches_canned_bytes() {
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("b");
        req.client_software_version = StrBytes::from_static_str("1");
        let mut buf = BytesMut::new();
        encode_request(&mut buf, &req, 3, 7).unwrap();
        let mut want = vec![0, 0, 0, 28]; // length
        want.extend([0, 18, 0, 3, 0, 0, 0, 7]); // api key 18, version 3, correlation 7
        want.extend([0, 12]); // client id length (a non-compact string even in header v2)
        want.extend(b"myelin-bench");
        want.push(0); // header tagged fields
        want.extend([2, b'b', 2, b'1', 0]); // compact strings, body tagged fields
        assert_eq!(&buf[..], &want[..]);
    }

    #[test]
    fn response_frames_split_and_decode() {
        // A Metadata v1 response: correlation 9, one broker, no topics; header v0.
        let mut body = BytesMut::new();
        let mut r = MetadataResponse::default();
        let mut b = kafka_protocol::messages::metadata_response::MetadataResponseBroker::default();
        b.node_id = 3.into();
        b.host = StrBytes::from_static_str("h");
        b.port = 9092;
        r.brokers.push(b);
        r.controller_id = 3.into();
        body.put_i32(9);
        r.encode(&mut body, 1).unwrap();
        let mut stream = BytesMut::new();
        stream.put_i32(body.len() as i32);
        stream.extend_from_slice(&body);
        stream.put_i32(4); // the start of a second frame
        stream.put_i32(10);

        let mut reader = FrameReader::default();
        let bytes = stream.freeze();
        // Feed one byte at a time: frames come out only when complete.
        let mut frames = Vec::new();
        for &byte in bytes.iter() {
            let space = reader.space().unwrap();
            space[0] = byte;
            reader.filled(1);
            while let Some(f) = reader.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        let (id, got) = decode_response::<MetadataRequest>(frames[0].clone(), 1).unwrap();
        assert_eq!(id, 9);
        assert_eq!(got, r);
        assert_eq!(&frames[1][..], &10i32.to_be_bytes());
    }

    #[test]
    fn oversized_or_negative_frames_are_errors() {
        let mut reader = FrameReader::default();
        let space = reader.space().unwrap();
        space[..4].copy_from_slice(&(-1i32).to_be_bytes());
        reader.filled(4);
        assert!(reader.next_frame().is_err());
        let mut reader = FrameReader::default();
        let space = reader.space().unwrap();
        space[..4].copy_from_slice(&i32::MAX.to_be_bytes());
        reader.filled(4);
        assert!(reader.next_frame().is_err());
    }
}
