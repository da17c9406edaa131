//! The embedded mail server as a test backend for the agent binary: the server runs in the
//! test's own runtime (so the test can switch faults on and off), the agent as a process.
#![allow(dead_code)]

use mailcanary::demo::command::{write_config, DemoProbe};
use mailcanary::demo::{DemoServer, ServerOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct DemoBackend {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<DemoServer>,
}

impl DemoBackend {
    pub fn start() -> DemoBackend {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(DemoServer::start(ServerOptions::default()))
            .expect("demo server");
        DemoBackend {
            rt,
            server: Some(server),
        }
    }

    pub fn server(&self) -> &DemoServer {
        self.server.as_ref().expect("running")
    }

    /// Writes an agent config for `probes` into `dir`; returns the main file.
    pub fn config(&self, dir: &Path, probes: &[DemoProbe]) -> PathBuf {
        let s = self.server();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        write_config(dir, s.addrs(), s.ca_pem(), listen, probes).expect("write config")
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A probe named `name` under `clients`, at `interval`, with a delivery deadline.
pub fn probe(name: &str, clients: &[&str], interval_ms: u64, deadline_ms: u64) -> DemoProbe {
    DemoProbe {
        name: name.into(),
        clients: clients.iter().map(|c| c.to_string()).collect(),
        interval: Duration::from_millis(interval_ms),
        deadline: Duration::from_millis(deadline_ms),
        timeout: Duration::from_secs(3),
        extra: String::new(),
    }
}
