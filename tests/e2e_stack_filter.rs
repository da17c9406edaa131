//! The test stack's mail filter (scripts/mailstack.sh): rspamd as Postfix's milter, resolving
//! through the stack's own DNS zone for example.test. A message submitted on 587 or 465 is signed
//! and arrives with the receiving side's verdicts on top (`Authentication-Results:
//! mail.example.test; dkim=pass ...; spf=pass ...; dmarc=pass ...`) and a spam score
//! (`X-Spam-Status: ..., score=...`); the `dkim-broken` fault turns the DKIM verdict of newly
//! submitted mail into `fail` and off again into `pass`; mail to mallory carries a sender-side
//! forged Authentication-Results below the Received headers and below the real one.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::mailbox::Mailbox;
use support::stack::{self, Fault, CA, DOMAIN, STATE};

/// The stack user these tests send as (and, but for mallory's test, to): no other test uses it.
const SENDER: &str = "stackcheck";

/// Submits one message from SENDER to `to` on `port` (587 STARTTLS or 465 implicit TLS) with
/// SMTP AUTH, tagged with a fresh token in `X-Mailstack-Test`; returns the token. Python's smtplib
/// does the SMTP: each socket operation is bounded by its 10 s timeout.
fn submit(to: &str, port: u16) -> String {
    let token = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let script = r#"
import smtplib, ssl, sys
state, ca, domain, user, to, port, token = sys.argv[1:8]
pw = open(f"{state}/secrets/{user}.password").read().strip()
ctx = ssl.create_default_context(cafile=ca)
frm = f"{user}@{domain}"
msg = (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: stack filter {token}\r\n"
       f"Message-ID: <{token}@{domain}>\r\nX-Mailstack-Test: {token}\r\n\r\nfilter test\r\n")
if port == "465":
    c = smtplib.SMTP_SSL("127.0.0.1", 465, context=ctx, timeout=10)
else:
    c = smtplib.SMTP("127.0.0.1", int(port), timeout=10)
    c.starttls(context=ctx)
c.login(frm, pw)
c.sendmail(frm, [to], msg)
c.quit()
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-I", "-c", script, STATE, CA, DOMAIN, SENDER])
        .arg(format!("{to}@{DOMAIN}"))
        .arg(port.to_string())
        .arg(&token)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "submission on {port} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    token
}

/// The header block of the message carrying `token` in `user`'s INBOX, once it has arrived.
fn delivered(user: &str, token: &str) -> String {
    let mbox = Mailbox::stack(user);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(uid) = mbox
            .search(&format!("HEADER X-Mailstack-Test \"{token}\""))
            .first()
        {
            return mbox.header_block(*uid);
        }
        assert!(
            Instant::now() < deadline,
            "the message {token} did not arrive in {user}'s INBOX within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The header fields of a block, top to bottom, each (lower-case name, unfolded value).
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, v)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// The value of the topmost field called `name`.
fn topmost<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {fields:?}"))
}

/// The result a method has in an Authentication-Results value (`dkim=pass ...` → "pass").
fn result<'a>(ar: &'a str, method: &str) -> Option<&'a str> {
    ar.split(';').find_map(|part| {
        let (m, rest) = part.trim().split_once('=')?;
        (m == method).then(|| rest.split_whitespace().next().unwrap_or(""))
    })
}

/// The receiving side's verdicts on top: authserv-id mail.example.test, then `expect` for dkim,
/// pass for spf and dmarc; and a spam score.
fn assert_verdicts(block: &str, dkim: &str) {
    let f = fields(block);
    let ar = topmost(&f, "authentication-results");
    assert!(
        ar.starts_with(&format!("mail.{DOMAIN};")),
        "topmost Authentication-Results not from mail.{DOMAIN}: {ar}"
    );
    assert_eq!(result(ar, "dkim"), Some(dkim), "dkim in {ar}");
    assert_eq!(result(ar, "spf"), Some("pass"), "spf in {ar}");
    assert_eq!(result(ar, "dmarc"), Some("pass"), "dmarc in {ar}");
    if dkim == "pass" {
        assert!(
            ar.contains("header.d=example.test"),
            "signing domain in {ar}"
        );
    }
    let status = topmost(&f, "x-spam-status");
    let score = status
        .split_once("score=")
        .and_then(|(_, s)| s.split([' ', ',']).next())
        .and_then(|s| s.parse::<f64>().ok());
    assert!(score.is_some(), "no score in X-Spam-Status: {status}");
}

#[test]
fn submitted_mail_arrives_with_dkim_spf_dmarc_pass_and_a_spam_score() {
    let _g = stack::shared();
    stack::require_up();
    Mailbox::stack(SENDER).empty();
    for port in [587, 465] {
        let token = submit(SENDER, port);
        assert_verdicts(&delivered(SENDER, &token), "pass");
    }
}

#[test]
fn dkim_broken_fails_dkim_of_submitted_mail_and_off_restores_pass() {
    let _g = stack::exclusive();
    stack::require_up();
    Mailbox::stack(SENDER).empty();
    let fault = Fault::on("dkim-broken");
    for port in [587, 465] {
        let token = submit(SENDER, port);
        assert_verdicts(&delivered(SENDER, &token), "fail");
    }
    drop(fault);
    let token = submit(SENDER, 587);
    assert_verdicts(&delivered(SENDER, &token), "pass");
}

#[test]
fn mail_to_mallory_carries_the_forged_verdict_below_the_received_headers_and_the_real_one() {
    let _g = stack::shared();
    stack::require_up();
    Mailbox::stack("mallory").empty();
    let token = submit("mallory", 587);
    let block = delivered("mallory", &token);
    let f = fields(&block);
    // The real verdicts stay on top: the forgery below does not replace them.
    assert_verdicts(&block, "pass");
    let ars: Vec<usize> = (0..f.len())
        .filter(|&i| f[i].0 == "authentication-results")
        .collect();
    assert_eq!(ars.len(), 2, "one real and one forged header: {block}");
    let forged = &f[ars[1]].1;
    for method in ["spf", "dkim", "dmarc"] {
        assert_eq!(result(forged, method), Some("fail"), "{method} in {forged}");
    }
    let last_received = (0..f.len())
        .rfind(|&i| f[i].0 == "received")
        .expect("Received headers");
    assert!(
        ars[1] > last_received && ars[1] > ars[0],
        "the forgery is not below the Received headers and the real verdict: {block}"
    );
}
