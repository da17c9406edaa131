//! A canary's header block as the test stack writes it (rspamd's verdicts on top, a sender's
//! forgery below, Postfix then Dovecot LMTP), and arbitrary bytes that must never panic.

use super::*;
use proptest::prelude::*;

/// 2026-11-28 01:00:00 UTC.
const T: i64 = 1_795_827_600;

/// As delivered to mallory: the receiving side's field on top, a forged one below.
const BLOCK: &str = "Return-Path: <canary@example.test>\r\n\
Delivered-To: mallory@example.test\r\n\
Received: from mail.example.test\r\n\
\tby mail.example.test with LMTP\r\n\
\tid xyz (envelope-from <canary@example.test>)\r\n\
\tfor <mallory@example.test>; Sat, 28 Nov 2026 01:00:02 +0000\r\n\
Authentication-Results: mail.example.test;\r\n\
\tdkim=pass header.d=example.test header.s=mail header.b=Ab/cd+e=;\r\n\
\tspf=pass (mail.example.test: localhost is allowed; sender \"x;y\") smtp.mailfrom=canary@example.test;\r\n\
\tdmarc=pass (policy=none) header.from=example.test\r\n\
X-Spam-Status: No, score=-0.10 required=15.00\r\n\
X-Rspamd-Score: 9.5\r\n\
Received: from localhost (localhost [127.0.0.1])\r\n\
\tby mail.example.test (Postfix) with ESMTPSA id 4AB\r\n\
\tfor <mallory@example.test>; Sat, 28 Nov 2026 01:00:00 +0000 (UTC)\r\n\
Authentication-Results: mail.example.test; spf=fail; dkim=fail; dmarc=fail\r\n\
Subject: mailcanary x\r\n\
\r\n\
Authentication-Results: mail.example.test; dkim=neutral\r\n";

fn results(h: &AuthHeader) -> Vec<(&str, &str)> {
    h.results
        .iter()
        .map(|(m, r)| (m.as_str(), r.as_str()))
        .collect()
}

#[test]
fn the_topmost_field_is_trusted_and_a_forgery_below_is_not() {
    let l = read(BLOCK.as_bytes(), T as f64 + 0.7);
    assert_eq!(l.auth.len(), 2, "the body is not headers");
    let top = l.trusted(None).expect("trusted");
    assert_eq!(top.authserv_id, "mail.example.test");
    let pass = vec![("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass")];
    let mut got = results(top);
    got.sort();
    let mut want = pass.clone();
    want.sort();
    assert_eq!(got, want);
    let by_id = l.trusted(Some("MAIL.example.TEST")).expect("by id");
    assert_eq!(by_id, top, "the topmost field carrying the id");
    assert!(l.trusted(Some("other.test")).is_none());
    // The forgery is below: with it on top instead, it would be the trusted one.
    assert_eq!(
        l.auth[1].result(Method::Dkim),
        Some(AuthResult::Fail),
        "the forgery was read, just not trusted"
    );
}

#[test]
fn with_an_authserv_id_only_its_fields_count() {
    let block = "Authentication-Results: other.test; dkim=fail\r\n\
                 Authentication-Results: \"mail.example.test\" 1; dkim=pass; dkim=fail\r\n\
                 Authentication-Results: mail.example.test; dkim=fail\r\n\r\n";
    let l = read(block.as_bytes(), 0.0);
    let top = l.trusted(None).expect("topmost");
    assert_eq!(top.result(Method::Dkim), Some(AuthResult::Fail));
    let ours = l.trusted(Some("mail.example.test")).expect("ours");
    assert_eq!(
        ours.result(Method::Dkim),
        Some(AuthResult::Pass),
        "quoted id, a version, two dkim results of which one passes"
    );
}

#[test]
fn results_outside_the_rfc_list_are_unknown_and_other_methods_ignored() {
    let l = read(
        b"Authentication-Results: mx.test; spf=hardfail; iprev=pass; auth=pass; arc=NONE; \
          dkim/1=TempError\r\n\r\n",
        0.0,
    );
    let h = l.trusted(None).expect("field");
    assert_eq!(
        results(h),
        vec![("spf", "unknown"), ("dkim", "temperror"), ("arc", "none")]
    );
    let none = read(b"Authentication-Results: mx.test; none\r\n\r\n", 0.0);
    assert!(none.trusted(None).expect("field").results.is_empty());
}

#[test]
fn the_topmost_finite_spam_score_wins() {
    assert_eq!(read(BLOCK.as_bytes(), 0.0).spam_score, Some(-0.10));
    let l = read(
        b"X-Spam-Score: nan\r\nX-Spam-Status: Yes, score=inf\r\nX-Spam-Score: junk\r\n\
          X-Rspamd-Score: 1.5\r\nX-Spam-Score: 3.2\r\n\r\n",
        0.0,
    );
    assert_eq!(l.spam_score, Some(1.5));
    assert_eq!(read(b"Subject: x\r\n\r\n", 0.0).spam_score, None);
}

#[test]
fn hops_oldest_first_with_whole_second_delays() {
    let l = read(BLOCK.as_bytes(), T as f64 + 0.7);
    let shown: Vec<(Option<&str>, Option<&str>, Option<i64>)> = l
        .hops
        .iter()
        .map(|h| (h.by.as_deref(), h.with.as_deref(), h.delay))
        .collect();
    assert_eq!(
        shown,
        vec![
            (Some("mail.example.test"), Some("ESMTPSA"), Some(0)),
            (Some("mail.example.test"), Some("LMTP"), Some(2)),
        ],
        "the first from the acceptance's whole second, the next from the first"
    );
    assert_eq!(l.hops[0].delay_text(), "+0 s");
    // A hop whose clock is behind shows a negative delay; one without a date has none, and
    // the next counts from the last dated hop.
    let skew = "Received: by c; Sat, 28 Nov 2026 01:00:05 +0000\r\n\
                Received: by b; no date\r\n\
                Received: by a; Sat, 28 Nov 2026 00:59:58 +0000\r\n\r\n";
    let l = read(skew.as_bytes(), T as f64);
    let delays: Vec<Option<i64>> = l.hops.iter().map(|h| h.delay).collect();
    assert_eq!(delays, vec![Some(-2), None, Some(7)]);
    assert_eq!(l.hops[0].delay_text(), "-2 s (earlier: clocks differ)");
    assert_eq!(l.hops[1].delay_text(), "?");
}

#[test]
fn bounded_by_field_count_field_size_and_hop_count() {
    let mut block = String::new();
    for i in 0..(MAX_HOPS + 10) {
        block.push_str(&format!(
            "Received: by h{i}; Sat, 28 Nov 2026 01:00:00 +0000\r\n"
        ));
    }
    for _ in 0..(MAX_AUTH_HEADERS + 5) {
        block.push_str("Authentication-Results: a.test; dkim=pass\r\n");
    }
    block.push_str(&format!(
        "X-Spam-Score: {}\r\n",
        "1".repeat(MAX_FIELD_BYTES * 2)
    ));
    block.push_str(&"X-Filler: x\r\n".repeat(MAX_FIELDS));
    block.push_str("X-Spam-Score: 2.0\r\n\r\n");
    let l = read(block.as_bytes(), 0.0);
    assert_eq!(l.hops.len(), MAX_HOPS);
    assert_eq!(
        l.hops[0].by.as_deref(),
        Some(format!("h{}", MAX_HOPS + 9).as_str()),
        "the oldest are kept"
    );
    assert_eq!(l.auth.len(), MAX_AUTH_HEADERS);
    // The over-long score, cut to MAX_FIELD_BYTES digits, reads as infinity and is ignored;
    // the field after MAX_FIELDS is never read.
    assert_eq!(l.spam_score, None);
    let long = format!("Received: by {}; x\r\n\r\n", "a".repeat(10_000));
    let hop = &read(long.as_bytes(), 0.0).hops[0];
    assert_eq!(hop.by.as_ref().map(|b| b.len()), Some(MAX_NAME_CHARS));
}

#[test]
fn folded_lines_and_lf_only_blocks_read_the_same() {
    let lf = BLOCK.replace("\r\n", "\n");
    assert_eq!(
        read(lf.as_bytes(), T as f64),
        read(BLOCK.as_bytes(), T as f64)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes at all: no panic, and every bound holds.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), at in any::<f64>()) {
        let l = read(&bytes, at);
        prop_assert!(l.auth.len() <= MAX_AUTH_HEADERS);
        prop_assert!(l.hops.len() <= MAX_HOPS);
        prop_assert!(l.spam_score.is_none_or(f64::is_finite));
    }

    /// Header-shaped noise: field names the parser looks at, values of tricky characters.
    #[test]
    fn header_shaped_noise_never_panics(
        lines in proptest::collection::vec(
            (prop::sample::select(vec![
                "Authentication-Results: ", "Received: ", "X-Spam-Status: ", "X-Spam-Score: ",
                "X-Rspamd-Score: ", "\t", " ", "",
            ]), "[ -~\\t(){};=/\"\\\\é]{0,80}"),
            0..40,
        ),
        at in any::<f64>(),
    ) {
        let block: String = lines.iter().map(|(n, v)| format!("{n}{v}\r\n")).collect();
        let l = read(block.as_bytes(), at);
        for h in &l.auth {
            prop_assert!(h.authserv_id.chars().count() <= MAX_NAME_CHARS);
        }
        for h in &l.hops {
            prop_assert!(h.by.as_ref().is_none_or(|b| b.chars().count() <= MAX_NAME_CHARS));
            let _ = h.delay_text();
        }
    }
}

#[test]
fn serialises_for_the_status_api_with_methods_as_keys() {
    let l = read(BLOCK.as_bytes(), T as f64);
    let json = serde_json::to_string(&l).expect("json");
    assert!(json.contains("\"dkim\":\"pass\""), "{json}");
    assert!(
        json.contains("\"authserv_id\":\"mail.example.test\""),
        "{json}"
    );
    assert!(!json.contains("id_raw"), "{json}");
}
