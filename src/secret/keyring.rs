//! The canary HMAC keys: the current key, which signs new canaries, and the keys it replaced,
//! which still verify the canaries they signed for as long as those can settle.
//!
//! A reload re-reads the key's source; when its content changed, [`KeyRing::rotate`] makes the
//! new key current and keeps the old one as *retired*. A retired key only verifies canaries that
//! say they were sent before it was retired (plus [`RETIRE_SKEW_MS`], for a cycle that read the
//! old key just as the reload landed), and only until `keep_for` after its retirement (the
//! agent passes the longest `lost_after` and cycle timeout); at most [`MAX_RETIRED`] are kept.
//! A message no kept key verifies is a forgery, as before. Retired keys live in memory only: a
//! restart knows the current key alone.

use super::Secret;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most retired keys kept at once; rotating past it drops the oldest.
pub const MAX_RETIRED: usize = 4;
/// How long after its retirement a canary may still claim to have been signed by a retired key.
pub const RETIRE_SKEW_MS: i64 = 5_000;

/// What "kept for ever" becomes when `now + keep_for` overflows.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The keys; cheap to clone, every clone sees the same keys.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<Ring>>,
}

struct Ring {
    current: Secret,
    /// Newest first.
    retired: Vec<Retired>,
}

struct Retired {
    key: Secret,
    /// Unix milliseconds when it stopped signing.
    retired_ms: i64,
    /// When it stops verifying.
    keep_until: SystemTime,
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl KeyRing {
    /// A ring holding `current` alone.
    pub fn new(current: Secret) -> Self {
        KeyRing {
            inner: Arc::new(RwLock::new(Ring {
                current,
                retired: Vec::new(),
            })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        // Every write leaves the ring whole: a poisoned lock holds nothing half-written.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The key that signs new canaries.
    pub fn current(&self) -> Secret {
        self.read().current.clone()
    }

    /// Makes `key` the signing key at `now`. When it differs from the current key, the current
    /// key is retired: it keeps verifying canaries sent before `now` until `now + keep_for`.
    /// Returns whether the key changed.
    pub fn rotate(&self, key: Secret, keep_for: Duration, now: SystemTime) -> bool {
        let mut ring = self.inner.write().unwrap_or_else(|p| p.into_inner());
        ring.retired.retain(|r| r.keep_until > now && r.key != key);
        if ring.current == key {
            return false;
        }
        let old = std::mem::replace(&mut ring.current, key);
        ring.retired.insert(
            0,
            Retired {
                key: old,
                retired_ms: unix_ms(now),
                // A keep_for past what SystemTime can hold means "as long as can be said".
                keep_until: now
                    .checked_add(keep_for)
                    .or_else(|| now.checked_add(FOREVER))
                    .unwrap_or(now),
            },
        );
        ring.retired.truncate(MAX_RETIRED);
        true
    }

    /// The keys that may have signed a canary sent at `sent_ms` (unix milliseconds), checked at
    /// `now`: the current key first, then retired keys still kept that were retired after it
    /// was sent.
    pub fn verifying(&self, sent_ms: i64, now: SystemTime) -> Vec<Secret> {
        let ring = self.read();
        std::iter::once(ring.current.clone())
            .chain(
                ring.retired
                    .iter()
                    .filter(|r| {
                        r.keep_until > now && sent_ms <= r.retired_ms.saturating_add(RETIRE_SKEW_MS)
                    })
                    .map(|r| r.key.clone()),
            )
            .collect()
    }

    /// How many retired keys are kept (some may have expired since the last rotation).
    pub fn retired(&self) -> usize {
        self.read().retired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Secret {
        Secret::new(v)
    }

    fn exposed(keys: Vec<Secret>) -> Vec<String> {
        keys.iter().map(|k| k.expose().to_string()).collect()
    }

    #[test]
    fn a_retired_key_verifies_what_it_signed_until_kept_no_longer() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ring = KeyRing::new(s("old"));
        let sent_before = unix_ms(t0) - 1_000;
        let keep = Duration::from_secs(60);
        assert!(ring.rotate(s("new"), keep, t0));
        assert_eq!(ring.current().expose(), "new");
        assert_eq!(
            exposed(ring.verifying(sent_before, t0)),
            ["new".to_string(), "old".to_string()]
        );
        // A canary claiming a send time well after the rotation: only the current key.
        let sent_after = unix_ms(t0) + RETIRE_SKEW_MS + 1;
        assert_eq!(exposed(ring.verifying(sent_after, t0)), ["new".to_string()]);
        // Past keep_for the old key is gone.
        let later = t0 + keep + Duration::from_millis(1);
        assert_eq!(
            exposed(ring.verifying(sent_before, later)),
            ["new".to_string()]
        );
    }

    #[test]
    fn the_same_key_again_changes_nothing_and_the_ring_is_bounded() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ring = KeyRing::new(s("k0"));
        assert!(!ring.rotate(s("k0"), Duration::from_secs(60), t0));
        assert_eq!(ring.retired(), 0);
        for i in 1..=(MAX_RETIRED + 3) {
            assert!(ring.rotate(s(&format!("k{i}")), Duration::from_secs(60), t0));
        }
        assert_eq!(ring.retired(), MAX_RETIRED);
        // Rotating back to a retired key makes it current and drops it from the retired list.
        let back = format!("k{}", MAX_RETIRED + 1);
        assert!(ring.rotate(s(&back), Duration::from_secs(60), t0));
        let keys = exposed(ring.verifying(0, t0));
        assert_eq!(keys.iter().filter(|k| **k == back).count(), 1, "{keys:?}");
        assert_eq!(keys[0], back);
    }

    #[test]
    fn an_absurd_keep_for_does_not_panic() {
        let ring = KeyRing::new(s("a"));
        assert!(ring.rotate(s("b"), Duration::MAX, SystemTime::now()));
        assert_eq!(ring.verifying(i64::MAX, SystemTime::now()).len(), 1);
        assert_eq!(ring.verifying(i64::MIN, SystemTime::now()).len(), 2);
    }
}
