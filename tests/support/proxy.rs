//! A region's path to the mail stack, as a TCP relay the test can stop: one listener on a free
//! 127.0.0.1 port per mail port, each forwarding to 127.0.0.1 on that mail port. Stopping it
//! closes the listeners and every relayed connection at once (the region's link is cut);
//! starting it again on the same ports heals it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;

use super::netns::forward;

/// The mail ports relayed.
pub const MAIL_PORTS: [u16; 5] = [25, 465, 587, 143, 993];

pub struct Proxy {
    /// Mail port → the relay's port.
    pub ports: BTreeMap<u16, u16>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Relays on free ports.
    pub fn start() -> Proxy {
        let ports = MAIL_PORTS
            .iter()
            .map(|p| {
                let free = TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("free port")
                    .port();
                (*p, free)
            })
            .collect();
        let mut proxy = Proxy { ports, rt: None };
        proxy.resume();
        proxy
    }

    /// Stops relaying: listeners closed, relayed connections cut.
    pub fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    /// Relays again on the same ports.
    pub fn resume(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        for (mail, relay) in &self.ports {
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(("127.0.0.1", *relay)))
                .unwrap_or_else(|e| panic!("proxy: bind 127.0.0.1:{relay}: {e}"));
            let mail = *mail;
            rt.spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    tokio::spawn(forward(inbound, mail));
                }
            });
        }
        self.rt = Some(rt);
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
    }
}
