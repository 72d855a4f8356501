//! The shard table: which shard owns a partition.
//!
//! Ownership is a pure function of the topic name, the partition and the shard count, so
//! every shard computes the same answer with no shared state. Partitions of one topic are
//! spread round-robin from a per-topic starting shard, so a topic with as many partitions
//! as there are shards puts one on each.

/// Index of a shard (a pinned executor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

/// FNV-1a: stable across builds and platforms, unlike the std hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard that owns `partition` of `topic` among `shards` shards.
pub fn owner(topic: &str, partition: i32, shards: usize) -> ShardId {
    let shards = shards.max(1) as u64;
    let start = fnv1a(topic.as_bytes()) % shards;
    ShardId(((start + partition.max(0) as u64) % shards) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_a_topic_over_all_shards() {
        let mut seen = [0; 4];
        for p in 0..8 {
            seen[owner("payments", p, 4).0] += 1;
        }
        assert_eq!(seen, [2, 2, 2, 2]);
        assert_eq!(owner("x", 3, 1), ShardId(0));
    }
}
