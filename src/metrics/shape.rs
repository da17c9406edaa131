//! What an instance's series look like: its common labels, the phases a successful cycle goes
//! through (the `phase` series created up front), and the endpoints whose certificates it sees.

use crate::config::{Instance, TlsMode};
use crate::vocab::Stage;

/// `[probe, client, region]` of an instance.
pub fn common(i: &Instance) -> [&str; 3] {
    [&i.probe.name, &i.client.name, &i.region]
}

/// The phases a successful cycle of this instance goes through.
pub fn phases(i: &Instance) -> Vec<Stage> {
    let mut v = vec![Stage::Connect];
    if i.client.smtp.tls != TlsMode::None {
        v.push(Stage::Tls);
    }
    v.extend([Stage::Greeting, Stage::Ehlo]);
    if i.client.smtp.auth != crate::config::AuthMech::None {
        v.push(Stage::Auth);
    }
    v.extend([Stage::MailFrom, Stage::Rcpt, Stage::Data]);
    if let Some(pop3) = &i.client.pop3 {
        v.push(Stage::Pop3Connect);
        if pop3.tls != TlsMode::None {
            v.push(Stage::Pop3Tls);
        }
        v.extend([
            Stage::Pop3Greeting,
            Stage::Pop3Login,
            Stage::Pop3List,
            Stage::Pop3Retr,
        ]);
        if i.probe.cleanup {
            v.push(Stage::Cleanup);
        }
        return v;
    }
    v.push(Stage::ImapConnect);
    if i.client.imap.tls != TlsMode::None {
        v.push(Stage::ImapTls);
    }
    v.extend([
        Stage::ImapGreeting,
        Stage::ImapLogin,
        Stage::ImapSelect,
        Stage::ImapSearch,
        Stage::ImapFetch,
    ]);
    if i.probe.cleanup {
        v.push(Stage::Cleanup);
    }
    v
}

/// The `host:port` endpoints an instance talks to (the `endpoint` label of certificate expiry):
/// SMTP, and IMAP or POP3.
pub fn endpoints(i: &Instance) -> Vec<String> {
    let (p, c) = (&i.probe, &i.client);
    let mut v = vec![format!(
        "{}:{}",
        p.smtp.host,
        p.smtp.port(c.smtp.tls, c.smtp.port)
    )];
    if let Some((ep, side)) = p.reader(c) {
        v.push(format!("{}:{}", ep.host, ep.port(side.tls, side.port)));
    }
    v
}
