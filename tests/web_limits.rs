//! The agent's HTTP server under a flood of idle connections: 2,000 TCP connections opened to
//! its port and left silent are all closed within the configured header-read timeout (most at
//! once, evicted to make room under `--web.max-connections`), while `/metrics` keeps answering
//! and the probe keeps delivering through the whole flood. The agent runs with 1,024 open
//! files at most (systemd's default soft limit, made hard so the agent cannot raise it): the
//! connection cap, not the descriptor limit, is what bounds it. Prints the timings.
//!
//! Also: a keep-alive connection that has been answered lives for the idle timeout, not the
//! shorter header timeout; a client that dribbles its headers is cut at the header timeout; a
//! request with oversized headers or an announced oversized body is refused.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::agent::AgentProcess;
use support::demo::{probe, DemoBackend};
use support::http;
use tokio::io::AsyncReadExt;

const FLOOD: usize = 2000;
/// The agent's open-file limit during the flood (below the flood's size).
const AGENT_NOFILE: usize = 1024;
const MAX_CONNECTIONS: usize = 100;
const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Scheduling slack allowed past a timeout before a connection counts as not closed.
const SLACK: Duration = Duration::from_millis(1500);

fn flags() -> Vec<String> {
    vec![
        format!(
            "--web.read-header-timeout={}ms",
            READ_HEADER_TIMEOUT.as_millis()
        ),
        format!("--web.idle-timeout={}ms", IDLE_TIMEOUT.as_millis()),
        format!("--web.max-connections={MAX_CONNECTIONS}"),
    ]
}

/// Raises this process' soft open-file limit to the hard limit, so it can hold the flood.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one `rlimit` local through valid pointers.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

fn value(agent: &AgentProcess, name: &str) -> f64 {
    agent.value(name, &[("probe", "flood")]).unwrap_or(-1.0)
}

#[test]
fn idle_connection_flood_is_closed_in_time_while_metrics_and_probes_carry_on() {
    let limit = raise_nofile();
    assert!(
        limit > (FLOOD as u64) + 200,
        "the hard open-file limit ({limit}) cannot hold {FLOOD} connections"
    );
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("flood", &["ios_mail"], 500, 3000)]);
    let flags = flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent = AgentProcess::start_with(&config, &args);
    let capped = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &agent.pid().to_string(),
            &format!("--nofile={AGENT_NOFILE}:{AGENT_NOFILE}"),
        ])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(capped.success(), "prlimit failed: {capped}");
    agent.wait_for("the probe delivering", Duration::from_secs(30), |a| {
        value(a, "mailcanary_probe_consecutive_successes") >= 1.0
    });
    let successes_before = value(&agent, "mailcanary_probe_consecutive_successes");

    // The flood: FLOOD connections, each watched for the moment the agent closes it and kept
    // open on this side until the whole flood is settled (a connection given up by the test
    // would free the agent's descriptor and hide an exhaustion).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = agent.port();
    let flood_start = Instant::now();
    let flood = rt.spawn(async move {
        let mut watchers = Vec::with_capacity(FLOOD);
        for _ in 0..FLOOD {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
            let mut stream = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .expect("connect within 10 s")
                .expect("connect");
            let opened = Instant::now();
            let deadline = READ_HEADER_TIMEOUT + SLACK;
            watchers.push(tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let closed = match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => Some(opened.elapsed()),
                    Ok(Ok(_)) => panic!("the agent sent data on a connection that sent nothing"),
                    Err(_) => None,
                };
                (closed, stream)
            }));
        }
        let opened_in = flood_start.elapsed();
        let mut settled = Vec::with_capacity(FLOOD);
        for w in watchers {
            settled.push(w.await.expect("watcher"));
        }
        (opened_in, settled)
    });

    // Scrape and watch the probe from the first connection until every one is settled.
    let mut scrapes = Vec::new();
    let mut successes_during = successes_before;
    let mut failures_seen = 0.0f64;
    while !flood.is_finished() {
        let t = Instant::now();
        let r = http::get(&agent.url("/metrics"), Duration::from_secs(5));
        let took = t.elapsed();
        assert!(
            r.as_ref().is_ok_and(|r| r.status == 200),
            "/metrics failed during the flood after {:?}: {r:?}",
            flood_start.elapsed()
        );
        scrapes.push(took);
        let samples = support::agent::parse(&r.unwrap().text());
        let get = |n: &str| support::agent::find(&samples, n, &[("probe", "flood")]);
        successes_during = get("mailcanary_probe_consecutive_successes").unwrap_or(0.0);
        failures_seen =
            failures_seen.max(get("mailcanary_probe_consecutive_failures").unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (opened_in, settled) = rt.block_on(flood).expect("flood");
    let closes: Vec<Option<Duration>> = settled.iter().map(|(c, _)| *c).collect();
    drop(settled);
    let flood_took = flood_start.elapsed();

    let open_still = closes.iter().filter(|c| c.is_none()).count();
    let mut closed: Vec<Duration> = closes.into_iter().flatten().collect();
    closed.sort();
    // The q-quantile of the close times (none closed: the longest wait, as "never").
    let at = |q: f64| {
        let i = (closed.len().saturating_sub(1) as f64 * q) as usize;
        closed
            .get(i)
            .copied()
            .unwrap_or(READ_HEADER_TIMEOUT + SLACK)
    };
    let immediate = closed
        .iter()
        .filter(|d| **d < READ_HEADER_TIMEOUT / 2)
        .count();
    scrapes.sort();
    println!(
        "flood: {FLOOD} idle connections opened in {opened_in:?}; agent open-file limit \
         {AGENT_NOFILE}, cap {MAX_CONNECTIONS}, header timeout {READ_HEADER_TIMEOUT:?}, idle timeout {IDLE_TIMEOUT:?}"
    );
    println!(
        "closed by the agent: {} ({immediate} evicted at once); time to close: p50 {:?}, \
         p90 {:?}, max {:?}; still open past the timeout: {open_still}",
        closed.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    println!(
        "/metrics during the flood: {} scrapes, all 200; latency p50 {:?}, max {:?}",
        scrapes.len(),
        scrapes[scrapes.len() / 2],
        scrapes[scrapes.len() - 1]
    );
    println!(
        "probe: consecutive successes {successes_before} before, {successes_during} after \
         {flood_took:?}; most consecutive failures seen {failures_seen}"
    );
    assert_eq!(open_still, 0, "every idle connection is closed in time");
    assert!(at(1.0) <= READ_HEADER_TIMEOUT + SLACK);
    assert!(!scrapes.is_empty());
    assert_eq!(failures_seen, 0.0, "no probe cycle failed during the flood");
    assert!(
        successes_during > successes_before,
        "probe cycles kept succeeding during the flood"
    );
}

/// A raw request on one connection; returns the connection and the status line's code.
fn raw(port: u16, request: &[u8]) -> (std::net::TcpStream, u16) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (s, code)
}

/// How long until the peer closes `s` (reads and discards whatever comes first).
fn until_closed(s: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return None,
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[test]
fn keep_alive_lasts_the_idle_timeout_and_slow_or_large_requests_are_cut() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("limits", &["ios_mail"], 5000, 3000)]);
    let flags = flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent = AgentProcess::start_with(&config, &args);
    let port = agent.port();

    // Answered, then idle: closed after the idle timeout, not the header timeout.
    let (mut s, code) = raw(port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(code, 200);
    let idle = until_closed(&mut s, IDLE_TIMEOUT + SLACK).expect("closed after the idle timeout");
    println!("keep-alive connection closed after {idle:?} idle");
    assert!(
        idle >= IDLE_TIMEOUT - Duration::from_millis(300),
        "{idle:?}"
    );

    // Headers dribbled a byte at a time, each well inside the idle timeout: cut at the header
    // timeout all the same.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = Instant::now();
    let mut cut = None;
    for b in
        b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if s.write_all(&[*b]).is_err() {
            cut = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if start.elapsed() > READ_HEADER_TIMEOUT + SLACK {
            break;
        }
    }
    let cut =
        cut.or_else(|| until_closed(&mut s, Duration::from_millis(10)).map(|_| start.elapsed()));
    println!("dribbled headers cut after {cut:?}");
    let cut = cut.expect("a request dribbling its headers is cut");
    assert!(cut <= READ_HEADER_TIMEOUT + SLACK, "{cut:?}");

    // Oversized headers: 431; an announced oversized body: 413.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    assert_eq!(raw(port, big.as_bytes()).1, 431);
    let (_, code) = raw(
        port,
        b"POST /-/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n",
    );
    assert_eq!(code, 413);
}
