//! POP3 on the real stack (scripts/mailstack.sh), and listener isolation, checked with real
//! sessions and no agent:
//! - a fault that breaks one service's listeners (`pop3-down`, `pop3-auth`, `imap-143-down`,
//!   `imap-refused`) breaks exactly those: sessions already open on every listener, broken ones
//!   included, go on answering; logins in progress when the fault starts (connected and greeted,
//!   TLS up, credentials not yet sent) and new logins succeed on every other listener; and every
//!   listener takes logins again once it is off. (A server reload would cut the logins in
//!   progress: this is what the faults must not do.)
//! - `pop3-auth` refuses POP3 logins by every mechanism while IMAP and SMTP AUTH logins of the
//!   same user succeed;
//! - Dovecot's POP3 commits `DELE` only on `QUIT`: a dropped session deletes nothing, and UIDLs
//!   stay the same from one session to the next (the POP3 watch relies on both).
//!
//! User: `frank`, under the stack's exclusive lock (tests/e2e_profiles.rs uses it the same way).

mod stack_sessions;
mod support;

use stack_sessions::{greet, login, pop3_login, Failed, Greeted, Listener, Pop3Auth, Session};
use std::path::Path;
use std::time::{Duration, Instant};
use support::oauth::{require_oauth_stack, Introspection};
use support::stack::{self, Fault, CA, DOMAIN};

const USER: &str = "frank";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn address() -> String {
    format!("{USER}@{DOMAIN}")
}

fn password() -> String {
    format!("{USER}-secret")
}

async fn log_in(l: Listener) -> Result<Session, Failed> {
    login(Path::new(CA), l, &address(), &password()).await
}

/// How a fault breaks the listeners it breaks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Broken {
    /// New connections refused.
    Refused,
    /// Connections accepted, logins refused.
    Login,
}

/// (fault, the listeners it breaks, how).
const FAULTS: &[(&str, &[Listener], Broken)] = &[
    (
        "pop3-down",
        &[Listener::Pop3_110, Listener::Pop3s995],
        Broken::Refused,
    ),
    (
        "pop3-auth",
        &[Listener::Pop3_110, Listener::Pop3s995],
        Broken::Login,
    ),
    ("imap-143-down", &[Listener::Imap143], Broken::Refused),
    (
        "imap-refused",
        &[Listener::Imap143, Listener::Imaps993],
        Broken::Refused,
    ),
];

/// A logged-in session on every listener.
async fn open_all(when: &str) -> Vec<Session> {
    let mut out = Vec::new();
    for l in Listener::ALL {
        match log_in(l).await {
            Ok(s) => out.push(s),
            Err(e) => panic!("{when}: login on {l}: {e:?}"),
        }
    }
    out
}

/// A login in progress on every listener.
async fn greet_all(when: &str) -> Vec<(Listener, Greeted)> {
    let mut out = Vec::new();
    for l in Listener::ALL {
        match greet(Path::new(CA), l).await {
            Ok(g) => out.push((l, g)),
            Err(e) => panic!("{when}: greeting on {l}: {e:?}"),
        }
    }
    out
}

/// What a fault demands of a login attempt.
struct Demand<'a> {
    fault: &'a str,
    /// "new login" or "login in progress".
    what: &'a str,
    broken: &'a [Listener],
    how: Broken,
}

impl Demand<'_> {
    /// Keeps the session of a login that went as demanded; a problem otherwise.
    fn judge(
        &self,
        l: Listener,
        r: Result<Session, Failed>,
        keep: &mut Vec<Session>,
        problems: &mut Vec<String>,
    ) {
        let Demand {
            fault, what, how, ..
        } = self;
        match (self.broken.contains(&l), r) {
            (false, Ok(s)) => keep.push(s),
            (false, Err(e)) => problems.push(format!("{fault} on: {what} on {l} failed: {e:?}")),
            (true, Ok(_)) => problems.push(format!("{fault} on: {what} on {l} succeeded")),
            (true, Err(Failed::Refused)) if *how == Broken::Refused => {}
            (true, Err(Failed::Other(e))) if *how == Broken::Login => {
                if !e.contains("-ERR") {
                    problems.push(format!("{fault} on: {what} on {l}: not a POP3 -ERR: {e}"));
                }
            }
            (true, Err(e)) => problems.push(format!(
                "{fault} on: {what} on {l} broken as {e:?}, not {how:?}"
            )),
        }
    }
}

/// Every session answers NOOP; problems are collected, naming the fault and listener.
async fn all_alive(sessions: &mut [Session], when: &str, problems: &mut Vec<String>) {
    for s in sessions.iter_mut() {
        if let Err(e) = s.noop().await {
            problems.push(format!("{when}: session on {} cut: {e:?}", s.listener));
        }
    }
}

#[test]
fn a_fault_on_one_service_disturbs_no_other_listener() {
    let _g = stack::exclusive();
    stack::require_up();
    let rt = rt();
    let mut problems = Vec::new();
    for (fault, broken, how) in FAULTS {
        let started = Instant::now();
        let mut before = rt.block_on(open_all(&format!("{fault} before")));
        let pending = rt.block_on(greet_all(&format!("{fault} before")));
        let on = Fault::on(fault);
        let mut during = Vec::new();
        rt.block_on(async {
            all_alive(&mut before, &format!("{fault} on"), &mut problems).await;
            // Connected before the fault: a refused port does not concern it, only a refused
            // login does.
            let in_progress = Demand {
                fault,
                what: "login in progress",
                broken: if *how == Broken::Login { broken } else { &[] },
                how: Broken::Login,
            };
            for (l, g) in pending {
                let r = g.log_in(&address(), &password()).await;
                in_progress.judge(l, r, &mut during, &mut problems);
            }
            let new = Demand {
                fault,
                what: "new login",
                broken,
                how: *how,
            };
            for l in Listener::ALL {
                new.judge(l, log_in(l).await, &mut during, &mut problems);
            }
        });
        drop(on);
        rt.block_on(async {
            all_alive(&mut before, &format!("{fault} off"), &mut problems).await;
            all_alive(&mut during, &format!("{fault} off"), &mut problems).await;
            let after = open_all(&format!("{fault} off")).await;
            for s in before.into_iter().chain(during).chain(after) {
                let _ = s.quit().await;
            }
        });
        println!("{fault}: {:.1}s", started.elapsed().as_secs_f64());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn pop3_auth_refuses_every_pop3_mechanism_and_no_other_login() {
    require_oauth_stack();
    let oauth = Introspection::start();
    let token = "pop3-auth-fault-token";
    oauth.grant(token, &address(), Duration::from_secs(600));
    let _g = stack::exclusive();
    stack::require_up();
    let rt = rt();
    let (user, pw) = (address(), password());
    let ca = Path::new(CA);
    let mechanisms = [
        Pop3Auth::UserPass(&pw),
        Pop3Auth::Plain(&pw),
        Pop3Auth::Xoauth2(token),
    ];
    rt.block_on(async {
        for m in mechanisms {
            let s = pop3_login(ca, Listener::Pop3s995, &user, m).await;
            let s = s.unwrap_or_else(|e| panic!("before the fault, POP3 {m:?}: {e:?}"));
            let _ = s.quit().await;
        }
    });
    let fault = Fault::on("pop3-auth");
    rt.block_on(async {
        for m in mechanisms {
            for l in [Listener::Pop3_110, Listener::Pop3s995] {
                match pop3_login(ca, l, &user, m).await {
                    Err(Failed::Other(e)) if e.contains("-ERR") => {}
                    Err(e) => panic!("pop3-auth on: {l} {m:?}: not a POP3 -ERR: {e:?}"),
                    Ok(_) => panic!("pop3-auth on: {l} {m:?} still logs in"),
                }
            }
        }
        for l in [
            Listener::Imap143,
            Listener::Imaps993,
            Listener::Submission587,
            Listener::Submissions465,
        ] {
            let s = log_in(l).await;
            let s = s.unwrap_or_else(|e| panic!("pop3-auth on: {l} login: {e:?}"));
            let _ = s.quit().await;
        }
    });
    drop(fault);
    rt.block_on(async {
        for m in mechanisms {
            let s = pop3_login(ca, Listener::Pop3_110, &user, m).await;
            let s = s.unwrap_or_else(|e| panic!("pop3-auth off: POP3 {m:?}: {e:?}"));
            let _ = s.quit().await;
        }
    });
}

/// `UIDL` as (message number, uidl) pairs.
async fn uidl(s: &mut Session) -> Vec<(u32, String)> {
    let first = s.lines.cmd("UIDL").await.expect("UIDL");
    assert!(first.starts_with("+OK"), "UIDL: {first}");
    let lines = s.lines.pop3_multiline().await.expect("UIDL listing");
    lines
        .iter()
        .map(|l| {
            let (n, u) = l.split_once(' ').expect("UIDL line: number and uidl");
            (n.parse().expect("message number"), u.to_string())
        })
        .collect()
}

async fn pop3(ca: &Path) -> Session {
    let pw = password();
    let s = pop3_login(ca, Listener::Pop3s995, &address(), Pop3Auth::UserPass(&pw)).await;
    s.expect("POP3 login")
}

/// Until Dovecot no longer lists a POP3 session of the user (`doveadm who`).
fn wait_no_pop3_session() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("doveadm")
            .args(["who", "-1", &address()])
            .output()
            .expect("doveadm who");
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.lines().any(|l| l.contains("pop3")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Dovecot still has the dropped POP3 session: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pop3_dele_commits_only_on_quit() {
    let _g = stack::exclusive();
    stack::require_up();
    support::mailbox::empty(USER);
    for i in 1..=3 {
        let msg = format!(
            "From: someone@{DOMAIN}\r\nTo: {}\r\nSubject: pop3 dele {i}\r\n\r\nbody {i}\r\n",
            address()
        );
        support::mailbox::append(USER, &msg, None);
    }
    let rt = rt();
    let ca = Path::new(CA);
    let listed = rt.block_on(async {
        let mut s = pop3(ca).await;
        let listed = uidl(&mut s).await;
        assert_eq!(listed.len(), 3, "three messages listed: {listed:?}");
        let dele = s.lines.cmd("DELE 1").await.expect("DELE");
        assert!(dele.starts_with("+OK"), "DELE 1: {dele}");
        // Dropped: the connection closes without QUIT.
        drop(s);
        listed
    });
    wait_no_pop3_session();
    assert_eq!(
        support::mailbox::search(USER, "ALL").len(),
        3,
        "a dropped POP3 session deleted a message"
    );
    assert!(
        support::mailbox::search(USER, "DELETED").is_empty(),
        "a dropped POP3 session left a message flagged \\Deleted"
    );
    rt.block_on(async {
        let mut s = pop3(ca).await;
        assert_eq!(uidl(&mut s).await, listed, "UIDLs changed between sessions");
        let dele = s.lines.cmd("DELE 1").await.expect("DELE");
        assert!(dele.starts_with("+OK"), "DELE 1: {dele}");
        let quit = s.quit().await.expect("QUIT");
        assert!(quit.starts_with("+OK"), "QUIT: {quit}");
        let mut s = pop3(ca).await;
        let left: Vec<String> = uidl(&mut s).await.into_iter().map(|(_, u)| u).collect();
        let expected: Vec<String> = listed[1..].iter().map(|(_, u)| u.clone()).collect();
        assert_eq!(left, expected, "DELE 1 + QUIT removed exactly message 1");
        let _ = s.quit().await;
    });
    assert_eq!(support::mailbox::search(USER, "ALL").len(), 2);
}
