//! Batches and an executor for the storage tests.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use myelin_storage::batch;

/// A v2 batch claiming `n` records whose body is `payload`, opaque to the log.
pub fn make_batch(n: i32, ts: i64, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; batch::HEADER_BYTES];
    b.extend_from_slice(payload);
    finish(b, n, ts)
}

/// A record's key and value; `None` is null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A v2 batch of real records `(key, value)`, all at timestamp `ts`.
pub fn record_batch(records: &[KeyValue<'_>], ts: i64) -> Vec<u8> {
    let mut b = vec![0u8; batch::HEADER_BYTES];
    for (i, (key, value)) in records.iter().enumerate() {
        let mut body = vec![0u8]; // attributes
        varint(&mut body, 0); // timestamp delta
        varint(&mut body, i as i64); // offset delta
        for field in [key, value] {
            match field {
                Some(f) => {
                    varint(&mut body, f.len() as i64);
                    body.extend_from_slice(f);
                }
                None => varint(&mut body, -1),
            }
        }
        varint(&mut body, 0); // headers
        varint(&mut b, body.len() as i64);
        b.extend_from_slice(&body);
    }
    finish(b, records.len() as i32, ts)
}

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
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
