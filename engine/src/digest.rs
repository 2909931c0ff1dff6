//! A small, stable 64-bit digest (FNV-1a over little-endian words) for state comparison.

/// FNV-1a, fed little-endian bytes so the value is the same on every platform.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Digest(u64);

impl Digest {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Self {
        Digest(Self::OFFSET)
    }

    pub fn u64(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(Self::PRIME);
        }
    }

    pub fn i64(&mut self, value: i64) {
        self.u64(u64::from_le_bytes(value.to_le_bytes()));
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}
