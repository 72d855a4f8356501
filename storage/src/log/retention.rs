//! Retention: whole sealed segments go once they are older than `retention.ms` or the log
//! is larger than `retention.bytes`, never above the bound the partition gives (its high
//! watermark).

use super::Log;
use crate::error::Result;
use crate::fs::FileSystem;
use crate::segment::{self, Segment};

impl<F: FileSystem> Log<F> {
    /// Deletes sealed, fully written segments below `upto` (the partition's high
    /// watermark) that retention by time or size no longer keeps. Returns the number of
    /// segments deleted.
    pub async fn enforce_retention(&self, now: i64, upto: i64) -> Result<usize> {
        let doomed: Vec<Segment<F>> = {
            let config = self.config.borrow();
            let mut st = self.state.borrow_mut();
            let bound = upto.min(st.durable_end);
            let mut total: u64 = st.segments.iter().map(|s| s.bytes).sum();
            let mut n = 0;
            for s in st.segments.iter() {
                let deletable = s.sealed && s.finished && s.next_offset() <= bound;
                let too_old =
                    config.retention_ms >= 0 && s.max_timestamp() < now - config.retention_ms;
                let too_big = config.retention_bytes >= 0 && total > config.retention_bytes as u64;
                if !(config.cleanup_delete && deletable && (too_old || too_big)) {
                    break;
                }
                total -= s.bytes;
                n += 1;
            }
            if n == 0 {
                return Ok(0);
            }
            let doomed: Vec<Segment<F>> = st.segments.drain(..n).collect();
            *self.readahead.borrow_mut() = None;
            // Never back: a DeleteRecords may have moved the start past the first segment
            // left.
            st.log_start_offset = st
                .segments
                .first()
                .map_or(st.log_end_offset, |s| s.base_offset)
                .max(st.log_start_offset);
            while st
                .cache
                .front()
                .is_some_and(|c| c.base_offset < st.log_start_offset)
            {
                if let Some(c) = st.cache.pop_front() {
                    st.cache_bytes -= c.bytes.len();
                }
            }
            doomed
        };
        let n = doomed.len();
        for seg in doomed {
            let log = self.dir.join(segment::log_file_name(seg.base_offset));
            let idx = self.dir.join(segment::index_file_name(seg.base_offset));
            drop(seg);
            self.fs.remove(&idx).await?;
            self.fs.retire(&log).await?;
        }
        Ok(n)
    }
}
