//! The payloads of controller RPC and metadata-fetch frames (rkyv, behind a format byte and a
//! CRC-32C), and of Raft frames (Raft's protobuf, checked by decoding).
//!
//! Decoding takes untrusted bytes and returns errors, never panics; the frame has already
//! bounded the length.

use super::frame::FrameKind;
use crate::codec::{self, CodecError};
use crate::controller::request::{ControllerRequest, ControllerResponse};
use crate::error::ControllerError;
use protobuf::Message as _;
use rkyv::{Archive, Deserialize, Serialize};

/// Format byte of our RPC payloads.
pub const RPC_FORMAT_VERSION: u8 = 2;

/// A request to the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct RpcRequest {
    /// The caller's id for it, echoed in the response.
    pub request_id: u64,
    /// The request.
    pub request: ControllerRequest,
}

/// The controller's answer.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct RpcResponse {
    /// The request's id.
    pub request_id: u64,
    /// The answer or the error.
    pub result: Result<ControllerResponse, ControllerError>,
    /// The controller's committed index when it answered: the caller waits until the image
    /// it serves from has reached it.
    pub index: u64,
}

/// A broker asks for the committed metadata log from `from_index`.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct FetchMetadata {
    /// The caller's id for it.
    pub request_id: u64,
    /// The first index wanted (the broker's last applied + 1).
    pub from_index: u64,
}

pub use answer_kinds::MetadataAnswer;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod answer_kinds {
    use super::*;

    /// The answer to [`FetchMetadata`].
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    pub enum MetadataAnswer {
        /// Committed entries (index, bytes) from the index asked; empty bytes are no-ops.
        Entries {
            /// The request's id.
            request_id: u64,
            /// The entries.
            entries: Vec<(u64, Vec<u8>)>,
            /// The commit index of the answering node.
            high_watermark: u64,
        },
        /// The index asked is compacted away: start from this image.
        Snapshot {
            /// The request's id.
            request_id: u64,
            /// The index the image is at.
            index: u64,
            /// The image bytes.
            data: Vec<u8>,
        },
    }
}

/// A decoded frame payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A Raft message (kept as bytes for the quorum node, which decodes it again).
    Raft(Vec<u8>),
    /// A controller request.
    Request(RpcRequest),
    /// A controller response.
    Response(RpcResponse),
    /// A metadata fetch.
    Fetch(FetchMetadata),
    /// The answer to a fetch.
    Metadata(MetadataAnswer),
}

impl Payload {
    /// The frame kind and payload bytes.
    pub fn encode(&self) -> (FrameKind, Vec<u8>) {
        match self {
            Payload::Raft(b) => (FrameKind::Raft, b.clone()),
            Payload::Request(r) => (
                FrameKind::ControllerRequest,
                codec::encode(RPC_FORMAT_VERSION, r),
            ),
            Payload::Response(r) => (
                FrameKind::ControllerResponse,
                codec::encode(RPC_FORMAT_VERSION, r),
            ),
            Payload::Fetch(r) => (
                FrameKind::FetchMetadata,
                codec::encode(RPC_FORMAT_VERSION, r),
            ),
            Payload::Metadata(r) => (
                FrameKind::MetadataAnswer,
                codec::encode(RPC_FORMAT_VERSION, r),
            ),
        }
    }
}

/// Decodes a frame's payload by its kind.
pub fn decode_payload(kind: FrameKind, bytes: &[u8]) -> Result<Payload, CodecError> {
    Ok(match kind {
        FrameKind::Raft => {
            raft::eraftpb::Message::parse_from_bytes(bytes)
                .map_err(|e| CodecError::Invalid(format!("raft message: {e}")))?;
            Payload::Raft(bytes.to_vec())
        }
        FrameKind::ControllerRequest => Payload::Request(codec::decode(RPC_FORMAT_VERSION, bytes)?),
        FrameKind::ControllerResponse => {
            Payload::Response(codec::decode(RPC_FORMAT_VERSION, bytes)?)
        }
        FrameKind::FetchMetadata => Payload::Fetch(codec::decode(RPC_FORMAT_VERSION, bytes)?),
        FrameKind::MetadataAnswer => Payload::Metadata(codec::decode(RPC_FORMAT_VERSION, bytes)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BrokerEpoch, NodeId};

    #[test]
    fn payloads_round_trip() {
        let payloads = [
            Payload::Request(RpcRequest {
                request_id: 1,
                request: ControllerRequest::BrokerHeartbeat {
                    id: NodeId(4),
                    epoch: BrokerEpoch(9),
                    metadata_offset: 12,
                    want_shutdown: false,
                },
            }),
            Payload::Response(RpcResponse {
                request_id: 2,
                result: Err(ControllerError::NotController { leader: NodeId(1) }),
                index: 9,
            }),
            Payload::Fetch(FetchMetadata {
                request_id: 3,
                from_index: 5,
            }),
            Payload::Metadata(MetadataAnswer::Entries {
                request_id: 4,
                entries: vec![(5, vec![1, 2]), (6, vec![])],
                high_watermark: 6,
            }),
        ];
        for p in payloads {
            let (kind, bytes) = p.encode();
            assert_eq!(decode_payload(kind, &bytes).unwrap(), p);
            assert!(decode_payload(kind, &bytes[..bytes.len() - 1]).is_err());
        }
    }
}
