//! Benchmark helper (`cargo run --release --example bench -- server ...`): the embedded mail
//! server in a process of its own, so the agent under measurement (`mailcanary run`, another
//! process) is the only thing its /proc figures count.
//!
//! ```text
//! bench server --dir DIR [--users N] [--delivery-delay-ms MS]
//! ```
//!
//! Starts a `DemoServer` with `N` mailboxes `box0@example.test` .. `box{N-1}@example.test`
//! (password in `DIR/password`, mode 0600), writes `DIR/ca.pem` and `DIR/server.json` (the
//! four listening addresses), and streams every delivery to `DIR/deliveries.tsv` as it happens:
//!
//! ```text
//! tracking_id  recipient  true_delay_us  visible_unix_s
//! ```
//!
//! where `true_delay_us` is `visible_at - accepted_at` (the instant the message became visible
//! to IMAP minus the instant the server accepted it at the end of DATA, both taken by the
//! server) and `visible_unix_s` the same visibility instant on the wall clock. Runs until
//! SIGTERM or SIGINT.

use mailcanary::demo::{DemoServer, ServerOptions, User};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

const PASSWORD: &str = "bench-password";

struct Args {
    dir: PathBuf,
    users: usize,
    delay: Duration,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("server") => {}
        _ => {
            return Err("usage: bench server --dir DIR [--users N] [--delivery-delay-ms MS]".into())
        }
    }
    let mut args = Args {
        dir: PathBuf::new(),
        users: 1,
        delay: Duration::ZERO,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(&value),
            "--users" => args.users = number()? as usize,
            "--delivery-delay-ms" => args.delay = Duration::from_millis(number()?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = parse()?;
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(&args.dir).map_err(io)?;
    let users = (0..args.users)
        .map(|i| User::new(format!("box{i}@example.test"), PASSWORD))
        .collect();
    let server = DemoServer::start(ServerOptions {
        users,
        delivery_delay: args.delay,
        ..ServerOptions::default()
    })
    .await
    .map_err(io)?;
    let mut deliveries = server.deliveries();
    let a = server.addrs();
    std::fs::write(args.dir.join("ca.pem"), server.ca_pem()).map_err(io)?;
    let mut pw = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(args.dir.join("password"))
        .map_err(io)?;
    pw.write_all(PASSWORD.as_bytes()).map_err(io)?;
    let mut log = std::io::BufWriter::new(
        std::fs::File::create(args.dir.join("deliveries.tsv")).map_err(io)?,
    );
    // server.json last: its presence tells the caller everything else is in place.
    let json = format!(
        "{{\"smtp\": \"{}\", \"smtps\": \"{}\", \"imap\": \"{}\", \"imaps\": \"{}\", \"users\": {}, \"pid\": {}}}\n",
        a.smtp,
        a.smtps,
        a.imap,
        a.imaps,
        args.users,
        std::process::id()
    );
    let tmp = args.dir.join("server.json.tmp");
    std::fs::write(&tmp, json).map_err(io)?;
    std::fs::rename(&tmp, args.dir.join("server.json")).map_err(io)?;

    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(io)?;
    let mut lagged = 0u64;
    loop {
        tokio::select! {
            d = deliveries.recv() => match d {
                Ok(d) => {
                    let true_delay = d.visible_at.saturating_duration_since(d.accepted_at);
                    let visible = d
                        .visible_at_system
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs_f64();
                    let _ = writeln!(
                        log,
                        "{}\t{}\t{}\t{visible:.6}",
                        d.tracking_id.as_deref().unwrap_or("-"),
                        d.recipient,
                        true_delay.as_micros(),
                    );
                }
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(RecvError::Closed) => break,
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        // Flush whenever the channel is drained, so readers see complete lines promptly.
        if deliveries.is_empty() {
            let _ = log.flush();
        }
    }
    let _ = log.flush();
    if lagged > 0 {
        eprintln!("bench: {lagged} deliveries not logged (broadcast lagged)");
    }
    server.shutdown().await;
    Ok(())
}
