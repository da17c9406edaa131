//! Folder operations beyond the probe's own mailbox: creating the sentinel folder, planting
//! sentinels with APPEND, and reading them back read-only (EXAMINE, `BODY.PEEK[]`, FLAGS);
//! finding the Junk folder (RFC 6154 SPECIAL-USE) and opening it to settle and remove canaries.

use super::command::tagged;
use super::{quote, uid_set, ImapSession};
use crate::probe::recorder::Recorder;
use crate::probe::{Failure, Stage};

/// A message read back whole: UID, bytes, flags.
pub type FullMessage = (u32, Vec<u8>, Vec<String>);

impl ImapSession {
    /// Creates `folder`; an existing folder is fine.
    pub async fn create_folder(&mut self, rec: &mut Recorder, folder: &str) -> Result<(), Failure> {
        let cmd = format!("CREATE {}", quote(folder));
        let s = self.session(Stage::ImapSelect)?;
        rec.step(Stage::ImapSelect, async {
            // ALREADYEXISTS (or a plain NO on servers without RFC 5530 codes) means it is there;
            // the EXAMINE that follows proves it.
            let _ = tagged(s, Stage::ImapSelect, &cmd).await;
            Ok(())
        })
        .await
    }

    /// Opens `folder` read-only: nothing a check does can change a flag.
    pub async fn examine(&mut self, rec: &mut Recorder, folder: &str) -> Result<(), Failure> {
        let cmd = format!("EXAMINE {}", quote(folder));
        let s = self.session(Stage::ImapSelect)?;
        rec.step(Stage::ImapSelect, async {
            tagged(s, Stage::ImapSelect, &cmd).await.map(|_| ())
        })
        .await?;
        rec.note(&format!("EXAMINE {folder}"));
        Ok(())
    }

    /// The folder the server marks `\Junk` (RFC 6154), if it announces SPECIAL-USE and has one.
    /// `LIST (SPECIAL-USE) "" "*"` lists only folders with a special use; the first marked
    /// `\Junk` is taken.
    pub async fn find_junk(&mut self, rec: &mut Recorder) -> Result<Option<String>, Failure> {
        if !self.caps.special_use {
            return Ok(None);
        }
        let s = self.session(Stage::ImapSelect)?;
        let listed = rec
            .step(Stage::ImapSelect, async {
                tagged(s, Stage::ImapSelect, "LIST (SPECIAL-USE) \"\" \"*\"").await
            })
            .await?;
        let junk = listed.junk.into_iter().next();
        rec.note(&match &junk {
            Some(j) => format!("LIST (SPECIAL-USE): Junk folder {j}"),
            None => "LIST (SPECIAL-USE): no Junk folder".into(),
        });
        Ok(junk)
    }

    /// Opens `folder` read-write (SELECT): verified canaries found there are removed from it.
    pub async fn select(&mut self, rec: &mut Recorder, folder: &str) -> Result<(), Failure> {
        let cmd = format!("SELECT {}", quote(folder));
        let s = self.session(Stage::ImapSelect)?;
        rec.step(Stage::ImapSelect, async {
            tagged(s, Stage::ImapSelect, &cmd).await.map(|_| ())
        })
        .await?;
        rec.note(&format!("SELECT {folder}"));
        Ok(())
    }

    /// Appends `message` to `folder` with `flags` (e.g. `["\\Seen"]`).
    pub async fn append(
        &mut self,
        rec: &mut Recorder,
        folder: &str,
        message: &[u8],
        flags: &[&str],
    ) -> Result<(), Failure> {
        let s = self.session(Stage::Data)?;
        let folder = folder.to_string();
        let flags = flags.join(" ");
        let message = message.to_vec();
        rec.step(Stage::Data, async move {
            s.append(&folder, Some(&format!("({flags})")), None, &message)
                .await
                .map_err(|e| super::classify(Stage::Data, &e))
        })
        .await
    }

    /// Every message whose header `name` contains `value`, whole, with its flags, without
    /// setting `\Seen` (`BODY.PEEK[]`).
    pub async fn fetch_matching(
        &mut self,
        rec: &mut Recorder,
        name: &str,
        value: &str,
    ) -> Result<Vec<FullMessage>, Failure> {
        let uids = self.search_header(rec, name, value, false).await?;
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = format!("UID FETCH {} (UID FLAGS BODY.PEEK[])", uid_set(&uids));
        let s = self.session(Stage::ImapFetch)?;
        let got = rec
            .step(Stage::ImapFetch, async {
                tagged(s, Stage::ImapFetch, &cmd).await
            })
            .await?;
        Ok(got
            .fetched
            .into_iter()
            .map(|(uid, body)| {
                let flags = got
                    .flags
                    .iter()
                    .find(|(u, _)| *u == uid)
                    .map(|(_, f)| f.clone())
                    .unwrap_or_default();
                (uid, body, flags)
            })
            .collect())
    }
}
