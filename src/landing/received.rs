//! The `Received` trail (RFC 5321 §4.4): for each hop, the host that received the message
//! (`by`), how (`with`: ESMTPSA, LMTP, ...) and when (the RFC 5322 date-time after the last
//! `;`), and its delay after the hop before it.
//!
//! Honest about resolution: the dates have whole seconds, so every delay is a whole number of
//! seconds; the first hop counts from the whole second in which our SMTP server accepted the
//! canary (the agent's millisecond clock cut to the second), so a hop in the same second reads
//! `+0 s`. Each hop's date is written by that hop's own clock: a negative delay is shown as it
//! is, never clamped, and means the clocks differ (or that the hop stamped the moment it began
//! receiving, as Postfix does, which can fall in the second before the acceptance). A date
//! that does not parse (obsolete forms without a zone included) leaves that hop without a
//! delay; the next dated hop counts from the last dated one.

use super::sanitise;
use serde::Serialize;

/// One hop of the trail, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The receiving host (`by`), sanitised and cut to [`super::MAX_NAME_CHARS`] characters.
    pub by: Option<String>,
    /// The protocol (`with`), sanitised and cut likewise.
    pub with: Option<String>,
    /// The hop's date, unix seconds.
    pub at: Option<i64>,
    /// Whole seconds after the previous dated hop (the first: after SMTP acceptance).
    pub delay: Option<i64>,
}

impl Hop {
    /// The delay in words: `+2 s`, `-1 s (clocks differ)`, `?` without a date.
    pub fn delay_text(&self) -> String {
        match self.delay {
            Some(d) if d < 0 => format!("{d} s (earlier: clocks differ)"),
            Some(d) => format!("+{d} s"),
            None => "?".into(),
        }
    }
}

/// One `Received` field, before the delays are known.
pub(super) struct Parsed {
    by: Option<String>,
    with: Option<String>,
    at: Option<i64>,
}

/// Reads one unfolded `Received` value.
pub(super) fn parse(value: &str) -> Parsed {
    let (clauses, date) = match value.rfind(';') {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    };
    let clauses = without_comments(clauses);
    let mut words = clauses.split_whitespace();
    let (mut by, mut with) = (None, None);
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("by") && by.is_none() {
            by = words.next().map(sanitise);
        } else if w.eq_ignore_ascii_case("with") && with.is_none() {
            with = words.next().map(sanitise);
        }
    }
    Parsed {
        by,
        with,
        at: date.and_then(parse_date),
    }
}

/// The hops, oldest first, with their delays; the first counts from `accepted_unix`.
pub(super) fn trail(parsed: impl Iterator<Item = Parsed>, accepted_unix: f64) -> Vec<Hop> {
    // `as` saturates: a non-finite or absurd acceptance time gives absurd delays, not a panic.
    let mut prev: Option<i64> = accepted_unix
        .is_finite()
        .then(|| accepted_unix.floor() as i64);
    parsed
        .map(|p| {
            let delay = match (p.at, prev) {
                (Some(at), Some(before)) => Some(at.saturating_sub(before)),
                _ => None,
            };
            if p.at.is_some() {
                prev = p.at;
            }
            Hop {
                by: p.by,
                with: p.with,
                at: p.at,
                delay,
            }
        })
        .collect()
}

/// `s` without its comments (nested parentheses, `\` escapes), each replaced by a space.
fn without_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(super::MAX_FIELD_BYTES));
    let mut depth: u32 = 0;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if depth > 0 => escaped = true,
            '(' => depth = depth.saturating_add(1),
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// An RFC 5322 date-time (`[Day,] DD Mon YYYY HH:MM[:SS] zone`) as unix seconds. Tolerated
/// obsolete forms: two- and three-digit years, the zone names `UT`, `GMT` and the US zones.
/// Anything else (no zone, a military zone, an impossible date) is `None`.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = without_comments(s).replace(',', " ");
    let mut w = s.split_whitespace().peekable();
    if w.peek()?.bytes().all(|b| b.is_ascii_alphabetic()) {
        w.next(); // the day of the week
    }
    let day: i64 = number(w.next()?, 1, 2)?;
    let month = w.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let year_text = w.next()?;
    let year: i64 = number(year_text, 2, 4)?;
    let year = match year_text.len() {
        2 if year < 50 => 2000 + year,
        2 | 3 => 1900 + year,
        _ => year,
    };
    let mut hms = w.next()?.split(':');
    let hour: i64 = number(hms.next()?, 1, 2)?;
    let minute: i64 = number(hms.next()?, 1, 2)?;
    let second: i64 = match hms.next() {
        Some(sec) => number(sec, 1, 2)?,
        None => 0,
    };
    if hms.next().is_some() {
        return None;
    }
    let zone = zone(w.next()?)?;
    let valid = (1..=31).contains(&day)
        && (1900..=9999).contains(&year)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(local - zone)
}

/// `s` as a number of `min..=max` ASCII digits.
fn number(s: &str, min: usize, max: usize) -> Option<i64> {
    ((min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A zone's offset from UTC in seconds.
fn zone(z: &str) -> Option<i64> {
    let named = match z.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => Some(0),
        "EDT" => Some(-4),
        "EST" | "CDT" => Some(-5),
        "CST" | "MDT" => Some(-6),
        "MST" | "PDT" => Some(-7),
        "PST" => Some(-8),
        _ => None,
    };
    if let Some(h) = named {
        return Some(h * 3600);
    }
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let hhmm = number(digits, 4, 4)?;
    let (h, m) = (hhmm / 100, hhmm % 100);
    (m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_with_zones_and_obsolete_forms() {
        // 2026-11-28 01:00:00 UTC.
        let t = 1_795_827_600;
        assert_eq!(parse_date("Sat, 28 Nov 2026 01:00:00 +0000"), Some(t));
        assert_eq!(parse_date(" 28 Nov 2026 02:00:00 +0100 (CET)"), Some(t));
        assert_eq!(parse_date("Fri, 27 Nov 2026 20:00:00 EST"), Some(t));
        assert_eq!(parse_date("28 Nov 26 01:00 GMT"), Some(t));
        assert_eq!(parse_date("Sat, 28 Nov 2026 01:00:00"), None, "no zone");
        assert_eq!(parse_date("Sat, 28 Nov 2026 01:00:00 A"), None, "military");
        assert_eq!(parse_date("Sat, 31 Foo 2026 01:00:00 +0000"), None);
        assert_eq!(parse_date("Sat, 28 Nov 2026 24:00:00 +0000"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn by_and_with_skip_comments() {
        let p = parse(
            "from localhost (localhost [127.0.0.1] (by evil)) by mail.example.test (Postfix) \
             with ESMTPSA id 4ABC for <nina@example.test>; Sat, 28 Nov 2026 01:00:00 +0000",
        );
        assert_eq!(p.by.as_deref(), Some("mail.example.test"));
        assert_eq!(p.with.as_deref(), Some("ESMTPSA"));
        assert_eq!(p.at, Some(1_795_827_600));
        let p = parse("by <script>x; garbage");
        assert_eq!(p.by.as_deref(), Some("?script?x"));
        assert_eq!(p.at, None);
    }
}
