//! The frames of leader-to-follower replication, sans I/O.
//!
//! A frame is `[len: u32][header_len: u32][header_crc: u32][header][records]`, little-endian:
//! `len` counts everything after itself; the header is an rkyv archive of a
//! [`ReplicaMessage`] (validated on read, its CRC-32C checked first); `records` follow only an
//! [`ReplicaMessage::Append`] and are the leader's stored batches byte for byte, handed on as
//! a slice of the frame (each batch's own CRC is checked by the follower before it appends).
//!
//! Decoding takes untrusted bytes: every length is checked against [`FRAME_BYTES_MAX`]
//! before anything is allocated, and anything malformed is an error, never a panic.

use crate::types::{LeaderEpoch, NodeId, TopicId};
use bytes::{Bytes, BytesMut};
use rkyv::{Archive, Deserialize, Serialize};

/// Largest frame: a batch of the largest size Kafka allows (`message.max.bytes` can reach
/// 100 MiB here too) and its header.
pub const FRAME_BYTES_MAX: usize = 101 << 20;

/// Largest header: a few fixed fields.
pub const HEADER_BYTES_MAX: usize = 4 << 10;

/// Bytes of the fixed prefix after `len`: header length and header CRC.
const PREFIX_BYTES: usize = 8;

/// Format version of the header archive, checked in [`ReplicaMessage::Hello`].
pub const WIRE_VERSION: u16 = 2;

pub use message_kinds::ReplicaMessage;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod message_kinds {
    use super::*;

    /// What leaders and followers tell each other about one partition (or, for `Hello`,
    /// about the connection).
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum ReplicaMessage {
        /// First frame of a connection, from the leader's shard: who it is and which shard of
        /// the follower it wants.
        Hello {
            /// Format version ([`WIRE_VERSION`]).
            version: u16,
            /// The cluster both belong to.
            cluster_id: [u8; 16],
            /// The leader's node.
            from: NodeId,
            /// The follower's node.
            to: NodeId,
            /// The follower's shard this connection serves.
            to_shard: u16,
        },
        /// Leader → follower: I lead this partition at `epoch`; say where your log is.
        Lead {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
        },
        /// Follower → leader: my log ends at `log_end`, durable to `durable_end`, and its
        /// last batch is of `last_epoch`; it starts at `log_start` (DeleteRecords' low
        /// watermark counts it).
        Position {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            log_end: i64,
            durable_end: i64,
            last_epoch: LeaderEpoch,
            log_start: i64,
        },
        /// Leader → follower: my `upto` epoch ends at `end`; cut where we agree and say where
        /// you are again.
        Truncate {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            upto: LeaderEpoch,
            end: i64,
        },
        /// Leader → follower: you hold nothing I still have; start over empty at `start`.
        Reset {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            start: i64,
        },
        /// Leader → follower: batches from `base_offset` (the records follow the header),
        /// my high watermark and my log start offset (which the follower's log follows).
        Append {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            base_offset: i64,
            high_watermark: i64,
            log_start: i64,
        },
        /// Follower → leader: my log is durable up to `durable_end`.
        Ack {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            durable_end: i64,
        },
        /// Follower → leader: you are not the leader I know at `epoch` (mine is newer).
        Fenced {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
        },
        /// Leader → follower: say where your log is (a `Position`), though nothing new was
        /// sent (an idle partition keeps its in-sync followers in the ISR, and catches up
        /// one that lost what it was sent).
        Ping {
            topic: TopicId,
            partition: i32,
            epoch: LeaderEpoch,
            /// My log start offset (moved by DeleteRecords), which the follower follows.
            log_start: i64,
        },
    }
}

/// Why bytes are not a replication frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A length outside the limits.
    #[error("frame length {0} out of bounds")]
    Length(usize),
    /// The header's checksum does not match.
    #[error("header checksum mismatch")]
    Checksum,
    /// The header does not decode.
    #[error("bad header: {0}")]
    Header(String),
    /// Records after a message that carries none.
    #[error("records after a {0} message")]
    Trailing(&'static str),
}

impl ReplicaMessage {
    /// The partition the message is about (`None` for `Hello`).
    pub fn partition(&self) -> Option<(TopicId, i32)> {
        use ReplicaMessage::*;
        match self {
            Hello { .. } => None,
            Lead {
                topic, partition, ..
            }
            | Position {
                topic, partition, ..
            }
            | Truncate {
                topic, partition, ..
            }
            | Reset {
                topic, partition, ..
            }
            | Append {
                topic, partition, ..
            }
            | Ack {
                topic, partition, ..
            }
            | Fenced {
                topic, partition, ..
            }
            | Ping {
                topic, partition, ..
            } => Some((*topic, *partition)),
        }
    }

    fn name(&self) -> &'static str {
        use ReplicaMessage::*;
        match self {
            Hello { .. } => "Hello",
            Lead { .. } => "Lead",
            Position { .. } => "Position",
            Truncate { .. } => "Truncate",
            Reset { .. } => "Reset",
            Append { .. } => "Append",
            Ack { .. } => "Ack",
            Fenced { .. } => "Fenced",
            Ping { .. } => "Ping",
        }
    }
}

/// The head of a frame (length, header length, header CRC, header) for a message whose
/// records, `records_len` bytes of them, are written right after it.
pub fn encode_head(message: &ReplicaMessage, records_len: usize) -> Bytes {
    let header = rkyv::to_bytes::<rkyv::rancor::Error>(message)
        .map(|v| v.to_vec())
        .unwrap_or_default();
    let len = PREFIX_BYTES + header.len() + records_len;
    let mut out = BytesMut::with_capacity(4 + PREFIX_BYTES + header.len());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
    out.extend_from_slice(&header);
    out.freeze()
}

/// A whole frame in one buffer: the message, and `records` after an `Append` (empty
/// otherwise).
pub fn encode(message: &ReplicaMessage, records: &[Bytes]) -> Bytes {
    let records_len: usize = records.iter().map(|r| r.len()).sum();
    let mut out = BytesMut::from(&encode_head(message, records_len)[..]);
    for r in records {
        out.extend_from_slice(r);
    }
    out.freeze()
}

/// The length of the frame starting at `buf` (its `len` field plus 4), once the 4 bytes are
/// there; an error when it is out of bounds.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let mut b = [0u8; 4];
    b.copy_from_slice(prefix);
    let len = u32::from_le_bytes(b) as usize;
    if !(PREFIX_BYTES..=FRAME_BYTES_MAX).contains(&len) {
        return Err(WireError::Length(len));
    }
    Ok(Some(4 + len))
}

/// Decodes one whole frame (as [`frame_len`] delimited it): the message and the records
/// that follow it, as a slice of `frame`.
pub fn decode(frame: Bytes) -> Result<(ReplicaMessage, Bytes), WireError> {
    let word = |at: usize| -> Result<usize, WireError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(
            frame
                .get(at..at + 4)
                .ok_or(WireError::Length(frame.len()))?,
        );
        Ok(u32::from_le_bytes(b) as usize)
    };
    let len = word(0)?;
    if len + 4 != frame.len() {
        return Err(WireError::Length(len));
    }
    let header_len = word(4)?;
    let crc = word(8)? as u32;
    if header_len > HEADER_BYTES_MAX || 12 + header_len > frame.len() {
        return Err(WireError::Length(header_len));
    }
    let header = frame
        .get(12..12 + header_len)
        .ok_or(WireError::Length(header_len))?;
    if crc32c::crc32c(header) != crc {
        return Err(WireError::Checksum);
    }
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(header.len());
    aligned.extend_from_slice(header);
    let message = rkyv::from_bytes::<ReplicaMessage, rkyv::rancor::Error>(&aligned)
        .map_err(|e| WireError::Header(e.to_string()))?;
    let records = frame.slice(12 + header_len..);
    if !records.is_empty() && !matches!(message, ReplicaMessage::Append { .. }) {
        return Err(WireError::Trailing(message.name()));
    }
    Ok((message, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn append() -> ReplicaMessage {
        ReplicaMessage::Append {
            topic: TopicId([3; 16]),
            partition: 7,
            epoch: LeaderEpoch(4),
            base_offset: 100,
            high_watermark: 90,
            log_start: 10,
        }
    }

    #[test]
    fn frames_round_trip_with_their_records() {
        let records = vec![Bytes::from_static(b"abc"), Bytes::from_static(b"defg")];
        let frame = encode(&append(), &records);
        assert_eq!(frame_len(&frame).unwrap(), Some(frame.len()));
        let (m, r) = decode(frame).unwrap();
        assert_eq!(m, append());
        assert_eq!(&r[..], b"abcdefg");
        let ack = ReplicaMessage::Ack {
            topic: TopicId([1; 16]),
            partition: 0,
            epoch: LeaderEpoch(2),
            durable_end: 55,
        };
        assert_eq!(decode(encode(&ack, &[])).unwrap().0, ack);
    }

    #[test]
    fn bad_frames_are_errors() {
        let frame = encode(&append(), &[Bytes::from_static(b"x")]);
        let mut flipped = frame.to_vec();
        flipped[14] ^= 1;
        assert!(decode(Bytes::from(flipped)).is_err());
        let ack = encode(
            &ReplicaMessage::Fenced {
                topic: TopicId([0; 16]),
                partition: 1,
                epoch: LeaderEpoch(1),
            },
            &[Bytes::from_static(b"trailing")],
        );
        assert!(matches!(decode(ack), Err(WireError::Trailing(_))));
        assert!(frame_len(&u32::MAX.to_le_bytes()).is_err());
        assert!(frame_len(&[1, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(n)) = frame_len(&bytes) {
                if bytes.len() >= n {
                    let _ = decode(Bytes::copy_from_slice(&bytes[..n]));
                }
            }
            let _ = decode(Bytes::from(bytes));
        }
    }
}
