//! Shards: which agent of a fleet runs which probe. Rendezvous (highest random weight)
//! hashing of the probe's name: every probe has exactly one owner among N shards, the owners
//! need no coordination (each agent computes the same answer from the same configuration),
//! and going from N to N+1 shards moves only the probes the new shard wins, about 1/(N+1).
//!
//! A shard is written `I/N` with I counted from 0 (`0/3`, `1/3`, `2/3`), as a Kubernetes
//! StatefulSet numbers its pods.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Why `I/N` does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard {0:?} must be I/N (or I-of-N) with 0 <= I < N <= 1000, e.g. 0/3 (I counts from 0)")]
pub struct BadShard(pub String);

impl FromStr for Shard {
    type Err = BadShard;
    fn from_str(text: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard(crate::escape::escape_str(text));
        // `I/N`, or `I-of-N` where a slash cannot go (a systemd instance name).
        let text_trimmed = text.trim();
        let (i, n) = text_trimmed
            .split_once('/')
            .or_else(|| text_trimmed.split_once("-of-"))
            .ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > 1000 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A stable 64-bit score of (name, shard): FNV-1a, then a splitmix64 finaliser so that
/// neighbouring shard numbers get unrelated scores. Stable across builds and machines.
fn score(name: &str, shard: u32) -> u64 {
    use crate::stable_hash::{fnv1a, FNV_OFFSET};
    let mut h = fnv1a(fnv1a(FNV_OFFSET, name.as_bytes()), &shard.to_le_bytes());
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard of `count` that owns `name`.
pub fn owner(name: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|i| (score(name, *i), *i))
        .unwrap_or(0)
}

impl Shard {
    /// Whether this shard runs `name`.
    pub fn owns(&self, name: &str) -> bool {
        owner(name, self.count) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("mx{i}.example.net")).collect()
    }

    #[test]
    fn every_probe_has_exactly_one_owner_and_shards_are_balanced() {
        let names = names(30_000);
        for count in [1u32, 2, 3, 7] {
            let mut per = vec![0usize; count as usize];
            for name in &names {
                let owners: Vec<u32> = (0..count)
                    .filter(|i| Shard { index: *i, count }.owns(name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} with {count} shards: {owners:?}");
                per[owners[0] as usize] += 1;
            }
            let mean = names.len() as f64 / f64::from(count);
            for n in per {
                assert!(
                    (n as f64 - mean).abs() < mean * 0.05,
                    "{count} shards: {n} vs {mean}"
                );
            }
        }
    }

    #[test]
    fn one_more_shard_moves_about_one_in_n_plus_one_and_only_to_itself() {
        let names = names(30_000);
        for count in [1u32, 2, 3, 5, 9] {
            let moved: Vec<&String> = names
                .iter()
                .filter(|n| owner(n, count) != owner(n, count + 1))
                .collect();
            for n in &moved {
                assert_eq!(
                    owner(n, count + 1),
                    count,
                    "{n} moved, but not to the new shard"
                );
            }
            let share = moved.len() as f64 / names.len() as f64;
            let expected = 1.0 / f64::from(count + 1);
            assert!(
                (share - expected).abs() < 0.02,
                "{count}->{}: {share} vs {expected}",
                count + 1
            );
        }
    }

    #[test]
    fn shards_parse_and_bad_ones_say_how() {
        assert_eq!("1/3".parse(), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            " 0 / 1 ".parse::<Shard>().map(|s| s.to_string()),
            Ok("0/1".into())
        );
        for bad in [
            "3/3", "1", "a/3", "0/0", "-1/3", "1/1001", "1/3/4", "\u{1b}",
        ] {
            let e = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(e.contains("I/N") && !e.contains('\u{1b}'), "{bad}: {e}");
        }
    }
}
