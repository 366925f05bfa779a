//! Standard base64 (RFC 4648, with padding) for certificates, which are public: a table
//! decoder, four characters at a time.
//!
//! Neither rustls' decoder (constant-time, for private keys) nor the `base64` crate suited a
//! one-off `check`: on Debian's bundle they cost 5.7 M and 1.5 M instructions; decoding a
//! root's first lines, a call per 64-character line, cost the crate ~800 instructions of set-up
//! a call. This one does the four-to-three step and nothing else (README "Performance").

/// Marks a byte that is not in the alphabet.
const NOT: u8 = 0xff;

/// Each byte's six-bit value, or [`NOT`].
const VALUES: [u8; 256] = {
    let mut table = [NOT; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Input that is not canonical padded base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Appends the bytes `input` encodes to `out`. `input` holds whole groups of four characters,
/// no whitespace, and padding only at its very end; bits the padding leaves over must be zero
/// (one encoding per byte string, as the `base64` crate's standard engine insists).
pub fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    if input.len() % 4 != 0 {
        return Err(Invalid);
    }
    let Some(split) = input.len().checked_sub(4) else {
        return Ok(());
    };
    let (body, last) = input.split_at(split);
    let start = out.len();
    out.resize(start + input.len() / 4 * 3, 0);
    let decoded = &mut out[start..];
    for (group, bytes) in body.chunks_exact(4).zip(decoded.chunks_exact_mut(3)) {
        let values = group.iter().map(|c| VALUES[*c as usize] as u32);
        let (n, invalid) = values.fold((0u32, 0u32), |(n, bad), v| (n << 6 | v, bad | v));
        if invalid & 0x80 != 0 {
            out.truncate(start);
            return Err(Invalid);
        }
        bytes.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    // The last group may be padded: "xx==" holds one byte, "xxx=" two, and the bits the
    // padding leaves over must be zero.
    let padding = last
        .iter()
        .rev()
        .take(2)
        .take_while(|c| **c == b'=')
        .count();
    let mut n = 0u32;
    for (k, c) in last.iter().enumerate() {
        let v = if k >= 4 - padding {
            0
        } else {
            VALUES[*c as usize]
        };
        if v == NOT {
            out.truncate(start);
            return Err(Invalid);
        }
        n = n << 6 | v as u32;
    }
    let bytes = n.to_be_bytes();
    if bytes[4 - padding..].iter().any(|b| *b != 0) {
        out.truncate(start);
        return Err(Invalid);
    }
    let end = out.len() - 3;
    out[end..].copy_from_slice(&bytes[1..]);
    out.truncate(out.len() - padding);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn ours(input: &[u8]) -> Result<Vec<u8>, Invalid> {
        let mut out = vec![7]; // what was there stays
        decode_into(input, &mut out)?;
        assert_eq!(out.remove(0), 7);
        Ok(out)
    }

    #[test]
    fn agrees_with_the_base64_crate() {
        let engine = base64::engine::general_purpose::STANDARD;
        for len in 0..200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let text = engine.encode(&data);
            assert_eq!(ours(text.as_bytes()), Ok(data), "{len} bytes");
        }
        // Everything the crate refuses, this refuses, over every short input of a small
        // alphabet that includes padding, a non-base64 byte and bits left over.
        let symbols = b"AQ/=!";
        for len in 0..=8u32 {
            for n in 0..symbols.len().pow(len) {
                let mut k = n;
                let input: Vec<u8> = (0..len)
                    .map(|_| {
                        let c = symbols[k % symbols.len()];
                        k /= symbols.len();
                        c
                    })
                    .collect();
                let crate_says = engine.decode(&input).ok();
                let ours = ours(&input).ok();
                if input.len() % 4 == 0 {
                    assert_eq!(ours, crate_says, "{:?}", String::from_utf8_lossy(&input));
                } else {
                    assert_eq!(ours, None);
                }
            }
        }
    }
}
