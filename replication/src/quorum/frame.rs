//! The frames quorum nodes and brokers exchange: a fixed header, then the payload.
//!
//! Header (little-endian, [`FRAME_HEADER_BYTES`] bytes): magic `MYQF`, format version, kind,
//! two reserved zero bytes, the cluster id (16 bytes), sender node id, receiver node id,
//! payload length, and the CRC-32C of the header (without the CRC) and the payload.
//!
//! The decoder takes untrusted bytes: it returns `Ok(None)` while a frame is incomplete, an
//! error for anything that breaks the format, and checks the payload length against
//! [`FRAME_PAYLOAD_BYTES_MAX`] before the caller reads (or allocates for) the payload. It never
//! panics. Codecs do no I/O: the shell reads bytes and hands them over.

use crate::limits::FRAME_PAYLOAD_BYTES_MAX;
use crate::types::NodeId;

/// First bytes of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"MYQF";
/// The frame format this build writes and reads.
pub const FRAME_FORMAT_VERSION: u8 = 1;
/// Bytes of the fixed header.
pub const FRAME_HEADER_BYTES: usize = 4 + 1 + 1 + 2 + 16 + 4 + 4 + 4 + 4;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A Raft message between voters (protobuf, Raft's own encoding).
    Raft,
    /// A controller RPC request ([`super::rpc::RpcRequest`]).
    ControllerRequest,
    /// A controller RPC response ([`super::rpc::RpcResponse`]).
    ControllerResponse,
    /// `FetchMetadata` from a broker ([`super::rpc::FetchMetadata`]).
    FetchMetadata,
    /// The answer to `FetchMetadata` ([`super::rpc::MetadataAnswer`]).
    MetadataAnswer,
}

impl FrameKind {
    fn byte(self) -> u8 {
        match self {
            FrameKind::Raft => 1,
            FrameKind::ControllerRequest => 2,
            FrameKind::ControllerResponse => 3,
            FrameKind::FetchMetadata => 4,
            FrameKind::MetadataAnswer => 5,
        }
    }

    fn from_byte(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Raft,
            2 => FrameKind::ControllerRequest,
            3 => FrameKind::ControllerResponse,
            4 => FrameKind::FetchMetadata,
            5 => FrameKind::MetadataAnswer,
            _ => return None,
        })
    }
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not our magic: not a Myelin quorum peer.
    #[error("bad magic")]
    Magic,
    /// A format version this build does not read.
    #[error("unknown frame format {0}")]
    Version(u8),
    /// A kind this build does not know.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// Reserved bytes not zero.
    #[error("reserved bytes set")]
    Reserved,
    /// The payload length exceeds [`FRAME_PAYLOAD_BYTES_MAX`].
    #[error("payload of {0} bytes is too long")]
    TooLong(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it carries.
    pub kind: FrameKind,
    /// The cluster it belongs to.
    pub cluster_id: [u8; 16],
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

impl Frame {
    /// The frame's bytes. Panics (a programmer error) on a payload over the limit: callers
    /// bound what they put in.
    pub fn encode(&self) -> Vec<u8> {
        let len = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        assert!(
            len <= FRAME_PAYLOAD_BYTES_MAX,
            "frame payload of {len} bytes"
        );
        let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + self.payload.len());
        out.extend_from_slice(&FRAME_MAGIC);
        out.push(FRAME_FORMAT_VERSION);
        out.push(self.kind.byte());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.cluster_id);
        out.extend_from_slice(&self.from.0.to_le_bytes());
        out.extend_from_slice(&self.to.0.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out), &self.payload);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Checks a header and returns the whole frame's length; `Ok(None)` when fewer than
    /// [`FRAME_HEADER_BYTES`] bytes are there. Lets a reader size its buffer safely.
    pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(header) = buf.get(..FRAME_HEADER_BYTES) else {
            return Ok(None);
        };
        if header.get(..4) != Some(&FRAME_MAGIC[..]) {
            return Err(FrameError::Magic);
        }
        let version = header.get(4).copied().unwrap_or(0);
        if version != FRAME_FORMAT_VERSION {
            return Err(FrameError::Version(version));
        }
        let kind = header.get(5).copied().unwrap_or(0);
        if FrameKind::from_byte(kind).is_none() {
            return Err(FrameError::Kind(kind));
        }
        if header.get(6..8) != Some(&[0, 0][..]) {
            return Err(FrameError::Reserved);
        }
        let len = u32_at(header, 32);
        if len > FRAME_PAYLOAD_BYTES_MAX {
            return Err(FrameError::TooLong(len));
        }
        let len = usize::try_from(len).map_err(|_| FrameError::TooLong(len))?;
        Ok(Some(FRAME_HEADER_BYTES + len))
    }

    /// Decodes the frame at the start of `buf`: the frame and the bytes it took, `Ok(None)`
    /// if it is not complete yet, or why it is not a frame.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(total) = Frame::frame_len(buf)? else {
            return Ok(None);
        };
        let Some(bytes) = buf.get(..total) else {
            return Ok(None);
        };
        let (header, payload) = bytes.split_at(FRAME_HEADER_BYTES);
        let (checked, crc) = header.split_at(FRAME_HEADER_BYTES - 4);
        let crc_found = u32_at(crc, 0);
        if crc32c::crc32c_append(crc32c::crc32c(checked), payload) != crc_found {
            return Err(FrameError::Checksum);
        }
        let mut cluster_id = [0u8; 16];
        if let Some(id) = header.get(8..24) {
            cluster_id.copy_from_slice(id);
        }
        let node = |at| NodeId(u32_at(header, at) as i32);
        let kind = header
            .get(5)
            .copied()
            .and_then(FrameKind::from_byte)
            .ok_or(FrameError::Kind(0))?;
        let frame = Frame {
            kind,
            cluster_id,
            from: node(24),
            to: node(28),
            payload: payload.to_vec(),
        };
        Ok(Some((frame, total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Frame {
        Frame {
            kind: FrameKind::FetchMetadata,
            cluster_id: [3; 16],
            from: NodeId(100),
            to: NodeId(-1),
            payload: b"payload".to_vec(),
        }
    }

    #[test]
    fn frames_round_trip_and_stream() {
        let f = sample();
        let mut bytes = f.encode();
        assert_eq!(bytes.len(), FRAME_HEADER_BYTES + 7);
        for cut in 0..bytes.len() {
            assert_eq!(Frame::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        bytes.extend_from_slice(&sample().encode());
        let (back, used) = Frame::decode(&bytes).unwrap().unwrap();
        assert_eq!(back, f);
        let (second, _) = Frame::decode(&bytes[used..]).unwrap().unwrap();
        assert_eq!(second, f);
    }

    #[test]
    fn bad_headers_are_errors() {
        let good = sample().encode();
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(Frame::decode(&b), Err(FrameError::Magic));
        let mut b = good.clone();
        b[4] = 9;
        assert_eq!(Frame::decode(&b), Err(FrameError::Version(9)));
        let mut b = good.clone();
        b[5] = 77;
        assert_eq!(Frame::decode(&b), Err(FrameError::Kind(77)));
        let mut b = good.clone();
        b[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Frame::decode(&b), Err(FrameError::TooLong(u32::MAX)));
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 1;
        assert_eq!(Frame::decode(&b), Err(FrameError::Checksum));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frame::decode(&bytes);
            let _ = super::super::rpc::decode_payload(FrameKind::ControllerRequest, &bytes);
            let _ = super::super::rpc::decode_payload(FrameKind::ControllerResponse, &bytes);
            let _ = super::super::rpc::decode_payload(FrameKind::MetadataAnswer, &bytes);
            let _ = super::super::rpc::decode_payload(FrameKind::FetchMetadata, &bytes);
            let _ = super::super::rpc::decode_payload(FrameKind::Raft, &bytes);
        }

        #[test]
        fn a_valid_header_with_arbitrary_payload_never_panics(
            kind in 1u8..=5,
            payload in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let f = Frame {
                kind: FrameKind::from_byte(kind).unwrap(),
                cluster_id: [0; 16],
                from: NodeId(1),
                to: NodeId(2),
                payload,
            };
            let (back, _) = Frame::decode(&f.encode()).unwrap().unwrap();
            let _ = super::super::rpc::decode_payload(back.kind, &back.payload);
            prop_assert_eq!(back, f);
        }
    }
}
