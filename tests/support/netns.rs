//! Regions on one machine for the end-to-end tests: network namespaces made by
//! scripts/netns.sh (veth pair, link-local /30, added latency), a TCP relay in the root namespace
//! from each region's root-side address to the loopback mail stack, one `mailcanary run` per
//! namespace, and scraping each agent over its own namespace's loopback (so a cut link does not
//! hide its metrics).
//!
//! Latency is `tc netem` when the kernel has it; otherwise a userspace delay line: a tun device
//! held here, to which scripts/netns.sh redirects every IPv4 packet arriving from the namespace,
//! and which writes each packet back after the delay (see [`DelayLine`]).
//!
//! Everything is torn down on drop, also when the test panics: agents killed, relay stopped,
//! namespaces deleted, tun devices closed (they vanish with their file descriptor). A file lock
//! keeps two test processes from using the same names at once; `up` first deletes leftovers of
//! a run that was killed.
#![allow(dead_code)]

mod delay_line;

use super::agent::{bin, parse, Sample};
use delay_line::DelayLine;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The mail stack's ports that the relay forwards.
pub const PORTS: [u16; 5] = [25, 465, 587, 143, 993];
/// Where each agent serves HTTP inside its namespace.
const AGENT_PORT: u16 = 9797;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/netns.sh")
}

fn netns(args: &[&str]) -> String {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/netns.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "netns.sh {args:?} failed: {text}");
    text
}

/// Panics with the install hint when iproute2 is missing, and when not root.
pub fn require_ip() {
    let ok = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`ip` (iproute2) is needed for the region tests: apt-get install iproute2"
    );
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the region tests create network namespaces: run them as root"
    );
}

/// One region: its namespace, addresses, latency, and (once started) its agent.
pub struct Region {
    pub name: String,
    pub delay_ms: u32,
    pub root_addr: Ipv4Addr,
    pub ns_addr: Ipv4Addr,
    /// "netem", "delay-line" or "none".
    pub latency: String,
    delay_line: Option<DelayLine>,
    agent: Option<Child>,
    pub log: Option<PathBuf>,
}

/// All regions of a test, torn down together.
pub struct Regions {
    pub regions: Vec<Region>,
    relay: Option<tokio::runtime::Runtime>,
    _lock: File,
}

impl Regions {
    /// Creates one namespace per `(name, delay_ms)` and the relay to the mail stack.
    pub fn up(specs: &[(&str, u32)]) -> Regions {
        require_ip();
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/mailcanary-netns.lock")
            .expect("open the netns lock file");
        lock.lock().expect("netns lock");
        let mut out = Regions {
            regions: Vec::new(),
            relay: None,
            _lock: lock,
        };
        for (index, (name, delay_ms)) in specs.iter().enumerate() {
            let tun = format!("mcd-{name}");
            let line = (*delay_ms > 0).then(|| DelayLine::open(&tun, *delay_ms));
            let mut args = vec!["up".to_string(), index.to_string(), name.to_string()];
            args.push(delay_ms.to_string());
            if line.is_some() {
                args.push(tun);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let text = netns(&args);
            let latency = text
                .lines()
                .find_map(|l| l.strip_prefix("latency: "))
                .unwrap_or("?")
                .to_string();
            let addrs = netns(&["addr", &index.to_string()]);
            let mut it = addrs
                .split_whitespace()
                .map(|a| a.parse().expect("address"));
            let (root_addr, ns_addr) = (it.next().expect("root"), it.next().expect("ns"));
            // With netem the tun is not needed: closing it removes the device.
            let delay_line = line.filter(|_| latency == "delay-line").map(|mut l| {
                l.start();
                l
            });
            out.regions.push(Region {
                name: name.to_string(),
                delay_ms: *delay_ms,
                root_addr,
                ns_addr,
                latency,
                delay_line,
                agent: None,
                log: None,
            });
        }
        let addrs: Vec<Ipv4Addr> = out.regions.iter().map(|r| r.root_addr).collect();
        out.relay = Some(relay(&addrs));
        out
    }

    pub fn get(&self, name: &str) -> &Region {
        self.regions
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name}"))
    }

    /// Starts `mailcanary run -c config` inside the region's namespace and waits for its
    /// `/healthz`.
    pub fn start_agent(&mut self, name: &str, config: &Path) {
        let r = self
            .regions
            .iter_mut()
            .find(|r| r.name == name)
            .expect("region");
        let log = config.with_file_name(format!("agent-{name}.log"));
        let file = File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("mcns-{name}"), bin()])
            .args(["run", "-c"])
            .arg(config)
            .args(["--web.listen-address", &format!("127.0.0.1:{AGENT_PORT}")])
            .args(["--log.level", "debug"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn the agent in its namespace");
        r.agent = Some(child);
        r.log = Some(log);
        let started = Instant::now();
        while http_get_in(name, "/healthz").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "agent in {name} not healthy:\n{}",
                r.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `/metrics` of the region's agent (empty if the scrape failed).
    pub fn scrape(&self, name: &str) -> Vec<Sample> {
        http_get_in(name, "/metrics")
            .map(|t| parse(&t))
            .unwrap_or_default()
    }

    /// Takes the region's link down (its agent can no longer reach anything outside).
    pub fn cut(&self, name: &str) {
        netns(&["cut", name]);
    }

    pub fn heal(&self, name: &str) {
        netns(&["heal", name]);
    }
}

impl Region {
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
    }

    /// Rewrites a config written by `stack::write_config` for this region: its region label,
    /// and the relay's address instead of 127.0.0.1.
    pub fn localize(&self, main: &Path) {
        let dir = main.parent().expect("config dir");
        let mut files = vec![main.to_path_buf()];
        for e in std::fs::read_dir(dir.join("probes")).expect("probes dir") {
            files.push(e.expect("entry").path());
        }
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read config");
            let text = text
                .replace("region = \"test\"", &format!("region = \"{}\"", self.name))
                .replace(
                    "host = \"127.0.0.1\"",
                    &format!("host = \"{}\"", self.root_addr),
                );
            std::fs::write(&f, text).expect("write config");
        }
    }
}

impl Drop for Regions {
    fn drop(&mut self) {
        for r in &mut self.regions {
            if let Some(mut c) = r.agent.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(rt) = self.relay.take() {
            rt.shutdown_background();
        }
        let names: Vec<String> = self.regions.iter().map(|r| r.name.clone()).collect();
        let _ = Command::new(script()).arg("down").args(&names).output();
        for r in &mut self.regions {
            r.delay_line.take();
        }
    }
}

/// One HTTP GET to the agent of region `name`, over that namespace's loopback: a thread enters
/// the namespace (setns applies to the calling thread only) and connects from there.
pub fn http_get_in(name: &str, path: &str) -> Option<String> {
    let ns = format!("/var/run/netns/mcns-{name}");
    let path = path.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = (|| -> std::io::Result<String> {
            let f = File::open(&ns)?;
            // SAFETY: setns on a valid namespace fd; it changes only this thread's namespace.
            if unsafe { setns(f.as_raw_fd(), CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let addr = SocketAddr::from(([127, 0, 0, 1], AGENT_PORT));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.set_write_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut raw = String::new();
            s.read_to_string(&mut raw)?;
            Ok(raw)
        })();
        let _ = tx.send(r);
    });
    let raw = rx.recv_timeout(Duration::from_secs(10)).ok()?.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

const CLONE_NEWNET: i32 = 0x4000_0000;

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

/// A TCP relay in the root namespace: each region's root-side address, on each mail port,
/// forwarded to 127.0.0.1 on the same port. Nagle is off on both legs, so the relay adds no
/// batching delay of its own.
fn relay(addrs: &[Ipv4Addr]) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("relay runtime");
    for addr in addrs {
        for port in PORTS {
            let listener = rt
                .block_on(tokio::net::TcpListener::bind((*addr, port)))
                .unwrap_or_else(|e| panic!("relay: bind {addr}:{port}: {e}"));
            rt.spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    tokio::spawn(forward(inbound, port));
                }
            });
        }
    }
    rt
}

/// Copies one accepted connection to and from 127.0.0.1:`port` until either side closes (the
/// connect bounded by 5 s).
pub(super) async fn forward(mut inbound: tokio::net::TcpStream, port: u16) {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let Ok(Ok(mut outbound)) = tokio::time::timeout(Duration::from_secs(5), connect).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
