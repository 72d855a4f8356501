//! A small seeded pseudo-random generator (SplitMix64) for everything that must replay from a
//! seed: election jitter, topic and incarnation ids in tests, the simulator's choices.
//!
//! Not for secrets. Production seeds it from the OS once at start-up; simulations seed it from
//! the run's seed, so a run is a pure function of its seed.

/// SplitMix64: one `u64` of state, full period, good enough statistics for jitter and ids.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from the OS (through a random UUID).
    pub fn from_entropy() -> SplitMix64 {
        let b = *uuid::Uuid::new_v4().as_bytes();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        SplitMix64::new(u64::from_le_bytes(seed))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift maps the full range onto 0..n with negligible bias for small n.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `per_million / 1_000_000`.
    pub fn chance(&mut self, per_million: u64) -> bool {
        self.below(1_000_000) < per_million
    }

    /// Sixteen random bytes shaped as a version-4 UUID.
    pub fn uuid(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let (lo, hi) = b.split_at_mut(8);
        lo.copy_from_slice(&self.next_u64().to_le_bytes());
        hi.copy_from_slice(&self.next_u64().to_le_bytes());
        *uuid::Builder::from_random_bytes(b).as_uuid().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_replay_from_the_seed() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        for _ in 0..1000 {
            assert!(a.below(7) < 7);
        }
        assert_ne!(a.uuid(), a.uuid());
    }
}
