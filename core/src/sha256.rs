//! SHA-256 (FIPS 180-4), written for size: one rolled compression loop, no tables beyond the 64
//! round constants. About a tenth of the unrolled code a general-purpose crate ships, which
//! matters in a pixel measured in kilobytes; hashing a few short identifiers once per page does
//! not need the speed of unrolling. The loops index arrays instead of iterating them by value:
//! at `opt-level = "z"` `array::IntoIter::next` stays out of line and was called for every round
//! and every output byte, which made `fbq('set', 'userData', ...)` with 11 fields 29 µs instead of
//! 17 µs (`npm run bench:matching`), and cost bytes too.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The SHA-256 digest of `data`.
#[allow(clippy::indexing_slicing)] // fixed-size arrays, indices bounded by the loops
pub fn digest(data: &[u8]) -> [u8; 32] {
    let mut h = H0;
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut block = [0u8; 64];
    let mut fill = 0usize;
    // The message, then 0x80, zeros, and the 64-bit big-endian length, in 64-byte blocks.
    let tail_len = if data.len() % 64 < 56 { 64 } else { 128 };
    let total = data.len() - data.len() % 64 + tail_len;
    for i in 0..total {
        let byte = match data.get(i) {
            Some(b) => *b,
            None if i == data.len() => 0x80,
            None if i >= total - 8 => (bit_len >> ((total - 1 - i) * 8)) as u8,
            None => 0,
        };
        if let Some(slot) = block.get_mut(fill) {
            *slot = byte;
        }
        fill += 1;
        if fill == 64 {
            compress(&mut h, &block);
            fill = 0;
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (h[i / 4] >> (24 - 8 * (i % 4))) as u8;
        i += 1;
    }
    out
}

// Indices are in range by construction: `w` has 64 words and `i` runs over 16..64.
#[allow(clippy::indexing_slicing)]
fn compress(h: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (i, chunk) in block.chunks_exact(4).enumerate() {
        if let Some(slot) = w.get_mut(i) {
            *slot = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    for i in 16..64 {
        let (w2, w7, w15, w16) = (w[i - 2], w[i - 7], w[i - 15], w[i - 16]);
        let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
        let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
        w[i] = w16.wrapping_add(s0).wrapping_add(w7).wrapping_add(s1);
    }
    let mut v = *h;
    let mut i = 0;
    while i < 64 {
        let (k, wi) = (K[i], w[i]);
        i += 1;
        let [a, b, c, d, e, f, g, hh] = v;
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(k)
            .wrapping_add(wi);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    let mut i = 0;
    while i < 8 {
        h[i] = h[i].wrapping_add(v[i]);
        i += 1;
    }
}

/// The digest as 64 lowercase hex characters.
#[allow(clippy::indexing_slicing)] // fixed-size arrays, indices bounded by the loops
pub fn hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    let digest = digest(data);
    let mut i = 0;
    while i < 32 {
        crate::ascii::push_hex(&mut out, digest[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // FIPS 180-4 examples and the padding edge cases around 55/56/64 bytes.
        let table: [(&[u8], &str); 4] = [
            (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
        ];
        for (input, want) in table {
            assert_eq!(hex(input), want);
        }
    }

    #[test]
    fn agrees_with_the_sha2_crate_on_every_length_around_the_block_edges() {
        use sha2::{Digest, Sha256};
        for len in 0..300 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let want: [u8; 32] = Sha256::digest(&data).into();
            assert_eq!(digest(&data), want, "length {len}");
        }
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&million),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
