//! Text helpers of the status page: HTML escaping (every string that came from a server or a
//! config goes through [`esc`]), clipping, and times and durations in words.

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`, with an ellipsis when cut; escaped.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return esc(s);
    }
    let cut: String = s.chars().take(max).collect();
    format!("{}…", esc(&cut))
}

/// `HH:MM` of a unix time, UTC.
pub fn hhmm(t: f64) -> String {
    let s = t.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}", s / 3600, s / 60 % 60)
}

/// `HH:MM:SS` of a unix time, UTC.
pub fn hhmmss(t: f64) -> String {
    let s = t.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A duration in words, at most two units: `45 s`, `8 min`, `1 h 12 min`, `3 d 4 h`.
pub fn dur(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => match s / 60 % 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match s / 3600 % 24 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// `12 s ago`, or `never`.
pub fn ago(now: f64, t: Option<f64>) -> String {
    match t {
        Some(t) => format!("{} ago", dur(now - t)),
        None => "never".into(),
    }
}

/// A delivery time: `85 ms`, `1.4 s`, `2 min`.
pub fn latency(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        dur(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_markup_character() {
        assert_eq!(
            esc(r#"<b x="1" y='2'>&</b>"#),
            "&lt;b x=&quot;1&quot; y=&#39;2&#39;&gt;&amp;&lt;/b&gt;"
        );
        assert_eq!(clip("<<<<", 2), "&lt;&lt;…");
    }

    #[test]
    fn times_and_durations_read_as_words() {
        assert_eq!(hhmm(1_674_345_720.0), "00:02");
        assert_eq!(hhmmss(3_725.0), "01:02:05");
        assert_eq!(dur(8.4 * 60.0), "8 min");
        assert_eq!(dur(4_320.0), "1 h 12 min");
        assert_eq!(dur(8.0 * 86_400.0), "8 d");
        assert_eq!(ago(100.0, Some(88.0)), "12 s ago");
        assert_eq!(latency(0.0851), "85 ms");
        assert_eq!(latency(90.0), "1 min");
    }
}
