//! Drive the demo server with real, independent clients: Python 3's smtplib and imaplib.

#[path = "demo_common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;

const PY_SEND: &str = r#"
import os, smtplib, ssl, base64
ctx = ssl.create_default_context(cafile=os.environ["CA"])
u, p, tok = os.environ["USER"], os.environ["PASS"], os.environ["TOKEN"]
def msg(i):
    return ("From: probe@example.test\r\nTo: %s\r\nSubject: py %s\r\nX-Mailcanary-Id: %s\r\n\r\nhello %s\r\n.dot line\r\n" % (u, i, i, i)).encode()
# 1. plain, AUTH LOGIN (plaintext auth allowed in these tests)
s = smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=10)
s.ehlo(); assert not s.has_extn("starttls") or True
s.login(u, p, initial_response_ok=False)
print("plain", s.sendmail("probe@example.test", [u], msg("py-plain")))
s.quit()
# 2. STARTTLS, AUTH PLAIN
s = smtplib.SMTP("localhost", int(os.environ["SMTP_PORT"]), timeout=10)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(("\0%s\0%s" % (u, p)).encode()).decode())
assert code == 235, (code, text)
print("starttls", s.sendmail("probe@example.test", [u], msg("py-starttls")))
s.quit()
# 3. implicit TLS, AUTH XOAUTH2 without initial response
s = smtplib.SMTP_SSL("localhost", int(os.environ["SMTPS_PORT"]), context=ctx, timeout=10)
s.ehlo()
s.auth("XOAUTH2", lambda challenge=None: "user=%s\x01auth=Bearer %s\x01\x01" % (u, tok), initial_response_ok=False)
code, resp = s.mail("probe@example.test"); assert code == 250
code, resp = s.rcpt("nobody@example.test"); print("unknown_rcpt", code)
code, resp = s.rcpt(u); assert code == 250
code, resp = s.data(msg("py-tls")); print("queued", code, resp.decode())
s.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_sends_over_plain_starttls_and_implicit_tls() {
    let server = start().await;
    let ca = ca_file(&server);
    let (ok, out) = python(PY_SEND, &py_env(&server, &ca)).await;
    assert!(ok, "{out}");
    assert!(out.contains("unknown_rcpt 550"), "{out}");
    assert!(out.contains("queued 250 2.0.0 Ok: queued as "), "{out}");
    for id in ["py-plain", "py-starttls", "py-tls"] {
        let d = server
            .wait_for_delivery("X-Mailcanary-Id", id, T)
            .await
            .unwrap_or_else(|| panic!("{id} delivered"));
        assert_eq!(d.recipient, USER);
        assert_eq!(d.tracking_id.as_deref(), Some(id));
    }
    let msgs = server.store().messages(USER, "INBOX").unwrap();
    assert_eq!(msgs.len(), 3);
    // dot-unstuffing: the line the client stuffed to "..dot line" is stored as ".dot line"
    assert!(msgs[0].bytes.ends_with(b"\r\n.dot line\r\n"));
    server.shutdown().await;
}

const PY_IMAP: &str = r#"
import os, imaplib, ssl, base64
ctx = ssl.create_default_context(cafile=os.environ["CA"])
u, p, tok = os.environ["USER"], os.environ["PASS"], os.environ["TOKEN"]
# IMAPS + LOGIN
m = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS_PORT"]), ssl_context=ctx, timeout=10)
m.login(u, p)
typ, data = m.select("INBOX"); assert typ == "OK", data
typ, data = m.uid("SEARCH", None, "HEADER", "X-Mailcanary-Id", "target-2"); print("search", data[0].decode())
target = data[0].split()[0]
typ, data = m.uid("FETCH", target, "(BODY.PEEK[])")
open(os.environ["OUT"], "wb").write(data[0][1])
typ, data = m.uid("FETCH", target, "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (X-Mailcanary-Id)])")
print("fetchmeta", data[0][0].decode(), repr(data[0][1]))
typ, data = m.uid("STORE", target, "+FLAGS.SILENT", "(\\Deleted)"); print("store", typ)
typ, data = m.uid("EXPUNGE", target); print("uidexpunge", typ)
typ, data = m.uid("SEARCH", None, "ALL"); print("after", data[0].decode())
typ, data = m.append("INBOX", "(\\Seen $Canary)", None, b"Subject: appended\r\nX-Mailcanary-Id: appended-1\r\n\r\nappended body\r\n"); print("append", typ, data[0].decode())
typ, data = m.uid("SEARCH", None, "HEADER", "X-Mailcanary-Id", "appended-1", "SEEN", "KEYWORD", "$Canary"); print("appended_search", data[0].decode())
m.logout()
# IMAP STARTTLS + AUTHENTICATE XOAUTH2, then OAUTHBEARER on another connection
m = imaplib.IMAP4("localhost", int(os.environ["IMAP_PORT"]), timeout=10)
print("precaps", " ".join(m.capabilities))
m.starttls(ssl_context=ctx)
print("postcaps", " ".join(m.capabilities))
typ, data = m.authenticate("XOAUTH2", lambda c: ("user=%s\x01auth=Bearer %s\x01\x01" % (u, tok)).encode()); print("xoauth2", typ)
typ, data = m.select("INBOX", readonly=True); print("examine", typ, data[0].decode())
m.logout()
m = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS_PORT"]), ssl_context=ctx, timeout=10)
typ, data = m.authenticate("OAUTHBEARER", lambda c: ("n,a=%s,\x01host=localhost\x01port=993\x01auth=Bearer %s\x01\x01" % (u, tok)).encode()); print("oauthbearer", typ)
try:
    m2 = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS_PORT"]), ssl_context=ctx, timeout=10)
    m2.login(u, "wrong")
except imaplib.IMAP4.error as e:
    print("badlogin", e)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaplib_search_fetch_expunge_append_and_auth_mechanisms() {
    let server = start().await;
    let store = server.store();
    let m1 = message("target-1");
    let m2 = message("target-2");
    let m3 = message("target-3");
    let u1 = store
        .append(USER, "INBOX", m1.as_bytes(), &["\\Deleted"])
        .unwrap();
    let u2 = store.append(USER, "INBOX", m2.as_bytes(), &[]).unwrap();
    let u3 = store.append(USER, "INBOX", m3.as_bytes(), &[]).unwrap();
    let ca = ca_file(&server);
    let out_path = temp_path(&format!("fetch-{}", server.addrs().imaps.port()));
    let mut env = py_env(&server, &ca);
    env.push(("OUT", out_path.display().to_string()));
    let (ok, out) = python(PY_IMAP, &env).await;
    assert!(ok, "{out}");
    assert!(out.contains(&format!("search {u2}")), "{out}");
    assert_eq!(
        std::fs::read(&out_path.0).unwrap(),
        m2.as_bytes(),
        "BODY.PEEK[] returns the exact bytes"
    );
    assert!(
        out.contains(&format!("UID {u2} FLAGS () RFC822.SIZE {}", m2.len())),
        "{out}"
    );
    assert!(
        out.contains("'X-Mailcanary-Id: target-2\\r\\n\\r\\n'"),
        "{out}"
    );
    assert!(out.contains("uidexpunge OK"), "{out}");
    // UID EXPUNGE removed only the target: message 1 is \Deleted too but stays.
    assert!(out.contains(&format!("after {u1} {u3}")), "{out}");
    assert_eq!(
        store
            .messages(USER, "INBOX")
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![u1, u3, u3 + 1]
    );
    assert!(out.contains("append OK [APPENDUID"), "{out}");
    assert!(
        out.contains(&format!("appended_search {}", u3 + 1)),
        "{out}"
    );
    assert!(
        out.contains("precaps") && out.contains("STARTTLS") && !out.contains("LOGINDISABLED"),
        "{out}"
    );
    assert!(
        out.contains("xoauth2 OK") && out.contains("oauthbearer OK"),
        "{out}"
    );
    assert!(out.contains("examine OK"), "{out}");
    assert!(
        out.contains("badlogin") && out.contains("AUTHENTICATIONFAILED"),
        "{out}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logindisabled_before_starttls_when_plaintext_auth_is_off() {
    let mut o = opts();
    o.allow_plaintext_auth = false;
    let server = mailcanary::demo::DemoServer::start(o).await.unwrap();
    let ca = ca_file(&server);
    let script = r#"
import os, imaplib, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
m = imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP_PORT"]), timeout=10)
print("pre", " ".join(m.capabilities))
try:
    m.login(os.environ["USER"], os.environ["PASS"])
except imaplib.IMAP4.error as e:
    print("refused", e)
m.starttls(ssl_context=ctx)
print("post", " ".join(m.capabilities))
print("login", m.login(os.environ["USER"], os.environ["PASS"])[0])
"#;
    let (ok, out) = python(script, &py_env(&server, &ca)).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("pre IMAP4REV1") && out.contains("STARTTLS LOGINDISABLED"),
        "{out}"
    );
    assert!(out.contains("refused"), "{out}");
    assert!(
        out.contains("post IMAP4REV1") && out.contains("AUTH=PLAIN"),
        "{out}"
    );
    assert!(out.contains("login OK"), "{out}");
    // SMTP: AUTH only after STARTTLS.
    let mut c = Raw::connect(server.addrs().smtp, &server).await.unwrap();
    assert_eq!(c.reply().await.unwrap().0, 220);
    c.send("EHLO x\r\n").await.unwrap();
    let lines = c.reply_lines().await.unwrap();
    assert!(
        lines.iter().any(|l| l.contains("STARTTLS")) && !lines.iter().any(|l| l.contains("AUTH")),
        "{lines:?}"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASS)))
            .await
            .unwrap()
            .0,
        538
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.shutdown().await;
}
