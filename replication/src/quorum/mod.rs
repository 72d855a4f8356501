//! The cluster metadata quorum: a sans-IO Raft node, its durable storage, and the frames
//! nodes exchange.
//!
//! The quorum runs on shard 0 of a controller node; the shell feeds it ticks, peer frames and
//! proposals, and carries out what it returns.

pub mod file_storage;
pub mod frame;
pub mod node;
pub mod rpc;
pub mod shell;
pub mod sim_storage;
pub mod storage;
pub mod transport;

pub use file_storage::FileStorage;
pub use frame::{Frame, FrameError, FrameKind};
pub use node::{
    CommittedRead, ProposalId, QuorumConfig, QuorumInput, QuorumNode, QuorumOutput, QuorumStatus,
    VoterStatus,
};
pub use rpc::{FetchMetadata, MetadataAnswer, Payload, RpcRequest, RpcResponse};
pub use sim_storage::{SimDisk, SimStorage};
pub use storage::{DurableStorage, RaftStore, Recovered};
