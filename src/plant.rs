//! `mailcanary sentinel plant`: appends the probe's sentinel messages to its sentinel folder and
//! records their digests and flags in the ledger, so that later cycles can check them.

use crate::agent::{self, AgentError};
use crate::config::ConfigErrors;
use crate::ledger::{Ledger, LedgerError};
use crate::probe::cycle::load_login;
use crate::probe::imap::{ImapLogin, ImapSession};
use crate::probe::recorder::Recorder;
use crate::probe::sentinel::{self, Planted};
use crate::probe::{Failure, Stage};
use std::path::Path;
use std::time::Duration;

/// Why the sentinels could not be planted.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("no probe {probe:?}{} in the config", .client.as_ref().map(|c| format!(" with client {c:?}")).unwrap_or_default())]
    NoSuchProbe {
        probe: String,
        client: Option<String>,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "{count} sentinels of probe {probe} are already planted in {folder:?}; \
         use --replace to plant a new set (the old messages are not deleted)"
    )]
    AlreadyPlanted {
        count: usize,
        probe: String,
        folder: String,
    },
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("the client profile has no IMAP login")]
    NoImapLogin,
    /// Sentinels live in an IMAP folder: a client profile that reads over POP3 cannot plant
    /// them (nor check them).
    #[error(
        "client profile {0:?} reads over POP3; sentinels are planted and checked over IMAP \
         only: name a client profile of the probe that reads over IMAP"
    )]
    Pop3Client(String),
    /// The IMAP server (or the login) failed a step.
    #[error(transparent)]
    Imap(#[from] Failure),
    #[error("appending sentinel {name}: {failure}")]
    Append { name: String, failure: Failure },
    #[error("sentinel {name} was appended but cannot be found in {folder}")]
    NotFound { name: String, folder: String },
}

/// Plants the sentinels of `probe` (logging in as client profile `client`, or its first one).
pub async fn plant(
    path: &Path,
    probe: &str,
    client: Option<&str>,
    replace: bool,
) -> Result<(), PlantError> {
    let config = agent::load(path)?;
    let inst = config
        .instances()
        .into_iter()
        .filter(|i| i.probe.name == probe && client.is_none_or(|c| i.client.name == c))
        // Without a client named, the first that reads over IMAP.
        .min_by_key(|i| client.is_none() && i.client.reads_pop3())
        .ok_or_else(|| PlantError::NoSuchProbe {
            probe: probe.to_string(),
            client: client.map(str::to_string),
        })?;
    if inst.client.reads_pop3() {
        return Err(PlantError::Pop3Client(inst.client.name.clone()));
    }
    let Some(imap) = inst.probe.imap.as_ref() else {
        return Err(PlantError::NoImapLogin);
    };
    let ledger = Ledger::open(&config.agent.ledger_path)?;
    let (folder_before, before) = ledger.sentinels(probe)?;
    if !before.is_empty() && !replace {
        return Err(PlantError::AlreadyPlanted {
            count: before.len(),
            probe: probe.to_string(),
            folder: folder_before,
        });
    }
    let ctx = agent::cycle_ctx(&config, ledger.clone())?;
    let p = &inst.probe;
    let mut rec = Recorder::new(p.timeout, Duration::from_secs(300));
    let (user, secret) = load_login(imap, inst.client.imap.auth, Stage::ImapLogin)?
        .ok_or(PlantError::NoImapLogin)?;
    rec.add_secret(secret.expose());
    let login = ImapLogin {
        mech: inst.client.imap.auth,
        user: &user,
        secret: &secret,
        id: &inst.client.id,
    };
    let mut s = ImapSession::open(
        &mut rec,
        &ctx.tls,
        imap,
        &inst.client.imap,
        &login,
        &p.mailbox,
        None,
        p.imap_max_literal,
    )
    .await?;
    let folder = &p.sentinel_folder;
    s.create_folder(&mut rec, folder).await?;
    let set = sentinel::set(&ctx.keys.current(), probe, &p.to);
    for (name, bytes, flags) in &set {
        s.append(&mut rec, folder, bytes, flags)
            .await
            .map_err(|failure| PlantError::Append {
                name: name.clone(),
                failure,
            })?;
    }
    // Read back what the server stored: that is what later checks compare with.
    s.examine(&mut rec, folder).await?;
    let found = s
        .fetch_matching(&mut rec, sentinel::HEADER, &format!("{probe}/"))
        .await?;
    let mut planted = Vec::new();
    for (name, bytes, flags) in &set {
        let sent = sentinel::sha256_hex(bytes);
        let stored = found
            .iter()
            .filter(|(_, b, _)| {
                crate::probe::canary::header(b, sentinel::HEADER).as_deref() == Some(name)
            })
            .max_by_key(|(uid, b, _)| (sentinel::sha256_hex(b) == sent, *uid))
            .ok_or_else(|| PlantError::NotFound {
                name: name.clone(),
                folder: folder.clone(),
            })?;
        if sentinel::sha256_hex(&stored.1) != sent {
            println!("note: the server stored sentinel {name} with different bytes than sent; recording what it stored");
        }
        let mut flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        flags.sort();
        planted.push(Planted {
            name: name.clone(),
            sha256: sentinel::sha256_hex(&stored.1),
            size: stored.1.len(),
            flags,
        });
    }
    s.close(Duration::from_secs(5));
    ledger.record_sentinels(probe, folder, &planted)?;
    println!(
        "planted {} sentinels for probe {probe} in folder {folder:?} of {}:",
        planted.len(),
        imap.username
    );
    for pl in &planted {
        println!(
            "  {}  {} bytes  flags ({})  sha256 {}",
            pl.name,
            pl.size,
            pl.flags.join(" "),
            &pl.sha256[..16]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_profile_that_reads_over_pop3_cannot_plant_sentinels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key\n").unwrap();
        let main = dir.path().join("m.toml");
        std::fs::write(
            &main,
            "[agent]\nregion = \"t\"\nhmac_key_file = \"k\"\nledger_path = \"l.db\"\n\
             [[probe]]\nname = \"p\"\nclients = [\"outlook_pop3\"]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             [probe.pop3]\nhost = \"h\"\npassword_file = \"k\"\n",
        )
        .unwrap();
        for client in [None, Some("outlook_pop3")] {
            match plant(&main, "p", client, false).await {
                Err(PlantError::Pop3Client(c)) => assert_eq!(c, "outlook_pop3"),
                other => panic!("{client:?}: {other:?}"),
            }
        }
        assert!(
            !dir.path().join("l.db").exists(),
            "refused before the ledger"
        );
    }
}
