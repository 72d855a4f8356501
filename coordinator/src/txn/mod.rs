//! The transaction coordinator: transactional ids, their producer ids and epochs, and the
//! two-phase end of a transaction (decide, then write commit or abort markers to every
//! partition it touched).
//!
//! A transactional id belongs to a partition of `__transaction_state` and so to the shard
//! owning it; that shard keeps the id's [`state::TxnMeta`] and writes every change to the
//! partition before answering.

pub mod coordinator;
pub mod markers;
pub mod state;
