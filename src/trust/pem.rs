//! PEM certificate blocks (RFC 7468), decoded quickly.
//!
//! CA bundles are public data, so they need no constant-time base64 decoder (rustls' PEM reader
//! is one, built for private keys). On Debian's 220 KB bundle that decoder was three quarters of
//! a one-off `check`'s instructions (8.7 M); a word-at-a-time marker search and a table decoder
//! ([`super::base64`]) do the same work in a fraction (README "Performance"). The search is
//! ours rather than the `memchr` crate's: that crate asks the CPU for AVX2 on first use, and on a
//! virtual machine each of those CPUID instructions traps to the hypervisor (nine of them, about
//! 80 µs, a sixth of the rest of a one-off STARTTLS check's own work here). The semantics are
//! rustls': only `CERTIFICATE` blocks count, other blocks and text between blocks are skipped,
//! and a block that does not decode is an error for that block.

use std::io::Read;
use std::path::Path;

use rustls::pki_types::CertificateDer;

/// A CA file larger than this is refused unread (the biggest distribution bundles are ~250 KB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// Why a PEM file or block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Read(String),
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024)]
    TooLarge,
    /// A certificate block's base64 is invalid.
    #[error("certificate {index} (line {line}): invalid base64")]
    Base64 {
        /// 1-based position of the certificate in the file.
        index: usize,
        /// The line of its BEGIN marker.
        line: usize,
    },
    /// A BEGIN marker without its END.
    #[error("certificate {index} (line {line}): no END CERTIFICATE line")]
    Unterminated {
        /// 1-based position of the certificate in the file.
        index: usize,
        /// The line of its BEGIN marker.
        line: usize,
    },
}

/// The whole of `path`, at most [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, PemError> {
    let file = std::fs::File::open(path).map_err(|e| PemError::Read(e.to_string()))?;
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| PemError::Read(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(PemError::TooLarge);
    }
    Ok(text)
}

/// Where one `CERTIFICATE` block's base64 lies in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The bytes between the BEGIN and END lines.
    pub body: std::ops::Range<usize>,
    /// 1-based position of the certificate in the file.
    pub index: usize,
    /// Where its BEGIN marker starts.
    begin: usize,
}

impl Block {
    /// The line of its BEGIN marker (counted only for an error message).
    fn line(&self, text: &[u8]) -> usize {
        text[..self.begin].iter().filter(|&&b| b == b'\n').count() + 1
    }
}

/// Where `byte` first occurs in `text`: eight bytes a step, with no CPU feature probing (see
/// the module's header). A zero byte of `word ^ pattern` is a match; the lowest flagged byte is
/// always a real one (a false flag only ever sits above a real zero byte).
fn find_byte(text: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut words = text.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let diff = u64::from_le_bytes(bytes) ^ pattern;
        let zeros = diff.wrapping_sub(ONES) & !diff & HIGHS;
        if zeros != 0 {
            return Some(offset + zeros.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let rest = words.remainder();
    rest.iter().position(|&b| b == byte).map(|at| offset + at)
}

/// Where `needle` (which starts with `-`, a byte base64 never uses) first occurs in `text`.
fn find(text: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = find_byte(&text[from..], needle[0]) {
        let at = from + found;
        if text[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where `marker` next starts a line of `text` at or after `from` (as rustls wants markers:
/// at the start of a line, followed by nothing but blanks and the CR of a CRLF file); returns
/// the marker's start and the start of the next line.
fn find_marker(text: &[u8], marker: &[u8], mut from: usize) -> Option<(usize, usize)> {
    while let Some(found) = find(&text[from..], marker) {
        let at = from + found;
        let after = at + marker.len();
        let line_end = find_byte(&text[after..], b'\n').map_or(text.len(), |n| after + n);
        let starts_line = at == 0 || text[at - 1] == b'\n';
        if starts_line && text[after..line_end].trim_ascii().is_empty() {
            return Some((at, (line_end + 1).min(text.len())));
        }
        from = after;
    }
    None
}

/// Every `CERTIFICATE` block of `text`, in order, without decoding any; a BEGIN without its
/// END is an error in its place (the last).
pub fn blocks(text: &[u8]) -> Vec<Result<Block, PemError>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some((begin, body_start)) = find_marker(text, BEGIN, from) {
        let index = found.len() + 1;
        let Some((end, next)) = find_marker(text, END, body_start) else {
            let block = Block {
                body: body_start..text.len(),
                index,
                begin,
            };
            found.push(Err(PemError::Unterminated {
                index,
                line: block.line(text),
            }));
            break;
        };
        found.push(Ok(Block {
            body: body_start..end,
            index,
            begin,
        }));
        from = next;
    }
    found
}

/// The lines of `block`'s base64, without their blanks and line ends.
fn body_lines<'t>(text: &'t [u8], block: &Block) -> impl Iterator<Item = &'t [u8]> {
    let body = &text[block.body.clone()];
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let now = rest?;
        let (line, after) = match find_byte(now, b'\n') {
            Some(end) => (&now[..end], Some(&now[end + 1..])),
            None => (now, None),
        };
        rest = after;
        Some(line.trim_ascii())
    })
}

/// The DER of `block` in `text`.
pub fn decode(text: &[u8], block: &Block) -> Result<Vec<u8>, PemError> {
    let mut base64 = Vec::with_capacity(block.body.len());
    for line in body_lines(text, block) {
        base64.extend_from_slice(line);
    }
    let mut der = Vec::with_capacity(base64.len() / 4 * 3);
    super::base64::decode_into(&base64, &mut der).map_err(|_| PemError::Base64 {
        index: block.index,
        line: block.line(text),
    })?;
    Ok(der)
}

/// The start of `block`'s DER, decoded line by line until `enough` says it has what it needs:
/// reading a certificate's names costs a few lines, not the whole block. `None` when the block
/// ends first, or a line is not whole groups of four characters (decode the block instead).
pub fn decode_prefix(
    text: &[u8],
    block: &Block,
    enough: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut der = Vec::with_capacity(512);
    for line in body_lines(text, block) {
        // A line with padding ends the certificate; one that does not split into groups of
        // four is not for a line-by-line decode.
        super::base64::decode_into(line, &mut der).ok()?;
        if enough(&der) {
            return Some(der);
        }
    }
    None
}

/// Every `CERTIFICATE` block of `text`, decoded, in order; a bad block is an `Err` in its
/// place and the walk goes on after it.
pub fn certificates(text: &[u8]) -> Vec<Result<CertificateDer<'static>, PemError>> {
    blocks(text)
        .into_iter()
        .map(|block| decode(text, &block?).map(CertificateDer::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// The decoder's answer is rustls' reader's answer, certificate for certificate.
    fn same_as_rustls(text: &[u8]) {
        let ours: Vec<_> = certificates(text).into_iter().map(|r| r.ok()).collect();
        let theirs: Vec<_> = CertificateDer::pem_slice_iter(text)
            .map(|r| r.ok())
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn the_byte_search_finds_what_a_plain_scan_finds() {
        // Every length and position around the 8-byte steps, the byte and its neighbours
        // (0x2c, 0x2e differ from '-' in one bit), and bytes with the high bit set.
        let mut text: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) | 0x80).collect();
        for len in 0..text.len() {
            for at in 0..len {
                for filler in [b'A', b',', b'.', 0xad, 0x00] {
                    text[..len].fill(filler);
                    text[at] = b'-';
                    let plain = text[..len].iter().position(|&b| b == b'-');
                    assert_eq!(find_byte(&text[..len], b'-'), plain, "len {len} at {at}");
                }
            }
            assert_eq!(find_byte(&text[..len], b'\n'), None);
        }
        assert_eq!(
            find(b"--x-----BEGIN -----BEGIN CERT", b"-----BEGIN CERT"),
            Some(14)
        );
    }

    const ONE: &str =
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\nBgcICQ==\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_system_bundle_decodes_as_rustls_decodes_it() {
        let bundle = read_file(Path::new("/etc/ssl/certs/ca-certificates.crt"))
            .expect("Debian's CA bundle (package ca-certificates)");
        let certs = certificates(&bundle);
        assert!(certs.len() > 100, "{} certificates", certs.len());
        same_as_rustls(&bundle);
    }

    #[test]
    fn a_prefix_is_the_start_of_the_whole() {
        let bundle = read_file(Path::new("/etc/ssl/certs/ca-certificates.crt")).expect("bundle");
        for block in blocks(&bundle).into_iter().map(|b| b.expect("block")) {
            let whole = decode(&bundle, &block).expect("decodes");
            let prefix = decode_prefix(&bundle, &block, |der| der.len() >= 100).expect("prefix");
            assert!(
                prefix.len() >= 100 && prefix.len() < 100 + 48,
                "{}",
                prefix.len()
            );
            assert!(whole.starts_with(&prefix));
            assert_eq!(decode_prefix(&bundle, &block, |_| false), None);
        }
    }

    #[test]
    fn blocks_lines_and_other_sections() {
        let certs = certificates(ONE.as_bytes());
        assert_eq!(
            certs,
            vec![Ok(CertificateDer::from((0u8..10).collect::<Vec<_>>()))]
        );
        // CRLF, no final newline, text and other blocks around, an indented marker (not one).
        let mixed = format!(
            "subject=CN x\r\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{}\n {}",
            ONE.replace('\n', "\r\n").trim_end(),
            ONE.trim_end()
        );
        same_as_rustls(mixed.as_bytes());
        assert_eq!(certificates(mixed.as_bytes()).len(), 1);
        assert!(certificates(b"").is_empty());
        assert!(certificates(b"no pem here\n").is_empty());
    }

    #[test]
    fn a_bad_block_is_an_error_in_its_place() {
        let bad =
            format!("{ONE}-----BEGIN CERTIFICATE-----\nAA!A\n-----END CERTIFICATE-----\n{ONE}");
        let certs = certificates(bad.as_bytes());
        assert_eq!(certs.len(), 3);
        assert!(certs[0].is_ok() && certs[2].is_ok());
        assert_eq!(certs[1], Err(PemError::Base64 { index: 2, line: 5 }));
        let open = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n";
        assert_eq!(
            certificates(open.as_bytes()),
            vec![Err(PemError::Unterminated { index: 1, line: 1 })]
        );
    }

    #[test]
    fn files_are_read_within_a_bound() {
        let dir = std::env::temp_dir().join(format!("smtpwatch-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let big = dir.join("big.pem");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
        assert_eq!(read_file(&big), Err(PemError::TooLarge));
        assert!(matches!(
            read_file(&dir.join("missing.pem")),
            Err(PemError::Read(_))
        ));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
