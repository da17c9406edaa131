//! One floor cycle over any [`Net`]: IMAP logged in and idling, the message submitted over
//! SMTP, then found, fetched, checked, deleted, and the session logged out. Pipelined as RFC
//! 2920 and RFC 3501 allow, or, with `lockstep`, one command per write with each reply awaited
//! (the agent's round trips).

use crate::net::Net;
use crate::Args;
use base64::Engine;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};

type Res<T> = Result<T, String>;

async fn send<S: tokio::io::AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    bytes: &[u8],
) -> Res<()> {
    let w = s.get_mut();
    w.write_all(bytes).await.map_err(|e| e.to_string())?;
    w.flush().await.map_err(|e| e.to_string())
}

async fn line<R: AsyncBufRead + Unpin>(r: &mut R) -> Res<String> {
    let mut line = String::new();
    if r.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
        return Err("connection closed".into());
    }
    Ok(line)
}

/// Reads lines until one starts with `prefix`; returns the lines read.
async fn until<R: AsyncBufRead + Unpin>(r: &mut R, prefix: &str) -> Res<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let l = line(r).await?;
        let done = l.starts_with(prefix);
        lines.push(l);
        if done {
            return Ok(lines);
        }
    }
}

/// Reads one SMTP reply (its last line has a space after the code) and checks its class.
async fn reply<R: AsyncBufRead + Unpin>(r: &mut R, class: u8) -> Res<()> {
    loop {
        let l = line(r).await?;
        if l.as_bytes().get(3) != Some(&b'-') {
            return match l.as_bytes().first() {
                Some(c) if *c == class => Ok(()),
                _ => Err(format!("SMTP: {}", l.trim_end())),
            };
        }
    }
}

pub async fn run<N: Net>(net: &N, a: &Args, id: &str) -> Res<()> {
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", a.user, a.password));

    // IMAP: logged in, selected and idling.
    let mut imap = BufReader::new(net.tls(net.connect(993).await?).await?);
    until(&mut imap, "* OK").await?;
    let login = format!("a AUTHENTICATE PLAIN {plain}\r\n");
    if a.lockstep {
        for (cmd, end) in [
            (login.as_str(), "a OK"),
            ("b SELECT INBOX\r\n", "b OK"),
            ("c IDLE\r\n", "+"),
        ] {
            send(&mut imap, cmd.as_bytes()).await?;
            until(&mut imap, end).await?;
        }
    } else {
        send(
            &mut imap,
            format!("{login}b SELECT INBOX\r\nc IDLE\r\n").as_bytes(),
        )
        .await?;
        until(&mut imap, "b OK").await?;
        until(&mut imap, "+").await?;
    }

    // SMTP: submission with STARTTLS.
    let mut smtp = BufReader::new(net.connect(587).await?);
    reply(&mut smtp, b'2').await?;
    send(&mut smtp, b"EHLO floor\r\n").await?;
    reply(&mut smtp, b'2').await?;
    send(&mut smtp, b"STARTTLS\r\n").await?;
    reply(&mut smtp, b'2').await?;
    let mut smtp = BufReader::new(net.tls(smtp.into_inner()).await?);
    send(&mut smtp, b"EHLO floor\r\n").await?;
    reply(&mut smtp, b'2').await?;
    send(&mut smtp, format!("AUTH PLAIN {plain}\r\n").as_bytes()).await?;
    reply(&mut smtp, b'2').await?;
    let u = &a.user;
    let (mail, rcpt) = (format!("MAIL FROM:<{u}>\r\n"), format!("RCPT TO:<{u}>\r\n"));
    if a.lockstep {
        for (cmd, class) in [
            (mail.as_str(), b'2'),
            (rcpt.as_str(), b'2'),
            ("DATA\r\n", b'3'),
        ] {
            send(&mut smtp, cmd.as_bytes()).await?;
            reply(&mut smtp, class).await?;
        }
    } else {
        send(&mut smtp, format!("{mail}{rcpt}DATA\r\n").as_bytes()).await?;
        for class in [b'2', b'2', b'3'] {
            reply(&mut smtp, class).await?;
        }
    }
    let date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let msg = format!(
        "From: <{u}>\r\nTo: <{u}>\r\nSubject: floor {id}\r\nX-Floor-Id: {id}\r\n\
         Message-ID: <{id}.{date}@floor>\r\n\r\nfloor"
    );
    if a.lockstep {
        // The message, its end and QUIT each in a write of their own, as the agent's SMTP library.
        send(&mut smtp, msg.as_bytes()).await?;
        send(&mut smtp, b"\r\n.\r\n").await?;
        reply(&mut smtp, b'2').await?;
        send(&mut smtp, b"QUIT\r\n").await?;
        reply(&mut smtp, b'2').await?;
    } else {
        send(&mut smtp, format!("{msg}\r\n.\r\nQUIT\r\n").as_bytes()).await?;
        reply(&mut smtp, b'2').await?;
    }
    drop(smtp);

    // IMAP: a push, then the search for this message. The push may be another instance's
    // message on the same mailbox: then search again if the search reported new mail, or idle.
    let (mut tag, mut idling, mut idle_tag) = (0, true, "c".to_string());
    let uid = loop {
        if idling {
            // Untagged lines until an EXISTS (EXPUNGEs of other instances' messages come too).
            while !until(&mut imap, "* ")
                .await?
                .last()
                .is_some_and(|x| x.contains("EXISTS"))
            {}
        }
        tag += 1;
        let search = format!("d{tag} UID SEARCH HEADER X-Floor-Id {id}\r\n");
        if idling && a.lockstep {
            send(&mut imap, b"DONE\r\n").await?;
            until(&mut imap, &format!("{idle_tag} ")).await?;
            send(&mut imap, search.as_bytes()).await?;
        } else if idling {
            send(&mut imap, format!("DONE\r\n{search}").as_bytes()).await?;
        } else {
            send(&mut imap, search.as_bytes()).await?;
        }
        let found = until(&mut imap, &format!("d{tag} OK")).await?;
        let uid = found
            .iter()
            .find_map(|l| l.strip_prefix("* SEARCH "))
            .and_then(|s| s.split_whitespace().next())
            .map(str::to_string);
        if let Some(uid) = uid {
            break uid;
        }
        idling = !found.iter().any(|l| l.contains("EXISTS"));
        if idling {
            idle_tag = format!("i{tag}");
            send(&mut imap, format!("{idle_tag} IDLE\r\n").as_bytes()).await?;
            until(&mut imap, "+").await?;
        }
    };

    send(
        &mut imap,
        format!("e UID FETCH {uid} (BODY.PEEK[])\r\n").as_bytes(),
    )
    .await?;
    let mut body = Vec::new();
    loop {
        let l = line(&mut imap).await?;
        if let Some(n) = l
            .trim_end()
            .strip_suffix('}')
            .and_then(|l| l.rsplit('{').next())
        {
            body = vec![0; n.parse().map_err(|_| format!("bad literal in {l:?}"))?];
            imap.read_exact(&mut body)
                .await
                .map_err(|e| e.to_string())?;
        }
        if l.starts_with("e OK") {
            break;
        }
    }
    if !String::from_utf8_lossy(&body).contains(id) {
        return Err(format!("{id}: the fetched message is not this cycle's"));
    }
    let delete = format!("f UID STORE {uid} +FLAGS.SILENT (\\Deleted)\r\ng UID EXPUNGE {uid}\r\n");
    if a.lockstep {
        // As the agent: STORE and EXPUNGE together, then LOGOUT on its own.
        send(&mut imap, delete.as_bytes()).await?;
        until(&mut imap, "g OK").await?;
        send(&mut imap, b"h LOGOUT\r\n").await?;
    } else {
        send(&mut imap, format!("{delete}h LOGOUT\r\n").as_bytes()).await?;
    }
    until(&mut imap, "h OK").await?;
    Ok(())
}
