//! The embedded demo mail server: SMTP, IMAP and POP3 (each plain with STARTTLS/STLS, and
//! implicit TLS) over one shared in-memory store, all on 127.0.0.1 with
//! ephemeral ports, with a private CA, runtime fault injection and a delivery log that records
//! the exact instant each message becomes visible to IMAP.
//!
//! This file owns the public entry point (`DemoServer`, `ServerOptions`, `Addrs`), the state
//! shared by all tasks (`Shared`) and the task tracking used for graceful shutdown.
//!
//! Faults (see `faults.rs`), switchable at runtime with `server.faults().set(..)`/`clear(..)`:
//!
//! | fault | symptom at the client |
//! | --- | --- |
//! | `Smtp/Imap/Pop3(Greeting, Refuse)` | listeners closed: ECONNREFUSED; reopened on the same port on clear |
//! | `(step, Reset)` | TCP RST after the step's command was read (at `Greeting`: right after accept) |
//! | `(step, Close)` | clean close (FIN) instead of the reply |
//! | `(step, Stall)` | no reply ever; the client's read times out |
//! | `(step, Drip(d))` | the reply, one byte per `d` |
//! | `(step, Garbage)` | non-protocol bytes instead of the reply (IMAP: then silence) |
//! | `(step, Flood(LongLine(n)/Endless/Literal(n)))` | an `n`-byte reply line / a reply that never ends / (IMAP) a literal of `n` bytes, (POP3, multi-line steps) `n` bytes of body lines, then close |
//! | `Smtp(step, Reply(code, text))` | that reply; 4xx/5xx reject the step, 421 also closes |
//! | `Imap(step, No/Bad(text))` | tagged NO/BAD (`Login`: `NO [AUTHENTICATIONFAILED]`; `Greeting`: `* BYE`); a NO text `"[CODE] text"` carries that response code |
//! | `Pop3(step, No/Bad/Reply(text))` | `-ERR text` (`Auth`: `-ERR [AUTH] text` unless the text carries its own code; `Greeting`: then close); at `Quit` nothing is committed |
//! | `Cert(proto, Expired/WrongName)` | TLS handshake presents an expired / wrong-name cert (same CA) |
//! | `Idle(DropConnection/NeverPush)` | idling session closed instead of pushed / never pushed |
//! | `Delivery(Delay(d)/Hold/Duplicate/Corrupt/DkimFail)` | late / held until `release_held` / twice / altered body / an `Authentication-Results` with `dkim=fail` on top |
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mailcanary::demo::{DemoServer, ServerOptions, Fault, SmtpStep, Action};
//! let server = DemoServer::start(ServerOptions::default()).await?;
//! println!("SMTP on {}, IMAPS on {}", server.addrs().smtp, server.addrs().imaps);
//! server.faults().set(Fault::Smtp(SmtpStep::RcptTo, Action::Reply(451, "4.3.0 Try later".into())));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod command;
mod conn;
mod delivery;
mod error;
pub mod faults;
mod imap;
mod listener;
mod message;
mod pop3;
mod sasl;
pub mod scenario;
pub mod setup;
mod smtp;
pub mod store;
pub mod tls;

pub use error::DemoError;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

pub use faults::{
    Action, CertFault, DeliveryFault, Fault, Faults, Flood, IdleFault, ImapStep, Pop3Step, Proto,
    SmtpStep,
};
pub use store::{Delivered, Store, StoreError, StoredMessage, User};

/// Configuration of a [`DemoServer`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub users: Vec<User>,
    /// Delay between SMTP acceptance and IMAP visibility (default 0: visible before the 250).
    pub delivery_delay: Duration,
    /// Delay before an idling IMAP session is told about a change (default 0).
    pub idle_push_delay: Duration,
    /// Name in greetings and EHLO; also added to the certificate (default `mail.example.test`).
    pub hostname: String,
    /// Header whose value `Delivered::tracking_id` carries (default `X-Mailcanary-Id`).
    pub track_header: String,
    /// Offer and accept AUTH/LOGIN (POP3: USER/PASS and AUTH) on connections without TLS
    /// (default false: like Postfix with `smtpd_tls_auth_only` and Dovecot with
    /// `disable_plaintext_auth`).
    pub allow_plaintext_auth: bool,
    /// Require SMTP AUTH before MAIL FROM (default false: accepts mail for local users, like an MX).
    pub require_auth: bool,
    /// Largest message accepted (SMTP SIZE), default 25 MiB.
    pub max_message_size: usize,
    /// Timeout of every read and write (default 300 s), except the reads covered by
    /// `idle_timeout`.
    pub io_timeout: Duration,
    /// Read timeout of an authenticated IMAP session, between commands and while idling
    /// (the RFC 3501 autologout timer; default 30 min).
    pub idle_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            users: vec![User::new("canary@example.test", "canary-password")
                .with_token("canary-oauth-token")],
            delivery_delay: Duration::ZERO,
            idle_push_delay: Duration::ZERO,
            hostname: "mail.example.test".to_string(),
            track_header: "X-Mailcanary-Id".to_string(),
            allow_plaintext_auth: false,
            require_auth: false,
            max_message_size: 25 * 1024 * 1024,
            io_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// The actual listening addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    /// SMTP, plain with STARTTLS ("25/587-like").
    pub smtp: SocketAddr,
    /// SMTP over implicit TLS ("465-like").
    pub smtps: SocketAddr,
    /// IMAP, plain with STARTTLS ("143-like").
    pub imap: SocketAddr,
    /// IMAP over implicit TLS ("993-like").
    pub imaps: SocketAddr,
    /// POP3, plain with STLS ("110-like").
    pub pop3: SocketAddr,
    /// POP3 over implicit TLS ("995-like").
    pub pop3s: SocketAddr,
}

/// State shared by the listeners, sessions and delivery tasks.
pub(crate) struct Shared {
    pub opts: ServerOptions,
    pub store: Store,
    pub faults: Faults,
    pub tls: tls::TlsAssets,
    pub queue: delivery::Queue,
    pub shutdown: watch::Receiver<bool>,
    /// Cloned into every task; `None` once shutdown started. When all clones are dropped the
    /// receiver in `DemoServer` sees the channel close.
    tasks: Mutex<Option<mpsc::Sender<()>>>,
}

impl Shared {
    /// Spawn a tracked task (not spawned at all once shutdown started).
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let guard = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(guard) = guard {
            tokio::spawn(async move {
                fut.await;
                drop(guard);
            });
        }
    }
}

/// A running demo server. Dropping it signals shutdown without waiting; prefer `shutdown`.
pub struct DemoServer {
    shared: Arc<Shared>,
    addrs: Addrs,
    shutdown_tx: watch::Sender<bool>,
    done_rx: mpsc::Receiver<()>,
}

impl DemoServer {
    /// Generate the TLS material, bind the six listeners on 127.0.0.1:0 and start serving.
    pub async fn start(opts: ServerOptions) -> std::io::Result<DemoServer> {
        let tls = tls::TlsAssets::generate(&opts.hostname)?;
        let store = Store::new(opts.users.clone(), opts.track_header.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            opts,
            store,
            faults: Faults::new(),
            tls,
            queue: delivery::Queue::new(),
            shutdown: shutdown_rx,
            tasks: Mutex::new(Some(done_tx)),
        });
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut bound = Vec::new();
        for kind in [
            listener::Kind::Smtp,
            listener::Kind::Smtps,
            listener::Kind::Imap,
            listener::Kind::Imaps,
            listener::Kind::Pop3,
            listener::Kind::Pop3s,
        ] {
            let l = listener::bind(loopback)?;
            let addr = l.local_addr()?;
            bound.push((kind, l, addr));
        }
        let addrs = Addrs {
            smtp: bound[0].2,
            smtps: bound[1].2,
            imap: bound[2].2,
            imaps: bound[3].2,
            pop3: bound[4].2,
            pop3s: bound[5].2,
        };
        for (kind, l, addr) in bound {
            shared.spawn(listener::run(shared.clone(), kind, l, addr));
        }
        tracing::info!(?addrs, "demo mail server started");
        Ok(DemoServer {
            shared,
            addrs,
            shutdown_tx,
            done_rx,
        })
    }

    pub fn addrs(&self) -> Addrs {
        self.addrs
    }

    /// PEM of the CA that signed every certificate this server presents.
    pub fn ca_pem(&self) -> &str {
        &self.shared.tls.ca_pem
    }

    /// DER of the same CA certificate.
    pub fn ca_der(&self) -> &rustls::pki_types::CertificateDer<'static> {
        &self.shared.tls.ca_der
    }

    /// A rustls client config (ring provider) that trusts this server's CA only.
    pub fn client_tls_config(&self) -> std::io::Result<Arc<rustls::ClientConfig>> {
        tls::client_config(&self.shared.tls.ca_der)
    }

    pub fn hostname(&self) -> &str {
        &self.shared.opts.hostname
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Every delivery from now on (`Delivered` carries the instant of IMAP visibility).
    pub fn deliveries(&self) -> broadcast::Receiver<Delivered> {
        self.shared.store.subscribe_deliveries()
    }

    /// Wait until a message with `header: value` has been delivered (or was already), up to
    /// `timeout`.
    pub async fn wait_for_delivery(
        &self,
        header: &str,
        value: &str,
        timeout: Duration,
    ) -> Option<Delivered> {
        let mut rx = self.deliveries();
        if let Some(d) = self.shared.store.find_delivery(header, value) {
            return Some(d);
        }
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(d) = self.shared.store.find_delivery(header, value) {
                            return Some(d);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Deliver every message held by the `Hold` fault, now. Returns the number of copies.
    pub fn release_held(&self) -> usize {
        delivery::release_held(&self.shared)
    }

    /// Number of message copies currently held.
    pub fn held_count(&self) -> usize {
        self.shared.queue.held_count()
    }

    /// Stop listeners and sessions (IMAP sessions get `* BYE`, SMTP ones `421`, POP3 ones
    /// `-ERR`), cancel
    /// pending delayed deliveries, and wait (at most 5 s) for every task to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.done_rx.recv()).await;
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Resolves once shutdown was signalled (or the server handle is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
