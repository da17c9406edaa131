//! Sharding: which of the config's instances one agent runs when several agents split one probe
//! set between them (`--shard i/n`, `[agent] shard = "i/n"`).
//!
//! Shards are numbered from 1: shard `i` of `n` has `1 ≤ i ≤ n`. An instance (probe × client
//! profile) belongs to the shard whose index minus one is [`instance_hash`] modulo `n`, where
//! the hash is the first 8 bytes, read as a big-endian integer, of the SHA-256 of
//! `probe/client` (the instance's key). It depends on those two names only: not on the order of
//! the files, not on the other probes, not on the Rust version. So `n` agents given the same
//! files and `--shard 1/n` … `n/n` run every instance exactly once between them, and adding or
//! removing a probe moves no other instance to another agent. (Changing `n` does move
//! instances: about `1 − 1/n'` of them for a new count `n'`.)

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// One shard of a probe set: `index` of `count`, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The one shard of an agent that runs every instance.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` (from 1) of `count`, if `1 ≤ index ≤ count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index >= 1 && index <= count).then_some(Shard { index, count })
    }

    /// Which shard this is, from 1.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards the probe set is split into.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the instance `probe` × `client` belongs to this shard.
    pub fn contains(&self, probe: &str, client: &str) -> bool {
        // count ≥ 1 and 1 ≤ index ≤ count by construction ([`Shard::new`], parsing).
        instance_hash(probe, client) % u64::from(self.count)
            == u64::from(self.index.saturating_sub(1))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a text is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not a shard: write i/n, e.g. \"1/3\" for the first of 3 shards")]
    NotAShard(String),
    #[error("{text:?}: the shard count {count:?} must be a whole number from 1 to {max}", max = u32::MAX)]
    Count { text: String, count: String },
    #[error("{text:?}: the shard index {index:?} must be from 1 to {count} (shards count from 1)")]
    Index {
        text: String,
        index: String,
        count: u32,
    },
}

impl FromStr for Shard {
    type Err = ShardError;

    /// `i/n` in decimal digits, `1 ≤ i ≤ n`; the error says what is wrong with the text.
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let Some((i, n)) = s.split_once('/') else {
            return Err(ShardError::NotAShard(s.to_string()));
        };
        let count = number(n)
            .filter(|n| *n >= 1)
            .ok_or_else(|| ShardError::Count {
                text: s.to_string(),
                count: n.to_string(),
            })?;
        let index = number(i).filter(|i| (1..=count).contains(i));
        index
            .map(|index| Shard { index, count })
            .ok_or_else(|| ShardError::Index {
                text: s.to_string(),
                index: i.to_string(),
                count,
            })
    }
}

/// A decimal number of digits only (no sign, no space) that fits a `u32`.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The instance's place in every sharding: the first 8 bytes of SHA-256(`probe/client`), as a
/// big-endian integer. Probe and client names cannot contain `/`, so the key is unambiguous.
pub fn instance_hash(probe: &str, client: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(probe.as_bytes())
        .chain_update(b"/")
        .chain_update(client.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(digest.iter()) {
        *to = *from;
    }
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 instances: 2,500 probe names, each under 4 client profiles.
    fn instances() -> Vec<(String, &'static str)> {
        let clients = ["ios_mail", "outlook", "thunderbird", "gmail_android"];
        (0..2_500)
            .flat_map(|p| clients.map(|c| (format!("mailbox-{p:04}.eu"), c)))
            .collect()
    }

    fn shards(n: u32) -> Vec<Shard> {
        (1..=n).filter_map(|i| Shard::new(i, n)).collect()
    }

    #[test]
    fn the_hash_of_a_fixed_name_is_a_fixed_value() {
        // SHA-256("alpha/outlook") starts a7 66 6e 00 ac ef 23 48 (`printf alpha/outlook |
        // sha256sum`). A change of hash function or of key would move instances between the
        // agents of a running fleet: it must show here first.
        assert_eq!(instance_hash("alpha", "outlook"), 0xa766_6e00_acef_2348);
        assert_eq!(instance_hash("alpha", "outlook") % 2, 0);
        assert!(Shard::new(1, 2).unwrap().contains("alpha", "outlook"));
    }

    #[test]
    fn every_instance_is_in_exactly_one_shard() {
        let all = instances();
        for n in 1..=8 {
            for (p, c) in &all {
                let owners = shards(n).iter().filter(|s| s.contains(p, c)).count();
                assert_eq!(owners, 1, "{p}/{c} is in {owners} of {n} shards");
            }
        }
    }

    #[test]
    fn shards_are_balanced() {
        // Each instance lands in a given shard with probability 1/n, independently (a
        // cryptographic hash of distinct keys behaves as uniform), so a shard's size is
        // Binomial(N, 1/n) with standard deviation sqrt(N·(1/n)·(1 − 1/n)) ≤ 50 for N = 10,000.
        // The bound asserted is 5 standard deviations (at most 250 instances from N/n): a
        // uniform hash misses it with probability below 1e-6 per shard, and the names are fixed,
        // so the test is deterministic. A shard off by one (an empty shard) fails it.
        let all = instances();
        let total = all.len() as f64;
        for n in 1..=8u32 {
            let expected = total / f64::from(n);
            let sd = (total * (1.0 / f64::from(n)) * (1.0 - 1.0 / f64::from(n))).sqrt();
            for s in shards(n) {
                let size = all.iter().filter(|(p, c)| s.contains(p, c)).count() as f64;
                assert!(
                    (size - expected).abs() <= 5.0 * sd,
                    "shard {s}: {size} instances, expected {expected} ± {}",
                    5.0 * sd
                );
            }
        }
    }

    #[test]
    fn adding_a_probe_moves_no_other_instance() {
        let all = instances();
        for n in 1..=8 {
            let owner = |p: &str, c: &str| shards(n).into_iter().find(|s| s.contains(p, c));
            let before: Vec<_> = all.iter().map(|(p, c)| owner(p, c)).collect();
            // The shard depends on the instance's own names only: with one more probe in the
            // set, every other instance is where it was.
            let mut more = all.clone();
            more.insert(0, ("new-probe".to_string(), "outlook"));
            let after: Vec<_> = more[1..].iter().map(|(p, c)| owner(p, c)).collect();
            assert_eq!(before, after, "n = {n}");
        }
    }

    #[test]
    fn parses_i_of_n_from_1_and_rejects_the_rest() {
        assert_eq!("1/1".parse(), Ok(Shard::ALL));
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!("2/3".parse::<Shard>().unwrap().to_string(), "2/3");
        let max = format!("{0}/{0}", u32::MAX);
        assert_eq!(max.parse::<Shard>().unwrap().to_string(), max);
        for bad in [
            "",
            "1",
            "/",
            "0/2",
            "3/2",
            "1/0",
            "0/0",
            "-1/2",
            "+1/2",
            "1/+2",
            " 1/2",
            "1/2 ",
            "1/2/3",
            "a/b",
            "1.0/2",
            "1/4294967296",
            "99999999999999999999/1",
        ] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{bad:?}")), "{bad:?}: {e}");
        }
        assert_eq!(
            "0/2".parse::<Shard>().unwrap_err().to_string(),
            "\"0/2\": the shard index \"0\" must be from 1 to 2 (shards count from 1)"
        );
        assert_eq!(
            "1/0".parse::<Shard>().unwrap_err().to_string(),
            "\"1/0\": the shard count \"0\" must be a whole number from 1 to 4294967295"
        );
        assert_eq!(Shard::new(0, 1), None);
        assert_eq!(Shard::new(2, 1), None);
    }
}
