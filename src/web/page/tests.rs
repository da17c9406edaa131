//! Rendering tests: escaping of server text, a down instance in words, the sparkline, the
//! scenario banner, and no external assets.

use super::{render, View};
use crate::landing::{self, Hop};
use crate::status::{FailureView, InstanceStatus, LandedView, Notice};

const NOW: f64 = 1_674_346_200.0; // 2023-01-22 00:10 UTC

fn up(client: &str) -> InstanceStatus {
    InstanceStatus {
        probe: "libero".into(),
        client: client.into(),
        region: "eu-south".into(),
        state: "up".into(),
        last_cycle: Some(NOW - 5.0),
        last_success: Some(NOW - 5.0),
        last_delivery_seconds: Some(0.42),
        history: (0..20)
            .map(|n| (NOW - 600.0 + n as f64 * 30.0, Some(0.1 + n as f64 / 100.0)))
            .collect(),
        certs: [("127.0.0.1:993".to_string(), (NOW + 40.0 * 86_400.0) as i64)].into(),
        ..Default::default()
    }
}

fn down(client: &str, detail: &str) -> InstanceStatus {
    let mut i = up(client);
    i.state = "down".into();
    i.down_since = Some(NOW - 8.0 * 60.0);
    i.in_flight = 3;
    i.history.extend([(NOW - 30.0, None), (NOW, None)]);
    i.failures.push_front(FailureView {
        at: NOW - 2.0,
        stage: "imap_login".into(),
        reason: "temp_fail".into(),
        summary: "IMAP login failed: temporary failure reported by the server".into(),
        detail: detail.into(),
    });
    i
}

fn page(instances: &[InstanceStatus], notice: Option<&Notice>) -> String {
    render(&View {
        region: "eu-south",
        instances,
        now: NOW,
        notice,
    })
}

#[test]
fn server_text_is_escaped_everywhere() {
    let evil = r#"NO [UNAVAILABLE] <script>alert(1)</script><img src=x onerror="x()"> & 'q'"#;
    let mut i = down("ios_mail", evil);
    i.probe = "p<i>".into();
    let html = page(&[i], None);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<i>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("onerror=&quot;x()&quot;"));
    assert!(html.contains("p&lt;i&gt;"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
}

#[test]
fn a_down_instance_says_where_why_and_since_when_in_words() {
    let html = page(
        &[up("outlook"), down("ios_mail", "NO [UNAVAILABLE] storage")],
        None,
    );
    let cell = html
        .split("data-instance=\"libero/ios_mail\"")
        .nth(1)
        .and_then(|s| s.split("</td>").next())
        .expect("a matrix cell for ios_mail");
    assert!(cell.contains("data-state=\"down\""), "{cell}");
    assert!(
        cell.contains("✗ DOWN"),
        "state in words, not colour alone: {cell}"
    );
    assert!(cell.contains("down since 00:02, 8 min"), "{cell}");
    assert!(
        cell.contains("IMAP login failed: temporary failure"),
        "{cell}"
    );
    assert!(cell.contains("3 in flight"), "{cell}");
    assert!(
        html.contains("data-instance=\"libero/outlook\" data-client=\"outlook\" data-state=\"up\"")
    );
    assert!(html.contains("✓ UP"));
    assert!(html.contains("delivered in 420 ms"));
    assert!(html.contains("<code>imap_login</code> <code>temp_fail</code>"));
    assert!(
        html.contains("NO [UNAVAILABLE] storage"),
        "the server's own text"
    );
    assert!(html.contains("1 of 2 delivering, 1 down."));
    assert!(html.contains("<title>(1 down) mailcanary"));
}

#[test]
fn cards_have_a_sparkline_counts_and_certificate_days() {
    let mut i = down("thunderbird", "x");
    i.late_total = 4;
    i.lost_total = 2;
    i.recovered_total = 1;
    i.junk_total = 3;
    let html = page(&[i], None);
    assert!(html.contains("<svg class=\"spark\""));
    assert!(html.contains("<polyline"));
    assert!(html.contains("2 failed"));
    assert!(html.contains("<dd data-k=\"late\">4</dd>"));
    assert!(html.contains("<dd data-k=\"lost\">2 (1 recovered later)</dd>"));
    assert!(
        html.contains("<dd data-k=\"junk\">3</dd>"),
        "canaries found in Junk"
    );
    assert!(
        html.contains("<b>3</b> in Junk"),
        "summed over the instances"
    );
    assert!(html.contains("<td>127.0.0.1:993</td>"));
    assert!(html.contains("<td>40</td>"), "days left");
    assert!(html.contains("data-state=\"not_configured\""), "sentinels");
}

#[test]
fn the_scenario_banner_shows_the_phase() {
    let n = Notice {
        scenario: "libero".into(),
        phase: 3,
        phases: 4,
        title: "partial restore".into(),
        detail: "IMAP works again for every profile except iOS <Mail>".into(),
        look_for: "ios_mail stays red".into(),
        since: NOW - 60.0,
    };
    let html = page(&[up("outlook")], Some(&n));
    assert!(html.contains("id=\"notice\" class=\"notice\" data-phase=\"3\""));
    assert!(html.contains("libero · phase 3/4: partial restore"));
    assert!(html.contains("except iOS &lt;Mail&gt;"));
    assert!(!page(&[], None).contains("id=\"notice\""));
}

#[test]
fn self_contained_and_refreshing_with_and_without_javascript() {
    let html = page(&[up("outlook")], None);
    for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(external), "external asset: {external}");
    }
    assert!(html.contains("<main id=\"live\""));
    assert!(html.contains("getElementById('live')"));
    assert!(html.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
    assert!(!html.contains("REFRESH_SECONDS"));
    assert!(page(&[], None).contains("No probe instances configured."));
}

#[test]
fn repeated_failures_fold_into_one_entry() {
    let mut i = down("outlook", "NO [UNAVAILABLE] storage");
    for n in 1..4 {
        let mut f = i.failures[0].clone();
        f.at -= 10.0 * n as f64;
        i.failures.push_back(f);
    }
    let html = page(&[i, down("gmail_android", "other text")], None);
    let list = html.split("id=\"failures\"").nth(1).unwrap_or_default();
    assert_eq!(list.matches("<li ").count(), 2, "{list}");
    assert!(list.contains("4 cycles, 00:09:28 → 00:09:58"), "{list}");
}

#[test]
fn the_card_shows_where_the_last_canary_landed_escaped() {
    let mut i = up("ios_mail");
    let read = landing::read(
        b"Authentication-Results: mail.example.test; spf=pass; dkim=fail; dmarc=pass\r\n\
          X-Spam-Score: 3.2\r\n\r\n",
        0.0,
    );
    i.landed = Some(LandedView {
        canary: "c1".into(),
        at: NOW,
        trusted: read.trusted(None).cloned(),
        spam_score: read.spam_score,
        hops: vec![
            Hop {
                by: Some("<script>x</script>".into()),
                with: Some("ESMTPSA".into()),
                at: None,
                delay: Some(0),
            },
            Hop {
                by: Some("mail.example.test".into()),
                with: Some("LMTP".into()),
                at: None,
                delay: Some(-1),
            },
        ],
    });
    let html = page(&[i], None);
    assert!(html.contains(
        "<dd data-k=\"auth\">spf=pass dkim=fail dmarc=pass <span class=\"muted\">(mail.example.test)</span></dd>"
    ), "{html}");
    assert!(
        html.contains("<dd data-k=\"spam_score\">3.2</dd>"),
        "{html}"
    );
    assert!(!html.contains("<script>x"), "{html}");
    assert!(
        html.contains("&lt;script&gt;x&lt;/script&gt; <span class=\"muted\">ESMTPSA</span> +0 s")
    );
    assert!(html.contains("-1 s (earlier: clocks differ)"));
    // Before any canary was verified: nothing about verdicts at all.
    assert!(!page(&[up("ios_mail")], None).contains("data-k=\"auth\""));
}
