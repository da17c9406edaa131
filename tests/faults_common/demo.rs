//! The fault-server rows of `docs/failures.md` as code: for each row id, the faults to switch
//! on in a fresh [`DemoServer`] (and, for misconfiguration rows, a change to the probe), and a
//! runner that does one real agent cycle against it with short timeouts.

use super::{instance, run_cycle, shared, Ran, Row};
use mailcanary::config::{Config, Probe};
use mailcanary::demo::command::{write_config, DemoProbe};
use mailcanary::demo::{
    Action, Addrs, CertFault, DeliveryFault, DemoServer, Fault, Flood, IdleFault, ImapStep,
    Pop3Step, Proto, ServerOptions, SmtpStep,
};
use mailcanary::landing::Method;
use mailcanary::probe::cycle::InstanceMemory;
use std::sync::Arc;
use std::time::Duration;

/// Per-step timeout of the probes in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Delivery deadline of the probes in these tests.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// How one fault-server row is produced.
pub struct Scenario {
    pub id: &'static str,
    pub faults: Vec<Fault>,
    /// A change to the probe (a misconfiguration the server cannot inject).
    pub tweak: Option<fn(&mut Probe, Addrs)>,
}

pub(super) fn s(id: &'static str, faults: Vec<Fault>) -> Scenario {
    Scenario {
        id,
        faults,
        tweak: None,
    }
}

fn smtp(step: SmtpStep, action: Action) -> Vec<Fault> {
    vec![Fault::Smtp(step, action)]
}

fn imap(step: ImapStep, action: Action) -> Vec<Fault> {
    vec![Fault::Imap(step, action)]
}

fn reply(code: u16, text: &str) -> Action {
    Action::Reply(code, text.to_string())
}

fn drip() -> Action {
    Action::Drip(Duration::from_secs(1))
}

/// A 10 MB reply line.
fn long_line() -> Action {
    Action::Flood(Flood::LongLine(10_000_000))
}

/// A reply that never ends.
pub(super) fn endless() -> Action {
    Action::Flood(Flood::Endless)
}

/// The reply texts the SMTP code rows use, by code.
fn coded(code: u16) -> Action {
    match code {
        421 => reply(
            421,
            "4.3.2 Service not available, closing transmission channel",
        ),
        451 => reply(
            451,
            "4.3.0 Requested action aborted: local error in processing",
        ),
        550 => reply(550, "5.7.1 Requested action not taken: policy rejection"),
        _ => reply(554, "5.3.0 Transaction failed"),
    }
}

/// Every fault-server scenario, keyed by the row id in `docs/failures.md`.
pub fn scenarios() -> Vec<Scenario> {
    use ImapStep as I;
    use SmtpStep as S;
    let mut v = vec![
        s("smtp-refused", smtp(S::Greeting, Action::Refuse)),
        s("smtp-reset-greeting", smtp(S::Greeting, Action::Reset)),
        s("smtp-close-greeting", smtp(S::Greeting, Action::Close)),
        s("smtp-stall-greeting", smtp(S::Greeting, Action::Stall)),
        s("smtp-stall-before-tls", smtp(S::Greeting, Action::Stall)),
        s("smtp-drip-greeting", smtp(S::Greeting, drip())),
        s("smtp-garbage-greeting", smtp(S::Greeting, Action::Garbage)),
        s("smtp-421-greeting", smtp(S::Greeting, coded(421))),
        s(
            "smtp-554-greeting",
            smtp(S::Greeting, reply(554, "5.3.2 No SMTP service here")),
        ),
        s("smtp-451-ehlo", smtp(S::Ehlo, coded(451))),
        s("smtp-stall-ehlo", smtp(S::Ehlo, Action::Stall)),
        s(
            "smtp-starttls-454",
            smtp(
                S::StartTls,
                reply(454, "4.7.0 TLS not available due to local problem"),
            ),
        ),
        s(
            "smtp-starttls-not-offered",
            smtp(S::Ehlo, reply(250, "mail.example.test")),
        ),
        Scenario {
            id: "smtp-implicit-tls-plaintext",
            faults: Vec::new(),
            tweak: Some(|p, a| p.smtp.implicit_tls_port = Some(a.smtp.port())),
        },
        s(
            "smtp-cert-expired",
            vec![Fault::Cert(Proto::Smtp, CertFault::Expired)],
        ),
        s(
            "smtp-cert-wrong-name",
            vec![Fault::Cert(Proto::Smtp, CertFault::WrongName)],
        ),
        s(
            "smtp-auth-535",
            smtp(
                S::Auth,
                reply(535, "5.7.8 Authentication credentials invalid"),
            ),
        ),
        s(
            "smtp-auth-454",
            smtp(
                S::Auth,
                reply(454, "4.7.0 Temporary authentication failure"),
            ),
        ),
    ];
    for (step, name) in [
        (S::MailFrom, "mail-from"),
        (S::RcptTo, "rcpt"),
        (S::Data, "data"),
        (S::EndOfData, "end-of-data"),
    ] {
        for code in [421u16, 451, 550, 554] {
            let id: &'static str = Box::leak(format!("smtp-{code}-{name}").into_boxed_str());
            v.push(s(id, smtp(step, coded(code))));
        }
    }
    v.extend([
        s("smtp-garbage-mail-from", smtp(S::MailFrom, Action::Garbage)),
        s("smtp-reset-rcpt", smtp(S::RcptTo, Action::Reset)),
        s("smtp-drip-rcpt", smtp(S::RcptTo, drip())),
        s("smtp-stall-end-of-data", smtp(S::EndOfData, Action::Stall)),
        s("smtp-long-line-greeting", smtp(S::Greeting, long_line())),
        s("smtp-long-line-ehlo", smtp(S::Ehlo, long_line())),
        s("smtp-endless-ehlo", smtp(S::Ehlo, endless())),
        s("imap-long-line-greeting", imap(I::Greeting, long_line())),
        s("imap-endless-login", imap(I::Login, endless())),
        s("imap-endless-search", imap(I::Search, endless())),
        s(
            "imap-huge-literal-fetch",
            imap(I::Fetch, Action::Flood(Flood::Literal(500_000_000))),
        ),
        s("imap-refused", imap(I::Greeting, Action::Refuse)),
        s("imap-reset-greeting", imap(I::Greeting, Action::Reset)),
        s("imap-close-greeting", imap(I::Greeting, Action::Close)),
        s("imap-stall-greeting", imap(I::Greeting, Action::Stall)),
        s("imap-reset-before-tls", imap(I::Greeting, Action::Reset)),
        s("imap-stall-before-tls", imap(I::Greeting, Action::Stall)),
        s("imap-drip-greeting", imap(I::Greeting, drip())),
        s("imap-garbage-greeting", imap(I::Greeting, Action::Garbage)),
        s(
            "imap-bye-greeting",
            imap(I::Greeting, Action::No("Too many connections".into())),
        ),
        s(
            "imap-starttls-no",
            imap(I::StartTls, Action::No("TLS not available".into())),
        ),
        s(
            "imap-cert-expired",
            vec![Fault::Cert(Proto::Imap, CertFault::Expired)],
        ),
        s(
            "imap-cert-wrong-name",
            vec![Fault::Cert(Proto::Imap, CertFault::WrongName)],
        ),
        s(
            "imap-login-rejected",
            imap(I::Login, Action::No("Authentication failed.".into())),
        ),
        s(
            "imap-login-command-rejected",
            imap(I::Login, Action::No("Authentication failed.".into())),
        ),
        s(
            "imap-login-unavailable",
            imap(
                I::Login,
                Action::No("[UNAVAILABLE] Temporary authentication failure".into()),
            ),
        ),
        s("imap-reset-login", imap(I::Login, Action::Reset)),
        s(
            "imap-select-no",
            imap(I::Select, Action::No("Mailbox doesn't exist: INBOX".into())),
        ),
        s("imap-stall-select", imap(I::Select, Action::Stall)),
        s(
            "imap-search-bad",
            imap(
                I::Search,
                Action::Bad("Error in IMAP command UID SEARCH".into()),
            ),
        ),
        s(
            "imap-fetch-no",
            imap(
                I::Fetch,
                Action::No("Message is no longer available".into()),
            ),
        ),
        s("imap-garbage-fetch", imap(I::Fetch, Action::Garbage)),
        s(
            "imap-cleanup-no",
            imap(I::Store, Action::No("Mailbox is read-only".into())),
        ),
        s(
            "imap-idle-dropped",
            vec![Fault::Idle(IdleFault::DropConnection)],
        ),
        s(
            "imap-idle-never-push",
            vec![Fault::Idle(IdleFault::NeverPush)],
        ),
        s("delivery-held", vec![Fault::Delivery(DeliveryFault::Hold)]),
        s(
            "delivery-late",
            vec![Fault::Delivery(DeliveryFault::Delay(Duration::from_secs(
                6,
            )))],
        ),
        s(
            "delivery-corrupt",
            vec![Fault::Delivery(DeliveryFault::Corrupt)],
        ),
        Scenario {
            id: "auth-dkim-fail",
            faults: vec![Fault::Delivery(DeliveryFault::DkimFail)],
            tweak: Some(|p, _| p.expect_auth = vec![Method::Dkim]),
        },
    ]);
    v.extend(super::pop3::scenarios());
    v
}

/// A demo server with one probe on it under `profile`, its config loaded.
pub struct Setup {
    pub server: DemoServer,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

/// Starts a server and writes a config whose one probe runs under `profile`.
pub async fn setup(profile: &str) -> Setup {
    setup_with(profile, "").await
}

/// As [`setup`], with `extra` TOML lines at the probe's top level.
pub async fn setup_with(profile: &str, extra: &str) -> Setup {
    let server = DemoServer::start(ServerOptions {
        io_timeout: Duration::from_secs(30),
        ..ServerOptions::default()
    })
    .await
    .expect("demo server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = DemoProbe {
        name: "faults".into(),
        clients: vec![profile.to_string()],
        interval: Duration::from_secs(30),
        deadline: DEADLINE,
        timeout: TIMEOUT,
        extra: extra.to_string(),
    };
    let listen = "127.0.0.1:0".parse().expect("address");
    let main = write_config(
        dir.path(),
        server.addrs(),
        server.ca_pem(),
        listen,
        &[probe],
    )
    .expect("write config");
    let config = Config::load(&main).unwrap_or_else(|e| panic!("config: {e}"));
    Setup {
        server,
        config,
        dir,
    }
}

/// Runs the row's scenario: fresh server, its faults on, one cycle.
pub async fn run_row(row: &Row, sc: &Scenario) -> Ran {
    let st = setup(&row.profile).await;
    for f in &sc.faults {
        st.server.faults().set(f.clone());
    }
    // Listeners close asynchronously on Refuse: wait until connecting is refused.
    let a = st.server.addrs();
    for f in &sc.faults {
        match f {
            Fault::Smtp(SmtpStep::Greeting, Action::Refuse) => refused(&[a.smtp, a.smtps]).await,
            Fault::Imap(ImapStep::Greeting, Action::Refuse) => refused(&[a.imap, a.imaps]).await,
            Fault::Pop3(Pop3Step::Greeting, Action::Refuse) => refused(&[a.pop3, a.pop3s]).await,
            _ => {}
        }
    }
    let mut inst = instance(&st.config, &row.profile);
    if let Some(tweak) = sc.tweak {
        let mut p = (*inst.probe).clone();
        tweak(&mut p, st.server.addrs());
        inst.probe = Arc::new(p);
    }
    let shared = shared(&st.config);
    let mut mem = InstanceMemory::default();
    let ran = run_cycle(&shared, &inst, &mut mem).await;
    st.server.shutdown().await;
    ran
}

/// Waits (at most 5 s) until connecting to every address is refused.
async fn refused(addrs: &[std::net::SocketAddr]) {
    for addr in addrs {
        for _ in 0..100 {
            match tokio::net::TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}
