//! A region's path to the mail stack, as a TCP relay the test can cut: one listener on a free
//! 127.0.0.1 port per mail port, each forwarding to 127.0.0.1 on that mail port. Cutting it
//! closes every relayed connection at once and closes each new one as soon as it is accepted
//! (the region's link is down); resuming heals it.
//!
//! The listeners stay bound for the proxy's whole life: a port released while the link is cut
//! could be taken by any other process on the machine (every test binds ephemeral ports), and
//! binding it again would then fail. The ports are the listeners' own, never a port found free
//! and bound again later.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

use super::netns::forward;

/// The mail ports relayed.
pub const MAIL_PORTS: [u16; 5] = [25, 465, 587, 143, 993];

/// What the accept loops and [`Proxy::stop`] share.
#[derive(Default)]
struct Link {
    cut: AtomicBool,
    /// The relayed connections, aborted (their sockets closed) when the link is cut.
    relays: Mutex<Vec<AbortHandle>>,
}

pub struct Proxy {
    /// Mail port → the relay's port.
    pub ports: BTreeMap<u16, u16>,
    link: Arc<Link>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Relays on ports of its own, bound once.
    pub fn start() -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let link = Arc::new(Link::default());
        let mut ports = BTreeMap::new();
        for mail in MAIL_PORTS {
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
                .unwrap_or_else(|e| panic!("proxy: bind 127.0.0.1:0: {e}"));
            let relay = listener.local_addr().expect("proxy: local address").port();
            ports.insert(mail, relay);
            let link = Arc::clone(&link);
            rt.spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let mut relays = link.relays.lock().expect("proxy relays");
                    // Checked under the lock `stop` takes: a connection is either cut by
                    // `stop` or refused here, never relayed past a cut.
                    if link.cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    relays.retain(|h| !h.is_finished());
                    relays.push(tokio::spawn(forward(inbound, mail)).abort_handle());
                }
            });
        }
        Proxy {
            ports,
            link,
            rt: Some(rt),
        }
    }

    /// Cuts the link: relayed connections closed, new ones closed once accepted.
    pub fn stop(&mut self) {
        let mut relays = self.link.relays.lock().expect("proxy relays");
        self.link.cut.store(true, Ordering::SeqCst);
        for relay in relays.drain(..) {
            relay.abort();
        }
    }

    /// Relays again, on the same ports.
    pub fn resume(&mut self) {
        let _relays = self.link.relays.lock().expect("proxy relays");
        self.link.cut.store(false, Ordering::SeqCst);
    }

    /// TOML lines for an `[smtp]` or `[imap]` section: its three ports, relayed.
    pub fn endpoint_ports(&self, smtp: bool) -> String {
        let (implicit, starttls, plain) = if smtp {
            (465, 587, 25)
        } else {
            (993, 143, 143)
        };
        format!(
            "implicit_tls_port = {}\nstarttls_port = {}\nplain_port = {}\n",
            self.ports[&implicit], self.ports[&starttls], self.ports[&plain]
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
