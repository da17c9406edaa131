//! Canary messages: built with a unique id and an HMAC-SHA256 tag, and verified on arrival.
//!
//! The tag covers (instance, id, sent time, body digest), keyed by the agent's secret, so the
//! agent can tell its own canaries from look-alikes: a message with the right headers but a tag
//! that does not verify is a forgery (or corrupted) and is never deleted. A canary signed by a
//! key that a reload has since replaced still verifies while the [`KeyRing`] keeps that key.
//! The headers are:
//!
//! ```text
//! X-Mailcanary-Id: 3f9c...        unique per canary; the IMAP search key
//! X-Mailcanary-Probe: probe/client/region
//! X-Mailcanary-Sent: 1764150000123   unix milliseconds
//! X-Mailcanary-Tag: hex(HMAC-SHA256(key, "v1\n" instance "\n" id "\n" sent "\n" hex(sha256(body))))
//! ```

use crate::secret::{KeyRing, Secret};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

pub const ID_HEADER: &str = "X-Mailcanary-Id";
pub const PROBE_HEADER: &str = "X-Mailcanary-Probe";
const SENT_HEADER: &str = "X-Mailcanary-Sent";
const TAG_HEADER: &str = "X-Mailcanary-Tag";

/// A canary ready to send.
#[derive(Debug, Clone)]
pub struct Canary {
    pub id: String,
    /// `probe/client/region`.
    pub instance: String,
    pub sent_ms: i64,
    /// The whole message, CRLF line endings.
    pub message: Vec<u8>,
}

/// What a fetched message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Ours, intact.
    Valid {
        id: String,
        instance: String,
        sent_ms: i64,
    },
    /// Carries canary headers but the tag or the body digest does not verify.
    Forged { id: Option<String> },
    /// Not a canary at all.
    NotCanary,
}

/// Builds a canary for `instance`, sent from `from` to `to` at `now`.
pub fn build(key: &Secret, instance: &str, from: &str, to: &str, now: SystemTime) -> Canary {
    let id = new_id();
    let sent_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let body = format!(
        "This is a mailcanary probe message ({instance}).\r\n\
         It measures mail delivery and is removed automatically once seen.\r\n\
         canary id {id}\r\n"
    );
    let tag = tag(key, instance, &id, sent_ms, body.as_bytes());
    let date = httpdate(now);
    let message = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: mailcanary {instance} {id}\r\n\
         Date: {date}\r\nMessage-ID: <{id}@mailcanary>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         {ID_HEADER}: {id}\r\n{PROBE_HEADER}: {instance}\r\n{SENT_HEADER}: {sent_ms}\r\n\
         {TAG_HEADER}: {tag}\r\n\r\n{body}"
    );
    Canary {
        id,
        instance: instance.to_string(),
        sent_ms,
        message: message.into_bytes(),
    }
}

/// Checks a fetched message (full RFC 5322 bytes) against the keys that may have signed it:
/// the current key, and keys a reload retired when the canary says it was sent before that.
pub fn verify(keys: &KeyRing, raw: &[u8]) -> Verdict {
    let (head, body) = split(raw);
    let id = header(head, ID_HEADER);
    let (Some(id_v), Some(instance), Some(sent), Some(given)) = (
        id.clone(),
        header(head, PROBE_HEADER),
        header(head, SENT_HEADER),
        header(head, TAG_HEADER),
    ) else {
        return if id.is_some() {
            Verdict::Forged { id }
        } else {
            Verdict::NotCanary
        };
    };
    let Ok(sent_ms) = sent.parse::<i64>() else {
        return Verdict::Forged { id };
    };
    let Ok(given) = hex_decode(&given) else {
        return Verdict::Forged { id };
    };
    let input = tag_input(&instance, &id_v, sent_ms, body);
    let verifies = |key: &Secret| {
        let mut mac = mac(key);
        mac.update(&input);
        mac.verify_slice(&given).is_ok()
    };
    if keys
        .verifying(sent_ms, SystemTime::now())
        .iter()
        .any(verifies)
    {
        Verdict::Valid {
            id: id_v,
            instance,
            sent_ms,
        }
    } else {
        Verdict::Forged { id }
    }
}

/// The value of the first header `name` (case-insensitive), unfolded and trimmed.
pub fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    while let Some(line) = lines.next() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(name) && !line.starts_with([' ', '\t']) {
            let mut value = v.trim().to_string();
            while let Some(cont) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(cont.trim());
                lines.next();
            }
            return Some(value);
        }
    }
    None
}

/// Splits a message into header block and body at the first empty line.
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in raw.windows(4).enumerate() {
        if w == b"\r\n\r\n" {
            return (&raw[..i + 2], &raw[i + 4..]);
        }
    }
    for (i, w) in raw.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&raw[..i + 1], &raw[i + 2..]);
        }
    }
    (raw, &[])
}

fn mac(key: &Secret) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

/// Body digest, tolerant of line-ending conversion and trailing blank lines in transit.
fn body_digest(body: &[u8]) -> String {
    let normalized: Vec<u8> = String::from_utf8_lossy(body)
        .replace("\r\n", "\n")
        .trim_end_matches('\n')
        .as_bytes()
        .to_vec();
    hex(&Sha256::digest(&normalized))
}

fn tag_input(instance: &str, id: &str, sent_ms: i64, body: &[u8]) -> Vec<u8> {
    format!("v1\n{instance}\n{id}\n{sent_ms}\n{}", body_digest(body)).into_bytes()
}

fn tag(key: &Secret, instance: &str, id: &str, sent_ms: i64, body: &[u8]) -> String {
    let mut mac = mac(key);
    mac.update(&tag_input(instance, id, sent_ms, body));
    hex(&mac.finalize().into_bytes())
}

fn new_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ()))
        .collect()
}

/// RFC 5322 date in UTC, e.g. `Thu, 26 Nov 2026 10:51:34 +0000`.
fn httpdate(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> Secret {
        Secret::new("test-key")
    }

    fn ring() -> KeyRing {
        KeyRing::new(key())
    }

    #[test]
    fn round_trip_verifies() {
        let c = build(&key(), "p/c/r", "a@x.test", "b@x.test", SystemTime::now());
        match verify(&ring(), &c.message) {
            Verdict::Valid { id, instance, .. } => {
                assert_eq!(id, c.id);
                assert_eq!(instance, "p/c/r");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn survives_added_headers_and_lf_conversion() {
        let c = build(&key(), "p/c/r", "a@x.test", "b@x.test", SystemTime::now());
        let mut relayed =
            b"Received: from x\r\n\tby y; now\r\nReturn-Path: <a@x.test>\r\n".to_vec();
        relayed.extend_from_slice(&c.message);
        let lf = String::from_utf8(relayed).unwrap().replace("\r\n", "\n") + "\n";
        assert!(matches!(
            verify(&ring(), lf.as_bytes()),
            Verdict::Valid { .. }
        ));
    }

    #[test]
    fn altered_body_wrong_key_or_tag_is_forged() {
        let c = build(&key(), "p/c/r", "a@x.test", "b@x.test", SystemTime::now());
        let altered = String::from_utf8(c.message.clone())
            .unwrap()
            .replace("removed", "REMOVED");
        let forged = Verdict::Forged {
            id: Some(c.id.clone()),
        };
        assert_eq!(verify(&ring(), altered.as_bytes()), forged);
        assert_eq!(
            verify(&KeyRing::new(Secret::new("other")), &c.message),
            forged
        );
        let no_tag = String::from_utf8(c.message.clone())
            .unwrap()
            .replace(TAG_HEADER, "X-Other");
        assert_eq!(verify(&ring(), no_tag.as_bytes()), forged);
        assert_eq!(
            verify(&ring(), b"Subject: hi\r\n\r\nhello"),
            Verdict::NotCanary
        );
    }

    #[test]
    fn a_retired_key_verifies_what_it_signed_and_a_stranger_key_never() {
        let old = build(&key(), "p/c/r", "a@x.test", "b@x.test", SystemTime::now());
        let keys = ring();
        keys.rotate(
            Secret::new("new-key"),
            Duration::from_secs(600),
            SystemTime::now(),
        );
        assert!(matches!(verify(&keys, &old.message), Verdict::Valid { .. }));
        let new = build(
            &keys.current(),
            "p/c/r",
            "a@x.test",
            "b@x.test",
            SystemTime::now(),
        );
        assert!(matches!(verify(&keys, &new.message), Verdict::Valid { .. }));
        let stranger = build(
            &Secret::new("never-ours"),
            "p/c/r",
            "a@x.test",
            "b@x.test",
            SystemTime::now(),
        );
        assert_eq!(
            verify(&keys, &stranger.message),
            Verdict::Forged {
                id: Some(stranger.id.clone())
            }
        );
        // The retired key does not vouch for a canary claiming to be sent after its retirement.
        let future = SystemTime::now() + Duration::from_secs(3600);
        let late_claim = build(&key(), "p/c/r", "a@x.test", "b@x.test", future);
        assert!(matches!(
            verify(&keys, &late_claim.message),
            Verdict::Forged { .. }
        ));
    }

    #[test]
    fn date_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_764_154_294);
        assert_eq!(httpdate(t), "Wed, 26 Nov 2025 10:51:34 +0000");
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_unfolds() {
        let h = b"x-mailcanary-id: abc\r\nSubject: a\r\n b\r\n";
        assert_eq!(header(h, ID_HEADER).as_deref(), Some("abc"));
        assert_eq!(header(h, "subject").as_deref(), Some("a b"));
    }
}
