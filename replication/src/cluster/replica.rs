//! A broker-only node's copy of the metadata image, built from `FetchMetadata` answers.
//!
//! Invariant: it only moves forward, applying committed entries in index order (or jumping to
//! a newer snapshot), so it is always some prefix of the log every controller applies.

use super::image::MetadataImage;
use super::records::MetadataBatch;
use crate::codec::CodecError;
use crate::quorum::rpc::MetadataAnswer;

/// The image a broker follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataReplica {
    image: MetadataImage,
}

impl MetadataReplica {
    /// An empty replica.
    pub fn new() -> MetadataReplica {
        MetadataReplica::default()
    }

    /// The image, at [`MetadataImage::last_applied`].
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The index to fetch from next.
    pub fn next_fetch_index(&self) -> u64 {
        self.image.last_applied() + 1
    }

    /// Applies an answer; returns whether the image moved. Entries it already has are
    /// skipped; an entry that does not decode stops the answer there (an error).
    pub fn apply(&mut self, answer: &MetadataAnswer) -> Result<bool, CodecError> {
        let before = self.image.last_applied();
        match answer {
            MetadataAnswer::Snapshot { index, data, .. } => {
                if *index > before {
                    self.image = MetadataImage::from_bytes(data)?;
                }
            }
            MetadataAnswer::Entries { entries, .. } => {
                for (index, data) in entries {
                    if *index <= self.image.last_applied() {
                        continue;
                    }
                    if data.is_empty() {
                        self.image.advance_to(*index);
                    } else {
                        let batch = MetadataBatch::decode(data)?;
                        self.image.apply_batch(*index, &batch);
                    }
                }
            }
        }
        Ok(self.image.last_applied() > before)
    }
}
