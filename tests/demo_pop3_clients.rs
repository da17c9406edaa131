//! The demo server's POP3 driven by an independent client, Python 3's poplib, over both TLS
//! modes (STLS on the plain listener, implicit TLS) and every login mechanism: what a POP3 mail
//! client does (CAPA, STAT, LIST, UIDL, TOP, RETR, DELE, QUIT) must give it the store's
//! messages, byte for byte, with UIDLs stable across sessions, and delete only at QUIT.

#[path = "demo_common/mod.rs"]
mod common;

use common::*;

const PY_POP3: &str = r#"
import os, poplib, ssl, base64, socket
ctx = ssl.create_default_context(cafile=os.environ["CA"])
u, p, tok = os.environ["USER"], os.environ["PASS"], os.environ["TOKEN"]
def b64(s): return base64.b64encode(s.encode()).decode()
# 1. plain listener, STLS, USER/PASS
m = poplib.POP3("localhost", int(os.environ["POP3_PORT"]), timeout=10)
caps = m.capa(); print("capa-plain", sorted(caps))
print("stls", m.stls(context=ctx).decode())
caps = m.capa(); print("capa-tls", sorted(caps))
m.user(u); print("pass", m.pass_(p).decode())
print("stat", m.stat())
resp, lines, _ = m.uidl(); first = [l.decode() for l in lines]; print("uidl", first)
resp, lines, _ = m.list(); print("list", [l.decode() for l in lines])
resp, lines, _ = m.top(2, 0); print("top", [l.decode() for l in lines])
resp, lines, octets = m.retr(2)
open(os.environ["OUT"], "wb").write(b"\r\n".join(lines) + b"\r\n")
print("retr-octets", octets)
print("dele", m.dele(1).decode())
# dropped without QUIT: nothing deleted
m.sock.close()
# a session that lists message 1 before the next session deletes it
e = poplib.POP3_SSL("localhost", int(os.environ["POP3S_PORT"]), context=ctx, timeout=10)
e.user(u); e.pass_(p); e.uidl()
# 2. implicit TLS, AUTH PLAIN with the initial response (SASL-IR)
m = poplib.POP3_SSL("localhost", int(os.environ["POP3S_PORT"]), context=ctx, timeout=10)
print("auth-plain", m._shortcmd("AUTH PLAIN " + b64("\0%s\0%s" % (u, p))).decode())
resp, lines, _ = m.uidl(); print("uidl-again", [l.decode() for l in lines] == first)
print("dele", m.dele(1).decode())
print("rset", m.rset().decode())
print("dele", m.dele(1).decode())
print("quit", m.quit().decode())
try:
    e.retr(1)
except poplib.error_proto as err:
    print("retr-expunged", err.args[0].decode())
e.quit()
# 3. implicit TLS, AUTH XOAUTH2 with the initial response; then OAUTHBEARER without it
m = poplib.POP3_SSL("localhost", int(os.environ["POP3S_PORT"]), context=ctx, timeout=10)
ir = b64("user=%s\x01auth=Bearer %s\x01\x01" % (u, tok))
print("auth-xoauth2", m._shortcmd("AUTH XOAUTH2 " + ir).decode())
resp, lines, _ = m.uidl(); print("uidl-after", [l.decode() for l in lines])
m.quit()
m = poplib.POP3_SSL("localhost", int(os.environ["POP3S_PORT"]), context=ctx, timeout=10)
m._putcmd("AUTH OAUTHBEARER"); print("challenge", m._getline()[0].decode())
print("auth-oauthbearer", m._shortcmd(b64("n,a=%s,\x01auth=Bearer %s\x01\x01" % (u, tok))).decode())
m.quit()
try:
    m = poplib.POP3_SSL("localhost", int(os.environ["POP3S_PORT"]), context=ctx, timeout=10)
    m.user(u); m.pass_("wrong")
except poplib.error_proto as e:
    print("wrong-password", e.args[0].decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_reads_and_deletes_over_stls_and_implicit_tls() {
    let server = start().await;
    let store = server.store();
    for id in ["pop-1", "pop-2", "pop-3"] {
        store
            .append(USER, "INBOX", message(id).as_bytes(), &[])
            .unwrap();
    }
    let uids: Vec<u32> = store
        .messages(USER, "INBOX")
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    let ca = ca_file(&server);
    let out = temp_path("pop3-retr.eml");
    let mut env = py_env(&server, &ca);
    env.push(("POP3_PORT", server.addrs().pop3.port().to_string()));
    env.push(("POP3S_PORT", server.addrs().pop3s.port().to_string()));
    env.push(("OUT", out.display().to_string()));
    let (ok, text) = python(PY_POP3, &env).await;
    assert!(ok, "{text}");
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .to_string()
    };
    // Before STLS the plain listener offers STLS; logins are allowed here (the test server
    // allows plaintext auth), after it no STLS.
    assert!(line("capa-plain").contains("'STLS'"), "{text}");
    assert!(!line("capa-tls").contains("'STLS'"), "{text}");
    assert!(line("capa-tls").contains("'SASL'"), "{text}");
    assert!(line("capa-tls").contains("'UIDL'") && line("capa-tls").contains("'TOP'"));
    assert!(line("stls").starts_with("stls +OK"), "{text}");
    assert!(line("pass").starts_with("pass +OK"), "{text}");
    let sizes: Vec<usize> = (1..=3)
        .map(|i| message(&format!("pop-{i}")).len())
        .collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(line("stat"), format!("stat (3, {total})"));
    // UIDLs: distinct, and the same in the next session.
    let uidl = line("uidl");
    let ids: std::collections::BTreeSet<&str> = uidl
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter_map(|e| e.split_once(' ').map(|(_, id)| id))
        .collect();
    assert_eq!(ids.len(), 3, "three distinct UIDLs: {uidl}");
    assert!(line("uidl-again").ends_with("True"), "{text}");
    assert_eq!(
        line("list"),
        format!(
            "list ['1 {}', '2 {}', '3 {}']",
            sizes[0], sizes[1], sizes[2]
        )
    );
    // TOP 2 0: the header and the blank line, no body.
    let top = line("top");
    assert!(
        top.contains("'X-Mailcanary-Id: pop-2'") && top.ends_with("'']"),
        "{top}"
    );
    assert!(!top.contains("body of"), "{top}");
    // RETR: the stored bytes exactly (dot-unstuffed by poplib), and the size as LIST says.
    let retrieved = std::fs::read(&*out).expect("retrieved message");
    assert_eq!(retrieved, message("pop-2").as_bytes());
    assert!(
        line("retr-octets").ends_with(&sizes[1].to_string()),
        "{text}"
    );
    // The session dropped after DELE 1 deleted nothing; the one that quit deleted message 1.
    assert!(line("auth-plain").starts_with("auth-plain +OK"), "{text}");
    assert!(line("rset").starts_with("rset +OK"), "{text}");
    assert!(line("quit").contains("1 message(s) deleted"), "{text}");
    let left: Vec<u32> = store
        .messages(USER, "INBOX")
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, uids[1..].to_vec());
    // A session that listed message 1 before another deleted it: Dovecot's words, which the
    // agent reads as "skip this message" (pop3::wire::expunged).
    assert_eq!(
        line("retr-expunged"),
        "retr-expunged -ERR Message 1 expunged."
    );
    let after = line("uidl-after");
    assert!(after.contains("'1 ") && after.contains("'2 ") && !after.contains("'3 "));
    assert!(
        line("auth-xoauth2").starts_with("auth-xoauth2 +OK"),
        "{text}"
    );
    // RFC 5034: "+", a space, and the (here empty) base64 challenge.
    assert_eq!(line("challenge"), "challenge + ");
    assert!(
        line("auth-oauthbearer").starts_with("auth-oauthbearer +OK"),
        "{text}"
    );
    assert!(
        line("wrong-password").starts_with("wrong-password -ERR [AUTH]"),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_no_login_is_offered_or_taken() {
    let server = mailcanary::demo::DemoServer::start(mailcanary::demo::ServerOptions {
        users: vec![mailcanary::demo::User::new(USER, PASS)],
        ..mailcanary::demo::ServerOptions::default()
    })
    .await
    .expect("server starts");
    let mut c = Raw::connect(server.addrs().pop3, &server).await.unwrap();
    assert!(c.line().await.unwrap().starts_with("+OK"));
    c.send("CAPA\r\n").await.unwrap();
    let mut caps = Vec::new();
    loop {
        let l = c.line().await.unwrap();
        if l == "." {
            break;
        }
        caps.push(l);
    }
    assert!(caps.iter().any(|l| l == "STLS"), "{caps:?}");
    assert!(
        !caps.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{caps:?}"
    );
    for cmd in [
        format!("USER {USER}"),
        format!("AUTH PLAIN {}", plain(USER, PASS)),
    ] {
        c.send(&format!("{cmd}\r\n")).await.unwrap();
        let l = c.line().await.unwrap();
        assert!(l.starts_with("-ERR [AUTH] Plaintext"), "{cmd}: {l}");
    }
    c.send("STLS\r\n").await.unwrap();
    assert!(c.line().await.unwrap().starts_with("+OK"));
    c.starttls("localhost").await.unwrap();
    c.send(&format!("AUTH PLAIN {}\r\n", plain(USER, PASS)))
        .await
        .unwrap();
    assert!(c.line().await.unwrap().starts_with("+OK"));
    server.shutdown().await;
}
