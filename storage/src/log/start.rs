//! Moving the log start offset forward on request: DeleteRecords on a leader, and a
//! follower following its leader's log start. Retention moves it too, by whole segments
//! (`retention.rs`); here it may land inside a segment, even inside a batch.
//!
//! A start inside the first segment cannot be told from the segment files alone, so it is
//! kept in a side file, [`LOG_START_FILE`], written durably before any segment below it is
//! deleted: a restart takes the larger of that file and the first segment's base offset.

use super::Log;
use crate::error::Result;
use crate::fs::FileSystem;
use crate::segment::{self, Segment};

/// The side file holding the log start offset a DeleteRecords (or the leader) asked for:
/// eight bytes, little-endian.
pub const LOG_START_FILE: &str = "log-start-offset";

/// Parses [`LOG_START_FILE`]; anything that is not eight bytes holding a non-negative
/// offset is ignored (the segments still say where the log starts).
pub(super) fn parse_log_start(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    let start = i64::from_le_bytes(raw);
    (start >= 0).then_some(start)
}

impl<F: FileSystem> Log<F> {
    /// Moves the log start offset forward to `start`, never past the durable end, and
    /// deletes the sealed segments wholly below it. Returns the log start offset after the
    /// move (the current one when `start` is not past it).
    pub async fn advance_start(&self, start: i64) -> Result<i64> {
        let _permit = self.writer.acquire_permit(1).await?;
        let target = {
            let st = self.state.borrow();
            let target = start.min(st.durable_end);
            if target <= st.log_start_offset {
                return Ok(st.log_start_offset);
            }
            target
        };
        // Durable first: a crash after this finds the start even if no segment went.
        self.fs
            .write_atomic(&self.dir, LOG_START_FILE, target.to_le_bytes().to_vec())
            .await?;
        let doomed: Vec<Segment<F>> = {
            let mut st = self.state.borrow_mut();
            // Retention (which does not take the writer) may have moved the start past the
            // target meanwhile; the durable end only grows while the writer is held.
            st.log_start_offset = st.log_start_offset.max(target);
            assert!(st.log_start_offset <= st.durable_end);
            let n = st
                .segments
                .iter()
                .take_while(|s| s.sealed && s.finished && s.next_offset() <= target)
                .count();
            // The active segment always stays, so the log keeps a place to append.
            let n = n.min(st.segments.len().saturating_sub(1));
            let doomed: Vec<Segment<F>> = st.segments.drain(..n).collect();
            while st
                .cache
                .front()
                .is_some_and(|c| c.last_offset < st.log_start_offset)
            {
                if let Some(c) = st.cache.pop_front() {
                    st.cache_bytes -= c.bytes.len();
                }
            }
            if !doomed.is_empty() {
                *self.readahead.borrow_mut() = None;
            }
            doomed
        };
        let start = self.state.borrow().log_start_offset;
        for seg in doomed {
            let log = self.dir.join(segment::log_file_name(seg.base_offset));
            let idx = self.dir.join(segment::index_file_name(seg.base_offset));
            drop(seg);
            self.fs.remove(&idx).await?;
            self.fs.retire(&log).await?;
        }
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_log_start;

    #[test]
    fn the_log_start_file_is_eight_bytes_or_ignored() {
        assert_eq!(parse_log_start(&42i64.to_le_bytes()), Some(42));
        assert_eq!(parse_log_start(&(-1i64).to_le_bytes()), None);
        assert_eq!(parse_log_start(b"1234"), None);
        assert_eq!(parse_log_start(b""), None);
    }
}
