use super::copy;

/// A buffer whose every byte differs from its neighbours, so a byte copied from the wrong
/// place or twice shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn every_length_and_alignment_copies_exactly_the_bytes_asked_for() {
    let source = pattern(400);
    for n in 0..=300 {
        for src_offset in 0..8 {
            for dst_offset in 0..8 {
                let mut got = vec![0xAA; 400];
                let mut want = got.clone();
                want[dst_offset..dst_offset + n]
                    .copy_from_slice(&source[src_offset..src_offset + n]);
                // SAFETY: both ranges lie inside their buffers.
                unsafe {
                    copy(
                        got.as_mut_ptr().add(dst_offset),
                        source.as_ptr().add(src_offset),
                        n,
                    )
                };
                assert_eq!(got, want, "n={n} src+{src_offset} dst+{dst_offset}");
            }
        }
    }
}

#[test]
fn overlapping_moves_in_either_direction_are_memmoves() {
    for n in (0..=140).chain([200, 255, 256, 257, 1000, 4096]) {
        for shift in -70i64..=70 {
            let len = n + 200;
            let from = 100usize;
            let to = (from as i64 + shift) as usize;
            let mut got = pattern(len);
            let mut want = got.clone();
            want.copy_within(from..from + n, to);
            // SAFETY: both ranges lie inside the one buffer.
            unsafe {
                let base = got.as_mut_ptr();
                copy(base.add(to), base.add(from), n)
            };
            assert_eq!(got, want, "n={n} shift={shift}");
        }
    }
}
