//! Batches and an executor for the storage tests.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use myelin_storage::batch;
use myelin_storage::txn::AbortedTxn;
use myelin_storage::{AppendMode, TxnView};

/// A leader's append at epoch 0.
pub const LEADER: AppendMode = AppendMode::Leader { leader_epoch: 0 };

/// A partition without transactions, as compaction sees it.
pub struct NoTxns;

impl TxnView for NoTxns {
    fn last_stable_offset(&self) -> i64 {
        i64::MAX
    }
    fn aborted_between(&self, _from: i64, _to: i64) -> Vec<AbortedTxn> {
        Vec::new()
    }
}

/// A v2 batch claiming `n` records whose body is `payload`, opaque to the log.
pub fn make_batch(n: i32, ts: i64, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; batch::HEADER_BYTES];
    b.extend_from_slice(payload);
    finish(b, n, ts)
}

/// A record's key and value; `None` is null.
pub type KeyValue<'a> = batch::KeyValue<'a>;

/// A v2 batch of real records `(key, value)`, all at timestamp `ts`.
pub fn record_batch(records: &[KeyValue<'_>], ts: i64) -> Vec<u8> {
    batch::build(records, ts)
}

fn finish(mut b: Vec<u8>, n: i32, ts: i64) -> Vec<u8> {
    let len = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&(n - 1).to_be_bytes());
    b[27..35].copy_from_slice(&ts.to_be_bytes());
    b[35..43].copy_from_slice(&ts.to_be_bytes());
    b[57..61].copy_from_slice(&n.to_be_bytes());
    // Not idempotent: no producer id, epoch or sequence.
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Runs `f` on a fresh glommio executor and waits for it.
pub fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}
