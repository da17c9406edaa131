//! The floor of a probe cycle's cost (`cargo run --release --example floor -- ...`): the least
//! work a client can do and still keep every phase the agent keeps, on the same stack, so the
//! agent's CPU per cycle can be read against what the protocols themselves cost.
//!
//! ```text
//! floor --ca CA --user USER --password-file FILE [--instances N] [--seconds S]
//!       [--lockstep] [--io blocking|tokio]
//! ```
//!
//! `N` instances run cycles back to back for `S` seconds against 127.0.0.1 with the agent's own
//! TLS client configuration (rustls and ring, the web roots and `--ca`) and nothing else: no
//! ledger, no metrics, no logging, no timing of steps, no message signature. A cycle
//! ([`cycle`]):
//!
//! - IMAPS 993: connect, TLS handshake, greeting; `AUTHENTICATE PLAIN` with its initial
//!   response, `SELECT INBOX` and `IDLE`;
//! - SMTP 587: connect, greeting, EHLO, STARTTLS, TLS handshake, EHLO, `AUTH PLAIN`, `MAIL`,
//!   `RCPT`, `DATA`, the message, `QUIT`;
//! - IMAP: the `EXISTS` push, `DONE`, `UID SEARCH` for the message's id, `UID FETCH` of it,
//!   `UID STORE \Deleted` with `UID EXPUNGE`, and `LOGOUT`.
//!
//! By default the commands are pipelined where RFC 2920 and RFC 3501 allow (about 14 round
//! trips); `--lockstep` awaits each reply as the agent does (about 21). `--io blocking` (the
//! default) is a thread per instance waiting in blocking `recv`; `--io tokio` runs the same
//! cycle on tokio's multi-threaded runtime with tokio-rustls, as the agent does, so the
//! difference is what asynchronous I/O costs. Prints one JSON line: cycles, failures, and the
//! process's user and system CPU seconds (getrusage).

mod cycle;
mod net;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Args {
    ca: String,
    user: String,
    password: String,
    instances: usize,
    seconds: u64,
    lockstep: bool,
    tokio: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        ca: String::new(),
        user: String::new(),
        password: String::new(),
        instances: 4,
        seconds: 30,
        lockstep: false,
        tokio: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--lockstep" {
            a.lockstep = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--ca" => a.ca = v,
            "--user" => a.user = v,
            "--password-file" => {
                a.password = std::fs::read_to_string(&v)
                    .map_err(|e| format!("{v}: {e}"))?
                    .trim()
                    .to_string()
            }
            "--instances" => a.instances = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--seconds" => a.seconds = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--io" if v == "blocking" || v == "tokio" => a.tokio = v == "tokio",
            _ => return Err(format!("unknown flag or value: {flag} {v}")),
        }
    }
    if a.ca.is_empty() || a.user.is_empty() || a.password.is_empty() {
        return Err("--ca, --user and --password-file are required".into());
    }
    Ok(a)
}

/// Cycles and failures of all instances.
#[derive(Default)]
struct Counts {
    cycles: AtomicU64,
    failures: AtomicU64,
}

impl Counts {
    fn count(&self, instance: usize, r: Result<(), String>) {
        match r {
            Ok(()) => self.cycles.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                eprintln!("floor: instance {instance}: {e}");
                self.failures.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

fn main() {
    let args = match parse() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::exit(2);
        }
    };
    // The agent's own TLS client configuration: its provider, versions and roots plus `--ca`.
    let config = mailcanary::tls::TlsContext::new(Some(std::path::Path::new(&args.ca)))
        .unwrap_or_else(|e| {
            eprintln!("floor: {e}");
            std::process::exit(2);
        })
        .client_config();
    let counts = Arc::new(Counts::default());
    let end = Instant::now() + Duration::from_secs(args.seconds);
    if args.tokio {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async {
            let net = Arc::new(net::Tokio(tokio_rustls::TlsConnector::from(config)));
            let tasks: Vec<_> = (0..args.instances)
                .map(|i| {
                    let (net, args, counts) = (net.clone(), args.clone(), counts.clone());
                    tokio::spawn(async move {
                        let mut n = 0;
                        while Instant::now() < end {
                            n += 1;
                            let id = format!("floor-{i}-{n}");
                            let run = cycle::run(&*net, &args, &id);
                            let r = tokio::time::timeout(Duration::from_secs(60), run)
                                .await
                                .unwrap_or_else(|_| Err("no end within 60 s".into()));
                            counts.count(i, r);
                        }
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        });
    } else {
        let threads: Vec<_> = (0..args.instances)
            .map(|i| {
                let (net, args, counts) =
                    (net::Blocking(config.clone()), args.clone(), counts.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while Instant::now() < end {
                        n += 1;
                        let id = format!("floor-{i}-{n}");
                        counts.count(i, futures::executor::block_on(cycle::run(&net, &args, &id)));
                    }
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the whole rusage it is given.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    println!(
        "{{\"cycles\": {}, \"failures\": {}, \"user_s\": {:.3}, \"sys_s\": {:.3}}}",
        counts.cycles.load(Ordering::Relaxed),
        counts.failures.load(Ordering::Relaxed),
        secs(ru.ru_utime),
        secs(ru.ru_stime)
    );
}
