//! Hashing for the classifier: the multiply-mix of the datapath key's masked
//! hash, and the hashers that let `std`'s `HashMap` take a precomputed hash
//! instead of hashing a key a second time.

use std::hash::{BuildHasher, Hasher};

/// Starting state of a masked hash.
pub(super) const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// Mixes one word into a running hash (multiply-rotate, as in
/// `rvs_packet::flow::key`); [`finish`] provides the final avalanche.
#[inline(always)]
pub(super) fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

/// Final avalanche of a running hash, so that every bit of the result
/// depends on every bit mixed in (hashbrown takes both its bucket index
/// and its control byte from the result).
#[inline(always)]
pub(super) fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// A `BuildHasher` for maps keyed by a hash that is already well mixed: the
/// key is the hash.
#[derive(Clone, Copy, Default)]
pub(super) struct PreHashed;

/// The hasher of [`PreHashed`].
#[derive(Default)]
pub(super) struct PreHasher(u64);

impl Hasher for PreHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are used with this hasher; anything else still
        // gets a sound (if slower) hash.
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
        self.0 = finish(self.0);
    }
}

impl BuildHasher for PreHashed {
    type Hasher = PreHasher;

    #[inline]
    fn build_hasher(&self) -> PreHasher {
        PreHasher(0)
    }
}

/// A `BuildHasher` for word arrays (the map from a mask to its subtable):
/// the same multiply-mix, eight bytes at a time.
#[derive(Clone, Copy, Default)]
pub(super) struct WordHash;

/// The hasher of [`WordHash`].
pub(super) struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn finish(&self) -> u64 {
        finish(self.0)
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = mix(self.0, v);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.0 = mix(self.0, v as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.0 = mix(self.0, u64::from_le_bytes(b));
        }
        for &b in chunks.remainder() {
            self.0 = mix(self.0, u64::from(b));
        }
    }
}

impl BuildHasher for WordHash {
    type Hasher = WordHasher;

    #[inline]
    fn build_hasher(&self) -> WordHasher {
        WordHasher(SEED)
    }
}
