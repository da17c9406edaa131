//! IMAP server connection driver over imap-next's sans-I/O `Server`: connection setup
//! (greeting faults, implicit TLS), our own I/O loop (so every read/write has a timeout,
//! replies can be dripped, and IDLE can wait on store changes), STARTTLS, and parse-error
//! handling. Events (commands, AUTHENTICATE, IDLE, step faults) are in `events.rs`.
//!
//! STARTTLS: imap-next has no STARTTLS support in its server, and its `Stream` owns the
//! socket. We drive `Server` ourselves; on STARTTLS we queue the tagged OK, ignore any
//! command pipelined behind it, and once the OK is written we run the TLS handshake on the
//! same socket and replace the `Server` with a fresh one whose greeting we drain unsent.
//! Bytes buffered before the handshake are dropped with the old `Server` (no injection).

mod auth;
mod events;
mod fetch;
mod mailboxes;
mod ops;
mod search;
mod session;
mod util;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use imap_next::imap_types::core::Tag;
use imap_next::imap_types::response::{Greeting, GreetingKind, Status, StatusKind};
use imap_next::server::{Error as ServerError, Options, Server};
use imap_next::{Interrupt, Io, State as _};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::demo::conn::{Conn, Farewell, Flow, IoStream, GARBAGE};
use crate::demo::faults::{Action, ImapStep, Proto};
use crate::demo::Shared;
use session::{Out, Session};
use util::{bad, status, tag_of};

const MAX_ERRORS: u32 = 20;

/// Outcome of looking up the fault for a step.
enum Faulted {
    Proceed,
    Respond(Status<'static>),
    End(Flow),
}

struct Driver {
    shared: Arc<Shared>,
    conn: Conn,
    server: Server,
    session: Session,
    changes: watch::Receiver<u64>,
    drip: Option<Duration>,
    idle_tag: Option<Tag<'static>>,
    /// Close once all queued output is written (LOGOUT, BYE greeting, too many errors).
    closing: bool,
    /// Start TLS once the tagged OK is written.
    starttls: bool,
    errors: u32,
}

fn options(shared: &Shared) -> Options {
    let mut o = Options::default();
    o.crlf_relaxed = true;
    let max = u32::try_from(shared.opts.max_message_size)
        .unwrap_or(u32::MAX - 65536)
        .min(u32::MAX - 65536);
    o.max_literal_size = max;
    o.max_command_size = max + 65536;
    o
}

/// A `Server` whose greeting has already been "sent" (discarded), for after STARTTLS.
fn server_without_greeting(shared: &Shared) -> Server {
    let greeting = Greeting {
        kind: GreetingKind::Ok,
        code: None,
        text: util::text("ready"),
    };
    let mut server = Server::new(options(shared), greeting);
    for _ in 0..4 {
        match server.next() {
            Err(Interrupt::Io(Io::Output(_))) => continue,
            _ => break,
        }
    }
    server
}

/// Serve one accepted IMAP connection to the end.
pub(crate) async fn serve(shared: Arc<Shared>, tcp: TcpStream, implicit_tls: bool) {
    let mut conn = Conn::new(
        IoStream::Plain(tcp),
        shared.opts.io_timeout,
        shared.shutdown.clone(),
    );
    let greeting_fault = shared.faults.imap(ImapStep::Greeting);
    match greeting_fault {
        Some(Action::Refuse | Action::Reset) => return conn.arm_reset(),
        Some(Action::Close) => return conn.close().await,
        Some(Action::Stall) => {
            conn.stall().await;
            return conn.close().await;
        }
        _ => {}
    }
    if implicit_tls {
        let config = shared.tls.config(shared.faults.cert(Proto::Imap));
        if let Err(e) = conn.upgrade(config).await {
            tracing::debug!(error = %e, "imaps handshake failed");
            return;
        }
    }
    let session = Session::new(shared.clone(), implicit_tls, !implicit_tls);
    let mut closing = false;
    let mut drip = None;
    let greeting = match greeting_fault {
        Some(Action::Flood(f)) => {
            let _ = events::flood(&mut conn, f).await;
            return conn.close().await;
        }
        Some(Action::Garbage) => {
            if conn.write_all(GARBAGE).await.is_ok() {
                conn.stall().await;
            }
            return conn.close().await;
        }
        Some(Action::No(t) | Action::Bad(t) | Action::Reply(_, t)) => {
            closing = true;
            Greeting {
                kind: GreetingKind::Bye,
                code: None,
                text: util::text(&t),
            }
        }
        other => {
            if let Some(Action::Drip(d)) = other {
                drip = Some(d);
            }
            Greeting {
                kind: GreetingKind::Ok,
                code: session.capability_code(),
                text: util::text("mailcanary demo IMAP ready"),
            }
        }
    };
    let mut d = Driver {
        changes: shared.store.changes(),
        server: Server::new(options(&shared), greeting),
        shared,
        conn,
        session,
        drip,
        idle_tag: None,
        closing,
        starttls: false,
        errors: 0,
    };
    let ended = d.run().await;
    let farewell = Farewell {
        shutdown: b"* BYE Server shutting down\r\n",
        idle: b"* BYE Autologout; idle for too long\r\n",
    };
    d.conn.end(ended, "imap", farewell).await;
}

impl Driver {
    async fn run(&mut self) -> io::Result<Flow> {
        loop {
            let flow = match self.server.next() {
                Ok(event) => self.event(event).await?,
                Err(Interrupt::Io(Io::Output(bytes))) => {
                    self.conn.send(&bytes, self.drip).await?;
                    Flow::Continue
                }
                Err(Interrupt::Io(Io::NeedMoreInput)) => {
                    if self.closing {
                        return Ok(Flow::Close);
                    }
                    if self.starttls {
                        self.starttls = false;
                        let config = self.shared.tls.config(self.shared.faults.cert(Proto::Imap));
                        self.conn.upgrade(config).await?;
                        self.session.tls = true;
                        self.server = server_without_greeting(&self.shared);
                        continue;
                    }
                    self.wait().await?
                }
                Err(Interrupt::Error(e)) => self.error(e),
            };
            if flow != Flow::Continue {
                return Ok(flow);
            }
        }
    }

    fn flush_out(&mut self) {
        for out in std::mem::take(&mut self.session.out) {
            match out {
                Out::Data(d) => {
                    self.server.enqueue_data(d);
                }
                Out::Status(s) => {
                    self.server.enqueue_status(s);
                }
            }
        }
    }

    /// Wait for client input, or (while idling) for a store change.
    async fn wait(&mut self) -> io::Result<Flow> {
        let idling = self.idle_tag.is_some();
        // Authenticated sessions get the autologout timer (RFC 3501: at least 30 minutes).
        let limit = if idling || self.session.user().is_some() {
            self.shared.opts.idle_timeout
        } else {
            self.shared.opts.io_timeout
        };
        tokio::select! {
            read = self.conn.read_some_for(limit) => {
                if read? == 0 {
                    return Ok(Flow::Close);
                }
                let bytes = std::mem::take(&mut self.conn.buf);
                self.server.enqueue_input(&bytes);
                Ok(Flow::Continue)
            }
            changed = self.changes.changed(), if idling => {
                if changed.is_err() {
                    return Ok(Flow::Close);
                }
                Ok(self.idle_push().await)
            }
        }
    }

    fn error(&mut self, e: ServerError) -> Flow {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.server.enqueue_status(util::bye("Too many errors"));
            self.closing = true;
            return Flow::Continue;
        }
        let raw = match &e {
            ServerError::LiteralTooLong { .. } => return Flow::Continue, // imap-next answered BAD
            ServerError::CommandTooLong { discarded_bytes }
            | ServerError::MalformedMessage { discarded_bytes }
            | ServerError::ExpectedCrlfGotLf { discarded_bytes } => {
                discarded_bytes.declassify().to_vec()
            }
        };
        if self.idle_tag.is_some() {
            self.server
                .enqueue_status(status(None, StatusKind::Bad, None, "Expected DONE"));
        } else if let Some(tag) = self.session.auth_abort() {
            let _ = self
                .server
                .authenticate_finish(bad(&tag, "Invalid authentication data"));
        } else {
            let tag = tag_of(&raw);
            self.server
                .enqueue_status(status(tag, StatusKind::Bad, None, "Syntax error"));
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_next::server::Event;

    #[test]
    fn imap_next_server_survives_noise() {
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            code: None,
            text: util::text("hi"),
        };
        let mut server = Server::new(Options::default(), greeting);
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let pieces: [&[u8]; 5] = [
            b"a1 FETCH 1:* (",
            b"a2 LOGIN {",
            b"a3 SEARCH HEADER ",
            b"\r\n",
            b"* ",
        ];
        for i in 0..5_000usize {
            let mut chunk = pieces[i % pieces.len()].to_vec();
            for _ in 0..(i % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.push((x >> 32) as u8);
            }
            server.enqueue_input(&chunk);
            for _ in 0..64 {
                match server.next() {
                    Err(Interrupt::Io(Io::NeedMoreInput)) => break,
                    Ok(Event::IdleCommandReceived { .. }) => {
                        let _ = server.idle_reject(status(None, StatusKind::Bad, None, "no"));
                    }
                    Ok(
                        Event::CommandAuthenticateReceived { .. }
                        | Event::AuthenticateDataReceived { .. },
                    ) => {
                        let _ =
                            server.authenticate_finish(status(None, StatusKind::No, None, "no"));
                    }
                    _ => {}
                }
            }
        }
    }
}
